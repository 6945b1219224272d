"""Whole ONNX models made with onnx.helper, as exporters write them, loaded with
``servekit.load`` in every way a model arrives (file, version directory, external
data, raw or typed initializers) and compared with onnxruntime for batch 1 and 7.
Also: one LoadedModel shared by 8 Python threads.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import servekit
from onnx_testing import (
    assert_same,
    initializer,
    make_model,
    predict_in_subprocess,
    random,
    run_ort,
    save,
    value_info,
)

BATCHES = (1, 7)


def _bn(prefix, channels, seed, raw):
    rng = np.random.default_rng(seed)
    params = {
        f"{prefix}_scale": rng.uniform(0.5, 1.5, channels),
        f"{prefix}_bias": rng.standard_normal(channels),
        f"{prefix}_mean": rng.standard_normal(channels) * 0.5,
        f"{prefix}_var": rng.uniform(0.5, 2.0, channels),
    }
    return [initializer(name, value.astype(np.float32), raw=raw) for name, value in params.items()]


def cnn(raw=True):
    """NCHW CNN: Conv-BN-Relu-MaxPool, PyTorch's flatten pattern
    (Shape->Gather->Unsqueeze->Concat->Reshape), then Gemm."""
    inits = [
        initializer("conv_w", random((8, 3, 3, 3), 1), raw=raw),
        initializer("conv_b", random((8,), 2), raw=raw),
        *_bn("bn", 8, 3, raw),
        initializer("fc_w", random((10, 8 * 6 * 5), 4) * 0.1, raw=raw),
        initializer("fc_b", random((10,), 5), raw=raw),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node(
            "BatchNormalization", ["conv", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"], epsilon=1e-5
        ),
        helper.make_node("Relu", ["bn"], ["relu"]),
        helper.make_node("MaxPool", ["relu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        # torch.flatten(x, 1) as PyTorch exports it
        helper.make_node("Shape", ["pool"], ["shape"]),
        helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("zero_v", TensorProto.INT64, [], [0])),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Constant", [], ["axes0"], value=helper.make_tensor("axes_v", TensorProto.INT64, [1], [0])),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch_1d"]),
        helper.make_node("Constant", [], ["minus1"], value=helper.make_tensor("m1_v", TensorProto.INT64, [1], [-1])),
        helper.make_node("Concat", ["batch_1d", "minus1"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", ["pool", "flat_shape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], alpha=1.0, beta=1.0, transB=1),
    ]
    model = make_model(
        nodes, [value_info("input", ["batch", 3, 12, 10])], [value_info("logits", ["batch", 10])], inits, name="cnn"
    )
    return model, lambda n: {"input": random((n, 3, 12, 10), seed=100 + n)}


def mlp(raw=True):
    """Gemm MLP with transB=1 (PyTorch's nn.Linear export)."""
    sizes = [20, 32, 16, 5]
    inits, nodes = [], []
    prev = "x"
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        inits += [
            initializer(f"w{i}", random((n, k), 10 + i) * 0.3, raw=raw),
            initializer(f"b{i}", random((n,), 20 + i), raw=raw),
        ]
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"h{i}"], transB=1))
        act = ["Relu", "Tanh", "Softmax"][i]
        attrs = {"axis": 1} if act == "Softmax" else {}
        nodes.append(helper.make_node(act, [f"h{i}"], [f"a{i}"], **attrs))
        prev = f"a{i}"
    model = make_model(nodes, [value_info("x", ["N", 20])], [value_info(prev, ["N", 5])], inits, name="mlp")
    return model, lambda n: {"x": random((n, 20), seed=200 + n)}


