"""The SavedModel tests run in their own pytest process (`make test` runs it
after tests/python): their fixtures are written by TensorFlow, which cannot be
loaded into one process with onnxruntime (the engine tests' reference)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# servekit before TensorFlow: TensorFlow loads its libraries RTLD_GLOBAL, and a
# servekit extension loaded after them resolves protobuf to TensorFlow's copy,
# which aborts on the tensorflow.* messages both define (a known problem).
import servekit  # noqa: F401, I001

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
