"""servekit.load on SavedModels that TensorFlow wrote: every signature loads
without TensorFlow's help and computes what TensorFlow computes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import servekit
from saved_models import RTOL, WRITERS


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_signature_matches_tensorflow(saved_model, name):
    path, expected = saved_model(name)
    model = servekit.load(path)
    assert set(expected) <= set(model.signatures)
    for signature_name, (inputs, outputs) in expected.items():
        signature = model.signatures[signature_name]
        assert sorted(signature.input_names) == sorted(inputs)
        assert sorted(signature.output_names) == sorted(outputs)
        got = model.predict(inputs, signature_name=signature_name)
        if not isinstance(got, dict):
            got = {signature.output_names[0]: got}
        for key, want in outputs.items():
            assert got[key].dtype == want.dtype, key
            assert got[key].shape == want.shape, key
            np.testing.assert_allclose(
                got[key], want, rtol=RTOL.get(name, 1e-5), atol=1e-6, err_msg=f"{name} {signature_name} {key}"
            )


def test_signatures_carry_tensorflow_names_and_types(saved_model):
    path, _ = saved_model("tf_module")
    model = servekit.load(path)
    assert model.signature.name == "serving_default"
    assert model.signature.input_names == ["bias", "features"]
    outputs = {t.name: t for t in model.signature.outputs}
    assert outputs["label"].dtype == np.int64 and outputs["label"].shape == (None,)
    assert outputs["probabilities"].dtype == np.float32 and outputs["probabilities"].shape == (None, 5)
    assert model.signatures["project"].input_names == ["features"]
    projected = servekit.load(path, signature_name="project")
    assert projected.signature.name == "project"
    with pytest.raises(ValueError, match="no signature 'nope'"):
        model.predict({"features": np.zeros((1, 4), np.float32)}, signature_name="nope")


def test_loading_and_serving_never_import_tensorflow(saved_model):
    path, expected = saved_model("keras3_cnn")
    inputs, _ = expected["serving_default"]
    (key,) = inputs
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import servekit
        model = servekit.load({str(path)!r})
        model.predict({{{key!r}: np.zeros((2, 28, 28, 1), np.float32)}})
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_servekit_imports_after_tensorflow(saved_model):
    """TensorFlow's global protobuf symbols must not reach servekit's extension."""
    path, _ = saved_model("keras3_mlp")
    script = textwrap.dedent(
        f"""
        import numpy as np
        import tensorflow  # first, as a notebook that trained the model would have it
        import servekit
        model = servekit.load({str(path)!r})
        assert model.predict(np.zeros((2, 784), np.float32)).shape == (2, 10)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