def residual(raw=True):
    """A ResNet basic block: Conv-BN-Relu-Conv-BN, Add the input, Relu."""
    c = 6
    inits = [
        initializer("c1_w", random((c, c, 3, 3), 30) * 0.3, raw=raw),
        *_bn("bn1", c, 31, raw),
        initializer("c2_w", random((c, c, 3, 3), 32) * 0.3, raw=raw),
        *_bn("bn2", c, 33, raw),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "c1_w"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn1_scale", "bn1_bias", "bn1_mean", "bn1_var"], ["b1"]),
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("Conv", ["r1", "c2_w"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c2", "bn2_scale", "bn2_bias", "bn2_mean", "bn2_var"], ["b2"]),
        helper.make_node("Add", ["b2", "x"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["y"]),
    ]
    model = make_model(
        nodes, [value_info("x", ["N", c, 7, 5])], [value_info("y", ["N", c, 7, 5])], inits, name="residual"
    )
    return model, lambda n: {"x": random((n, c, 7, 5), seed=300 + n)}


def residual_projection(raw=True):
    """A downsampling block: the main path Conv(stride 2)-BN-Relu-Conv-BN and a 1x1
    stride-2 Conv-BN projection shortcut, Add, Relu, GlobalAveragePool, Flatten, Gemm."""
    inits = [
        initializer("a_w", random((8, 4, 3, 3), 40) * 0.3, raw=raw),
        *_bn("a_bn", 8, 41, raw),
        initializer("b_w", random((8, 8, 3, 3), 42) * 0.3, raw=raw),
        *_bn("b_bn", 8, 43, raw),
        initializer("p_w", random((8, 4, 1, 1), 44), raw=raw),
        *_bn("p_bn", 8, 45, raw),
        initializer("fc_w", random((8, 3), 46), raw=raw),
        initializer("fc_b", random((3,), 47), raw=raw),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "a_w"], ["a"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["a", "a_bn_scale", "a_bn_bias", "a_bn_mean", "a_bn_var"], ["a_n"]),
        helper.make_node("Relu", ["a_n"], ["a_r"]),
        helper.make_node("Conv", ["a_r", "b_w"], ["b"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["b", "b_bn_scale", "b_bn_bias", "b_bn_mean", "b_bn_var"], ["b_n"]),
        helper.make_node("Conv", ["x", "p_w"], ["p"], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["p", "p_bn_scale", "p_bn_bias", "p_bn_mean", "p_bn_var"], ["p_n"]),
        helper.make_node("Add", ["b_n", "p_n"], ["s"]),
        helper.make_node("Relu", ["s"], ["s_r"]),
        helper.make_node("GlobalAveragePool", ["s_r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("MatMul", ["f", "fc_w"], ["mm"]),
        helper.make_node("Add", ["mm", "fc_b"], ["y"]),
    ]
    model = make_model(
        nodes, [value_info("x", ["N", 4, 9, 8])], [value_info("y", ["N", 3])], inits, name="residual_projection"
    )
    return model, lambda n: {"x": random((n, 4, 9, 8), seed=400 + n)}


def transformer(raw=True, tokens=6, width=16, heads=2, hidden=32):
    """One BERT encoder layer as torch.onnx writes it at opset 17: MatMul + Add
    projections on [N, tokens, width], Reshape (with 0 = keep) and Transpose into
    heads, Softmax, erf GELU spelled out in five nodes, LayerNormalization."""
    head = width // heads
    weights = {}

    def w(name, shape, seed, scale=0.3):
        weights[name] = random(shape, seed) * scale
        return name

    def dense(x, name, n_in, n_out, seed):
        return [
            helper.make_node("MatMul", [x, w(name + "_w", (n_in, n_out), seed)], [name + "_mm"]),
            helper.make_node("Add", [name + "_mm", w(name + "_b", (n_out,), seed + 1)], [name]),
        ]

    def heads_of(x, name, perm):
        return [
            helper.make_node("Reshape", [x, "split_shape"], [name + "_split"]),
            helper.make_node("Transpose", [name + "_split"], [name + "_heads"], perm=perm),
        ]

    nodes = [
        *dense("x", "q", width, width, 10),
        *dense("x", "k", width, width, 12),
        *dense("x", "v", width, width, 14),
        *heads_of("q", "q", [0, 2, 1, 3]),
        *heads_of("k", "k", [0, 2, 3, 1]),
        *heads_of("v", "v", [0, 2, 1, 3]),
        helper.make_node("MatMul", ["q_heads", "k_heads"], ["scores"]),
        helper.make_node("Div", ["scores", "sqrt_head"], ["scaled"]),
        helper.make_node("Softmax", ["scaled"], ["probs"], axis=-1),
        helper.make_node("MatMul", ["probs", "v_heads"], ["context"]),
        helper.make_node("Transpose", ["context"], ["context_t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["context_t", "merge_shape"], ["merged"]),
        *dense("merged", "o", width, width, 16),
        helper.make_node("Add", ["x", "o"], ["residual1"]),
        helper.make_node(
            "LayerNormalization",
            ["residual1", w("ln1_g", (width,), 18), w("ln1_b", (width,), 19)],
            ["ln1"],
            axis=-1,
            epsilon=1e-5,
        ),
        *dense("ln1", "ff1", width, hidden, 20),
        helper.make_node("Div", ["ff1", "sqrt2"], ["gelu_div"]),
        helper.make_node("Erf", ["gelu_div"], ["gelu_erf"]),
        helper.make_node("Add", ["gelu_erf", "one"], ["gelu_add"]),
        helper.make_node("Mul", ["ff1", "gelu_add"], ["gelu_mul"]),
        helper.make_node("Mul", ["gelu_mul", "half"], ["gelu"]),
        *dense("gelu", "ff2", hidden, width, 22),
        helper.make_node("Add", ["ln1", "ff2"], ["residual2"]),
        helper.make_node(
            "LayerNormalization",
            ["residual2", w("ln2_g", (width,), 24), w("ln2_b", (width,), 25)],
            ["y"],
            axis=-1,
            epsilon=1e-5,
        ),
    ]
    inits = [initializer(name, value, raw=raw) for name, value in weights.items()]
    inits += [
        initializer("split_shape", np.array([0, tokens, heads, head], np.int64), raw=raw),
        initializer("merge_shape", np.array([0, tokens, width], np.int64), raw=raw),
        initializer("sqrt_head", np.array(np.sqrt(head), np.float32), raw=raw),
        initializer("sqrt2", np.array(np.sqrt(2), np.float32), raw=raw),
        initializer("one", np.array(1, np.float32), raw=raw),
        initializer("half", np.array(0.5, np.float32), raw=raw),
    ]
    model = make_model(
        nodes, [value_info("x", ["N", tokens, width])], [value_info("y", ["N", tokens, width])], inits, opset=17
    )
    return model, lambda n: {"x": random((n, tokens, width), seed=500 + n)}


MODELS = {
    "cnn": cnn,
    "mlp": mlp,
    "residual": residual,
    "residual_projection": residual_projection,
    "transformer": transformer,
}


def _external_copy(model, path, **kwargs):
    """Saves a copy of `model` with external data (save_model rewrites the proto it is given)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    onnx.save_model(copy, str(path), save_as_external_data=True, size_threshold=0, **kwargs)


def _compare(loaded, model, make_feeds, batches=BATCHES):
    for n in batches:
        feeds = make_feeds(n)
        got = loaded.predict(feeds)
        expected = run_ort(model, feeds)
        if len(expected) == 1:
            ((name, value),) = expected.items()
            assert_same(got, value, what=f"batch {n}, output '{name}': ")
        else:
            for name, value in expected.items():
                assert_same(got[name], value, what=f"batch {n}, output '{name}': ")


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("raw", [True, False], ids=["raw_data", "typed_fields"])
def test_model_file(tmp_path, name, raw):
    model, make_feeds = MODELS[name](raw)
    onnx.checker.check_model(model, full_check=True)
    if not raw:
        assert all(not t.HasField("raw_data") for t in model.graph.initializer)
        assert any(len(t.float_data) for t in model.graph.initializer)
    loaded = servekit.load(save(model, tmp_path))
    assert loaded.signature.input_names == [model.graph.input[0].name]
    assert loaded.signature.inputs[0].shape[0] is None
    _compare(loaded, model, make_feeds)


def test_transformer_runs_fused(tmp_path):
    """The encoder layer's GELU runs as one fused step (no Erf, Div or Mul of it
    left), its Dense layers carry their biases, and its Reshapes share buffers."""
    model, make_feeds = transformer()
    path = save(model, tmp_path)
    steps = [name for name, _ in servekit._core.load_model(path, 1).profile([make_feeds(2)["x"]], 1)]
    ops = [step.rsplit("(", 1)[1].rstrip(")") for step in steps]
    assert "Erf" not in ops and ops.count("Mul") == 0, steps
    assert ops.count("Add") == 2, steps  # the residuals; every bias is fused
    assert ops.count("LayerNormalization") == 2
    _compare(servekit.load(path), model, make_feeds, batches=(1, 7, 0))


def test_signature_of_cnn(tmp_path):
    model, _ = cnn()
    loaded = servekit.load(save(model, tmp_path))
    (inp,), (out,) = loaded.signature.inputs, loaded.signature.outputs
    assert (inp.name, inp.dtype, inp.shape) == ("input", np.dtype(np.float32), (None, 3, 12, 10))
    assert (out.name, out.dtype, out.shape) == ("logits", np.dtype(np.float32), (None, 10))


def test_typed_int64_initializer(tmp_path):
    """int64_data (Reshape's shape) and float_data initializers, not raw_data."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [0, -1], raw=False)
    w = helper.make_tensor("w", TensorProto.FLOAT, [12, 2], random((12, 2), 1).flatten().tolist(), raw=False)
    assert shape.int64_data and not shape.HasField("raw_data")
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["y"])]
    model = make_model(nodes, [value_info("x", ["N", 3, 4])], [value_info("y", ["N", 2])], [shape, w])
    loaded = servekit.load(save(model, tmp_path))
    _compare(loaded, model, lambda n: {"x": random((n, 3, 4), seed=n)})


def test_typed_double_int32_initializers(tmp_path):
    """double_data and int32_data typed fields."""
    d = helper.make_tensor("d", TensorProto.DOUBLE, [3], [0.5, -1.25, 2.0], raw=False)
    i = helper.make_tensor("i", TensorProto.INT32, [3], [7, -8, 9], raw=False)
    nodes = [helper.make_node("Add", ["xd", "d"], ["yd"]), helper.make_node("Mul", ["xi", "i"], ["yi"])]
    model = make_model(
        nodes,
        [value_info("xd", ["N", 3], np.float64), value_info("xi", ["N", 3], np.int32)],
        [value_info("yd", None, np.float64), value_info("yi", None, np.int32)],
        [d, i],
    )
    loaded = servekit.load(save(model, tmp_path))
    rng = np.random.default_rng(0)
    _compare(
        loaded,
        model,
        lambda n: {"xd": rng.standard_normal((n, 3)), "xi": rng.integers(-100, 100, (n, 3)).astype(np.int32)},
    )


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("load_by", ["directory", "file"])
def test_external_data(tmp_path, name, load_by):
    model, make_feeds = MODELS[name]()
    version_dir = tmp_path / "3"
    version_dir.mkdir()
    _external_copy(model, version_dir / "model.onnx", all_tensors_to_one_file=True, location="weights.bin")
    stored = onnx.load_model(str(version_dir / "model.onnx"), load_external_data=False)
    assert all(t.data_location == TensorProto.EXTERNAL for t in stored.graph.initializer)
    assert os.path.getsize(version_dir / "weights.bin") > 0
    path = version_dir if load_by == "directory" else version_dir / "model.onnx"
    loaded = servekit.load(path)
    _compare(loaded, model, make_feeds)


def test_external_data_in_subdirectory(tmp_path):
    model, make_feeds = cnn()
    (tmp_path / "data").mkdir()
    _external_copy(model, tmp_path / "model.onnx", all_tensors_to_one_file=True, location="data/weights.bin")
    _compare(servekit.load(tmp_path), model, make_feeds)


def test_external_data_one_file_per_tensor(tmp_path):
    model, make_feeds = residual()
    _external_copy(model, tmp_path / "model.onnx", all_tensors_to_one_file=False)
    _compare(servekit.load(tmp_path), model, make_feeds)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_version_directory(tmp_path, name):
    model, make_feeds = MODELS[name]()
    (tmp_path / "1").mkdir()
    onnx.save_model(model, str(tmp_path / "1" / "model.onnx"))
    loaded = servekit.load(tmp_path / "1")
    loaded_str = servekit.load(str(tmp_path / "1"))
    _compare(loaded, model, make_feeds)
    _compare(loaded_str, model, make_feeds)


def test_same_model_loaded_twice_is_independent(tmp_path):
    model, make_feeds = cnn()
    path = save(model, tmp_path)
    a, b = servekit.load(path), servekit.load(path)
    x1, x7 = make_feeds(1), make_feeds(7)
    ya = a.predict(x7)
    yb = b.predict(x1)
    np.testing.assert_array_equal(a.predict(x7), ya)
    np.testing.assert_array_equal(b.predict(x1), yb)
    del a
    _compare(b, model, make_feeds)


@pytest.mark.parametrize("layer", ["Conv", "Gemm"])
@pytest.mark.parametrize("second_use", ["skip_add", "graph_output"])
def test_batchnorm_after_layer_with_shared_output(tmp_path, layer, second_use):
    """A Conv/Gemm whose output feeds a BatchNormalization and is also used
    elsewhere (a skip connection, or a graph output), so the BN cannot be folded
    into the layer's weights. Runs in a child process: a native crash must fail
    this test, not the test session."""
    c = 4
    if layer == "Conv":
        x_decl, x_shape = ["N", c, 5, 5], lambda n: (n, c, 5, 5)
        inits = [initializer("w", random((c, c, 3, 3), 50) * 0.3)]
        first = helper.make_node("Conv", ["x", "w"], ["h"], pads=[1, 1, 1, 1])
    else:
        x_decl, x_shape = ["N", c], lambda n: (n, c)
        inits = [initializer("w", random((c, c), 50)), initializer("b", random((c,), 52))]
        first = helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1)
    inits += _bn("bn", c, 51, True)
    nodes = [
        first,
        helper.make_node("BatchNormalization", ["h", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
    ]
    outputs = [value_info("y", None)]
    if second_use == "skip_add":
        nodes.append(helper.make_node("Add", ["r", "h"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", ["r"], ["y"]))
        outputs.append(value_info("h", None))
    model = make_model(nodes, [value_info("x", x_decl)], outputs, inits)
    path = save(model, tmp_path / "model")
    for n in BATCHES:
        feeds = {"x": random(x_shape(n), seed=n)}
        got = predict_in_subprocess(path, feeds, tmp_path)
        got = got if isinstance(got, dict) else {"y": got}
        for name, value in run_ort(model, feeds).items():
            assert_same(got[name], value, what=f"batch {n}, output '{name}': ")


def test_multiple_outputs_and_inputs(tmp_path):
    """Two inputs and three outputs: predict returns a dict by output name."""
    w = random((4, 3), 1)
    nodes = [
        helper.make_node("MatMul", ["a", "w"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["sum"]),
        helper.make_node("Softmax", ["sum"], ["probs"], axis=-1),
        helper.make_node("ArgMax", ["sum"], ["label"], axis=1, keepdims=0),
    ]
    model = make_model(
        nodes,
        [value_info("a", ["N", 4]), value_info("b", ["N", 3])],
        [value_info("probs", ["N", 3]), value_info("label", ["N"], np.int64), value_info("h", ["N", 3])],
        [initializer("w", w)],
    )
    loaded = servekit.load(save(model, tmp_path))
    assert loaded.signature.output_names == ["probs", "label", "h"]
    for n in BATCHES:
        feeds = {"a": random((n, 4), n), "b": random((n, 3), n + 1)}
        expected = run_ort(model, feeds)
        for x in (feeds, [feeds["a"], feeds["b"]]):
            got = loaded.predict(x)
            assert list(got) == ["probs", "label", "h"]
            for name in expected:
                assert_same(got[name], expected[name], what=f"{name}: ")


# -- thread safety ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cnn", "residual_projection"])
@pytest.mark.parametrize("intra_op_threads", [1, 2])
def test_threads_share_one_model(tmp_path, name, intra_op_threads):
    """8 Python threads predict concurrently on one LoadedModel, each with its own
    inputs and batch size, and check every result."""
    model, make_feeds = MODELS[name]()
    loaded = servekit.load(save(model, tmp_path), intra_op_threads=intra_op_threads)
    cases = []
    for t in range(8):
        feeds = {k: v + t for k, v in make_feeds([1, 7, 2, 5, 1, 3, 7, 4][t]).items()}
        cases.append((feeds, next(iter(run_ort(model, feeds).values()))))
    barrier = threading.Barrier(8)
    errors = []

    def work(t):
        feeds, expected = cases[t]
        try:
            barrier.wait()
            for _ in range(25):
                got = loaded.predict(feeds)
                np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"thread {t}")
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert not errors, errors[0]


def test_threads_with_errors_in_between(tmp_path):
    """Threads whose requests fail inside a kernel (a Gather index out of range) or
    in validation run next to threads whose requests succeed; every good request
    still gets its own correct result."""
    table = random((10, 6), 1)
    w = random((6, 3), 2)
    nodes = [
        helper.make_node("Gather", ["table", "idx"], ["rows"], axis=0),
        helper.make_node("MatMul", ["rows", "w"], ["y"]),
    ]
    model = make_model(
        nodes,
        [value_info("idx", ["N"], np.int64)],
        [value_info("y", ["N", 3])],
        [initializer("table", table), initializer("w", w)],
    )
    loaded = servekit.load(save(model, tmp_path))
    barrier = threading.Barrier(8)
    errors = []

    def work(t):
        rng = np.random.default_rng(t)
        try:
            barrier.wait()
            for i in range(40):
                n = int(rng.integers(1, 9))
                idx = rng.integers(-10, 10, size=n).astype(np.int64)
                if t % 2 and i % 3 == 0:
                    idx[-1] = 10 + i  # out of range: the kernel fails mid-run
                    with pytest.raises(servekit.InvalidArgumentError, match="out of range"):
                        loaded.predict(idx)
                elif t % 2 and i % 3 == 1:
                    with pytest.raises(servekit.InvalidArgumentError, match="expects shape"):
                        loaded.predict(idx.reshape(1, n))
                else:
                    got = loaded.predict(idx)
                    np.testing.assert_allclose(
                        got, table[idx].astype(np.float64) @ w, rtol=1e-5, atol=1e-6, err_msg=f"thread {t}, request {i}"
                    )
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert not errors, errors[0]


# -- shape arithmetic as exporters write it ------------------------------------------------------


def _const(name, values):
    values = list(values) if isinstance(values, (list, tuple)) else values
    dims = [len(values)] if isinstance(values, list) else []
    vals = values if isinstance(values, list) else [values]
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name + "_value", TensorProto.INT64, dims, vals)
    )


SHAPE_PATTERNS = {
    # x.view(x.size(0) * x.size(1), x.size(2)): merges the batch with a fixed dim
    "merge_batch": (
        ["N", 3, 4],
        [
            helper.make_node("Shape", ["x"], ["s"]),
            _const("i0", 0),
            _const("i1", 1),
            _const("i2", 2),
            helper.make_node("Gather", ["s", "i0"], ["d0"]),
            helper.make_node("Gather", ["s", "i1"], ["d1"]),
            helper.make_node("Gather", ["s", "i2"], ["d2"]),
            helper.make_node("Mul", ["d0", "d1"], ["d01"]),
            _const("ax", [0]),
            helper.make_node("Unsqueeze", ["d01", "ax"], ["u01"]),
            helper.make_node("Unsqueeze", ["d2", "ax"], ["u2"]),
            helper.make_node("Concat", ["u01", "u2"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["r"]),
            helper.make_node("Relu", ["r"], ["y"]),
        ],
    ),
    # reshape to (3, N, 2): the batch moves to the middle
    "batch_in_middle": (
        ["N", 6],
        [
            helper.make_node("Shape", ["x"], ["s"]),
            _const("i", [0]),
            helper.make_node("Gather", ["s", "i"], ["n"]),
            _const("three", [3]),
            _const("two", [2]),
            helper.make_node("Concat", ["three", "n", "two"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["r"]),
            helper.make_node("Transpose", ["r"], ["y"], perm=[1, 0, 2]),
        ],
    ),
    # x.view(-1, x.size(1) // 2, 2)
    "divide_a_dim": (
        ["N", 6],
        [
            helper.make_node("Shape", ["x"], ["s"]),
            _const("i", [1]),
            helper.make_node("Gather", ["s", "i"], ["c"]),
            _const("two", [2]),
            helper.make_node("Div", ["c", "two"], ["half"]),
            _const("m1", [-1]),
            helper.make_node("Concat", ["m1", "half", "two"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["y"]),
        ],
    ),
    # Shape(start=0, end=1) then Concat with -1 (torch.flatten(x, 1) in newer exporters)
    "shape_slice": (
        ["N", 2, 3],
        [
            helper.make_node("Shape", ["x"], ["s"], start=0, end=1),
            _const("m1", [-1]),
            helper.make_node("Concat", ["s", "m1"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["y"]),
        ],
    ),
    # the batch size as a float, used in arithmetic at run time
    "batch_size_as_data": (
        ["N", 3],
        [
            helper.make_node("Shape", ["x"], ["s"]),
            _const("i0", 0),
            helper.make_node("Gather", ["s", "i0"], ["n"]),
            helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
            helper.make_node("Div", ["x", "nf"], ["y"]),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SHAPE_PATTERNS))
def test_shape_arithmetic(tmp_path, name):
    x_decl, nodes = SHAPE_PATTERNS[name]
    model = make_model(nodes, [value_info("x", x_decl)], [value_info("y", None)])
    loaded = servekit.load(save(model, tmp_path))
    _compare(loaded, model, lambda n: {"x": random((n, *x_decl[1:]), seed=n)}, batches=(1, 7, 2))
