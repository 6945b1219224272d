"""The benchmark models, built with servekit's Keras-like API (seeded weights)."""

from __future__ import annotations

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
}
