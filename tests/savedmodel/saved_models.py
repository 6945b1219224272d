"""SavedModels written by TensorFlow itself, the ways people write them, with
what TensorFlow computes from them: the fixtures of the SavedModel tests.

Each writer saves a model under `path` and returns {signature name: (inputs,
outputs)}: numpy inputs by signature key and the outputs TensorFlow's own
`tf.saved_model.load(path).signatures[name]` gives for them. Weights are
random (seeded), batch-norm statistics too, so that every parameter matters.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

RNG_SEED = 20261130


def _randomize(model, seed: int) -> None:
    """Random weights, and positive variances for batch norms."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        values = rng.normal(0.0, 0.5, shape).astype(np.float32)
        if "variance" in variable.name:
            values = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        variable.assign(values)


def tensorflow_outputs(path: Path, inputs_by_signature: dict[str, dict[str, np.ndarray]]):
    """{name: (inputs, outputs)}: what TensorFlow computes for each signature."""
    loaded = tf.saved_model.load(str(path))
    result = {}
    for name, inputs in inputs_by_signature.items():
        function = loaded.signatures[name]
        outputs = function(**{key: tf.constant(value) for key, value in inputs.items()})
        result[name] = (inputs, {key: value.numpy() for key, value in outputs.items()})
    return result


def _images(shape, batch: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (batch, *shape)).astype(np.float32)


def _only_input(path: Path, name: str = "serving_default") -> str:
    loaded = tf.saved_model.load(str(path))
    _, keywords = loaded.signatures[name].structured_input_signature
    (key,) = keywords
    return key


def keras3_mlp(path: Path):
    """Keras 3 `model.export`: Dense-ReLU-Dense-softmax, MNIST-shaped."""
    import keras

    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    )
    _randomize(model, RNG_SEED)
    model.export(str(path), verbose=False)
    key = _only_input(path)
    x = _images((784,), batch=4)
    return tensorflow_outputs(path, {"serving_default": {key: x}, "serve": {key: x}})


def keras3_cnn(path: Path):
    """Keras 3 `model.export` of the seeds' image CNN: Conv, BatchNormalization,
    MaxPool, Dropout, Flatten, Dense."""
    import keras

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    _randomize(model, RNG_SEED + 1)
    model.export(str(path), verbose=False)
    key = _only_input(path)
    return tensorflow_outputs(path, {"serving_default": {key: _images((28, 28, 1))}})


def keras3_residual(path: Path):
    """`tf.saved_model.save` of a functional Keras 3 net: DepthwiseConv2D,
    BatchNormalization, a residual Add, AveragePooling, Concatenate, global
    average pooling, sigmoid."""
    import keras

    layers = keras.layers
    x = keras.Input((12, 12, 8), name="image")
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(max_value=6.0)(y)
    y = layers.Conv2D(8, 1)(y)
    y = layers.Add()([x, y])
    pooled = layers.AveragePooling2D(3, strides=1, padding="same")(y)
    y = layers.Concatenate()([y, pooled])
    y = layers.SeparableConv2D(6, 3, strides=2, padding="same", activation="swish")(y)
    y = layers.GlobalAveragePooling2D()(y)
    out = layers.Dense(3, activation="sigmoid")(y)
    model = keras.Model(x, out)
    _randomize(model, RNG_SEED + 2)
    tf.saved_model.save(model, str(path))
    key = _only_input(path)
    return tensorflow_outputs(path, {"serving_default": {key: _images((12, 12, 8))}})


