"""`Sequential`: a plain stack of single-input, single-output layers, as in Keras.

    model = Sequential([Input((784,)), Dense(64, activation="relu"), Dense(10)])

Contract
- The model needs an input: an `Input(shape)` tensor (or InputLayer) first in the
  list, or `input_shape=` on the first layer, or a later `build(input_shape)` with the
  batch dimension included. Until then layers are only collected.
- Once there is an input, `add(layer)` calls the layer at once, so a shape error
  surfaces there (ValueError naming the layer), and the model is unchanged by a
  failed add. The graph built is the same one the functional API would build.
- Layers are named when added ("dense", "dense_1", ... unique in this model).
- predict returns one array.
"""

from __future__ import annotations

from ._graph import LayerGraph, unique_layer_name
from .layers import InputLayer, Layer
from .model import BaseModel
from .symbolic_tensor import SymbolicTensor

__all__ = ["Sequential"]


class Sequential(BaseModel):
    """A model whose layers each take the previous layer's output."""

    def __init__(self, layers=None, name: str | None = None):
        super().__init__("sequential" if name is None else name)
        self._input: SymbolicTensor | None = None
        self._output: SymbolicTensor | None = None
        self._layers: list[Layer] = []
        self._graph: LayerGraph | None = None  # rebuilt lazily after each change
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        """The layers in order, without the input."""
        return list(self._layers)

    def add(self, layer) -> None:
        """Appends a layer (or sets the input, if given an Input tensor or InputLayer)."""
        if isinstance(layer, (SymbolicTensor, InputLayer)):
            if self._layers:
                raise ValueError(f"the input of Sequential model {self.name!r} must come before its layers")
            self._set_input(layer.output if isinstance(layer, InputLayer) else layer)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        input_from_hint = self._input is None and not self._layers and layer._input_shape_hint is not None
        if input_from_hint:
            self._set_input(InputLayer(layer._input_shape_hint).output)
        auto_named = False
        try:
            auto_named = self._name_layer(layer)
            if self._output is not None:
                self._output = layer(self._output)
        except (ValueError, TypeError):
            # Leave the model (and the layer's name) as they were before this add.
            if auto_named:
                layer._set_name(None)
            if input_from_hint:
                self._input = self._output = None
            raise
        self._layers.append(layer)
        self._graph = None

    def build(self, input_shape) -> None:
        """Gives the model its input from a shape with the batch dimension first, as
        Keras's `build((None, 784))`, and calls the layers collected so far."""
        if self._input is not None:
            raise ValueError(f"model {self.name!r} already has an input")
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        if len(shape) < 2:
            raise ValueError(
                f"input_shape must include the batch dimension first, e.g. (None, 784); got {input_shape!r}"
            )
        self._set_input(InputLayer(shape[1:]).output)

    def _set_input(self, tensor: SymbolicTensor) -> None:
        if not isinstance(tensor.producer.layer, InputLayer):
            raise ValueError("a Sequential model's input must come from servekit.Input()")
        if self._input is not None:
            raise ValueError(f"Sequential model {self.name!r} already has an input")
        input_layer = tensor.producer.layer
        auto_named = self._name_layer(input_layer)
        output = tensor
        try:
            for layer in self._layers:  # collected before the input was known
                output = layer(output)
        except (ValueError, TypeError):
            if auto_named:
                input_layer._set_name(None)
            raise
        self._input, self._output = tensor, output
        self._graph = None

    def _name_layer(self, layer: Layer) -> bool:
        """Names `layer` uniquely in this model if unnamed; returns whether it did."""
        in_use = self._names_in_use()
        if layer.name is None:
            layer._set_name(unique_layer_name(layer, in_use))
            return True
        if layer.name in in_use:
            raise ValueError(
                f"model {self.name!r} already has a layer named {layer.name!r}; layer names "
                "must be unique within a model"
            )
        return False

    def _names_in_use(self) -> set[str]:
        layers = [*self._layers]
        if self._input is not None:
            layers.append(self._input.producer.layer)
        return {layer.name for layer in layers if layer.name is not None}

    def _graph_or_none(self) -> LayerGraph | None:
        if self._input is None:
            return None
        if self._graph is None:
            self._graph = LayerGraph([self._input], [self._output])
        return self._graph

    @property
    def _returns_list(self) -> bool:
        return False
