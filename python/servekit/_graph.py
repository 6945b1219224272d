"""The layer graph of a model: which layer calls lead from its inputs to its outputs.

Contract
- `LayerGraph(inputs, outputs)` walks back from the outputs through each tensor's
  producer and keeps the calls it reaches, in creation order (a topological order; see
  symbolic_tensor). It raises ValueError if an output needs an input the model was not
  given ("graph disconnected") or if two layers share a name.
- Building a graph names the layers that have no name yet ("dense", "dense_1", ...
  unique within this graph, after reserving every name the user chose). A layer keeps
  the name it got from the first model that holds it.
- It also fixes the names models expose outside: input names are the InputLayers'
  names; an output is named after the layer that produced it. Since ONNX names each
  value once, a layer called twice gets "<name>/call_1" for its second call, and an
  output that is also an input or another output gets a fresh "<name>_output" name.
- Immutable once built.
"""

from __future__ import annotations

from collections.abc import Sequence

from .layers import InputLayer, Layer
from .symbolic_tensor import LayerCall, SymbolicTensor


class LayerGraph:
    """The calls, layers and external names of one model."""

    def __init__(self, inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        _check_tensors(self.inputs, "inputs")
        _check_tensors(self.outputs, "outputs")
        if not self.outputs:
            raise ValueError("a model needs at least one output")
        for tensor in self.inputs:
            if not isinstance(tensor.producer.layer, InputLayer):
                raise ValueError(f"model inputs must come from servekit.Input(), got {tensor!r}")
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError("the same input tensor is listed twice in the model's inputs")

        self.input_layers: list[InputLayer] = [t.producer.layer for t in self.inputs]
        # Every call the outputs depend on, inputs' own calls excluded.
        self.calls: list[LayerCall] = sorted(self._reachable_calls(), key=lambda c: c.order)
        self.layers: list[Layer] = list(dict.fromkeys(call.layer for call in self.calls))

        _assign_layer_names([*self.input_layers, *self.layers])
        self.input_names = [layer.name for layer in self.input_layers]
        taken = {layer.name for layer in [*self.input_layers, *self.layers]}
        self.call_names = self._name_calls(taken)
        self.output_names = self._name_outputs(taken)

    def call_name(self, call: LayerCall) -> str:
        return self.call_names[id(call)]

    def _reachable_calls(self) -> list[LayerCall]:
        given_inputs = {id(t) for t in self.inputs}
        seen: dict[int, LayerCall] = {}
        stack = list(self.outputs)
        while stack:
            tensor = stack.pop()
            call = tensor.producer
            if id(call) in seen or id(tensor) in given_inputs:
                continue
            if isinstance(call.layer, InputLayer):
                raise ValueError(
                    f"graph disconnected: the outputs depend on an Input of shape "
                    f"{tensor.shape} (name {call.layer.name!r}) that is not among the "
                    "model's inputs"
                )
            seen[id(call)] = call
            stack.extend(call.inputs)
        return list(seen.values())

    def _name_calls(self, taken: set[str]) -> dict[int, str]:
        names: dict[int, str] = {}
        calls_per_layer: dict[int, int] = {}
        for call in self.calls:
            index = calls_per_layer.get(id(call.layer), 0)
            calls_per_layer[id(call.layer)] = index + 1
            if index == 0:
                names[id(call)] = call.layer.name
            else:
                names[id(call)] = unique_name(f"{call.layer.name}/call_{index}", taken)
        for tensor in self.inputs:
            names[id(tensor.producer)] = tensor.producer.layer.name
        return names

    def _name_outputs(self, taken: set[str]) -> list[str]:
        names = []
        used_calls: set[int] = set()
        input_calls = {id(t.producer) for t in self.inputs}
        for tensor in self.outputs:
            call = tensor.producer
            if id(call) in used_calls or id(call) in input_calls:
                names.append(unique_name(f"{self.call_name(call)}_output", taken))
            else:
                names.append(self.call_name(call))
            used_calls.add(id(call))
        return names


def _assign_layer_names(layers: list[Layer]) -> None:
    by_name: dict[str, Layer] = {}
    for layer in layers:
        if layer.name is None:
            continue
        other = by_name.setdefault(layer.name, layer)
        if other is not layer:
            raise ValueError(
                f"two layers of this model are named {layer.name!r} ({type(other).__name__} "
                f"and {type(layer).__name__}); layer names must be unique within a model"
            )
    taken = set(by_name)
    for layer in layers:
        if layer.name is None:
            layer._set_name(unique_name(layer.default_name, taken))


def unique_layer_name(layer: Layer, taken: set[str]) -> str:
    """The automatic name `layer` would get in a model already using `taken`."""
    return unique_name(layer.default_name, set(taken))


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base_1`, `base_2`, ...: the first not in `taken`, which it joins."""
    candidate, index = base, 0
    while candidate in taken:
        index += 1
        candidate = f"{base}_{index}"
    taken.add(candidate)
    return candidate


def _check_tensors(tensors: list, what: str) -> None:
    for tensor in tensors:
        if not isinstance(tensor, SymbolicTensor):
            raise TypeError(
                f"model {what} must be symbolic tensors (from servekit.Input() or a layer "
                f"call), got {type(tensor).__name__}"
            )
