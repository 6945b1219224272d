"""Corrupt and hostile model files, and bad inputs to predict.

Every invalid model must raise a servekit error (InvalidArgumentError, which is
also a ValueError) whose message names the problem; a missing model raises
NotFoundError (also a LookupError). Never a crash, never another exception type.

Every bad predict call must raise a clear error and leave the LoadedModel
working: each test predicts correctly afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import servekit
from onnx_testing import (
    initializer,
    make_model,
    predict_in_subprocess,
    random,
    save,
    value_info,
)


def _gemm_model(w=None, init=None):
    """y = x @ W.T with x: float32 [N, 4] and W [3, 4] (or the initializer `init`)."""
    init = init if init is not None else initializer("W", random((3, 4), 1) if w is None else w)
    return make_model(
        [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)],
        [value_info("x", ["N", 4])],
        [value_info("y", ["N", 3])],
        [init],
    )


def _write(tmp_path, data: bytes, name="model.onnx") -> str:
    path = os.path.join(tmp_path, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _assert_invalid(path, match):
    """Loading `path` raises InvalidArgumentError (a servekit.Error and a ValueError)
    whose message is "<model file>: <problem>", the problem matching `match` (the
    file's own path is left out of the match: it holds the test's name)."""
    file = os.path.join(path, "model.onnx") if os.path.isdir(path) else os.fspath(path)
    with pytest.raises(servekit.InvalidArgumentError, match=rf"^{re.escape(file)}: .*?(?:{match})") as info:
        servekit.load(path)
    assert isinstance(info.value, servekit.Error)
    assert isinstance(info.value, ValueError)
    return info.value


# -- corrupt files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cut",
    [lambda n: n // 2, lambda n: n * 9 // 10, lambda n: n - 1, lambda n: 16],
    ids=["half", "90%", "all_but_1_byte", "16_bytes"],
)
def test_truncated_file(tmp_path, cut):
    data = _gemm_model().SerializeToString()
    path = _write(tmp_path, data[: cut(len(data))])
    _assert_invalid(path, r"not a valid ONNX protobuf \(truncated or corrupt\)")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes(tmp_path, seed):
    path = _write(tmp_path, np.random.default_rng(seed).bytes(4096))
    _assert_invalid(path, "not a valid ONNX protobuf")


def test_text_file(tmp_path):
    _assert_invalid(_write(tmp_path, b"this is not a model\n" * 10), "not a valid ONNX protobuf")


def test_empty_file(tmp_path):
    _assert_invalid(_write(tmp_path, b""), "the model file is empty")


def test_empty_file_in_version_directory(tmp_path):
    _write(tmp_path, b"")
    _assert_invalid(tmp_path, "empty")


def test_protobuf_that_is_not_a_model(tmp_path):
    """A valid protobuf of another message type (a TensorProto) is not a model."""
    data = initializer("t", random((4, 4))).SerializeToString()
    _assert_invalid(_write(tmp_path, data), "not a valid ONNX protobuf|has no graph|imports no version")


@pytest.mark.parametrize("what", ["file", "directory", "directory_without_model"])
def test_missing_model(tmp_path, what):
    if what == "file":
        path = tmp_path / "nope.onnx"
    elif what == "directory":
        path = tmp_path / "no" / "such" / "1"
    else:
        path = tmp_path / "1"
        path.mkdir()
    with pytest.raises(servekit.NotFoundError, match="no model file at") as info:
        servekit.load(path)
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, servekit.Error)
    assert str(path) in str(info.value)


def _small_cnn():
    """Conv-BN-Relu-MaxPool-Flatten-Gemm with named nodes and every kind of attribute."""
    rng = np.random.default_rng(0)
    bn = [initializer(f"bn_{k}", rng.uniform(0.5, 1.5, 4).astype(np.float32)) for k in "sbmv"]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c", "bn_s", "bn_b", "bn_m", "bn_v"], ["n"], name="bn", epsilon=1e-3),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], name="fc", transB=1, alpha=1.0),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    inits = [
        initializer("w", random((4, 3, 3, 3), 1)),
        initializer("b", random((4,), 2)),
        *bn,
        initializer("fc_w", random((5, 4 * 3 * 3), 3)),
        initializer("fc_b", random((5,), 4)),
    ]
    return make_model(nodes, [value_info("x", ["N", 3, 6, 6])], [value_info("probs", ["N", 5])], inits)


_MUTATION_CHILD = """
import resource
import sys
import os
# A mutated dim may ask for gigabytes: cap the address space so that such a
# request fails (as a servekit ResourceExhaustedError) instead of using the machine.
# Under AddressSanitizer (scripts/sanitize.sh), which reserves terabytes of
# address space for its shadow, its max_allocation_size_mb caps them instead.
if not os.environ.get("SERVEKIT_SANITIZED"):
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
import numpy as np
import servekit
base = open(sys.argv[1], "rb").read()
path, seed, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
others = []
for i in range(count):
    data = bytearray(base)
    for _ in range(int(rng.integers(1, 4))):
        data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
    with open(path, "wb") as f:
        f.write(data)
    print(i, file=sys.stderr, flush=True)  # the last one printed is the one that crashed
    try:
        model = servekit.load(path)
        spec = model.signature.inputs[0]
        if spec.dtype == np.float32 and len(model.signature.inputs) == 1:
            model.predict(np.ones([2 if d is None else d for d in spec.shape], np.float32))
    except servekit.Error:
        pass
    except Exception as error:  # anything but a servekit error is a finding
        others.append(f"mutation {i}: {type(error).__name__}: {error}"[:300])
