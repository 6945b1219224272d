"""The gRPC client tests run in their own pytest process (`make test` runs it
after tests/python): tensorflow, which the official client needs, and
onnxruntime, which the engine tests use, abort when loaded into one process.
Models are written by a child process for the same reason (onnx)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_TESTS = Path(__file__).resolve().parent.parent / "python"
sys.path.insert(0, str(PYTHON_TESTS))


@pytest.fixture(scope="session")
def write_models():
    """write_models(directory, *names): the named test models (rest_testing.py), as version directories."""

    def write(directory: Path, *names: str) -> None:
        subprocess.run(
            [sys.executable, str(PYTHON_TESTS / "write_test_models.py"), str(directory), *names],
            check=True,
            timeout=120,
        )

    return write
