"""Tests of the Keras-like model builder: layers, Sequential and functional models,
their weights, and their export to ONNX.

Every numeric test runs the model three ways and compares: the native engine
(`model.predict`), onnxruntime on the exported bytes (which must also pass the ONNX
checker), and a float64 numpy reference written here from Keras's definitions.
"""

from __future__ import annotations

import math
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from servekit import activations, initializers, layers
from servekit._export import OPSET, model_to_spec
from servekit.functional import Input, Model
from servekit.sequential import Sequential

RTOL = 1e-5

# The ops the engine implements; the exporter must use nothing else.
ENGINE_OPS = {
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
    "Softmax", "LogSoftmax", "Erf", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
    "BatchNormalization", "Flatten", "Reshape", "Transpose", "Concat", "Squeeze",
    "Unsqueeze", "Identity", "Dropout", "Clip", "Pad", "ReduceMean", "Cast", "Shape",
    "Gather", "Constant", "ArgMax",
}  # fmt: skip


# -- numpy references (float64, NHWC, Keras/TensorFlow semantics) ---------------------------


def same_pads(size, kernel, stride, dilation=1):
    """TensorFlow's "same": out = ceil(size / stride), odd padding pixel at the end."""
    span = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def windows(x, kernel, strides, padding, dilation=(1, 1), pad_value=0.0):
    """(N, OH, OW, C, kh, kw) windows of NHWC `x`."""
    if padding == "same":
        (top, bottom), (left, right) = (same_pads(x.shape[1 + i], kernel[i], strides[i], dilation[i]) for i in range(2))
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    span = [(kernel[i] - 1) * dilation[i] + 1 for i in range(2)]
    view = sliding_window_view(x, span, axis=(1, 2))
    return view[:, :: strides[0], :: strides[1], :, :: dilation[0], :: dilation[1]]


def ref_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    w = windows(x.astype(np.float64), kernel.shape[:2], strides, padding, dilation)
    kernel = kernel.astype(np.float64)
    in_per_group, out_per_group = kernel.shape[2], kernel.shape[3] // groups
    parts = [
        np.einsum(
            "nhwcij,ijco->nhwo",
            w[:, :, :, g * in_per_group : (g + 1) * in_per_group],
            kernel[:, :, :, g * out_per_group : (g + 1) * out_per_group],
        )
        for g in range(groups)
    ]
    y = np.concatenate(parts, axis=-1)
    return y if bias is None else y + bias


def ref_depthwise(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation=(1, 1)):
    w = windows(x.astype(np.float64), kernel.shape[:2], strides, padding, dilation)
    y = np.einsum("nhwcij,ijcm->nhwcm", w, kernel.astype(np.float64))
    y = y.reshape(*y.shape[:3], -1)  # channel c * multiplier + m, as Keras
    return y if bias is None else y + bias


def ref_max_pool(x, size, strides, padding):
    return windows(x.astype(np.float64), size, strides, padding, pad_value=-np.inf).max(axis=(4, 5))


def ref_avg_pool(x, size, strides, padding):
    # TensorFlow averages only the real cells of a padded window.
    return np.nanmean(windows(x.astype(np.float64), size, strides, padding, pad_value=np.nan), axis=(4, 5))


def ref_batch_norm(x, gamma, beta, mean, variance, epsilon=1e-3):
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta


def ref_dense(x, kernel, bias):
    return x.astype(np.float64) @ kernel.astype(np.float64) + bias


_erf = np.vectorize(math.erf)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


REF_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "log_softmax": lambda x: np.log(_softmax(x)),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "relu6": lambda x: np.clip(x, 0, 6),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
}


# -- running models ---------------------------------------------------------------------------


