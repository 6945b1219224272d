"""Helpers for the REST server tests: small ONNX models whose answers are easy
to check, and raw-socket HTTP for the requests `requests` cannot send."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from onnx_testing import initializer, make_model, value_info


def save(model, base_path: Path, version: int) -> None:
    """Writes <base_path>/<version>/model.onnx whole (renamed into place)."""
    target = base_path / str(version)
    staging = base_path / f".{version}.staging"
    staging.mkdir(parents=True)
    (staging / "model.onnx").write_bytes(model.SerializeToString())
    staging.rename(target)


def half_plus(offset: float):
    """TF Serving's half_plus_two example, generalised: y = 0.5 * x + offset; x and y of shape [N]."""
    return make_model(
        [helper.make_node("Mul", ["x", "half"], ["t"]), helper.make_node("Add", ["t", "offset"], ["y"])],
        [value_info("x", ["N"])],
        [value_info("y", ["N"])],
        [initializer("half", np.float32(0.5)), initializer("offset", np.float32(offset))],
    )


def two_in_two_out():
    """a [N, 2] float, b [N, 1] int64 -> sum = a + b, neg = -a."""
    return make_model(
        [
            helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["a", "bf"], ["sum"]),
            helper.make_node("Sub", ["zero", "a"], ["neg"]),
        ],
        [value_info("a", ["N", 2]), value_info("b", ["N", 1], np.int64)],
        [value_info("sum", ["N", 2]), value_info("neg", ["N", 2])],
        [initializer("zero", np.float32(0))],
    )


def image_mean():
    """pixels [N, 2, 2] uint8 -> mean [N] float: exercises b64 binary inputs."""
    return make_model(
        [
            helper.make_node("Cast", ["pixels"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["f"], ["mean"], axes=[1, 2], keepdims=0),
        ],
        [value_info("pixels", ["N", 2, 2], np.uint8)],
        [value_info("mean", ["N"])],
    )


def classifier():
    """x [N, 3] -> scores = softmax(x) [N, 3]."""
    return make_model(
        [helper.make_node("Softmax", ["x"], ["scores"], axis=1)],
        [value_info("x", ["N", 3])],
        [value_info("scores", ["N", 3])],
    )


def regressor():
    """x [N, 2] -> y = x0 + x1 as [N, 1]."""
    return make_model(
        [helper.make_node("MatMul", ["x", "ones"], ["y"])],
        [value_info("x", ["N", 2])],
        [value_info("y", ["N", 1])],
        [initializer("ones", np.ones((2, 1), np.float32))],
    )


def slow_model(size: int = 1024, repeats: int = 12):
    """x [N, size] -> a chain of `repeats` size x size MatMuls: tens of ms per request."""
    nodes, inits, previous = [], [], "x"
    rng = np.random.default_rng(0)
    for i in range(repeats):
        inits.append(initializer(f"w{i}", (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)))
        out = "y" if i == repeats - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [out]))
        previous = out
    return make_model(nodes, [value_info("x", ["N", size])], [value_info("y", ["N", size])], inits)


def long_running_model(size: int = 2048, repeats: int = 400):
    """x [N, size] -> the mean of x W^repeats, [N, 1]: one shared weight, so
    the model stays small (16 MiB) while a modest batch runs for many seconds
    (2 * size^2 * repeats FLOP per row) and answers in a few bytes."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)
    nodes, previous = [], "x"
    for i in range(repeats):
        nodes.append(helper.make_node("MatMul", [previous, "w"], [f"h{i}"]))
        previous = f"h{i}"
    nodes.append(helper.make_node("ReduceMean", [previous], ["y"], axes=[1]))
    return make_model(nodes, [value_info("x", ["N", size])], [value_info("y", ["N", 1])], [initializer("w", w)])


def raw_http(port: int, data: bytes, *, read_timeout: float = 10.0, close_write: bool = False) -> bytes:
    """Sends `data` as is on a new connection and returns everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(data)
        if close_write:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_line(response: bytes) -> int:
    """The status code of a raw HTTP response (0 if there is none)."""
    if not response.startswith(b"HTTP/1.1 "):
        return 0
    return int(response.split(b" ", 2)[1])
