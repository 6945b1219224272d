"""The functional API: `Input()` tensors, layers called on them, and `Model(inputs,
outputs)` around the graph they form, as in Keras.

    x = Input((32, 32, 3))
    y = Conv2D(16, 3, padding="same", activation="relu")(x)
    y = Add()([y, Conv2D(16, 1)(x)])              # branches and residual links
    model = Model(x, Dense(10)(Flatten()(y)))

Contract
- `Input(shape)` takes the shape without the batch dimension and returns a
  SymbolicTensor; calling layers on SymbolicTensors builds the graph and checks shapes
  as it goes (ValueError naming the layer).
- `Model(inputs, outputs)` accepts one tensor or a list for each; several inputs and
  outputs, shared layers, branches and residual links are all allowed. Building it
  names the unnamed layers (see _graph) and fixes the graph: later calls of its layers
  elsewhere do not change it.
- predict returns one array when `outputs` was a single tensor, else a list in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._graph import LayerGraph
from .layers import InputLayer, Layer
from .model import BaseModel
from .symbolic_tensor import SymbolicTensor

__all__ = ["Input", "Model", "SymbolicTensor"]


def Input(shape, name: str | None = None, dtype="float32") -> SymbolicTensor:  # noqa: N802 (Keras's name)
    """A model input of `shape` (batch dimension excluded, None for unknown sizes)."""
    return InputLayer(shape, dtype=dtype, name=name).output


class Model(BaseModel):
    """A model defined by its input and output tensors."""

    _summary_shows_sources = True

    def __init__(self, inputs, outputs, name: str | None = None):
        super().__init__("model" if name is None else name)
        self._graph = LayerGraph(_as_list(inputs), _as_list(outputs))
        self._outputs_are_list = isinstance(outputs, (list, tuple))

    @property
    def layers(self) -> list[Layer]:
        """The InputLayers, then every other layer in the order it was first called."""
        return [*self._graph.input_layers, *self._graph.layers]

    def _graph_or_none(self) -> LayerGraph:
        return self._graph

    @property
    def _returns_list(self) -> bool:
        return self._outputs_are_list


def _as_list(tensors) -> list:
    if isinstance(tensors, Sequence) and not isinstance(tensors, str):
        return list(tensors)
    return [tensors]
