"""One call on several threads (servekit.load(..., intra_op_threads=N or None)).

A convolution or Dense layer of 1 MFLOP and up runs on an OpenMP team of the
pool's threads, and so do servekit's own parallel loops (the pools here from
batch 9). Every thread count must give onnxruntime's results, and a process
forked after a team started must still run models (GNU OpenMP's threads do not
survive fork: the child's oneDNN calls use one thread, its own loops an Eigen
pool started in the child).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest

import servekit
from servekit import layers


def _cnn():
    # The first convolution: 2 * 32 * 30 * 30 * 16 * 9 = 8.3 MFLOP per image.
    return servekit.Sequential(
        [
            servekit.Input((32, 32, 16)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10),
        ],
        name="threads_cnn",
    )


@pytest.fixture(scope="module")
def cnn_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("threads") / "1"
    _cnn().save(path)
    return path


@pytest.mark.parametrize("batch", [1, 3, 9])
@pytest.mark.parametrize("threads", [None, 1, 2, 3])
def test_every_thread_count_matches_onnxruntime(cnn_dir, batch, threads):
    x = np.random.default_rng(batch).standard_normal((batch, 32, 32, 16)).astype(np.float32)
    session = ort.InferenceSession(str(cnn_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = servekit.load(cnn_dir, intra_op_threads=threads).predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_a_process_forked_after_the_team_started_still_runs(cnn_dir):
    # In a subprocess: pytest's own process must not fork. Without the fork
    # handling the child hangs in GNU OpenMP; the timeout turns that into a failure.
    script = textwrap.dedent(
        f"""
        import os, numpy as np, servekit
        x = np.random.default_rng(0).standard_normal((16, 32, 32, 16)).astype(np.float32)
        model = servekit.load({str(cnn_dir)!r}, intra_op_threads=2)
        before = model.predict(x)
        pid = os.fork()
        if pid == 0:
            again = servekit.load({str(cnn_dir)!r}, intra_op_threads=2).predict(x)
            same = np.allclose(model.predict(x), before) and np.allclose(again, before)
            os._exit(0 if same else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
