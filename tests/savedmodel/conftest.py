"""The SavedModel tests run in their own pytest process (`make test` runs it
after tests/python): their fixtures are written by TensorFlow, which cannot be
loaded into one process with onnxruntime (the engine tests' reference)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))  # server_process

from saved_models import WRITERS  # noqa: E402


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory):
    """saved_model(name) -> (directory, {signature: (inputs, TensorFlow's outputs)}), written once."""
    written = {}

    def get(name: str):
        if name not in written:
            path = tmp_path_factory.mktemp(name) / "1"
            written[name] = (path, WRITERS[name](path))
        return written[name]

    return get
