"""The servekit demo (`make serve`).

Trains a small MLP on scikit-learn's bundled 8x8 digits with plain numpy, builds
the same network with servekit's Keras-like API, saves it as version 1 of a
model directory, loads that directory into the native engine, predicts, and
prints the accuracy and the latency of predict() at batch 1 and 64.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import servekit
from servekit import layers

MODEL_BASE_PATH = Path(__file__).resolve().parent.parent / "demo_models" / "digits"


def train_mlp(x: np.ndarray, y: np.ndarray, hidden=64, epochs=60, lr=0.1, seed=0):
    """Softmax-regression MLP (one ReLU hidden layer), minibatch SGD."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((x.shape[1], hidden)).astype(np.float32) * np.sqrt(2 / x.shape[1])
    b1 = np.zeros(hidden, np.float32)
    w2 = rng.standard_normal((hidden, 10)).astype(np.float32) * np.sqrt(1 / hidden)
    b2 = np.zeros(10, np.float32)
    onehot = np.eye(10, dtype=np.float32)[y]
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 32):
            idx = order[start : start + 32]
            h = np.maximum(x[idx] @ w1 + b1, 0)
            logits = h @ w2 + b2
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            grad_logits = (p - onehot[idx]) / len(idx)
            grad_h = (grad_logits @ w2.T) * (h > 0)
            w2 -= lr * h.T @ grad_logits
            b2 -= lr * grad_logits.sum(axis=0)
            w1 -= lr * x[idx].T @ grad_h
            b1 -= lr * grad_h.sum(axis=0)
    return [w1, b1, w2, b2]


def p50_us(fn, calls=2000) -> float:
    for _ in range(50):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    return float(np.percentile(times, 50)) / 1e3


def main() -> None:
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

    model = servekit.Sequential(
        [
            servekit.Input((64,), name="pixels"),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="digits",
    )
    model.set_weights(train_mlp(x_train, y_train))
    version_dir = MODEL_BASE_PATH / "1"
    model.save(version_dir)
    print(f"saved {version_dir / 'model.onnx'}")

    loaded = servekit.load(version_dir)
    print(f"loaded {loaded}")
    probabilities = loaded.predict(x_test)
    accuracy = float((probabilities.argmax(axis=1) == y_test).mean())
    print(f"test accuracy on {len(x_test)} held-out digits: {accuracy:.3f}")
    print(f"first five predictions: {probabilities[:5].argmax(axis=1).tolist()} (true: {y_test[:5].tolist()})")

    one, batch = x_test[:1], x_test[:64]
    print(f"predict latency (p50, from Python): batch 1: {p50_us(lambda: loaded.predict(one)):.1f} µs, "
          f"batch 64: {p50_us(lambda: loaded.predict(batch)):.1f} µs")


if __name__ == "__main__":
    main()