def assert_close(actual, expected, rtol=RTOL):
    """Equal within `rtol` relative to the largest expected magnitude (elementwise
    relative error is meaningless where values cross zero)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def check_spec(spec):
    """The structural promises of the spec: ops, opset, names, order, attribute types."""
    assert spec["producer_name"] == "servekit" and spec["opset"] == OPSET == 17
    defined = [name for name, _, _ in spec["inputs"]] + [name for name, _ in spec["initializers"]]
    node_names = []
    for op, node_name, inputs, outputs, attrs in spec["nodes"]:
        assert op in ENGINE_OPS, op
        for name in inputs:
            assert name in defined, f"{node_name} reads {name} before it is defined"
        defined += outputs
        node_names.append(node_name)
        for key, value in attrs.items():
            assert isinstance(value, (int, float, str, list)), (node_name, key, value)
            if isinstance(value, list):
                kinds = {type(v) for v in value}
                assert kinds <= {int} or kinds <= {float}, (node_name, key, value)
    assert len(set(defined)) == len(defined), "value names are not unique"
    assert len(set(node_names)) == len(node_names), "node names are not unique"
    for name, array in spec["initializers"]:
        assert array.flags["C_CONTIGUOUS"] and array.dtype in (np.float32, np.int64), name
    for name, _, _ in spec["outputs"]:
        assert name in defined


def run_model(model, x):
    """model.predict(x), after checking the exported model with the ONNX checker and
    that onnxruntime computes the same values."""
    check_spec(model_to_spec(model))
    data = model.to_onnx_bytes()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    feeds = x if isinstance(x, dict) else dict(zip(model.input_names, x if isinstance(x, list) else [x], strict=True))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    expected = session.run(None, {k: np.asarray(v, np.float32) for k, v in feeds.items()})
    actual = model.predict(x)
    for a, e in zip(actual if isinstance(actual, list) else [actual], expected, strict=True):
        assert a.shape == e.shape
        assert_close(a, e)
    return actual


def ops(model):
    return [node[0] for node in model_to_spec(model)["nodes"]]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def randomize_weights(model, rng):
    """Non-trivial weights everywhere (biases and BN statistics are 0/1 at init)."""
    weights = []
    for layer in model.layers:
        for name, w in zip(layer.weight_names, layer.get_weights(), strict=True):
            if name == "moving_variance":
                weights.append(rng.uniform(0.5, 2.0, w.shape))
            else:
                weights.append(rng.normal(0, 0.5, w.shape))
    model.set_weights(weights)


# -- models -------------------------------------------------------------------------------


def test_sequential_mlp(rng):
    model = Sequential(
        [
            Input((20,)),
            layers.Dense(32, activation="relu"),
            layers.Dense(16, activation="tanh"),
            layers.Dense(5),
        ]
    )
    randomize_weights(model, rng)
    x = rng.normal(size=(7, 20)).astype(np.float32)
    k1, b1, k2, b2, k3, b3 = model.get_weights()
    expected = ref_dense(np.tanh(ref_dense(np.maximum(ref_dense(x, k1, b1), 0), k2, b2)), k3, b3)

    assert_close(run_model(model, x), expected)
    assert model.input_shape == (None, 20) and model.output_shape == (None, 5)
    assert model.count_params() == 20 * 32 + 32 + 32 * 16 + 16 + 16 * 5 + 5
    assert ops(model) == ["Gemm", "Relu", "Gemm", "Tanh", "Gemm"]


def test_classic_keras_cnn_on_28x28x1(rng):
    model = Sequential(
        [
            Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    assert model.count_params() == 225_034  # Keras reports the same for this model
    randomize_weights(model, rng)
    x = rng.uniform(0, 1, size=(3, 28, 28, 1)).astype(np.float32)

    c1, cb1, c2, cb2, d1, db1, d2, db2 = model.get_weights()
    y = ref_max_pool(np.maximum(ref_conv2d(x, c1, cb1), 0), (2, 2), (2, 2), "valid")
    y = ref_max_pool(np.maximum(ref_conv2d(y, c2, cb2), 0), (2, 2), (2, 2), "valid")
    y = y.reshape(len(x), -1)  # Keras flattens NHWC in (H, W, C) order
    expected = _softmax(ref_dense(np.maximum(ref_dense(y, d1, db1), 0), d2, db2))

    assert_close(run_model(model, x), expected)
    # One transpose into NCHW after the input, one back before Flatten: no more.
    spec = model_to_spec(model)
    transposes = [n for n in spec["nodes"] if n[0] == "Transpose"]
    assert [t[4]["perm"] for t in transposes] == [[0, 3, 1, 2], [0, 2, 3, 1]]
    assert transposes[0][2] == ["input_layer"]
    # Kernels are stored in ONNX's (out, in, kh, kw) layout.
    init = dict(spec["initializers"])
    np.testing.assert_array_equal(init["conv2d_1/kernel"], c2.transpose(3, 2, 0, 1))


def test_functional_residual_block_with_batch_norm(rng):
    inputs = Input((8, 8, 4), name="image")
    y = layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(4, 3, padding="same")(y)
    y = layers.BatchNormalization(epsilon=1e-2)(y)
    y = layers.Add()([inputs, y])
    y = layers.Activation("relu")(y)
    y = layers.GlobalAveragePooling2D()(y)
    outputs = layers.Dense(3, name="logits")(y)
    model = Model(inputs, outputs, name="resnet_block")
    randomize_weights(model, rng)
    x = rng.normal(size=(2, 8, 8, 4)).astype(np.float32)

    k1, g1, b1, m1, v1, k2, kb2, g2, b2, m2, v2, dk, db = model.get_weights()
    y = np.maximum(ref_batch_norm(ref_conv2d(x, k1, padding="same"), g1, b1, m1, v1), 0)
    y = ref_batch_norm(ref_conv2d(y, k2, kb2, padding="same"), g2, b2, m2, v2, epsilon=1e-2)
    y = np.maximum(x + y, 0).mean(axis=(1, 2))
    assert_close(run_model(model, x), ref_dense(y, dk, db))

    spec = model_to_spec(model)
    assert spec["graph_name"] == "resnet_block"
    assert [i[0] for i in spec["inputs"]] == ["image"] and spec["outputs"][0][0] == "logits"
    assert ops(model).count("Transpose") == 1  # GlobalAveragePool + Flatten needs none back
    assert {n[4]["epsilon"] for n in spec["nodes"] if n[0] == "BatchNormalization"} == {1e-3, 1e-2}


def test_concatenate_branches_and_several_inputs_and_outputs(rng):
    image = Input((6, 6, 3), name="image")
    extra = Input((5,), name="extra")
    left = layers.Conv2D(4, 1, activation="relu")(image)
    right = layers.Conv2D(2, 3, padding="same")(image)
    joined = layers.Concatenate()([left, right])  # channels: NCHW axis 1
    pooled = layers.GlobalAveragePooling2D()(joined)
    features = layers.Concatenate(axis=1)([pooled, layers.Dense(3)(extra)])
    scores = layers.Dense(2, activation="softmax", name="scores")(features)
    model = Model([image, extra], [scores, joined])
    randomize_weights(model, rng)
    xi = rng.normal(size=(3, 6, 6, 3)).astype(np.float32)
    xe = rng.normal(size=(3, 5)).astype(np.float32)

    lk, lb, rk, rb, ek, eb, sk, sb = model.get_weights()
    ref_joined = np.concatenate(
        [np.maximum(ref_conv2d(xi, lk, lb), 0), ref_conv2d(xi, rk, rb, padding="same")], axis=-1
    )
    ref_features = np.concatenate([ref_joined.mean(axis=(1, 2)), ref_dense(xe, ek, eb)], axis=1)
    ref_scores = _softmax(ref_dense(ref_features, sk, sb))

    got_scores, got_joined = run_model(model, [xi, xe])
    assert_close(got_scores, ref_scores)
    assert_close(got_joined, ref_joined)  # a 4-D output comes back in NHWC
    by_name = model.predict({"extra": xe, "image": xi})
    assert_close(by_name[1], ref_joined)
    assert model.output_names == ["scores", "concatenate"]
    assert model.input_shape == [(None, 6, 6, 3), (None, 5)]
    concat_axes = [n[4]["axis"] for n in model_to_spec(model)["nodes"] if n[0] == "Concat"]
    assert concat_axes == [1, 1]  # channels in NCHW, then features of a 2-D tensor


def test_depthwise_conv2d(rng):
    inputs = Input((9, 9, 3))
    y = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(inputs)
    z = layers.DepthwiseConv2D((3, 2), dilation_rate=2, use_bias=False, activation="relu6")(inputs)
    model = Model(inputs, [y, z])
    randomize_weights(model, rng)
    x = rng.normal(size=(2, 9, 9, 3)).astype(np.float32)
    k, b, kz = model.get_weights()
    assert k.shape == (3, 3, 3, 2) and b.shape == (6,) and kz.shape == (3, 2, 3, 1)

    got_y, got_z = run_model(model, x)
    assert_close(got_y, ref_depthwise(x, k, b, (2, 2), "same"))
    assert_close(got_z, np.clip(ref_depthwise(x, kz, dilation=(2, 2)), 0, 6))
    assert got_y.shape == (2, 5, 5, 6) and got_z.shape == (2, 5, 7, 3)
    conv = next(n for n in model_to_spec(model)["nodes"] if n[0] == "Conv")
    assert conv[4]["group"] == 3


@pytest.mark.parametrize("size", [7, 6])
def test_same_padding_with_stride_2_matches_tensorflow(rng, size):
    inputs = Input((size, size + 2, 2))
    conv = layers.Conv2D(3, 3, strides=2, padding="same")(inputs)
    max_pool = layers.MaxPooling2D(3, strides=2, padding="same")(inputs)
    avg_pool = layers.AveragePooling2D(2, padding="same")(inputs)
    model = Model(inputs, [conv, max_pool, avg_pool])
    randomize_weights(model, rng)
    x = rng.normal(size=(2, size, size + 2, 2)).astype(np.float32)
    kernel, bias = model.get_weights()

    got = run_model(model, x)
    assert_close(got[0], ref_conv2d(x, kernel, bias, (2, 2), "same"))
    assert_close(got[1], ref_max_pool(x, (3, 3), (2, 2), "same"))
    assert_close(got[2], ref_avg_pool(x, (2, 2), (2, 2), "same"))
    out = -(-size // 2)
    assert got[0].shape == (2, out, -(-(size + 2) // 2), 3)

    # Explicit pads [top, left, bottom, right], the odd one at the end like TensorFlow.
    pads = {n[0]: n[4]["pads"] for n in model_to_spec(model)["nodes"] if "pads" in n[4]}
    top, bottom = same_pads(size, 3, 2)
    left, right = same_pads(size + 2, 3, 2)
    assert pads["Conv"] == pads["MaxPool"] == [top, left, bottom, right]
    assert (size, pads["Conv"]) in [(7, [1, 1, 1, 1]), (6, [0, 0, 1, 1])]
    assert pads["AveragePool"] == [0, 0, size % 2, (size + 2) % 2]


@pytest.mark.parametrize("name", sorted(REF_ACTIVATIONS))
def test_every_activation(rng, name):
    inputs = Input((4, 4, 3))
    dense = layers.Dense(5, activation=name)(layers.Flatten()(inputs))
    conv = layers.Conv2D(3, 1, activation=name)(inputs)  # applied in NCHW (softmax: over channels)
    layer = layers.Activation(name)(inputs)
    model = Model(inputs, [dense, conv, layer])
    randomize_weights(model, rng)
    # Wide enough to reach relu6's ceiling and elu's saturation, and small values too.
    x = rng.uniform(-8, 8, size=(4, 4, 4, 3)).astype(np.float32)
    x[0, 0, 0] = [1e-4, -1e-4, 0]
    dk, db, ck, cb = model.get_weights()
    f = REF_ACTIVATIONS[name]

    got = run_model(model, x)
    assert_close(got[0], f(ref_dense(x.reshape(4, -1), dk, db)))
    assert_close(got[1], f(ref_conv2d(x, ck, cb)))
    assert_close(got[2], f(x.astype(np.float64)))


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="unknown activation 'selu'"):
        layers.Dense(3, activation="selu")
    assert activations.get("swish") == activations.get("silu") == "silu"
    assert activations.get(None) == "linear"


def test_flatten_reshape_and_dense_on_images_see_nhwc_order(rng):
    inputs = Input((4, 6, 3))
    conv = layers.Conv2D(2, 1)(inputs)
    flat = layers.Flatten()(conv)
    tokens = layers.Reshape((-1, 2))(conv)  # (24, 2): pixels as tokens, channels last
    per_token = layers.Dense(3, activation="tanh")(tokens)  # Dense on rank 3: MatMul + Add
    per_pixel = layers.Dense(2, use_bias=False)(conv)  # Dense on a 4-D tensor
    model = Model(inputs, [flat, per_token, per_pixel])
    randomize_weights(model, rng)
    x = rng.normal(size=(2, 4, 6, 3)).astype(np.float32)
    ck, cb, tk, tb, pk = model.get_weights()
    ref = ref_conv2d(x, ck, cb)

    got = run_model(model, x)
    assert_close(got[0], ref.reshape(2, -1))
    assert_close(got[1], np.tanh(ref_dense(ref.reshape(2, 24, 2), tk, tb)))
    assert_close(got[2], ref @ pk)
    assert model.output_shape == [(None, 48), (None, 24, 3), (None, 4, 6, 2)]
    # The NCHW conv result is transposed back once and shared by all three consumers.
    assert ops(model).count("Transpose") == 2


def test_batch_norm_on_3d_tensors_and_dropout(rng):
    inputs = Input((5, 4))
    y = layers.BatchNormalization(center=False)(inputs)  # rank 3: folded into Mul + Add
    y = layers.Dropout(0.5)(y)
    model = Model(inputs, layers.Dense(2)(y))
    randomize_weights(model, rng)
    gamma, mean, variance, kernel, bias = model.get_weights()
    assert model.layers[1].weight_names == ["gamma", "moving_mean", "moving_variance"]
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    expected = ref_dense(ref_batch_norm(x, gamma, 0, mean, variance), kernel, bias)
    assert_close(run_model(model, x), expected)
    assert ops(model) == ["Mul", "Add", "Dropout", "MatMul", "Add"]


def test_batch_norm_after_layers_without_weights(rng):
    # Nothing here can absorb the normalisation (as a Conv or Gemm before it could).
    image = Input((3, 3, 2))
    by_image = layers.BatchNormalization()(image)  # after the input's NHWC -> NCHW transpose
    flat = layers.Flatten()(layers.Activation("relu")(image))
    by_feature = layers.BatchNormalization(scale=False)(flat)  # rank 2, after Flatten
    model = Model(image, [by_image, by_feature])
    randomize_weights(model, rng)
    g1, b1, m1, v1, b2, m2, v2 = model.get_weights()
    x = rng.normal(size=(2, 3, 3, 2)).astype(np.float32)
    got_image, got_feature = run_model(model, x)
    assert_close(got_image, ref_batch_norm(x, g1, b1, m1, v1))
    flat_ref = np.maximum(x, 0).reshape(2, -1)
    assert_close(got_feature, ref_batch_norm(flat_ref, 1, b2, m2, v2))


def test_unknown_spatial_sizes_export_with_same_upper_padding(rng):
    # The engine wants fixed sizes beyond the batch, but the ONNX file is valid and
    # other runtimes run it; "same" padding then relies on ONNX's SAME_UPPER.
    inputs = Input((None, None, 2))
    y = layers.Conv2D(3, 3, strides=2, padding="same")(inputs)
    y = layers.MaxPooling2D(3, strides=1, padding="same")(y)  # stride 1: pads still known
    model = Model(inputs, y)
    assert model.output_shape == (None, None, None, 3)
    attrs = [node[4] for node in model_to_spec(model)["nodes"] if node[0] in ("Conv", "MaxPool")]
    assert attrs[0]["auto_pad"] == "SAME_UPPER" and "pads" not in attrs[0]
    assert attrs[1]["pads"] == [1, 1, 1, 1]

    data = model.to_onnx_bytes()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    kernel, bias = model.get_weights()
    for shape in [(1, 7, 6, 2), (2, 4, 9, 2)]:
        x = rng.normal(size=shape).astype(np.float32)
        expected = ref_max_pool(ref_conv2d(x, kernel, bias, (2, 2), "same"), (3, 3), (1, 1), "same")
        assert_close(session.run(None, {"input_layer": x})[0], expected)


def test_conv2d_groups_dilation_and_image_output(rng):
    model = Sequential(
        [
            Input((8, 8, 4)),
            layers.Conv2D(6, 3, groups=2, dilation_rate=2, activation="leaky_relu"),
            layers.AveragePooling2D(pool_size=(2, 1), strides=1),
        ]
    )
    randomize_weights(model, rng)
    kernel, bias = model.get_weights()
    assert kernel.shape == (3, 3, 2, 6)
    x = rng.normal(size=(2, 8, 8, 4)).astype(np.float32)
    y = REF_ACTIVATIONS["leaky_relu"](ref_conv2d(x, kernel, bias, dilation=(2, 2), groups=2))
    assert_close(run_model(model, x), ref_avg_pool(y, (2, 1), (1, 1), "valid"))
    assert ops(model).count("Transpose") == 2  # in, and back for the 4-D output


def test_shared_layer_and_outputs_that_repeat_or_are_inputs(rng):
    a, b = Input((3,), name="a"), Input((3,), name="b")
    shared = layers.Dense(2, name="shared")
    ya, yb = shared(a), shared(b)
    model = Model([a, b], [ya, yb, ya, a])
    randomize_weights(model, rng)
    assert len(model.get_weights()) == 2  # one kernel and bias for both calls
    xa, xb = rng.normal(size=(2, 2, 3)).astype(np.float32)
    k, bias = model.get_weights()
    got = run_model(model, {"a": xa, "b": xb})
    for actual, expected in zip(
        got, [ref_dense(xa, k, bias), ref_dense(xb, k, bias), ref_dense(xa, k, bias), xa], strict=True
    ):
        assert_close(actual, expected)
    assert model.output_names == ["shared", "shared/call_1", "shared_output", "a_output"]
    assert len([name for name, _ in model_to_spec(model)["initializers"]]) == 2


# -- weights ----------------------------------------------------------------------------------


def test_weights_use_keras_layouts_and_round_trip(rng):
    model = Sequential(
        [
            Input((6, 6, 4)),
            layers.Conv2D(8, (3, 2)),
            layers.DepthwiseConv2D(3, depth_multiplier=3),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dense(5),
        ]
    )
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [
        (3, 2, 4, 8), (8,),           # Conv2D kernel (kh, kw, in, out), bias
        (3, 3, 8, 3), (24,),          # DepthwiseConv2D kernel (kh, kw, in, multiplier), bias
        (24,), (24,), (24,), (24,),   # gamma, beta, moving_mean, moving_variance
        (144, 5), (5,),               # Dense kernel (in, out), bias
    ]  # fmt: skip
    assert model.layers[2].weight_names == ["gamma", "beta", "moving_mean", "moving_variance"]
    new = [rng.normal(size=s).astype(np.float32) for s in shapes]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new, strict=True):
        np.testing.assert_array_equal(got, want)
    # get_weights returns copies: changing one leaves the model alone.
    model.get_weights()[0][...] = 0
    np.testing.assert_array_equal(model.get_weights()[0], new[0])
    layer = model.get_layer("dense")
    layer.set_weights([np.ones((144, 5)), np.zeros(5)])
    assert layer.get_weights()[0].dtype == np.float32
    assert model.count_params() == sum(np.prod(s) for s in shapes)


def test_set_weights_errors_name_the_problem_and_change_nothing():
    model = Sequential([Input((3,)), layers.Dense(4), layers.Dense(2)])
    before = model.get_weights()
    with pytest.raises(ValueError, match="expects 4 weight arrays, got 3"):
        model.set_weights(before[:3])
    wrong = [before[0], before[1], np.zeros((2, 4)), before[3]]
    with pytest.raises(
        ValueError,
        match=r"Dense layer 'dense_1': weight 'kernel' expects shape \(4, 2\), got \(2, 4\)",
    ):
        model.set_weights([w + 1 for w in before[:2]] + wrong[2:])
    for got, want in zip(model.get_weights(), before, strict=True):  # the first layer was not changed either
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"Dense layer 'dense' expects 2 weight arrays \(kernel, bias\), got 1"):
        model.layers[0].set_weights([before[0]])
    with pytest.raises(ValueError, match="not built yet"):
        layers.Dense(3).set_weights([np.zeros((2, 3)), np.zeros(3)])


def test_predict_sees_new_weights_and_reuses_the_loaded_model(rng):
    model = Sequential([layers.Dense(3, input_shape=(4,))])
    x = rng.normal(size=(2, 4)).astype(np.float32)
    first = model.predict(x)
    loaded = model._loaded[2]
    np.testing.assert_array_equal(model.predict(x), first)
    assert model._loaded[2] is loaded
    kernel = rng.normal(size=(4, 3)).astype(np.float32)
    model.layers[0].set_weights([kernel, np.ones(3)])
    assert_close(model.predict(x), ref_dense(x, kernel, np.ones(3)))
    assert model._loaded[2] is not loaded


def test_initializers_are_deterministic_with_a_seed():
    glorot = initializers.GlorotUniform(seed=3)
    a = glorot((20, 30))
    np.testing.assert_array_equal(a, glorot((20, 30)))  # a seeded initializer repeats
    assert not np.array_equal(a, initializers.GlorotUniform(seed=4)((20, 30)))
    limit = math.sqrt(6 / 50)
    assert a.dtype == np.float32 and np.abs(a).max() <= limit and np.abs(a).max() > 0.9 * limit
    conv = initializers.glorot_uniform(seed=0)((3, 3, 2, 4))  # fans include the window
    assert np.abs(conv).max() <= math.sqrt(6 / (18 + 36))

    he = initializers.HeNormal(seed=1)((400, 300))
    std = math.sqrt(2 / 400)
    assert abs(he.std() - std) < 0.05 * std
    assert np.abs(he).max() <= 2 * std / 0.87962566103423978 + 1e-6  # truncated
    np.testing.assert_array_equal(initializers.get("zeros")((2, 2)), np.zeros((2, 2)))
    np.testing.assert_array_equal(initializers.get("ones")((3,)), np.ones(3))

    def build():
        return Sequential([Input((5,)), layers.Dense(4), layers.Dense(3, kernel_initializer="he_normal")])

    initializers.set_random_seed(7)
    w1 = build().get_weights()
    initializers.set_random_seed(7)
    w2 = build().get_weights()
    initializers.set_random_seed(8)
    w3 = build().get_weights()
    for x, y in zip(w1, w2, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(w1[0], w3[0])
    seeded = [layers.Dense(4, kernel_initializer=initializers.GlorotUniform(seed=5)) for _ in range(2)]
    for layer in seeded:
        layer.build((None, 6))
    np.testing.assert_array_equal(seeded[0].get_weights()[0], seeded[1].get_weights()[0])
    with pytest.raises(ValueError, match="unknown initializer"):
        layers.Dense(2, kernel_initializer="lecun_uniform")


# -- names, shapes and errors -------------------------------------------------------------------


def test_layer_names_are_keras_style_and_unique_per_model():
    first = Sequential([Input((3,)), layers.Dense(2), layers.Dense(2), layers.Dropout(0.1)])
    assert [layer.name for layer in first.layers] == ["dense", "dense_1", "dropout"]
    second = Sequential([Input((3,)), layers.Dense(2)])
    assert second.layers[0].name == "dense"  # counting restarts in each model

    x = Input((8, 8, 1))
    y = layers.Conv2D(2, 3)(x)
    y = layers.DepthwiseConv2D(3)(y)
    y = layers.MaxPooling2D()(y)
    y = layers.Dense(2, name="dense")(layers.Dense(2)(layers.GlobalAveragePooling2D()(y)))
    model = Model(x, y)
    assert [layer.name for layer in model.layers] == [
        "input_layer", "conv2d", "depthwise_conv2d", "max_pooling2d",
        "global_average_pooling2d", "dense_1", "dense",  # the user's "dense" is reserved
    ]  # fmt: skip
    assert model.input_names == ["input_layer"] and model.output_names == ["dense"]
    assert model.get_layer("conv2d") is model.layers[1]

    clash = Input((2,))
    with pytest.raises(ValueError, match="two layers of this model are named 'same'"):
        Model(clash, layers.Dense(1, name="same")(layers.Dense(2, name="same")(clash)))
    with pytest.raises(ValueError, match="already has a layer named 'dense'"):
        Sequential([Input((3,)), layers.Dense(2), layers.Dense(2, name="dense")])


def test_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"Add layer 'merge': inputs must all have the same shape"):
        layers.Add(name="merge")([Input((4, 4, 3)), Input((4, 4, 2))])
    dense = layers.Dense(2)
    dense(Input((3,)))
    with pytest.raises(ValueError, match=r"Dense layer: its kernel expects inputs whose last dimension is 3"):
        dense(Input((4,)))
    with pytest.raises(ValueError, match=r"Conv2D layer: expects a 4-D input"):
        layers.Conv2D(2, 3)(Input((10,)))
    with pytest.raises(ValueError, match="Conv2D layer: spatial size 3 is smaller than the window"):
        layers.Conv2D(2, 5)(Input((3, 3, 1)))
    with pytest.raises(ValueError, match=r"Concatenate layer: inputs must match on every axis but 3"):
        layers.Concatenate()([Input((4, 4, 3)), Input((4, 5, 3))])
    with pytest.raises(ValueError, match=r"Reshape layer: cannot reshape"):
        layers.Reshape((5, -1))(Input((4, 3)))
    with pytest.raises(ValueError, match="Add layer: expects a list of at least 2 tensors"):
        layers.Add()(Input((3,)))
    with pytest.raises(ValueError, match=r"Conv2D layer 'conv2d': expects a 4-D input"):
        Sequential([Input((3,)), layers.Dense(2), layers.Conv2D(1, 1)])
    with pytest.raises(TypeError, match="symbolic tensors"):
        layers.Dense(2)(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="graph disconnected"):
        a, b = Input((2,)), Input((2,))
        Model(a, layers.Add()([a, b]))


def test_sequential_input_from_input_shape_or_build(rng):
    model = Sequential(name="stack")
    model.add(layers.Dense(4, activation="relu"))
    model.add(layers.Dense(2))
    with pytest.raises(ValueError, match="has no input yet"):
        model.predict(np.zeros((1, 3)))
    model.build((None, 3))
    assert model.input_shape == (None, 3) and model.output_shape == (None, 2)
    x = rng.normal(size=(2, 3)).astype(np.float32)
    k1, b1, k2, b2 = model.get_weights()
    assert_close(run_model(model, x), ref_dense(np.maximum(ref_dense(x, k1, b1), 0), k2, b2))

    hinted = Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1)), layers.Flatten()])
    assert hinted.input_shape == (None, 5, 5, 1) and hinted.output_shape == (None, 18)
    with pytest.raises(ValueError, match=r"input 'input_layer' expects arrays of shape \(None, 5, 5, 1\)"):
        hinted.predict(np.zeros((1, 5, 5, 2)))


def test_summary_lists_layers_shapes_and_params():
    model = Sequential([Input((4, 4, 2)), layers.Conv2D(3, 3), layers.BatchNormalization(), layers.Flatten()])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "sequential"' in text
    assert "conv2d (Conv2D)" in text and "(None, 2, 2, 3)" in text and "57" in text
    assert "Total params: 69" in text and "Non-trainable params: 6" in text


def test_save_writes_model_onnx_atomically(tmp_path, rng):
    model = Sequential([Input((3,)), layers.Dense(2, activation="sigmoid")])
    target = tmp_path / "models" / "demo" / "1"
    path = model.save(target)
    assert path == target / "model.onnx"
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded)
    assert loaded.opset_import[0].version == 17
    assert [i.name for i in loaded.graph.input] == ["input_layer"]
    model.layers[0].set_weights([np.ones((3, 2)), np.zeros(2)])
    model.save(target)  # replaces the file in place
    assert sorted(os.listdir(target)) == ["model.onnx"]  # no temporary file left behind
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input_layer": np.ones((1, 3), np.float32)})[0]
    assert_close(out, _sigmoid(np.full((1, 2), 3.0)))
