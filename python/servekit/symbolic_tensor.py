"""Symbolic tensors: the values that flow between layers while a model is described.

Contract
- A SymbolicTensor holds no data: only a static shape (the batch dimension, first, is
  always None; other unknown sizes are None too), a dtype, and the LayerCall that
  produced it. Following `producer` links from a model's outputs recovers its graph.
- LayerCalls are numbered in creation order. Since a call can only use tensors that
  exist already, that order is a topological order of every graph, and it matches the
  order in which the user wrote the model (Keras orders layers the same way).
- Both are immutable after creation and safe to share between threads.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .layers import Layer

_call_counter = itertools.count()


class LayerCall:
    """One application of a layer to input tensors, producing one output tensor."""

    __slots__ = ("layer", "inputs", "output", "order")

    def __init__(self, layer: Layer, inputs: tuple[SymbolicTensor, ...]):
        self.layer = layer
        self.inputs = inputs
        self.output: SymbolicTensor | None = None  # set by the tensor it produces
        self.order = next(_call_counter)


class SymbolicTensor:
    """A placeholder for a batch of values with a known shape, returned by `Input()` and
    by calling a layer. Keras calls the same thing a KerasTensor."""

    __slots__ = ("_shape", "_dtype", "_producer")

    def __init__(self, shape: tuple, dtype: str, producer: LayerCall):
        self._shape = tuple(shape)
        self._dtype = dtype
        self._producer = producer
        producer.output = self

    @property
    def shape(self) -> tuple:
        """The shape, batch dimension first (None)."""
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def producer(self) -> LayerCall:
        """The layer call that produced this tensor (an InputLayer's for model inputs)."""
        return self._producer

    @property
    def name(self) -> str | None:
        """The producing layer's name; None until a model names that layer."""
        return self._producer.layer.name

    def __array__(self, *args, **kwargs):
        # Without this numpy would silently wrap the tensor in an object array.
        raise TypeError("a SymbolicTensor has no values: build a Model from it and call predict()")

    def __repr__(self) -> str:
        layer = self._producer.layer
        source = repr(layer.name) if layer.name else type(layer).__name__
        return f"<SymbolicTensor shape={self._shape} dtype={self._dtype} from {source}>"
