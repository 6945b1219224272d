"""Behaviour shared by functional models (`Model`) and `Sequential` models.

Contract
- Subclasses provide `layers`, `_graph_or_none()` (the model's LayerGraph, or None
  while a Sequential model has no input yet) and `_returns_list` (whether predict
  returns a list of arrays or one array).
- Weights: `get_weights()` is the flat list of every layer's weights in layer order,
  as in Keras; `set_weights()` checks every count and shape before changing anything.
- `predict(x)` exports the model to ONNX, loads it in the native engine once and
  reuses that loaded copy until the graph or any layer's weights change (each change
  gives the layer a new version number). Concurrent predicts share one copy.
- `save(directory)` writes `directory/model.onnx` atomically, so a model server
  polling the directory never reads a partial file.
- ValueError for misuse (no input yet, wrong input shapes); engine errors pass through.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ._atomic_file import publish_directory
from ._export import graph_to_spec
from ._graph import LayerGraph
from ._summary import format_summary
from .layers import Layer

ONNX_FILENAME = "model.onnx"


class BaseModel:
    """Common base of `Model` and `Sequential`; not instantiated directly."""

    # Functional models show which layers feed each layer in `summary()`.
    _summary_shows_sources = False

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self._name = name
        self._loaded_lock = threading.Lock()
        # (graph, weight versions, LoadedModel) of the last model loaded for predict.
        self._loaded = None

    # -- what subclasses provide -----------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        raise NotImplementedError

    def _graph_or_none(self) -> LayerGraph | None:
        raise NotImplementedError

    @property
    def _returns_list(self) -> bool:
        raise NotImplementedError

    # -- description -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def inputs(self) -> list:
        """The model's input SymbolicTensors."""
        return list(self._built_graph().inputs)

    @property
    def outputs(self) -> list:
        """The model's output SymbolicTensors."""
        return list(self._built_graph().outputs)

    @property
    def input_names(self) -> list[str]:
        """Names of the inputs in the exported model (and predict's dict keys)."""
        return list(self._built_graph().input_names)

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs in the exported model (the producing layers' names)."""
        return list(self._built_graph().output_names)

    @property
    def input_shape(self):
        """The input's shape, batch first (None); a list of shapes for several inputs."""
        return _one_or_list([t.shape for t in self._built_graph().inputs])

    @property
    def output_shape(self):
        """The output's shape, batch first (None); a list of shapes for several outputs."""
        return _one_or_list([t.shape for t in self._built_graph().outputs])

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by position in `layers`, as in Keras."""
        if (name is None) == (index is None):
            raise ValueError("give exactly one of name= and index=")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"model {self.name!r} has {len(layers)} layers, no index {index}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        names = ", ".join(repr(layer.name) for layer in layers)
        raise ValueError(f"model {self.name!r} has no layer named {name!r}; it has {names}")

    def summary(self, print_fn=None) -> None:
        """Prints each layer's name, type, output shape and parameter count."""
        (print_fn or print)(format_summary(self))

    def count_params(self) -> int:
        self._built_graph()
        return sum(layer.count_params() for layer in self.layers)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self._name!r} layers={len(self.layers)}>"

    # -- weights ---------------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, layer after layer, each layer's in Keras order."""
        return [array for layer in self.layers for array in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Replaces all weights from a list shaped like `get_weights()`'s."""
        weights = list(weights)
        self._built_graph()
        layers = self.layers
        expected = sum(len(layer.weight_names) for layer in layers)
        if len(weights) != expected:
            raise ValueError(f"model {self.name!r} expects {expected} weight arrays, got {len(weights)}")
        # Check every layer's share before changing any, so an error changes nothing.
        checked, start = [], 0
        for layer in layers:
            count = len(layer.weight_names)
            checked.append(layer._checked_weights(weights[start : start + count]))
            start += count
        for layer, arrays in zip(layers, checked, strict=True):
            layer._assign_weights(arrays)

    # -- export and inference --------------------------------------------------------------

    def to_onnx_bytes(self) -> bytes:
        """The model as a serialized ONNX ModelProto (opset 17)."""
        return _serialize(graph_to_spec(self._built_graph(), self.name))

    def save(self, directory: str | os.PathLike) -> Path:
        """Writes `directory/model.onnx` atomically, e.g. `model.save("models/mnist/1")`
        to publish version 1 to a model server. A new `directory` appears complete
        (built under a hidden name, then renamed), so a server polling its parent
        never sees a version without its model file. Returns the file's path."""
        data = self.to_onnx_bytes()  # before touching the disk: a failed export writes nothing
        return publish_directory(directory, ONNX_FILENAME, data)

    def predict(self, x):
        """Runs the model in the native engine.

        `x`: an array for a single-input model; for several inputs, a list of arrays
        in input order or a dict input name -> array. Arrays are batch-first and cast
        to float32. Returns an array, or a list of arrays for a model whose outputs
        were given as a list.
        """
        graph = self._built_graph()
        feeds = _feeds(x, graph)
        result = self._loaded_model(graph).predict(feeds)
        if isinstance(result, dict):
            arrays = [result[name] for name in graph.output_names]
        else:
            arrays = [result]
        return arrays if self._returns_list else arrays[0]

    def _loaded_model(self, graph: LayerGraph):
        with self._loaded_lock:
            versions = tuple(layer._weights_version for layer in graph.layers)
            cached = self._loaded
            if cached is None or cached[0] is not graph or cached[1] != versions:
                from .loaded_model import LoadedModel  # the engine is loaded on first use

                data = _serialize(graph_to_spec(graph, self.name))
                cached = self._loaded = (graph, versions, LoadedModel._from_onnx_bytes(data))
            return cached[2]

    def _built_graph(self) -> LayerGraph:
        graph = self._graph_or_none()
        if graph is None:
            raise ValueError(
                f"model {self.name!r} has no input yet: start it with servekit.Input(shape), "
                "give its first layer input_shape=, or call build(input_shape)"
            )
        return graph


def _serialize(spec: dict) -> bytes:
    from . import _core  # imported late so that describing models needs no native code

    return _core.serialize_onnx(spec)


def _feeds(x, graph: LayerGraph) -> dict[str, np.ndarray]:
    """Maps predict's argument to {input name: float32 array}, checking shapes."""
    names = graph.input_names
    if isinstance(x, dict):
        if set(x) != set(names):
            raise ValueError(f"predict expects inputs named {names}, got {sorted(x)}")
        values = [x[name] for name in names]
    elif len(names) > 1:
        if not isinstance(x, (list, tuple)) or len(x) != len(names):
            raise ValueError(
                f"this model has {len(names)} inputs {names}: pass a list of "
                f"{len(names)} arrays or a dict name -> array"
            )
        values = list(x)
    else:
        values = [x]
    feeds = {}
    for tensor, name, value in zip(graph.inputs, names, values, strict=True):
        array = np.ascontiguousarray(value, dtype=np.float32)
        if array.ndim != len(tensor.shape) or any(
            want is not None and want != got for want, got in zip(tensor.shape[1:], array.shape[1:], strict=True)
        ):
            raise ValueError(f"input {name!r} expects arrays of shape {tensor.shape} (batch first), got {array.shape}")
        feeds[name] = array
    return feeds


def _one_or_list(shapes: list[tuple]):
    return shapes[0] if len(shapes) == 1 else shapes
