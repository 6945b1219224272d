"""Lowers a built model to the ONNX *model spec* that `servekit._core.serialize_onnx`
turns into a ModelProto.

Contract
- `model_to_spec(model)` returns a new spec and never changes the model; the spec
  shares (read-only) weight arrays with the layers, so serialize it before changing
  weights. Its structure, agreed with the C++ writer:

      {"producer_name": "servekit", "opset": 17, "graph_name": str,
       "inputs":  [(name, "float32", [None, d1, ...])],   # None: batch / unknown size
       "outputs": [(name, "float32", [None, d1, ...])],
       "initializers": [(name, C-contiguous float32 or int64 ndarray)],
       "nodes": [(op_type, node_name, [input names], [output names], {attr: value})]}

  Nodes are in topological order; value, node and initializer names are unique all
  together. Attribute values are int, float, str, list[int] or list[float].
- Only ops the engine supports are emitted (opset 17 semantics): Gemm, MatMul, Add,
  Mul, Div, Sub, Relu, LeakyRelu, Sigmoid, Tanh, Softmax, LogSoftmax, Erf, Clip, Conv,
  MaxPool, AveragePool, GlobalAveragePool, BatchNormalization, Flatten, Reshape,
  Transpose, Concat, Identity, Dropout.
- Names: graph inputs are the InputLayers' names; each layer call's result is the
  value named after the call (see _graph), so Netron shows the Keras layer names, and
  model outputs therefore carry their producing layer's name.

Layouts. Keras images are NHWC; ONNX Conv, pooling and BatchNormalization work in
NCHW. As tf2onnx does, each 4-D tensor stays in the layout its producer made, and a
Transpose is added only where a consumer needs the other one: NCHW for Conv, pooling
and 4-D BatchNormalization; the Keras layout (NHWC) where it is observable — Flatten
and Reshape (Keras flattens in H, W, C order), Dense (acts on the last axis),
Softmax/LogSoftmax (over channels, the last axis), and model outputs. Element-wise
layers, Add and Concatenate (axis remapped) work in either. Each tensor's transposed
copy is made at most once and shared by its consumers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import _conv_arithmetic as window
from . import activations, layers
from ._graph import LayerGraph, unique_name

OPSET = 17
PRODUCER_NAME = "servekit"

# Physical layouts of a value. KERAS is the layout Keras shows the user (NHWC for
# images, the only one for other ranks); NCHW exists for 4-D tensors only.
KERAS = "keras"
NCHW = "nchw"
_NHWC_TO_NCHW = [0, 3, 1, 2]
_NCHW_TO_NHWC = [0, 2, 3, 1]
# Where a Keras (NHWC) axis of a 4-D tensor lives in NCHW.
_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}

# The spec lists nodes as tuples; they are built as lists so a node's output can be
# renamed once its layer call is known to be complete.
_Node = list


def model_to_spec(model) -> dict:
    """The ONNX model spec of a built Model or Sequential."""
    return graph_to_spec(model._built_graph(), model.name)


def graph_to_spec(graph: LayerGraph, graph_name: str) -> dict:
    return _Exporter(graph).run(graph_name)


class _Values:
    """The ONNX value(s) holding one symbolic tensor: one name per physical layout."""

    __slots__ = ("shape", "names")

    def __init__(self, shape: tuple, layout: str, name: str):
        self.shape = shape
        self.names = {layout: name}

    @property
    def rank(self) -> int:
        return len(self.shape)

    def native(self) -> tuple[str, str]:
        """(name, layout) of the value its producer made (for layout-agnostic ops)."""
        layout, name = next(iter(self.names.items()))
        return name, layout


class _Exporter:
    def __init__(self, graph: LayerGraph):
        self.graph = graph
        # Every external name is reserved first so internal names never take one.
        self._taken = {*graph.input_names, *graph.call_names.values(), *graph.output_names}
        self.nodes: list[_Node] = []
        self.initializers: list[tuple[str, np.ndarray]] = []
        self._values: dict[int, _Values] = {}  # id(SymbolicTensor) -> its values
        self._weights: dict[tuple[int, str], str] = {}  # (id(layer), weight) -> name

    def run(self, graph_name: str) -> dict:
        graph = self.graph
        for tensor, name in zip(graph.inputs, graph.input_names, strict=True):
            self._values[id(tensor)] = _Values(tensor.shape, KERAS, name)
        # Outputs named after their call (not fresh "_output" names) are made in place.
        in_place_outputs = {
            id(t.producer)
            for t, name in zip(graph.outputs, graph.output_names, strict=True)
            if name == graph.call_name(t.producer)
        }
        for call in graph.calls:
            lower = _lowering_for(call.layer)
            scope = graph.call_name(call)
            inputs = [self._values[id(t)] for t in call.inputs]
            name, layout = lower(self, call.layer, inputs, scope, call.output.shape)
            self._values[id(call.output)] = self._finish_call(
                scope, name, layout, call.output.shape, id(call) in in_place_outputs
            )

        outputs = []
        for tensor, name in zip(graph.outputs, graph.output_names, strict=True):
            value = self.value(self._values[id(tensor)], KERAS)
            if value != name:
                node_name = unique_name(f"{name}/Identity", self._taken)
                self.nodes.append(["Identity", node_name, [value], [name], {}])
            outputs.append((name, "float32", _spec_shape(tensor.shape)))

        return {
            "producer_name": PRODUCER_NAME,
            "opset": OPSET,
            "graph_name": graph_name,
            "inputs": [
                (name, "float32", _spec_shape(t.shape)) for t, name in zip(graph.inputs, graph.input_names, strict=True)
            ],
            "outputs": outputs,
            "initializers": self.initializers,
            "nodes": [tuple(node) for node in self.nodes],
        }

    def _finish_call(self, scope, name, layout, shape, is_output) -> _Values:
        """Gives the call's result its external name (`scope`). A model output must be
        in the Keras layout, so an NCHW result then gets its transposed copy named."""
        if is_output and layout == NCHW:
            values = _Values(shape, NCHW, name)
            values.names[KERAS] = self._rename_last_output(
                self.node("Transpose", [name], scope, perm=_NCHW_TO_NHWC), scope
            )
            return values
        return _Values(shape, layout, self._rename_last_output(name, scope))

    def _rename_last_output(self, name: str, new_name: str) -> str:
        # Safe because the value was just made by the last node and nothing reads it yet.
        node = self.nodes[-1]
        assert node[3] == [name], f"{node[0]} {node[1]} does not produce {name}"
        node[3] = [new_name]
        return new_name

    # -- building blocks -------------------------------------------------------------------

    def node(self, op: str, inputs: list[str], scope: str, **attrs) -> str:
        """Appends one single-output node and returns its output's name."""
        node_name = unique_name(f"{scope}/{op}", self._taken)
        output = unique_name(f"{node_name}:0", self._taken)
        self.nodes.append([op, node_name, list(inputs), [output], attrs])
        return output

    def constant(self, scope: str, label: str, array) -> str:
        """A graph initializer holding `array` (float32 unless it is int64)."""
        array = np.asarray(array)
        if array.dtype != np.int64:
            array = array.astype(np.float32, copy=False)
        name = unique_name(f"{scope}/{label}", self._taken)
        self.initializers.append((name, np.ascontiguousarray(array)))
        return name

    def scalar(self, scope: str, label: str, value: float) -> str:
        return self.constant(scope, label, np.array(value, dtype=np.float32))

    def weight(self, layer: layers.Layer, weight_name: str, to_onnx: Callable | None = None) -> str:
        """The initializer of a layer weight (converted by `to_onnx`), made once even
        when the layer is called several times."""
        key = (id(layer), weight_name)
        if key not in self._weights:
            array = layer._weight(weight_name)
            if to_onnx is not None:
                array = to_onnx(array)
            self._weights[key] = self.constant(layer.name, weight_name, array)
        return self._weights[key]

    def value(self, values: _Values, layout: str) -> str:
        """The tensor in `layout`, transposing (once per tensor) if needed."""
        if layout not in values.names:
            assert values.rank == 4, "only 4-D tensors have an NCHW layout"
            source, _ = values.native()
            perm = _NHWC_TO_NCHW if layout == NCHW else _NCHW_TO_NHWC
            values.names[layout] = self.node("Transpose", [source], source, perm=perm)
        return values.names[layout]

    def activation(self, name: str, x: str, layout: str, scope: str, always_emit: bool = False) -> tuple[str, str]:
        """Applies a canonical activation to value `x`; returns (value, layout)."""
        node = self.node
        if name == "linear":
            return (node("Identity", [x], scope), layout) if always_emit else (x, layout)
        simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
        if name in simple:
            return node(simple[name], [x], scope), layout
        if name in ("softmax", "log_softmax"):
            # Over channels: the last axis once back in the Keras layout.
            if layout == NCHW:
                x, layout = node("Transpose", [x], scope, perm=_NCHW_TO_NHWC), KERAS
            op = "Softmax" if name == "softmax" else "LogSoftmax"
            return node(op, [x], scope, axis=-1), layout
        if name == "leaky_relu":
            return node("LeakyRelu", [x], scope, alpha=activations.LEAKY_RELU_ALPHA), layout
        if name == "relu6":
            low, high = self.scalar(scope, "clip_min", 0.0), self.scalar(scope, "clip_max", 6.0)
            return node("Clip", [x, low, high], scope), layout
        if name == "silu":
            return node("Mul", [x, node("Sigmoid", [x], scope)], scope), layout
        if name == "gelu":
            # Exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))).
            scaled = node("Div", [x, self.scalar(scope, "sqrt_2", math.sqrt(2.0))], scope)
            erf_plus_one = node("Add", [node("Erf", [scaled], scope), self.scalar(scope, "one", 1.0)], scope)
            product = node("Mul", [x, erf_plus_one], scope)
            return node("Mul", [product, self.scalar(scope, "half", 0.5)], scope), layout
        if name == "elu":
            return self._elu(x, scope), layout
        raise AssertionError(f"activation {name!r} has no lowering")

    def _elu(self, x: str, scope: str) -> str:
        # elu(x) = relu(x) + alpha * expm1(min(x, 0)). The engine has no Exp, and
        # expm1(m) = 2t / (1 - t) with t = tanh(m / 2) keeps full precision near 0
        # (where exp(m) - 1 would cancel) and tends to -1 as m -> -inf.
        node = self.node
        positive = node("Relu", [x], scope)
        negative = node("Sub", [x, positive], scope)  # min(x, 0)
        t = node("Tanh", [node("Mul", [negative, self.scalar(scope, "half", 0.5)], scope)], scope)
        one_minus_t = node("Sub", [self.scalar(scope, "one", 1.0), t], scope)
        expm1_half = node("Div", [t, one_minus_t], scope)  # expm1(m) / 2
        scale = self.scalar(scope, "two_alpha", 2.0 * activations.ELU_ALPHA)
        return node("Add", [positive, node("Mul", [expm1_half, scale], scope)], scope)


