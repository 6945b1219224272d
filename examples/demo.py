"""The servekit demo (`make serve`).

On first run, trains a small MLP on scikit-learn's bundled 8x8 digits with plain
numpy, builds the same network with servekit's Keras-like API and saves it as
version 1 of demo_models/digits/ (printing its accuracy and in-process predict
latency). Then serves it with servekit-server on 127.0.0.1:8501 (TF Serving's
REST API) and prints a curl line that asks it about a held-out digit. Ctrl-C
(or SIGTERM) drains and stops the server.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import servekit
from servekit import cli, layers

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


REST_PORT = 8501


def digits_split():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    return x[:1500], y[:1500], x[1500:], y[1500:]


def build_demo_model() -> None:
    x_train, y_train, x_test, y_test = digits_split()

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
    print(
        f"predict latency (p50, from Python): batch 1: {p50_us(lambda: loaded.predict(one)):.1f} µs, "
        f"batch 64: {p50_us(lambda: loaded.predict(batch)):.1f} µs"
    )


def curl_line(instance: np.ndarray) -> str:
    body = json.dumps({"instances": [[round(float(v), 4) for v in instance]]}, separators=(",", ":"))
    return f"curl -s -X POST http://127.0.0.1:{REST_PORT}/v1/models/digits:predict -d '{body}'"


def main() -> int:
    if not (MODEL_BASE_PATH / "1" / "model.onnx").is_file():
        build_demo_model()
    _, _, x_test, y_test = digits_split()

    def show_usage(server) -> None:
        print(f"\nserving demo_models/digits (version 1) at {server.url}; try, for a held-out {y_test[0]}:\n")
        print(f"  {curl_line(x_test[0])}\n")
        print(f"  curl -s {server.url}/v1/models/digits            # version status")
        print(f"  curl -s {server.url}/v1/models/digits/metadata   # signature")
        print(f"  curl -s {server.url}/monitoring/prometheus/metrics\n")
        print("Ctrl-C drains and stops the server.", flush=True)

    argv = [
        "--model_name=digits",
        f"--model_base_path={MODEL_BASE_PATH}",
        f"--rest_api_port={REST_PORT}",
        "--bind_address=127.0.0.1",
    ]
    return cli.main(argv, on_started=show_usage)


if __name__ == "__main__":
    sys.exit(main())