print("\\n".join(others))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_files(tmp_path, seed):
    """Random byte changes to a valid CNN file: every load (and predict, when it
    loads) succeeds or raises a servekit error; no crash, no other exception."""
    base = save(_small_cnn(), tmp_path, "base.onnx")
    proc = subprocess.run(
        [sys.executable, "-c", _MUTATION_CHILD, base, str(tmp_path / "model.onnx"), str(seed), "1500"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode < 0:
        last = proc.stderr.strip().splitlines()[-1:]
        pytest.fail(f"servekit crashed (signal {-proc.returncode}) on mutation {last} of seed {seed}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "", "non-servekit exceptions:\n" + proc.stdout


# -- hostile or unsupported models ----------------------------------------------------------------


def _relu_model(shape, dtype=TensorProto.FLOAT, **kwargs):
    return make_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", dtype, shape)],
        [helper.make_tensor_value_info("y", dtype, None)],
        **kwargs,
    )


def _short_raw():
    t = initializer("W", random((3, 4)))
    t.raw_data = t.raw_data[:-4]
    return _gemm_model(init=t)


def _short_typed():
    t = initializer("W", random((3, 4)), raw=False)
    del t.float_data[-1]
    return _gemm_model(init=t)


def _long_raw():
    t = initializer("W", random((3, 4)))
    t.raw_data = t.raw_data + b"\0" * 4
    return _gemm_model(init=t)


def _init_dims(dims):
    t = initializer("W", random((3, 4)))
    del t.dims[:]
    t.dims.extend(dims)
    return _gemm_model(init=t)


def _fp16_initializer():
    t = helper.make_tensor("W", TensorProto.FLOAT16, [3, 4], np.zeros(12, np.float16).tobytes(), raw=True)
    return _gemm_model(init=t)


def _no_default_opset():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g", [value_info("x", ["N", 4])], [value_info("y", None)]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("com.example", 1)], ir_version=8)


def _graph(nodes, inputs=None, outputs=("y",), inits=()):
    inputs = inputs or [value_info("x", ["N", 4])]
    return make_model(nodes, inputs, [value_info(o, None) for o in outputs], inits)


HOSTILE = {
    # name: (model factory, message pattern)
    "huge_input_dim": (lambda: _relu_model(["N", 10**12]), r"'x' has shape \[N, 1000000000000\], too large"),
    "huge_input_dims_overflow": (lambda: _relu_model(["N", 2**40, 2**40]), "too large"),
    "huge_fixed_batch": (lambda: _relu_model([2**62, 4]), "too large"),
    "negative_input_dim": (lambda: _relu_model(["N", -3]), "'x' has negative dimension -3"),
    "dynamic_inner_dim": (lambda: _relu_model(["N", "M"]), "dynamic dimension at axis 1"),
    "input_without_shape": (lambda: _relu_model(None), "'x' has no shape"),
    "raw_data_too_short": (_short_raw, r"initializer 'W': has 44 bytes of raw_data but its shape needs 48"),
    "raw_data_too_long": (_long_raw, r"initializer 'W': has 52 bytes of raw_data but its shape needs 48"),
    "float_data_too_short": (_short_typed, "initializer 'W': has 11 float_data values but its shape needs 12"),
    "initializer_negative_dim": (lambda: _init_dims([3, -4]), "initializer 'W'.*negative dimension"),
    "initializer_huge_dims": (lambda: _init_dims([10**6, 10**6]), "initializer 'W'.*invalid dims"),
    "initializer_dims_overflow": (lambda: _init_dims([2**62, 2**62, 16]), "initializer 'W'.*invalid dims"),
    "unknown_op": (lambda: _graph([helper.make_node("FooBar", ["x"], ["y"])]), "unsupported operator 'FooBar'"),
    "unsupported_op": (lambda: _graph([helper.make_node("LSTM", ["x"], ["y"])]), "unsupported operator 'LSTM'"),
    "custom_domain": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["y"], domain="com.example")]),
        "domain 'com.example' are not supported",
    ),
    "float16_input": (
        lambda: _relu_model(["N", 4], TensorProto.FLOAT16),
        r"input 'x' has an unsupported type \(element type 10\)",
    ),
    "string_input": (lambda: _relu_model(["N", 4], TensorProto.STRING), "input 'x' has an unsupported type"),
    "complex_input": (lambda: _relu_model(["N", 4], TensorProto.COMPLEX64), "input 'x' has an unsupported type"),
    "float16_initializer": (_fp16_initializer, "initializer 'W': has unsupported data type 10"),
    "opset_11": (lambda: _relu_model(["N", 4], opset=11), "the model uses opset 11; servekit supports opset 13"),
    "opset_7": (lambda: _relu_model(["N", 4], opset=7), "opset 7"),
    "no_default_opset": (_no_default_opset, "imports no version of the default ONNX operator set"),
    "undefined_input": (lambda: _graph([helper.make_node("Relu", ["q"], ["y"])]), "input 'q' is not defined"),
    "output_never_computed": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["y"])], outputs=["z"]),
        "graph output 'z' is not computed",
    ),
    "output_defined_twice": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Sigmoid", ["x"], ["y"])]),
        "output 'y' is already defined",
    ),
    "unknown_attribute": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["y"], alpha=1.0)]),
        "unknown attribute 'alpha'",
    ),
    "too_many_inputs": (lambda: _graph([helper.make_node("Relu", ["x", "x"], ["y"])]), "has 2 inputs; expected 1"),
    "gemm_inner_mismatch": (lambda: _gemm_model(w=random((3, 5))), "inner dimensions differ"),
    "matmul_inner_mismatch": (
        lambda: _graph([helper.make_node("MatMul", ["x", "W"], ["y"])], inits=[initializer("W", random((3, 2)))]),
        "inner dimensions differ",
    ),
    "add_not_broadcastable": (
        lambda: _graph([helper.make_node("Add", ["x", "B"], ["y"])], inits=[initializer("B", random((3,)))]),
        "do not broadcast",
    ),
    "add_dtype_mismatch": (
        lambda: _graph([helper.make_node("Add", ["x", "B"], ["y"])], inits=[initializer("B", np.ones(4, np.int64))]),
        "different dtypes",
    ),
    "conv_group_0": (
        lambda: _graph(
            [helper.make_node("Conv", ["x", "W"], ["y"], group=0)],
            [value_info("x", ["N", 2, 5, 5])],
            inits=[initializer("W", random((2, 2, 3, 3)))],
        ),
        "group 0 does not divide",
    ),
    "conv_stride_0": (
        lambda: _graph(
            [helper.make_node("Conv", ["x", "W"], ["y"], strides=[0, 1])],
            [value_info("x", ["N", 2, 5, 5])],
            inits=[initializer("W", random((2, 2, 3, 3)))],
        ),
        r"strides must be in \[1, \d+\]; got 0",
    ),
    "conv_kernel_larger_than_input": (
        lambda: _graph(
            [helper.make_node("Conv", ["x", "W"], ["y"])],
            [value_info("x", ["N", 2, 2, 2])],
            inits=[initializer("W", random((2, 2, 3, 3)))],
        ),
        "larger than the padded input",
    ),
    "conv_channels_mismatch": (
        lambda: _graph(
            [helper.make_node("Conv", ["x", "W"], ["y"])],
            [value_info("x", ["N", 3, 5, 5])],
            inits=[initializer("W", random((2, 2, 3, 3)))],
        ),
        "expect 2 input channels",
    ),
    "conv_bad_auto_pad": (
        lambda: _graph(
            [helper.make_node("Conv", ["x", "W"], ["y"], auto_pad="FOO")],
            [value_info("x", ["N", 2, 5, 5])],
            inits=[initializer("W", random((2, 2, 3, 3)))],
        ),
        "auto_pad 'FOO' is not valid",
    ),
    "conv_1d": (
        lambda: _graph(
            [helper.make_node("Conv", ["x", "W"], ["y"])],
            [value_info("x", ["N", 2, 5])],
            inits=[initializer("W", random((2, 2, 3)))],
        ),
        "only 2-D convolution",
    ),
    "pool_without_kernel": (
        lambda: _graph([helper.make_node("MaxPool", ["x"], ["y"])], [value_info("x", ["N", 2, 5, 5])]),
        "kernel_shape",
    ),
    "pool_huge_kernel": (
        lambda: _graph(
            [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[10**12, 1])], [value_info("x", ["N", 2, 5, 5])]
        ),
        r"kernel_shape must have 2 values in \[1, \d+\]",
    ),
    "pad_huge": (
        lambda: _graph(
            [helper.make_node("Pad", ["x", "p"], ["y"])],
            inits=[initializer("p", np.array([0, 10**12, 0, 0], np.int64))],
        ),
        "too large",
    ),
    "pad_removes_axis": (
        lambda: _graph(
            [helper.make_node("Pad", ["x", "p"], ["y"])], inits=[initializer("p", np.array([0, -3, 0, -3], np.int64))]
        ),
        "pads remove more than",
    ),
    "pad_reflect_too_wide": (
        lambda: _graph(
            [helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")],
            inits=[initializer("p", np.array([0, 4, 0, 0], np.int64))],
        ),
        "reflect pads must be smaller",
    ),
    "pad_unknown_mode": (
        lambda: _graph(
            [helper.make_node("Pad", ["x", "p"], ["y"], mode="wrap")],
            inits=[initializer("p", np.array([0, 1, 0, 0], np.int64))],
        ),
        "mode 'wrap' is not supported",
    ),
    "reshape_wrong_count": (
        lambda: _graph(
            [helper.make_node("Reshape", ["x", "s"], ["y"])], inits=[initializer("s", np.array([0, 3], np.int64))]
        ),
        "cannot reshape",
    ),
    "reshape_two_minus_one": (
        lambda: _graph(
            [helper.make_node("Reshape", ["x", "s"], ["y"])], inits=[initializer("s", np.array([-1, -1], np.int64))]
        ),
        "more than one -1",
    ),
    "reshape_runtime_shape": (
        lambda: _graph(
            [helper.make_node("Reshape", ["x", "s"], ["y"])],
            [value_info("x", ["N", 4]), value_info("s", [2], np.int64)],
        ),
        "must be known when the model loads",
    ),
    "transpose_bad_perm": (
        lambda: _graph([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 0])]),
        "not a permutation",
    ),
    "softmax_axis": (lambda: _graph([helper.make_node("Softmax", ["x"], ["y"], axis=2)]), "axis 2 is out of range"),
    "squeeze_non_unit_axis": (
        lambda: _graph(
            [helper.make_node("Squeeze", ["x", "a"], ["y"])], inits=[initializer("a", np.array([1], np.int64))]
        ),
        "cannot squeeze axis 1",
    ),
    "cast_to_string": (
        lambda: _graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.STRING)]),
        "cast to ONNX data type 8 is not supported",
    ),
    "batchnorm_training": (
        lambda: _graph(
            [helper.make_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["y"], training_mode=1)],
            inits=[initializer("s", np.ones(4, np.float32))],
        ),
        "training_mode=1",
    ),
    "batchnorm_param_shape": (
        lambda: _graph(
            [helper.make_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["y"])],
            inits=[initializer("s", np.ones(3, np.float32))],
        ),
        "parameter 's' must be float32 of shape",
    ),
    "dropout_training": (
        lambda: _graph(
            [helper.make_node("Dropout", ["x", "r", "t"], ["y"])],
            inits=[initializer("r", np.array(0.5, np.float32)), initializer("t", np.array(True))],
        ),
        "training_mode=true",
    ),
    "maxpool_indices": (
        lambda: _graph(
            [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2])], [value_info("x", ["N", 2, 4, 4])]
        ),
        "Indices output is not supported",
    ),
    "gelu_tanh": (
        lambda: make_model(
            [helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")],
            [value_info("x", ["N", 4])],
            [value_info("y", None)],
            opset=20,
        ),
        "approximate='tanh'",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_invalid_model(tmp_path, name):
    factory, match = HOSTILE[name]
    _assert_invalid(save(factory(), tmp_path), match)


CYCLES = {
    "two_node_cycle": [
        helper.make_node("Relu", ["b"], ["a"], name="relu"),
        helper.make_node("Add", ["x", "a"], ["b"], name="add"),
    ],
    "self_loop": [helper.make_node("Add", ["x", "a"], ["a"], name="add")],
    "three_node_cycle": [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Add", ["r", "c"], ["a"], name="a"),
        helper.make_node("Sigmoid", ["a"], ["b"], name="b"),
        helper.make_node("Tanh", ["b"], ["c"], name="c"),
        helper.make_node("Relu", ["a"], ["y"]),
    ],
}


@pytest.mark.parametrize("name", list(CYCLES))
def test_cycle(tmp_path, name):
    """A graph with a cycle is invalid; the message must say so (not that a value
    produced by a node in the cycle is 'not defined')."""
    out = "y" if name == "three_node_cycle" else "b" if name == "two_node_cycle" else "a"
    model = _graph(CYCLES[name], outputs=[out])
    _assert_invalid(save(model, tmp_path), "cycle")


def _external_model(location, offset=None, length=None):
    """A Gemm model whose weights W (3x4 float32) are external data at `location`."""
    model = _gemm_model()
    tensor = model.graph.initializer[0]
    raw = tensor.raw_data
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
    return model, raw


@pytest.mark.parametrize(
    "case,match",
    [
        ("escapes_directory", "must stay inside the model directory"),
        ("absolute_path", "must stay inside the model directory"),
        ("missing_file", "external data file 'weights.bin' cannot be read"),
        ("file_too_short", "external data file 'weights.bin' is shorter than"),
        ("offset_past_end", "shorter than offset 1000"),
        ("wrong_length", "external data length 8 but its shape needs 48 bytes"),
        ("negative_offset", "is not a valid number"),
        ("no_location", "external data has no location"),
    ],
)
def test_bad_external_data(tmp_path, case, match):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\1" * 48)
    kwargs = {}
    location = "weights.bin"
    if case == "escapes_directory":
        location = "../secret.bin"
    elif case == "absolute_path":
        location = str(secret)
    elif case == "offset_past_end":
        kwargs["offset"] = 1000
    elif case == "wrong_length":
        kwargs["length"] = 8
    elif case == "negative_offset":
        kwargs["offset"] = -4
    elif case == "no_location":
        location = None
    model, raw = _external_model(location, **kwargs)
    if case == "file_too_short":
        (model_dir / "weights.bin").write_bytes(raw[:20])
    elif case != "missing_file":
        (model_dir / "weights.bin").write_bytes(raw)
    path = save(model, model_dir)
    _assert_invalid(path, match)


def test_external_data_with_offset_and_length(tmp_path):
    """The valid counterpart of the cases above: offset and length into a shared file."""
    model, raw = _external_model("weights.bin", offset=16, length=48)
    (tmp_path / "weights.bin").write_bytes(b"\xff" * 16 + raw + b"\xff" * 8)
    loaded = servekit.load(save(model, tmp_path))
    x = random((2, 4), 5)
    w = np.frombuffer(raw, np.float32).reshape(3, 4)
    np.testing.assert_allclose(loaded.predict(x), x @ w.T, rtol=1e-5, atol=1e-6)


def _patched(model, placeholder: bytes, replacement: bytes) -> bytes:
    data = model.SerializeToString()
    assert len(placeholder) == len(replacement) and data.count(placeholder) >= 1
    return data.replace(placeholder, replacement)


def test_name_not_utf8_in_error_message(tmp_path):
    """Names are proto2 strings: a hostile file can hold any bytes. The error for an
    unsupported node named with invalid UTF-8 must still be a servekit error."""
    model = _graph([helper.make_node("FooBar", ["x"], ["y"], name="QQQQ")])
    path = _write(tmp_path, _patched(model, b"QQQQ", b"\xff\xfe\xfd\xfc"))
    with pytest.raises(servekit.InvalidArgumentError, match=r"node name is not valid UTF-8: '\\xff\\xfe\\xfd\\xfc'"):
        servekit.load(path)


def test_input_name_not_utf8(tmp_path):
    """An input named with invalid UTF-8 bytes: a servekit error (or a usable model), not a UnicodeDecodeError."""
    model = make_model(
        [helper.make_node("Relu", ["QQQQ"], ["y"])], [value_info("QQQQ", ["N", 4])], [value_info("y", None)]
    )
    path = _write(tmp_path, _patched(model, b"QQQQ", b"\xff\xfe\xfd\xfc"))
    try:
        loaded = servekit.load(path)
    except servekit.Error:
        return
    x = random((2, 4))
    np.testing.assert_array_equal(loaded.predict(x), np.maximum(x, 0))


def test_duplicate_graph_output(tmp_path):
    """The same value listed twice as a graph output (the ONNX checker and
    onnxruntime accept it): servekit must return it or refuse the model, not crash.
    Runs in a child process so a crash fails only this test."""
    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [value_info("x", ["N", 4])],
        [value_info("y", ["N", 4]), value_info("y", ["N", 4])],
    )
    onnx.checker.check_model(model, full_check=True)
    x = random((3, 4))
    try:
        result = predict_in_subprocess(save(model, tmp_path / "m"), {"x": x}, tmp_path)
    except servekit.Error:
        return
    y = result["y"] if isinstance(result, dict) else result
    np.testing.assert_array_equal(y, np.maximum(x, 0))


# -- bad inputs to predict ----------------------------------------------------------------------

W = random((3, 4), 1)
TABLE = random((6, 3), 2)


@pytest.fixture(scope="module")
def two_input_model(tmp_path_factory):
    """x: float32 [N, 4] -> y = x @ W.T;  idx: int64 [N] -> e = TABLE[idx]."""
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["y"], transB=1),
        helper.make_node("Gather", ["T", "idx"], ["e"], axis=0),
    ]
    model = make_model(
        nodes,
        [value_info("x", ["N", 4]), value_info("idx", ["N"], np.int64)],
        [value_info("y", ["N", 3]), value_info("e", ["N", 3])],
        [initializer("W", W), initializer("T", TABLE)],
    )
    return servekit.load(save(model, tmp_path_factory.mktemp("two_inputs")))


