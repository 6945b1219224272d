"""Every Python and shell example in the README, run as a reader would run it:
the Python blocks in order in one namespace (each builds on the one before) in
a scratch directory, and the shell block against a real servekit-server. The
SavedModel block needs TensorFlow to write its model: tests/savedmodel runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from readme_code import code_blocks, heading_matches
from server_process import SERVER

SAVEDMODEL_SECTION = r"SavedModels"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_python_examples_run_in_order(scratch):
    blocks = [
        (heading, code) for heading, code in code_blocks("python") if not heading_matches(heading, SAVEDMODEL_SECTION)
    ]
    assert len(blocks) >= 4, "the README's Python examples were not found"
    namespace: dict = {"__name__": "readme"}
    for heading, code in blocks:
        try:
            exec(compile(code, f"README.md ({heading})", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"the README's example under '{heading}' fails: {error!r}")
    # What the blocks promise, checked after they ran.
    assert namespace["probabilities"].shape == (8, 10)
    assert (scratch / "models" / "mnist" / "2" / "model.onnx").exists()
    core = namespace["core"]
    assert [s.version for s in core.status("mnist") if s.state == "AVAILABLE"] == [2]
    np.testing.assert_allclose(
        core.predict("mnist_ab", namespace["x"], label="stable"), core.predict("mnist_ab", namespace["x"], version=1)
    )
    client = namespace["app"].test_client()
    answer = client.post("/predict", json={"x": namespace["x"][:2].tolist()})
    assert answer.status_code == 200, answer.data
    assert np.asarray(answer.get_json()["predictions"]).shape == (2, 10)
    assert client.get("/v1/models/mnist").status_code == 200  # the mounted TF Serving routes
    namespace["sk"].close()
    core.close()


def test_the_shell_example_runs_against_a_real_server(scratch):
    """The shell block with servekit-server on free ports instead of 8501/8500."""
    import servekit

    servekit.Sequential([servekit.Input((4,)), servekit.layers.Dense(2)]).save("models/mnist/1")
    (shell,) = [code for heading, code in code_blocks("sh") if heading_matches(heading, "servekit-server")]
    lines = [line.split("#")[0].strip() for line in shell.splitlines()]
    server_line, *curl_lines, kill_line = [line for line in lines if line]
    assert server_line.startswith("servekit-server") and server_line.endswith("&") and kill_line == "kill %1"
    flags = server_line.removeprefix("servekit-server").removesuffix("&").split()
    server = subprocess.Popen(
        [*SERVER, *flags, "--rest_api_port=0", "--port=0", "--bind_address=127.0.0.1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = None
        for line in server.stderr:
            match = re.search(r"REST API on [\d.]+:(\d+)", line)
            if match:
                port = match.group(1)
                break
        assert port, "servekit-server did not start"
        answers = []
        for curl in curl_lines:
            assert curl.startswith("curl ")
            command = curl.replace("localhost:8501", f"127.0.0.1:{port}") + " -s -w ' %{http_code}'"
            answers.append(subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30).stdout)
        assert '"model_version_status"' in answers[0] and answers[0].endswith(" 200")
        assert '"error"' in answers[1] and answers[1].endswith(" 400")
    finally:
        server.send_signal(signal.SIGTERM)  # what `kill %1` sends
        server.communicate(timeout=60)
    assert server.returncode == 0


def test_exceptions_show_their_public_home():
    import servekit

    with pytest.raises(servekit.NotFoundError) as caught:
        servekit.load(os.path.join(os.sep, "no", "such", "model"))
    assert type(caught.value).__module__ == "servekit"
    assert caught.type.__qualname__ == "NotFoundError"
    assert all(getattr(servekit, name).__module__ == "servekit" for name in servekit.__all__ if name.endswith("Error"))
    assert sys.modules["servekit"].Error.__module__ == "servekit"