# -- one lowering per layer type: (exporter, layer, input values, scope, output shape)
#    -> (ONNX value made by the last node appended, its layout) ----------------------------


def _lower_dense(ex: _Exporter, layer: layers.Dense, inputs, scope, out_shape):
    (x,) = inputs
    source = ex.value(x, KERAS)
    kernel = ex.weight(layer, "kernel")
    if not layer.use_bias:
        y = ex.node("MatMul", [source, kernel], scope)
    elif x.rank == 2:
        y = ex.node("Gemm", [source, kernel, ex.weight(layer, "bias")], scope)
    else:
        y = ex.node("MatMul", [source, kernel], scope)
        y = ex.node("Add", [y, ex.weight(layer, "bias")], scope)
    return ex.activation(layer.activation, y, KERAS, scope)


def _lower_conv2d(ex: _Exporter, layer: layers.Conv2D, inputs, scope, out_shape):
    (x,) = inputs
    # Keras (kh, kw, in / groups, out) -> ONNX (out, in / groups, kh, kw).
    kernel = ex.weight(layer, "kernel", lambda k: k.transpose(3, 2, 0, 1))
    operands = [ex.value(x, NCHW), kernel]
    if layer.use_bias:
        operands.append(ex.weight(layer, "bias"))
    attrs = _window_attrs(x.shape, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    y = ex.node("Conv", operands, scope, group=layer.groups, **attrs)
    return ex.activation(layer.activation, y, NCHW, scope)


def _lower_depthwise_conv2d(ex: _Exporter, layer: layers.DepthwiseConv2D, inputs, scope, out_shape):
    (x,) = inputs
    kh, kw, channels, multiplier = layer._weight("kernel").shape

    def to_onnx(kernel):
        # Keras (kh, kw, in, m) -> ONNX (in * m, 1, kh, kw): output channel c * m + k is
        # filter k of input channel c in both, which is what group=in expects.
        return kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None]

    operands = [ex.value(x, NCHW), ex.weight(layer, "kernel", to_onnx)]
    if layer.use_bias:
        operands.append(ex.weight(layer, "bias"))
    attrs = _window_attrs(x.shape, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    y = ex.node("Conv", operands, scope, group=channels, **attrs)
    return ex.activation(layer.activation, y, NCHW, scope)


def _lower_pooling2d(ex: _Exporter, layer, inputs, scope, out_shape):
    (x,) = inputs
    attrs = _window_attrs(x.shape, layer.pool_size, layer.strides, layer.padding, None)
    if isinstance(layer, layers.MaxPooling2D):
        return ex.node("MaxPool", [ex.value(x, NCHW)], scope, **attrs), NCHW
    # TensorFlow averages only the real cells of a padded window.
    y = ex.node("AveragePool", [ex.value(x, NCHW)], scope, count_include_pad=0, **attrs)
    return y, NCHW


def _lower_global_average_pooling2d(ex: _Exporter, layer, inputs, scope, out_shape):
    (x,) = inputs
    pooled = ex.node("GlobalAveragePool", [ex.value(x, NCHW)], scope)  # (N, C, 1, 1)
    if layer.keepdims:
        return pooled, NCHW  # Keras's (N, 1, 1, C) seen in NCHW
    # (N, C, 1, 1) flattens to (N, C) in either layout, so no transpose is needed.
    return ex.node("Flatten", [pooled], scope, axis=1), KERAS


def _lower_flatten(ex: _Exporter, layer, inputs, scope, out_shape):
    (x,) = inputs
    return ex.node("Flatten", [ex.value(x, KERAS)], scope, axis=1), KERAS


def _lower_reshape(ex: _Exporter, layer: layers.Reshape, inputs, scope, out_shape):
    (x,) = inputs
    target = out_shape[1:]
    if None not in target:
        shape = [-1, *target]  # every size known: -1 stands for the batch
    else:
        shape = [0, *layer.target_shape]  # 0 copies the batch size; -1 is resolved at run time
    shape_name = ex.constant(scope, "shape", np.array(shape, dtype=np.int64))
    return ex.node("Reshape", [ex.value(x, KERAS), shape_name], scope), KERAS


def _lower_dropout(ex: _Exporter, layer, inputs, scope, out_shape):
    (x,) = inputs
    source, layout = x.native()
    # Without its optional ratio and training_mode inputs, ONNX Dropout is the identity.
    return ex.node("Dropout", [source], scope), layout


def _lower_batch_normalization(ex: _Exporter, layer: layers.BatchNormalization, inputs, scope, out_shape):
    (x,) = inputs
    channels = layer._weight("moving_mean").shape[0]
    if x.rank in (2, 4):
        # ONNX BatchNormalization normalises axis 1: the channels of (N, C) and NCHW.
        layout = NCHW if x.rank == 4 else KERAS
        scale = ex.weight(layer, "gamma") if layer.scale else ex.constant(scope, "gamma", np.ones(channels))
        bias = ex.weight(layer, "beta") if layer.center else ex.constant(scope, "beta", np.zeros(channels))
        mean = ex.weight(layer, "moving_mean")
        variance = ex.weight(layer, "moving_variance")
        y = ex.node(
            "BatchNormalization",
            [ex.value(x, layout), scale, bias, mean, variance],
            scope,
            epsilon=layer.epsilon,
        )
        return y, layout
    # Other ranks keep channels last, where ONNX BatchNormalization cannot reach them:
    # fold the statistics into one scale and shift that broadcast over the last axis.
    gamma = layer._weight("gamma") if layer.scale else np.ones(channels)
    beta = layer._weight("beta") if layer.center else np.zeros(channels)
    mean = layer._weight("moving_mean").astype(np.float64)
    variance = layer._weight("moving_variance").astype(np.float64)
    factor = gamma / np.sqrt(variance + layer.epsilon)
    scaled = ex.node("Mul", [ex.value(x, KERAS), ex.constant(scope, "scale", factor)], scope)
    return ex.node("Add", [scaled, ex.constant(scope, "shift", beta - mean * factor)], scope), KERAS


def _lower_activation(ex: _Exporter, layer: layers.Activation, inputs, scope, out_shape):
    (x,) = inputs
    if layer.activation in ("softmax", "log_softmax"):
        # Reuse (or make, once) the tensor's Keras-layout copy.
        source, layout = ex.value(x, KERAS), KERAS
    else:
        source, layout = x.native()
    return ex.activation(layer.activation, source, layout, scope, always_emit=True)


def _lower_add(ex: _Exporter, layer, inputs, scope, out_shape):
    layout = _shared_layout(inputs)
    operands = [ex.value(x, layout) for x in inputs]
    total = operands[0]
    for operand in operands[1:]:
        total = ex.node("Add", [total, operand], scope)  # ONNX Add is binary
    return total, layout


def _lower_concatenate(ex: _Exporter, layer: layers.Concatenate, inputs, scope, out_shape):
    layout = _shared_layout(inputs)
    axis = layer.normalized_axis(inputs[0].rank)
    if layout == NCHW:
        axis = _NCHW_AXIS[axis]
    return ex.node("Concat", [ex.value(x, layout) for x in inputs], scope, axis=axis), layout


_LOWERINGS = {
    layers.Dense: _lower_dense,
    layers.Conv2D: _lower_conv2d,
    layers.DepthwiseConv2D: _lower_depthwise_conv2d,
    layers.MaxPooling2D: _lower_pooling2d,
    layers.AveragePooling2D: _lower_pooling2d,
    layers.GlobalAveragePooling2D: _lower_global_average_pooling2d,
    layers.Flatten: _lower_flatten,
    layers.Reshape: _lower_reshape,
    layers.Dropout: _lower_dropout,
    layers.BatchNormalization: _lower_batch_normalization,
    layers.Activation: _lower_activation,
    layers.Add: _lower_add,
    layers.Concatenate: _lower_concatenate,
}


def _lowering_for(layer: layers.Layer):
    for cls in type(layer).__mro__:
        if cls in _LOWERINGS:
            return _LOWERINGS[cls]
    raise ValueError(f"{layer._describe()}: {type(layer).__name__} cannot be exported to ONNX")


def _shared_layout(inputs: list[_Values]) -> str:
    # Multi-input layers need one layout. If any 4-D input is already NCHW, use NCHW:
    # such inputs come from convolutions, and the result most likely feeds another.
    if inputs[0].rank == 4 and any(NCHW in x.names for x in inputs):
        return NCHW
    return KERAS


def _window_attrs(input_shape, kernel, strides, padding, dilation) -> dict:
    """Conv/pool attributes with explicit pads, [top, left, bottom, right]."""
    dilation_or_one = dilation or (1, 1)
    attrs = {"kernel_shape": list(kernel), "strides": list(strides)}
    if dilation is not None:
        attrs["dilations"] = list(dilation)
    if padding == "valid":
        attrs["pads"] = [0, 0, 0, 0]
        return attrs
    per_axis = [window.same_padding(input_shape[1 + i], kernel[i], strides[i], dilation_or_one[i]) for i in range(2)]
    if None in per_axis:
        # The padding depends on a size known only at run time; SAME_UPPER is
        # TensorFlow's rule (odd pixel at the end) applied by the engine.
        attrs["auto_pad"] = "SAME_UPPER"
    else:
        (top, bottom), (left, right) = per_axis
        attrs["pads"] = [top, left, bottom, right]
    return attrs


def _spec_shape(shape: tuple) -> list:
    return [None if d is None else int(d) for d in shape]
