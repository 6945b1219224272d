"""servekit: a model server that installs with pip.

Build models with a Keras-like API, save them as versioned ONNX directories,
load them into a native engine and run them.
"""

# ruff: noqa: E402 (the extension is loaded first, on purpose)
from servekit._load_native import load_native

load_native()  # before anything imports servekit._core: see _load_native.py

from servekit import activations, initializers, layers
from servekit._core import (
    AlreadyExistsError,
    DataLossError,
    DeadlineExceededError,
    Error,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
    UnimplementedError,
)
from servekit.functional import Input, Model, SymbolicTensor
from servekit.layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    InputLayer,
    Layer,
    MaxPooling2D,
    Reshape,
)
from servekit.loaded_model import LoadedModel, Signature, TensorSignature, load
from servekit.model_server import ModelServer
from servekit.sequential import Sequential
from servekit.serving import ServingCore, VersionEvent, VersionStatus

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "Add",
    "AlreadyExistsError",
    "AveragePooling2D",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "DataLossError",
    "DeadlineExceededError",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Error",
    "FailedPreconditionError",
    "Flatten",
    "GlobalAveragePooling2D",
    "Input",
    "InputLayer",
    "InternalError",
    "InvalidArgumentError",
    "Layer",
    "LoadedModel",
    "MaxPooling2D",
    "Model",
    "ModelServer",
    "NotFoundError",
    "Reshape",
    "ResourceExhaustedError",
    "Sequential",
    "ServingCore",
    "Signature",
    "SymbolicTensor",
    "TensorSignature",
    "UnavailableError",
    "UnimplementedError",
    "VersionEvent",
    "VersionStatus",
    "activations",
    "initializers",
    "layers",
    "load",
]

# The native exceptions live in servekit._core; tracebacks and reprs should name
# where users import them from (servekit.UnavailableError).
for _name in __all__:
    if _name.endswith("Error"):
        globals()[_name].__module__ = __name__
del _name