class _TwoInputModule(tf.Module):
    """A tf.Module with two named inputs, a dict of outputs with an int64
    ArgMax, and a second signature."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(RNG_SEED + 3)
        self.w = tf.Variable(rng.normal(0, 1, (4, 5)).astype(np.float32))
        self.scale = tf.Variable(rng.normal(0, 1, (5,)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None, 4], tf.float32)])
    def scores(self, features, bias):
        logits = tf.tanh(tf.matmul(features, self.w) + tf.matmul(bias, self.w) * self.scale)
        return {"probabilities": tf.nn.softmax(logits), "label": tf.argmax(logits, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def project(self, features):
        return {"projection": tf.matmul(features, self.w) * 2.0}


def tf_module(path: Path):
    module = _TwoInputModule()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.scores, "project": module.project})
    features, bias = _images((4,), batch=5, seed=2), _images((4,), batch=5, seed=3)
    return tensorflow_outputs(
        path,
        {"serving_default": {"features": features, "bias": bias}, "project": {"features": features}},
    )


def tf_keras_model(path: Path):
    """Keras 2 (tf_keras) saved the old way: Dense, BatchNormalization on 2-D
    input (the unfused form), Dense."""
    import tf_keras

    model = tf_keras.Sequential(
        [
            tf_keras.layers.InputLayer(input_shape=(6,)),
            tf_keras.layers.Dense(8, activation="relu"),
            tf_keras.layers.BatchNormalization(),
            tf_keras.layers.Dense(2, activation="tanh"),
        ]
    )
    _randomize(model, RNG_SEED + 4)
    model.save(str(path), save_format="tf")
    key = _only_input(path)
    return tensorflow_outputs(path, {"serving_default": {key: _images((6,))}})


def tf_keras_cnn(path: Path):
    """Keras 2 (tf_keras) image model saved the old way: its BatchNormalization
    on 4-D input is FusedBatchNormV3 (inference), after a Conv2D with a bias and
    after one without."""
    import tf_keras

    layers = tf_keras.layers
    model = tf_keras.Sequential(
        [
            layers.InputLayer(input_shape=(10, 10, 3)),
            layers.Conv2D(6, 3, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Conv2D(4, 3, use_bias=False),
            layers.BatchNormalization(epsilon=1e-2),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    _randomize(model, RNG_SEED + 7)
    model.save(str(path), save_format="tf")
    key = _only_input(path)
    return tensorflow_outputs(path, {"serving_default": {key: _images((10, 10, 3))}})


class _DeepModule(tf.Module):
    """A chain of 2,400 ops in one function: deeper than any recursive walk of
    the graph should be trusted with (servekit's inliner once stopped at 2,000)."""

    def __init__(self):
        self.scale = tf.Variable(1.0001)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)], autograph=False)
    def steps(self, x):
        for _ in range(1200):
            x = x * self.scale + 0.001
        return {"y": x}


def tf_module_deep(path: Path):
    module = _DeepModule()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.steps})
    return tensorflow_outputs(path, {"serving_default": {"x": _images((4,))}})


def tf1_graph(path: Path):
    """A TF1 graph with VariableV2 variables, saved by tf.compat.v1.saved_model."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    rng = np.random.default_rng(RNG_SEED + 5)
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.get_variable("w", initializer=rng.normal(0, 1, (3, 2)).astype(np.float32), use_resource=False)
        b = v1.get_variable("b", initializer=rng.normal(0, 1, (2,)).astype(np.float32), use_resource=False)
        y = tf.nn.relu(tf.matmul(x, w) + b, name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            signature = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(
                session, [v1.saved_model.SERVING], signature_def_map={"serving_default": signature}
            )
            builder.save()
    return tensorflow_outputs(path, {"serving_default": {"x": _images((3,))}})


def keras3_transformer(path: Path):
    """Keras 3 `model.export` of a small transformer block over token ids:
    Embedding, MultiHeadAttention, LayerNormalization, gelu (exact and tanh),
    GlobalAveragePooling1D."""
    import keras

    layers = keras.layers
    tokens = keras.Input((8,), dtype="int32", name="tokens")
    x = layers.Embedding(50, 16)(tokens)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    x = layers.LayerNormalization()(layers.Add()([x, attention]))
    hidden = layers.Dense(32, activation="gelu")(x)
    hidden = layers.Activation(lambda t: keras.activations.gelu(t, approximate=True))(hidden)
    x = layers.LayerNormalization()(layers.Add()([x, layers.Dense(16)(hidden)]))
    out = layers.Dense(4, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    model = keras.Model(tokens, out)
    _randomize(model, RNG_SEED + 6)
    model.export(str(path), verbose=False)
    ids = np.random.default_rng(4).integers(0, 50, (3, 8)).astype(np.int32)
    return tensorflow_outputs(path, {"serving_default": {_only_input(path): ids}})


WRITERS = {
    "keras3_mlp": keras3_mlp,
    "keras3_cnn": keras3_cnn,
    "keras3_residual": keras3_residual,
    "tf_module": tf_module,
    "tf_keras": tf_keras_model,
    "tf_keras_cnn": tf_keras_cnn,
    "tf_module_deep": tf_module_deep,
    "tf1_graph": tf1_graph,
    "keras3_transformer": keras3_transformer,
}

# A transformer's softmax and layer norms accumulate rounding: issue 12 allows 1e-4 there.
RTOL = {"keras3_transformer": 1e-4}
