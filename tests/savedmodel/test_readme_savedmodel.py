"""The README's SavedModel example, run as written against a Keras 3 export at
models/cnn/1 (tests/python/test_readme.py runs the README's other examples)."""

from __future__ import annotations

import shutil

import numpy as np

from readme_code import code_blocks, heading_matches


def test_the_savedmodel_example_runs(saved_model, tmp_path, monkeypatch):
    import servekit

    path, expected = saved_model("keras3_cnn")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(path, tmp_path / "models" / "cnn" / "1")
    ((inputs, outputs),) = [expected["serving_default"]]
    (x,) = inputs.values()
    (code,) = [code for heading, code in code_blocks("python") if heading_matches(heading, "SavedModels")]
    namespace = {"servekit": servekit, "x": x}
    exec(compile(code, "README.md (SavedModels)", "exec"), namespace)
    model = namespace["model"]
    assert set(model.signatures) == {"serve", "serving_default"}
    (want,) = outputs.values()
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, signature_name="serve"), want, rtol=1e-5, atol=1e-6)
