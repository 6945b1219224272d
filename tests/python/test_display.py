"""How models, cores and servers show themselves: repr() for the console, an
HTML table (_repr_html_) for Jupyter; both say what a user asks first
(signatures; models, versions, states, labels, errors; ports)."""

from __future__ import annotations

import re

import numpy as np

import servekit
from servekit import layers


def model(version: int) -> servekit.Sequential:
    m = servekit.Sequential([servekit.Input((3,), name="x<in>"), layers.Dense(1, name="y")])
    m.set_weights([np.zeros((3, 1), np.float32), np.full((1,), version, np.float32)])
    return m


def cells(html: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", html)


def test_loaded_model_shows_its_signatures(tmp_path):
    model(1).save(tmp_path / "1")
    loaded = servekit.load(tmp_path / "1")
    assert (
        repr(loaded)
        == f"LoadedModel({str(tmp_path / '1')!r}, inputs=[x<in>: float32[None, 3]], outputs=[y: float32[None, 1]])"
    )
    html = loaded._repr_html_()
    assert cells(html) == [
        "serving_default (default)",
        "<code>x&lt;in&gt;: float32[None, 3]</code>",
        "<code>y: float32[None, 1]</code>",
    ]


def test_serving_core_shows_versions_states_labels_and_errors(tmp_path):
    base = tmp_path / "m"
    model(1).save(base / "1")
    model(2).save(base / "2")
    (base / "3").mkdir()
    (base / "3" / "model.onnx").write_bytes(b"not a model")
    config = [{"name": "m", "base_path": base, "model_version_policy": "all", "version_labels": {"stable": 1}}]
    core = servekit.ServingCore(config, max_num_load_retries=0)
    core.wait_until_available("m", 2)
    core.set_label("m", "canary", 2)
    rows = [cells(row) for row in re.findall(r"<tr>(.*?)</tr>", core._repr_html_())[1:]]
    assert rows[0] == ["m", "1", "AVAILABLE", "stable", ""]
    assert rows[1] == ["m", "2", "AVAILABLE", "canary", ""]
    assert rows[2][:3] == ["m", "3", "END"] and rows[2][4].startswith("INVALID_ARGUMENT: ")
    assert repr(core) == "<ServingCore models: m [1 AVAILABLE, 2 AVAILABLE, 3 END]>"
    core.close()
    assert repr(core) == "<ServingCore closed>"
    assert "closed" in core._repr_html_()


def test_model_server_shows_where_it_listens(tmp_path):
    model(1).save(tmp_path / "m" / "1")
    server = servekit.ModelServer(model_name="m", model_base_path=tmp_path / "m", rest_api_port=0, grpc_port=0)
    assert repr(server) == "<ModelServer not started>"
    with server:
        assert repr(server) == f"<ModelServer {server.url}, gRPC {server.grpc_target}; models: m [1 AVAILABLE]>"
        assert cells(server._repr_html_()) == ["m", "1", "AVAILABLE", "", ""]
    assert repr(server) == "<ModelServer stopped>"
