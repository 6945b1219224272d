"""servekit: a model server that installs with pip.

Build models (Keras-like), save them as versioned ONNX directories, load them
and run them in a native engine.
"""
from servekit._core import (
    Error,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
)
from servekit.loaded_model import LoadedModel, TensorSignature, load

__version__ = "0.1.0"

__all__ = [
    "Error",
    "InvalidArgumentError",
    "LoadedModel",
    "NotFoundError",
    "ResourceExhaustedError",
    "TensorSignature",
    "load",
]
