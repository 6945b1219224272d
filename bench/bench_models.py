"""The benchmark models, built with servekit's Keras-like API (seeded weights),
and a transformer encoder written as ONNX nodes directly (the builder has no
attention layers), the way torch.onnx exports one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import servekit
from servekit import layers


def mnist_mlp():
    """MNIST MLP 784-128-10."""
    return servekit.Sequential(
        [servekit.Input((784,)), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")],
        name="mnist_mlp",
    )


def keras_cnn():
    """The classic Keras MNIST CNN on 28x28x1."""
    return servekit.Sequential(
        [
            servekit.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
        name="keras_cnn",
    )


def image_cnn():
    """A 64x64x3 image classifier with dropout, 32 classes."""
    return servekit.Sequential(
        [
            servekit.Input((64, 64, 3)),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(32, activation="softmax"),
        ],
        name="image_cnn",
    )


def _bottleneck(x, filters: int, stride: int, project: bool):
    shortcut = x
    y = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(4 * filters, 1, use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if project:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


def resnet50():
    """ResNet-50's shape (224x224x3, bottlenecks 3-4-6-3, 1000 classes), random weights."""
    inputs = servekit.Input((224, 224, 3), name="image")
    x = layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for stage, (filters, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            x = _bottleneck(x, filters, stride, project=block == 0)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1000, activation="softmax")(x)
    return servekit.Model(inputs, outputs, name="resnet50")