@pytest.fixture(scope="module")
def one_input_model(tmp_path_factory):
    model = make_model(
        [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)],
        [value_info("x", ["N", 4])],
        [value_info("y", ["N", 3])],
        [initializer("W", W)],
    )
    return servekit.load(save(model, tmp_path_factory.mktemp("one_input")))


def _expected(x, idx=None):
    out = {"y": x.astype(np.float64) @ W.T.astype(np.float64)}
    if idx is not None:
        out["e"] = TABLE[np.asarray(idx)]
    return out


def _still_works(model):
    """After an error the same LoadedModel predicts correctly (several batch sizes)."""
    for n in (1, 5):
        x = random((n, 4), seed=40 + n)
        if len(model.signature.inputs) == 2:
            idx = np.arange(n, dtype=np.int64) % 6
            got = model.predict({"x": x, "idx": idx})
            np.testing.assert_allclose(got["y"], _expected(x)["y"], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(got["e"], TABLE[idx])
        else:
            np.testing.assert_allclose(model.predict(x), _expected(x)["y"], rtol=1e-5, atol=1e-6)


GOOD_IDX = np.array([0, 5, 2], np.int64)

BAD_PREDICT = {
    # name: (inputs, exception type, message pattern)
    "wrong_inner_dim": (
        {"x": random((3, 5)), "idx": GOOD_IDX},
        servekit.InvalidArgumentError,
        r"input 'x' expects shape \[N, 4\].*got \[3, 5\]",
    ),
    "wrong_rank_high": (
        {"x": random((3, 4, 1)), "idx": GOOD_IDX},
        servekit.InvalidArgumentError,
        r"input 'x' expects shape \[N, 4\].*got \[3, 4, 1\]",
    ),
    "wrong_rank_low": ({"x": random((4,)), "idx": GOOD_IDX}, servekit.InvalidArgumentError, r"got \[4\]"),
    "batch_sizes_differ": (
        {"x": random((2, 4)), "idx": GOOD_IDX},
        servekit.InvalidArgumentError,
        "the same for every input",
    ),
    "idx_wrong_rank": (
        {"x": random((3, 4)), "idx": GOOD_IDX.reshape(3, 1)},
        servekit.InvalidArgumentError,
        r"input 'idx' expects shape \[N\]",
    ),
    "strings": (
        {"x": np.array([["a", "b", "c", "d"]] * 3), "idx": GOOD_IDX},
        TypeError,
        "input 'x' expects float32 data; got an array of <U1",
    ),
    "objects": (
        {"x": np.array([[object()] * 4] * 3, dtype=object), "idx": GOOD_IDX},
        TypeError,
        "input 'x' expects float32 data; got an array of object",
    ),
    "none": ({"x": None, "idx": GOOD_IDX}, TypeError, "input 'x' expects float32"),
    "complex": ({"x": random((3, 4)).astype(np.complex64), "idx": GOOD_IDX}, TypeError, "complex64"),
    "bytes": ({"x": np.array([[b"ab"] * 4] * 3), "idx": GOOD_IDX}, TypeError, "input 'x' expects float32"),
    "float_to_int64": (
        {"x": random((3, 4)), "idx": np.array([0.0, 1.0, 2.0])},
        TypeError,
        "input 'idx' expects int64 data; got an array of float64",
    ),
    "float32_to_int64": (
        {"x": random((3, 4)), "idx": np.array([0, 1, 2], np.float32)},
        TypeError,
        "input 'idx' expects int64 data; got an array of float32",
    ),
    "float_list_to_int64": ({"x": random((3, 4)), "idx": [0.5, 1.0, 2.0]}, TypeError, "input 'idx' expects int64"),
    "bool_to_int64": (
        {"x": random((3, 4)), "idx": np.array([True, False, True])},
        TypeError,
        "input 'idx' expects int64",
    ),
    "string_to_int64": (
        {"x": random((3, 4)), "idx": np.array(["0", "1", "2"])},
        TypeError,
        "input 'idx' expects int64",
    ),
    "missing_input": ({"x": random((3, 4))}, ValueError, r"missing input\(s\) \['idx'\]"),
    "unknown_input": ({"x": random((3, 4)), "idx": GOOD_IDX, "z": GOOD_IDX}, ValueError, r"unknown input\(s\) \['z'\]"),
    "misspelled_input": ({"x": random((3, 4)), "index": GOOD_IDX}, ValueError, r"unknown input\(s\) \['index'\]"),
    "one_array_for_two_inputs": (random((3, 4)), ValueError, r"the model has 2 inputs \['x', 'idx'\]"),
    "list_too_short": ([random((3, 4))], ValueError, "the model has 2 inputs"),
    "list_too_long": ([random((3, 4)), GOOD_IDX, GOOD_IDX], ValueError, "the model has 2 inputs"),
    "ragged_list": (
        {"x": [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], "idx": [0, 1]},
        ValueError,
        "input 'x' is not a rectangular array",
    ),
    "ragged_deep": ({"x": [[[1.0], [2.0]], [[1.0]]], "idx": [0, 1]}, ValueError, "not a rectangular array"),
    "index_out_of_range": (
        {"x": random((3, 4)), "idx": np.array([0, 6, 1], np.int64)},
        servekit.InvalidArgumentError,
        "index 6 is out of range",
    ),
    "negative_index_out_of_range": (
        {"x": random((3, 4)), "idx": np.array([0, -7, 1], np.int64)},
        servekit.InvalidArgumentError,
        "index -7 is out of range",
    ),
}


@pytest.mark.parametrize("name", list(BAD_PREDICT))
def test_bad_predict_input(two_input_model, name):
    inputs, error, match = BAD_PREDICT[name]
    _still_works(two_input_model)
    with pytest.raises(error, match=match):
        two_input_model.predict(inputs)
    _still_works(two_input_model)


@pytest.mark.parametrize(
    "x,error,match",
    [
        (random((3, 5)), servekit.InvalidArgumentError, r"expects shape \[N, 4\]"),
        (np.array([["a"] * 4]), TypeError, "expects float32"),
        ([[1.0, 2.0, 3.0, 4.0], [1.0]], ValueError, "not a rectangular array"),
        ({"y": random((1, 4))}, ValueError, r"unknown input\(s\) \['y'\]"),
        ({}, ValueError, r"missing input\(s\) \['x'\]"),
    ],
    ids=["shape", "dtype", "ragged", "unknown_name", "empty_dict"],
)
def test_bad_predict_input_single(one_input_model, x, error, match):
    with pytest.raises(error, match=match):
        one_input_model.predict(x)
    _still_works(one_input_model)


def test_errors_are_servekit_and_builtin_types(two_input_model):
    with pytest.raises(servekit.Error) as info:
        two_input_model.predict({"x": random((3, 5)), "idx": GOOD_IDX})
    assert isinstance(info.value, ValueError)


def _views():
    base = random((8, 10), 7)
    big = random((6, 4, 3), 8)
    return {
        "transposed": random((4, 5), 9).T,
        "sliced_rows_and_cols": base[::2, 1:9:2],
        "negative_stride": base[::-2, 6:2:-1],
        "column_slice": base[:, 3:7],
        "fortran_order": np.asfortranarray(random((5, 4), 10)),
        "strided_3d_slice": big[:, :, 1],
        "broadcast_view": np.broadcast_to(random((1, 4), 11), (5, 4)),
        "readonly": _readonly(random((3, 4), 12)),
        "big_endian": random((3, 4), 13).astype(">f4"),
    }


def _readonly(a):
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("name", list(_views()))
def test_unusual_array_layouts(two_input_model, name):
    """Views and other layouts give the right result (not an error), and the
    caller's array is left as it was."""
    x = _views()[name]
    assert x.shape[1] == 4
    before = np.array(x, copy=True)
    idx_view = (np.arange(2 * x.shape[0], dtype=np.int64) % 6)[::2]  # a strided int64 input too
    idx = idx_view.copy()
    got = two_input_model.predict({"x": x, "idx": idx_view})
    np.testing.assert_allclose(got["y"], _expected(np.asarray(x, np.float32))["y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["e"], TABLE[idx])
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    "name,x",
    [
        ("float64", random((3, 4), 14).astype(np.float64)),
        ("float64_fortran", np.asfortranarray(random((3, 4), 15).astype(np.float64))),
        ("float16", random((3, 4), 16).astype(np.float16)),
        ("int64", np.arange(12, dtype=np.int64).reshape(3, 4) - 6),
        ("int32", np.arange(12, dtype=np.int32).reshape(3, 4)),
        ("uint8", np.arange(12, dtype=np.uint8).reshape(3, 4)),
        ("bool", np.eye(3, 4, dtype=bool)),
        ("nested_list", [[0.5, -1.0, 2.0, 3.5], [1.0, 1.0, 1.0, 1.0]]),
        ("list_of_ints", [[1, 2, 3, 4]]),
        ("tuple", ((0.25, 0.5, 0.75, 1.0),)),
    ],
)
def test_numeric_inputs_are_cast(one_input_model, name, x):
    """Numeric data for a float32 input is cast (like Keras), and the result is right."""
    expected = np.asarray(x).astype(np.float32).astype(np.float64) @ W.T.astype(np.float64)
    np.testing.assert_allclose(one_input_model.predict(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint8, np.uint32])
def test_integer_inputs_are_widened(two_input_model, dtype):
    idx = np.array([5, 0, 3], dtype)
    got = two_input_model.predict({"x": random((3, 4)), "idx": idx})
    np.testing.assert_array_equal(got["e"], TABLE[idx.astype(np.int64)])


@pytest.mark.parametrize("value", [2**64 - 1, 2**63])
def test_uint64_beyond_int64_is_not_wrapped(two_input_model, value):
    """A uint64 value that int64 cannot hold must not silently wrap to a negative
    index (2**64-1 would become -1: the last row)."""
    idx = np.array([0, value, 1], np.uint64)
    with pytest.raises((TypeError, ValueError, OverflowError)):
        two_input_model.predict({"x": random((3, 4)), "idx": idx})
    _still_works(two_input_model)


def test_int64_beyond_int32_is_not_wrapped(tmp_path):
    """An int32 model input given an int64 value int32 cannot hold."""
    model = make_model(
        [helper.make_node("Cast", ["i"], ["y"], to=TensorProto.INT64)],
        [value_info("i", ["N"], np.int32)],
        [value_info("y", None, np.int64)],
    )
    loaded = servekit.load(save(model, tmp_path))
    np.testing.assert_array_equal(loaded.predict(np.array([1, -2, 2**31 - 1], np.int64)), [1, -2, 2**31 - 1])
    with pytest.raises((TypeError, ValueError, OverflowError)):
        loaded.predict(np.array([2**32 + 5], np.int64))
    np.testing.assert_array_equal(loaded.predict(np.array([7], np.int32)), [7])


def test_scalar_input(tmp_path):
    """A rank-0 (scalar) input, as ONNX allows: x [N, 3] * s []."""
    model = make_model(
        [helper.make_node("Mul", ["x", "s"], ["y"])],
        [value_info("x", ["N", 3]), value_info("s", [])],
        [value_info("y", None)],
    )
    loaded = servekit.load(save(model, tmp_path))
    assert loaded.signature.inputs[1].shape == ()
    x = random((2, 3))
    for s in (np.float32(2.5), np.array(2.5, np.float32), 2.5):
        np.testing.assert_allclose(loaded.predict({"x": x, "s": s}), x * np.float32(2.5), rtol=1e-6)
    with pytest.raises(servekit.InvalidArgumentError, match=r"input 's' expects shape \[\]"):
        loaded.predict({"x": x, "s": np.array([2.5, 1.0], np.float32)})


def test_empty_batch(two_input_model):
    got = two_input_model.predict({"x": np.zeros((0, 4), np.float32), "idx": np.zeros((0,), np.int64)})
    assert got["y"].shape == (0, 3) and got["y"].dtype == np.float32
    assert got["e"].shape == (0, 3)
    _still_works(two_input_model)


def test_working_memory_limit(tmp_path):
    """A batch whose intermediate values need more than the engine's working-memory
    cap is refused with ResourceExhaustedError (a MemoryError), before allocating;
    smaller batches still run."""
    nodes = [
        helper.make_node("Add", ["x", "row"], ["grid"]),  # [N, 4096, 1] + [4096] -> [N, 4096, 4096]
        helper.make_node("ReduceMean", ["grid"], ["y"], axes=[1, 2], keepdims=0),
    ]
    row = np.linspace(-1, 1, 4096, dtype=np.float32)
    model = make_model(nodes, [value_info("x", ["N", 4096, 1])], [value_info("y", ["N"])], [initializer("row", row)])
    loaded = servekit.load(save(model, tmp_path))
    with pytest.raises(servekit.ResourceExhaustedError, match="GiB of working memory") as info:
        loaded.predict(np.zeros((2048, 4096, 1), np.float32))  # 2048 * 64 MiB = 128 GiB
    assert isinstance(info.value, MemoryError)
    x = random((2, 4096, 1), 3)
    np.testing.assert_allclose(loaded.predict(x), x[:, :, 0].mean(axis=1) + row.mean(), rtol=1e-4, atol=1e-5)


def test_result_arrays_are_independent(two_input_model):
    """Outputs are fresh arrays: later predictions and writes to them do not interfere."""
    x1, x2 = random((3, 4), 20), random((3, 4), 21)
    first = two_input_model.predict({"x": x1, "idx": GOOD_IDX})
    saved = {k: v.copy() for k, v in first.items()}
    second = two_input_model.predict({"x": x2, "idx": GOOD_IDX[::-1].copy()})
    for k in first:
        np.testing.assert_array_equal(first[k], saved[k])
        assert not np.shares_memory(first[k], second[k])
    first["y"][...] = 0
    np.testing.assert_allclose(two_input_model.predict({"x": x2, "idx": GOOD_IDX[::-1].copy()})["y"], second["y"])