def residual_block():
    """Two 3x3 convolutions with BatchNormalization and a skip connection, 16x16x16."""
    inputs = servekit.Input((16, 16, 16), name="features")
    y = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(16, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    outputs = layers.Activation("relu")(layers.Add()([y, inputs]))
    return servekit.Model(inputs, outputs, name="residual_block")


def depthwise_block():
    """A depthwise-separable block on 12x12x8: depthwise 3x3, pointwise to 16, average pool, classifier."""
    return servekit.Sequential(
        [
            servekit.Input((12, 12, 8)),
            layers.DepthwiseConv2D(3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Conv2D(16, 1, use_bias=False),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ],
        name="depthwise_block",
    )


def _inverted_residual(x, channels_in: int, channels_out: int, stride: int, expansion: int):
    y = x
    if expansion != 1:
        y = layers.Conv2D(channels_in * expansion, 1, use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu6")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu6")(y)
    y = layers.Conv2D(channels_out, 1, use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if stride == 1 and channels_in == channels_out:
        y = layers.Add()([x, y])
    return y


def mobilenet_v2():
    """MobileNetV2's shape (inverted residual blocks, width 1.0) on 96x96x3, 1000 classes, random weights."""
    inputs = servekit.Input((96, 96, 3), name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu6")(x)
    channels = 32
    # (expansion, output channels, repeats, first stride), as in the paper.
    for expansion, out, repeats, stride in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]:
        for i in range(repeats):
            x = _inverted_residual(x, channels, out, stride if i == 0 else 1, expansion)
            channels = out
    x = layers.Conv2D(1280, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu6")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1000, activation="softmax")(x)
    return servekit.Model(inputs, outputs, name="mobilenet_v2")


class OnnxModel:
    """An ONNX graph that saves like a servekit model: `save(dir)` writes dir/model.onnx."""

    def __init__(self, proto: onnx.ModelProto):
        self.proto = proto

    def save(self, version_dir: Path) -> None:
        version_dir = Path(version_dir)
        version_dir.mkdir(parents=True, exist_ok=True)
        onnx.save(self.proto, version_dir / "model.onnx")


def transformer_encoder(tokens: int = 64, width: int = 128, heads: int = 4, hidden: int = 512, depth: int = 2):
    """A BERT-style encoder (2 layers, width 128, 4 heads, feed-forward 512) over 64
    token embeddings, as torch.onnx writes it at opset 17: MatMul + Add for every
    projection, Reshape/Transpose into heads, Softmax, erf GELU spelled out in five
    nodes, LayerNormalization after each residual Add. Random weights."""
    rng = np.random.default_rng(7)
    nodes, weights = [], []

    def constant(name, array):
        weights.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(op_type, inputs, name, **attributes):
        nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attributes))
        return name

    head_width = width // heads
    split_heads = constant("split_heads", np.array([0, tokens, heads, head_width], np.int64))
    merge_heads = constant("merge_heads", np.array([0, tokens, width], np.int64))
    scale = constant("scale", np.float32(1 / np.sqrt(head_width)))
    sqrt2, one, half = (constant(n, np.float32(v)) for n, v in (("sqrt2", np.sqrt(2)), ("one", 1), ("half", 0.5)))
    x = "x"
    for layer in range(depth):
        p = f"layer{layer}_"

        def dense(inputs, n_in, n_out, name, p=p):
            w = constant(p + name + "_w", rng.normal(0, n_in**-0.5, (n_in, n_out)).astype(np.float32))
            b = constant(p + name + "_b", rng.normal(0, 0.1, n_out).astype(np.float32))
            return op("Add", [op("MatMul", [inputs, w], p + name + "_matmul"), b], p + name)

        def layer_norm(inputs, name, p=p):
            gamma = constant(p + name + "_gamma", (1 + rng.normal(0, 0.1, width)).astype(np.float32))
            beta = constant(p + name + "_beta", rng.normal(0, 0.1, width).astype(np.float32))
            return op("LayerNormalization", [inputs, gamma, beta], p + name, axis=-1, epsilon=1e-12)

        def to_heads(t, name, perm, p=p):
            return op("Transpose", [op("Reshape", [t, split_heads], p + name + "_split")], p + name + "_t", perm=perm)

        q = to_heads(dense(x, width, width, "query"), "query", [0, 2, 1, 3])
        k = to_heads(dense(x, width, width, "key"), "key", [0, 2, 3, 1])
        v = to_heads(dense(x, width, width, "value"), "value", [0, 2, 1, 3])
        scores = op("Mul", [op("MatMul", [q, k], p + "scores"), scale], p + "scaled_scores")
        attention = op("Softmax", [scores], p + "attention", axis=-1)
        context = op("Transpose", [op("MatMul", [attention, v], p + "context")], p + "context_t", perm=[0, 2, 1, 3])
        context = op("Reshape", [context, merge_heads], p + "context_merged")
        x = layer_norm(op("Add", [x, dense(context, width, width, "output")], p + "residual1"), "norm1")
        h = dense(x, width, hidden, "intermediate")
        erf = op("Erf", [op("Div", [h, sqrt2], p + "gelu_div")], p + "gelu_erf")
        gelu = op("Mul", [op("Mul", [h, op("Add", [erf, one], p + "gelu_add")], p + "gelu_mul"), half], p + "gelu")
        x = layer_norm(op("Add", [x, dense(gelu, hidden, width, "ffn_output")], p + "residual2"), "norm2")
    graph = helper.make_graph(
        nodes,
        "transformer_encoder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", tokens, width])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", tokens, width])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return OnnxModel(model)


def dense_layer(inputs: int, units: int):
    return servekit.Sequential([servekit.Input((inputs,)), layers.Dense(units)], name="dense")


# name -> (builder, batch sizes), as the engine issue lists them.
MODELS = {
    "mnist_mlp": (mnist_mlp, [1, 64]),
    "keras_cnn": (keras_cnn, [1, 64]),
    "image_cnn": (image_cnn, [1, 32]),
    "residual_block": (residual_block, [1, 8]),
    "depthwise_block": (depthwise_block, [1, 32]),
    "mobilenet_v2": (mobilenet_v2, [1, 8]),
    "resnet50": (resnet50, [1, 8]),
    "transformer_encoder": (transformer_encoder, [1, 8]),
}
