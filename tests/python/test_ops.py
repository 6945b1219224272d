"""Every operator the engine supports, as one-node (or few-node) ONNX models made
with onnx.helper, run through ``servekit.load(...).predict`` and compared with
onnxruntime and, where it is simple, a float64 numpy reference.

Inputs declare a symbolic batch dim "N" where the op allows it; each case runs
for several batch sizes (0, 1 and a few), plus non-square and one-sided shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import servekit
from onnx_testing import (
    ATOL,
    check,
    erf,
    initializer,
    make_model,
    random,
    ref_conv,
    ref_pool,
    resolve_pads,
    save,
    value_info,
)

BATCHES = (0, 1, 3)


def feeds_for(name, shape_of_batch, batches=BATCHES, dtype=np.float32, seed=0, **kw):
    """[{name: array}] for each batch size; shape_of_batch(n) is the array's shape."""
    return [{name: random(shape_of_batch(n), seed=seed + n, dtype=dtype, **kw)} for n in batches]


def unary_model(
    op, in_shape, out_shape=None, opset=17, inits=(), extra_inputs=(), dtype=np.float32, out_dtype=None, **attrs
):
    node = helper.make_node(op, ["x", *extra_inputs], ["y"], **attrs)
    return make_model(
        [node],
        [value_info("x", in_shape, dtype)],
        [value_info("y", out_shape, out_dtype or dtype)],
        inits,
        opset=opset,
    )


# -- Gemm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize(
    "c_shape",
    [None, (5,), (1, 5), (4, 1), (4, 5), (), (1,)],
    ids=["noC", "C[N]", "C[1,N]", "C[M,1]", "C[M,N]", "Cscalar", "C[1]"],
)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (2.0, 0.0)])
def test_gemm_attributes(tmp_path, trans_a, trans_b, c_shape, alpha, beta):
    m, k, n = 4, 3, 5
    a_shape = (k, m) if trans_a else (m, k)
    b = random((n, k) if trans_b else (k, n), seed=1)
    inits = [initializer("B", b)]
    inputs = ["a", "B"]
    c = None
    if c_shape is not None:
        c = random(c_shape, seed=2)
        inits.append(initializer("C", c))
        inputs.append("C")
    node = helper.make_node("Gemm", inputs, ["y"], transA=trans_a, transB=trans_b, alpha=alpha, beta=beta)
    model = make_model([node], [value_info("a", a_shape)], [value_info("y", None)], inits)

    def reference(f):
        a = f["a"].astype(np.float64)
        a = a.T if trans_a else a
        bb = b.T if trans_b else b
        y = alpha * a @ bb
        if c is not None:
            y = y + beta * c
        return {"y": y}

    check(model, {"a": random(a_shape, seed=3)}, tmp_path, reference)


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias", ["none", "[N]", "[1,N]"])
def test_gemm_batched(tmp_path, trans_b, bias):
    k, n = 6, 7
    b = random((n, k) if trans_b else (k, n), seed=1)
    inits = [initializer("B", b)]
    inputs = ["a", "B"]
    c = None
    if bias != "none":
        c = random((n,) if bias == "[N]" else (1, n), seed=2)
        inits.append(initializer("C", c))
        inputs.append("C")
    node = helper.make_node("Gemm", inputs, ["y"], transB=trans_b)
    model = make_model([node], [value_info("a", ["N", k])], [value_info("y", ["N", n])], inits)

    def reference(f):
        y = f["a"].astype(np.float64) @ (b.T if trans_b else b)
        return {"y": y if c is None else y + c}

    check(model, feeds_for("a", lambda bs: (bs, k), batches=(0, 1, 2, 9)), tmp_path, reference)


def test_gemm_runtime_b_and_c(tmp_path):
    """B and C as graph inputs (not initializers)."""
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=1.5, beta=0.5, transB=1)
    model = make_model(
        [node], [value_info("a", [3, 4]), value_info("b", [5, 4]), value_info("c", [3, 5])], [value_info("y", None)]
    )
    f = {"a": random((3, 4), 1), "b": random((5, 4), 2), "c": random((3, 5), 3)}
    check(model, f, tmp_path, lambda f: {"y": 1.5 * f["a"].astype(np.float64) @ f["b"].T + 0.5 * f["c"]})


def test_gemm_large(tmp_path):
    """Sizes past any GEMM block size, with bias and transB."""
    m, k, n = 67, 300, 129
    b = random((n, k), 1)
    c = random((n,), 2)
    node = helper.make_node("Gemm", ["a", "B", "C"], ["y"], transB=1)
    model = make_model(
        [node], [value_info("a", ["N", k])], [value_info("y", None)], [initializer("B", b), initializer("C", c)]
    )
    check(
        model,
        {"a": random((m, k), 3)},
        tmp_path,
        lambda f: {"y": f["a"].astype(np.float64) @ b.T.astype(np.float64) + c},
        atol=1e-4,
    )


def test_gemm_batched_c(tmp_path):
    """C [N, n] as a runtime input that carries the batch."""
    b = random((4, 3), 1)
    node = helper.make_node("Gemm", ["a", "B", "c"], ["y"], beta=0.5)
    model = make_model(
        [node], [value_info("a", ["N", 4]), value_info("c", ["N", 3])], [value_info("y", None)], [initializer("B", b)]
    )
    feeds = [{"a": random((n, 4), n), "c": random((n, 3), n + 5)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": f["a"].astype(np.float64) @ b + 0.5 * f["c"]})


# -- MatMul -------------------------------------------------------------------------------


MATMUL_CASES = {
    # name: (A declared shape (None: A is a constant), B declared shape (None: constant), A shape(n), B shape(n))
    "2d_const_b": (["N", 4], None, lambda n: (n, 4), lambda n: (4, 5)),
    "3d_const_b": (["N", 3, 4], None, lambda n: (n, 3, 4), lambda n: (4, 5)),
    "4d_const_b": (["N", 2, 3, 4], None, lambda n: (n, 2, 3, 4), lambda n: (4, 5)),
    "batched_both": (["N", 3, 4], ["N", 4, 2], lambda n: (n, 3, 4), lambda n: (n, 4, 2)),
    "broadcast_a1": (["N", 1, 3, 4], None, lambda n: (n, 1, 3, 4), lambda n: (2, 4, 5)),
    "broadcast_b1": (["N", 2, 3, 4], None, lambda n: (n, 2, 3, 4), lambda n: (1, 4, 5)),
    "broadcast_rank": (["N", 3, 4], None, lambda n: (n, 3, 4), lambda n: (2, 1, 4, 5)),
    "b_3d_const": (["N", 4], None, lambda n: (n, 4), lambda n: (2, 4, 3)),
    "a_1d": ([4], None, lambda n: (4,), lambda n: (4, 5)),
    "a_1d_b_3d": ([4], None, lambda n: (4,), lambda n: (2, 4, 5)),
    "b_1d": (["N", 4], None, lambda n: (n, 4), lambda n: (4,)),
    "b_1d_a_3d": (["N", 3, 4], None, lambda n: (n, 3, 4), lambda n: (4,)),
    "both_1d": ([4], [4], lambda n: (4,), lambda n: (4,)),
    "const_a": (None, ["N", 4, 3], lambda n: (2, 4), lambda n: (n, 4, 3)),
    "inner_1": (["N", 1], None, lambda n: (n, 1), lambda n: (1, 6)),
}


@pytest.mark.parametrize("case", sorted(MATMUL_CASES))
def test_matmul(tmp_path, case):
    a_decl, b_decl, a_shape, b_shape = MATMUL_CASES[case]
    inputs, inits, names = [], [], []
    consts = {}
    for name, decl, shape, seed in (("a", a_decl, a_shape, 1), ("b", b_decl, b_shape, 2)):
        if decl is None:
            consts[name] = random(shape(1), seed)
            inits.append(initializer(name, consts[name]))
        else:
            inputs.append(value_info(name, decl))
            names.append(name)
    model = make_model([helper.make_node("MatMul", ["a", "b"], ["y"])], inputs, [value_info("y", None)], inits)
    batches = (0, 1, 3) if any(isinstance(d, str) for d in (a_decl or []) + (b_decl or [])) else (1,)
    shapes = {"a": a_shape, "b": b_shape}
    feeds = [{nm: random(shapes[nm](n), seed=n + 10 * i) for i, nm in enumerate(names)} for n in batches]

    def reference(f):
        a = f.get("a", consts.get("a")).astype(np.float64)
        b = f.get("b", consts.get("b")).astype(np.float64)
        return {"y": np.matmul(a, b)}

    check(model, feeds, tmp_path, reference)


@pytest.mark.parametrize("bias_shape", [(5,), (1, 5)])
@pytest.mark.parametrize("bias_first", [False, True])
def test_matmul_add(tmp_path, bias_shape, bias_first):
    """MatMul + Add with a constant bias (the optimiser turns it into a Gemm)."""
    w, b = random((4, 5), 1), random(bias_shape, 2)
    add_inputs = ["b", "mm"] if bias_first else ["mm", "b"]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["mm"]), helper.make_node("Add", add_inputs, ["y"])]
    model = make_model(
        nodes, [value_info("x", ["N", 4])], [value_info("y", None)], [initializer("W", w), initializer("b", b)]
    )
    check(model, feeds_for("x", lambda n: (n, 4)), tmp_path, lambda f: {"y": f["x"].astype(np.float64) @ w + b})


def test_matmul_add_3d_not_fused(tmp_path):
    w, b = random((4, 5), 1), random((5,), 2)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])]
    model = make_model(
        nodes, [value_info("x", ["N", 3, 4])], [value_info("y", None)], [initializer("W", w), initializer("b", b)]
    )
    check(model, feeds_for("x", lambda n: (n, 3, 4)), tmp_path, lambda f: {"y": f["x"].astype(np.float64) @ w + b})


def test_matmul_add_output_also_used(tmp_path):
    """The MatMul result is a graph output too, so it must not be fused away."""
    w, b = random((4, 5), 1), random((5,), 2)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])]
    model = make_model(
        nodes,
        [value_info("x", ["N", 4])],
        [value_info("y", None), value_info("mm", None)],
        [initializer("W", w), initializer("b", b)],
    )
    check(
        model,
        feeds_for("x", lambda n: (n, 4)),
        tmp_path,
        lambda f: {"y": f["x"].astype(np.float64) @ w + b, "mm": f["x"].astype(np.float64) @ w},
    )


# -- Add, Sub, Mul, Div -------------------------------------------------------------------

NP_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}

BROADCAST_CASES = {
    # name: (x declared, y declared or None (constant), x shape(n), y shape(n))
    "same": (["N", 3, 4], ["N", 3, 4], lambda n: (n, 3, 4), lambda n: (n, 3, 4)),
    "row": (["N", 3, 4], None, lambda n: (n, 3, 4), lambda n: (4,)),
    "column": (["N", 3, 4], None, lambda n: (n, 3, 4), lambda n: (3, 1)),
    "scalar": (["N", 3, 4], None, lambda n: (n, 3, 4), lambda n: ()),
    "one": (["N", 3, 4], None, lambda n: (n, 3, 4), lambda n: (1,)),
    "middle": (["N", 3, 4, 5], None, lambda n: (n, 3, 4, 5), lambda n: (3, 1, 5)),
    "outer_product": (["N", 3, 1], ["N", 1, 4], lambda n: (n, 3, 1), lambda n: (n, 1, 4)),
    "batch_vs_1": (["N", 1], None, lambda n: (n, 1), lambda n: (1, 5)),
    "rank_up": (["N", 4], None, lambda n: (n, 4), lambda n: (2, 1, 4)),
    "per_channel": (["N", 3, 2, 2], None, lambda n: (n, 3, 2, 2), lambda n: (1, 3, 1, 1)),
    "runtime_batch_bcast": (["N", 3], [1, 3], lambda n: (n, 3), lambda n: (1, 3)),
}


@pytest.mark.parametrize("op", sorted(NP_BINARY))
@pytest.mark.parametrize("case", sorted(BROADCAST_CASES))
@pytest.mark.parametrize("const_first", [False, True], ids=["x_op_y", "y_op_x"])
def test_binary_broadcast(tmp_path, op, case, const_first):
    x_decl, y_decl, x_shape, y_shape = BROADCAST_CASES[case]
    inputs = [value_info("x", x_decl)]
    inits = []
    y_const = None
    if y_decl is None:
        y_const = random(y_shape(1), seed=5, low=0.5, high=2.0)
        inits.append(initializer("y_in", y_const))
    else:
        inputs.append(value_info("y_in", y_decl))
    node_inputs = ["y_in", "x"] if const_first else ["x", "y_in"]
    model = make_model([helper.make_node(op, node_inputs, ["out"])], inputs, [value_info("out", None)], inits)
    feeds = []
    for n in BATCHES:
        f = {"x": random(x_shape(n), seed=n, low=0.5, high=2.0)}
        if y_decl is not None:
            f["y_in"] = random(y_shape(n), seed=n + 7, low=-2.0, high=-0.5)
        feeds.append(f)

    def reference(f):
        x = f["x"].astype(np.float64)
        y = (f["y_in"] if y_const is None else y_const).astype(np.float64)
        return {"out": NP_BINARY[op](y, x) if const_first else NP_BINARY[op](x, y)}

    check(model, feeds, tmp_path, reference)


def test_binary_same_input_twice(tmp_path):
    nodes = [helper.make_node("Mul", ["x", "x"], ["sq"]), helper.make_node("Sub", ["sq", "x"], ["y"])]
    model = make_model(nodes, [value_info("x", ["N", 5])], [value_info("y", None)])
    check(model, feeds_for("x", lambda n: (n, 5)), tmp_path, lambda f: {"y": f["x"].astype(np.float64) ** 2 - f["x"]})


@pytest.mark.parametrize("op", sorted(NP_BINARY))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float64])
def test_binary_other_dtypes(tmp_path, op, dtype):
    x_shape, y_shape = ["N", 3], [3]
    model = make_model(
        [helper.make_node(op, ["x", "y_in"], ["out"])],
        [value_info("x", x_shape, dtype), value_info("y_in", y_shape, dtype)],
        [value_info("out", None, dtype)],
    )
    rng = np.random.default_rng(0)
    feeds = []
    for n in BATCHES:
        if np.dtype(dtype).kind == "i":
            x = rng.integers(-50, 50, size=(n, 3)).astype(dtype)
            y = np.array([3, -7, 2], dtype)  # non-zero divisors of both signs
        else:
            x = rng.standard_normal((n, 3)).astype(dtype)
            y = np.array([3.5, -7.25, 0.5], dtype)
        feeds.append({"x": x, "y_in": y})

    def reference(f):
        x, y = f["x"], f["y_in"]
        if op == "Div" and np.dtype(dtype).kind == "i":
            return {"out": (np.trunc(x / y)).astype(dtype)}  # C-style truncation, as onnxruntime
        return {"out": NP_BINARY[op](x, y).astype(dtype)}

    check(model, feeds, tmp_path, reference)


# -- activations --------------------------------------------------------------------------


def _sigmoid(x):
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


ACTIVATIONS = {
    "Relu": ({}, lambda x: np.maximum(x, 0)),
    "LeakyRelu": ({}, lambda x: np.where(x >= 0, x, 0.01 * x)),
    "LeakyRelu_alpha": ({"alpha": 0.3}, lambda x: np.where(x >= 0, x, 0.3 * x)),
    "Sigmoid": ({}, _sigmoid),
    "Tanh": ({}, np.tanh),
    "Erf": ({}, erf),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("shape", [("N", 7), ("N", 2, 3, 5), ("N",)], ids=["2d", "4d", "1d"])
def test_activation(tmp_path, name, shape):
    attrs, ref = ACTIVATIONS[name]
    op = name.split("_")[0]
    model = unary_model(op, list(shape), list(shape), **attrs)
    feeds = [{"x": random((n, *shape[1:]), seed=n) * 4} for n in BATCHES]
    extreme = random((8, *shape[1:]), seed=9) * 100  # extreme values, exact zeros and negative zero
    extreme.reshape(-1)[:8] = [-1e4, -30.0, -0.0, 0.0, 30.0, 1e4, 1e-30, -1e-30]
    feeds.append({"x": extreme})
    check(model, feeds, tmp_path, lambda f: {"y": ref(f["x"].astype(np.float64))})


def _gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


@pytest.mark.parametrize("shape", [("N", 9), ("N", 2, 3, 4)])
def test_gelu_opset20(tmp_path, shape):
    model = unary_model("Gelu", list(shape), list(shape), opset=20)
    feeds = [{"x": random((n, *shape[1:]), seed=n) * 3} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": _gelu(f["x"].astype(np.float64))})


def test_gelu_tanh_approximation_rejected(tmp_path):
    import servekit

    model = unary_model("Gelu", ["N", 4], ["N", 4], opset=20, approximate="tanh")
    from onnx_testing import save

    with pytest.raises(servekit.InvalidArgumentError, match="approximate='tanh' is not supported"):
        servekit.load(save(model, tmp_path))


@pytest.mark.parametrize(
    "bounds",
    [(-0.5, 0.7), (None, 0.3), (-0.2, None), (None, None), (0.0, 6.0)],
    ids=["both", "max_only", "min_only", "neither", "relu6"],
)
def test_clip(tmp_path, bounds):
    lo, hi = bounds
    inits, extra = [], []
    if lo is not None:
        inits.append(initializer("lo", np.array(lo, np.float32)))
    if lo is not None or hi is not None:
        extra.append("lo" if lo is not None else "")
    if hi is not None:
        inits.append(initializer("hi", np.array(hi, np.float32)))
        extra.append("hi")
    model = unary_model("Clip", ["N", 3, 4], ["N", 3, 4], inits=inits, extra_inputs=extra)
    feeds = [{"x": random((n, 3, 4), seed=n) * 5} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": np.clip(f["x"], lo, hi) if (lo, hi) != (None, None) else f["x"]})


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis", [None, -1, 0, 1, 2, -2, -3])
def test_softmax(tmp_path, op, axis):
    attrs = {} if axis is None else {"axis": axis}
    model = unary_model(op, ["N", 3, 5], ["N", 3, 5], **attrs)
    feeds = [{"x": random((n, 3, 5), seed=n) * 3} for n in (1, 2, 4)]
    feeds.append({"x": (random((2, 3, 5), seed=7) * 1000).astype(np.float32)})  # large logits: stability
    ref = _softmax if op == "Softmax" else _log_softmax
    a = -1 if axis is None else axis
    check(model, feeds, tmp_path, lambda f: {"y": ref(f["x"].astype(np.float64), a)}, atol=1e-5)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_empty_batch(tmp_path, op):
    model = unary_model(op, ["N", 5], ["N", 5])
    check(model, {"x": np.zeros((0, 5), np.float32)}, tmp_path, lambda f: {"y": np.zeros((0, 5), np.float32)})


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_2d_axis0_over_batch(tmp_path, op):
    """axis 0 reduces over the batch: each row depends on the whole batch."""
    model = unary_model(op, ["N", 4], ["N", 4], axis=0)
    ref = _softmax if op == "Softmax" else _log_softmax
    check(
        model,
        [{"x": random((n, 4), seed=n)} for n in (1, 5)],
        tmp_path,
        lambda f: {"y": ref(f["x"].astype(np.float64), 0)},
    )


# -- fused activations after Conv, Gemm and MatMul --------------------------------------

FUSABLE = {
    "Relu": ({}, [], lambda y: np.maximum(y, 0)),
    "LeakyRelu": ({"alpha": 0.2}, [], lambda y: np.where(y >= 0, y, 0.2 * y)),
    "Sigmoid": ({}, [], _sigmoid),
    "Tanh": ({}, [], np.tanh),
    "Clip": ({}, ["lo", "hi"], lambda y: np.clip(y, -0.5, 0.25)),
}


def _layer(kind):
    """(nodes producing 'h' from 'x', inits, x declared shape, x shape(n), numpy ref of h)."""
    if kind == "Conv":
        w, b = random((4, 3, 3, 3), 11), random((4,), 12)
        return (
            [helper.make_node("Conv", ["x", "W", "B"], ["h"], pads=[1, 1, 1, 1])],
            [initializer("W", w), initializer("B", b)],
            ["N", 3, 5, 6],
            lambda n: (n, 3, 5, 6),
            lambda x: ref_conv(x, w, b, pads=(1, 1, 1, 1)),
        )
    if kind == "Gemm":
        w, b = random((5, 4), 11), random((5,), 12)
        return (
            [helper.make_node("Gemm", ["x", "W", "B"], ["h"], transB=1)],
            [initializer("W", w), initializer("B", b)],
            ["N", 4],
            lambda n: (n, 4),
            lambda x: x @ w.T.astype(np.float64) + b,
        )
    w = random((4, 5), 11)
    return (
        [helper.make_node("MatMul", ["x", "W"], ["h"])],
        [initializer("W", w)],
        ["N", 3, 4],
        lambda n: (n, 3, 4),
        lambda x: x @ w.astype(np.float64),
    )


@pytest.mark.parametrize("layer", ["Conv", "Gemm", "MatMul"])
@pytest.mark.parametrize("act", sorted(FUSABLE))
@pytest.mark.parametrize("layer_output_used", [False, True], ids=["fusable", "layer_output_also_used"])
def test_layer_then_activation(tmp_path, layer, act, layer_output_used):
    """A Conv/Gemm/MatMul followed by an activation (fused by the optimiser when the
    layer's output has no other use; kept apart otherwise)."""
    nodes, inits, x_decl, x_shape, ref_h = _layer(layer)
    attrs, extra, ref_act = FUSABLE[act]
    if act == "Clip":
        inits += [initializer("lo", np.array(-0.5, np.float32)), initializer("hi", np.array(0.25, np.float32))]
    nodes.append(helper.make_node(act, ["h", *extra], ["y"], **attrs))
    outputs = [value_info("y", None)]
    if layer_output_used:
        outputs.append(value_info("h", None))
    model = make_model(nodes, [value_info("x", x_decl)], outputs, inits)

    def reference(f):
        h = ref_h(f["x"].astype(np.float64))
        out = {"y": ref_act(h)}
        if layer_output_used:
            out["h"] = h
        return out

    check(model, [{"x": random(x_shape(n), seed=n) * 2} for n in BATCHES], tmp_path, reference)


def test_clip_after_conv_with_second_consumer(tmp_path):
    """Conv feeds both a Clip and a Relu (neither can be fused)."""
    nodes, inits, x_decl, x_shape, ref_h = _layer("Conv")
    inits += [initializer("lo", np.array(0.0, np.float32)), initializer("hi", np.array(0.5, np.float32))]
    nodes += [helper.make_node("Clip", ["h", "lo", "hi"], ["y"]), helper.make_node("Relu", ["h"], ["z"])]
    model = make_model(nodes, [value_info("x", x_decl)], [value_info("y", None), value_info("z", None)], inits)

    def reference(f):
        h = ref_h(f["x"].astype(np.float64))
        return {"y": np.clip(h, 0.0, 0.5), "z": np.maximum(h, 0)}

    check(model, [{"x": random(x_shape(n), seed=n)} for n in (1, 2)], tmp_path, reference)


def test_gemm_gelu_opset20(tmp_path):
    w, b = random((6, 4), 1), random((6,), 2)
    nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["h"], transB=1), helper.make_node("Gelu", ["h"], ["y"])]
    model = make_model(
        nodes,
        [value_info("x", ["N", 4])],
        [value_info("y", None)],
        [initializer("W", w), initializer("B", b)],
        opset=20,
    )
    check(
        model, feeds_for("x", lambda n: (n, 4)), tmp_path, lambda f: {"y": _gelu(f["x"].astype(np.float64) @ w.T + b)}
    )


# -- Conv ----------------------------------------------------------------------------------

CONV_CASES = {
    # name: (C, H, W, M, kh, kw, attrs)
    "3x3": (3, 7, 7, 4, 3, 3, {}),
    "3x3_pad1": (3, 7, 6, 4, 3, 3, {"pads": [1, 1, 1, 1]}),
    "bias": (3, 5, 5, 2, 3, 3, {"pads": [1, 1, 1, 1], "_bias": True}),
    "pointwise": (5, 4, 6, 3, 1, 1, {"_bias": True}),
    "pointwise_stride2": (5, 5, 6, 3, 1, 1, {"strides": [2, 2]}),
    "pointwise_padded": (2, 3, 3, 3, 1, 1, {"pads": [1, 0, 0, 1]}),
    "stride2": (3, 9, 8, 4, 3, 3, {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "stride_2x1": (2, 8, 7, 3, 3, 3, {"strides": [2, 1]}),
    "stride_1x3": (2, 6, 11, 3, 3, 2, {"strides": [1, 3], "pads": [0, 1, 0, 1]}),
    "dilation2": (2, 9, 9, 3, 3, 3, {"dilations": [2, 2]}),
    "dilation_2x3_padded": (2, 9, 10, 3, 3, 3, {"dilations": [2, 3], "pads": [2, 3, 2, 3]}),
    "asym_pads": (3, 6, 5, 2, 3, 3, {"pads": [0, 1, 2, 0]}),
    "pad_bottom_only": (2, 5, 5, 2, 3, 3, {"pads": [0, 0, 2, 0]}),
    "pad_right_only": (2, 5, 5, 2, 2, 3, {"pads": [0, 0, 0, 2]}),
    "kernel_1x5": (2, 6, 9, 3, 1, 5, {"pads": [0, 2, 0, 2]}),
    "kernel_5x2": (2, 9, 6, 3, 5, 2, {}),
    "kernel_equals_input": (2, 4, 5, 3, 4, 5, {"_bias": True}),
    "group2": (4, 6, 6, 6, 3, 3, {"group": 2, "pads": [1, 1, 1, 1], "_bias": True}),
    "group2_pointwise": (4, 5, 5, 6, 1, 1, {"group": 2}),
    "group3_stride2": (6, 7, 8, 3, 3, 3, {"group": 3, "strides": [2, 2]}),
    "depthwise": (3, 6, 7, 3, 3, 3, {"group": 3, "pads": [1, 1, 1, 1], "_bias": True}),
    "depthwise_mult2": (3, 6, 6, 6, 3, 3, {"group": 3, "pads": [1, 1, 1, 1]}),
    "depthwise_mult3_stride2": (2, 9, 8, 6, 3, 3, {"group": 2, "strides": [2, 2], "pads": [1, 0, 1, 2]}),
    "depthwise_dilated_asym": (4, 10, 9, 4, 3, 2, {"group": 4, "dilations": [2, 2], "pads": [2, 0, 1, 3]}),
    "depthwise_stride_2x3": (3, 9, 11, 3, 3, 3, {"group": 3, "strides": [2, 3], "pads": [0, 2, 1, 0]}),
    "depthwise_5x5": (8, 7, 7, 8, 5, 5, {"group": 8, "pads": [2, 2, 2, 2], "_bias": True}),
    "depthwise_1x1_stride2": (3, 5, 6, 3, 1, 1, {"group": 3, "strides": [2, 2]}),
    "same_upper_s1": (2, 6, 7, 3, 3, 3, {"auto_pad": "SAME_UPPER"}),
    "same_upper_even_kernel": (2, 6, 7, 3, 2, 4, {"auto_pad": "SAME_UPPER"}),
    "same_lower_even_kernel": (2, 6, 7, 3, 2, 4, {"auto_pad": "SAME_LOWER"}),
    "same_upper_stride2": (2, 7, 8, 3, 3, 3, {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "same_lower_stride2": (2, 8, 7, 3, 4, 3, {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    "same_lower_depthwise": (3, 6, 6, 3, 2, 2, {"auto_pad": "SAME_LOWER", "group": 3}),
    "same_upper_dilated": (2, 7, 7, 2, 3, 3, {"auto_pad": "SAME_UPPER", "dilations": [2, 2]}),
    "valid": (2, 7, 6, 3, 3, 2, {"auto_pad": "VALID", "strides": [2, 2]}),
    "1x1_image": (4, 1, 1, 5, 1, 1, {"_bias": True}),
    "wide_image": (1, 1, 12, 2, 1, 3, {"pads": [0, 1, 0, 1]}),
    "many_channels": (32, 5, 5, 40, 3, 3, {"pads": [1, 1, 1, 1], "_bias": True}),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv(tmp_path, case):
    c, h, w, m, kh, kw, attrs = CONV_CASES[case]
    attrs = dict(attrs)
    with_bias = attrs.pop("_bias", False)
    group = attrs.get("group", 1)
    weights = random((m, c // group, kh, kw), seed=1)
    inits = [initializer("W", weights)]
    inputs = ["x", "W"]
    bias = None
    if with_bias:
        bias = random((m,), seed=2)
        inits.append(initializer("B", bias))
        inputs.append("B")
    model = make_model(
        [helper.make_node("Conv", inputs, ["y"], **attrs)],
        [value_info("x", ["N", c, h, w])],
        [value_info("y", None)],
        inits,
    )

    def reference(f):
        return {
            "y": ref_conv(
                f["x"],
                weights,
                bias,
                strides=attrs.get("strides", (1, 1)),
                dilations=attrs.get("dilations", (1, 1)),
                pads=attrs.get("pads", (0, 0, 0, 0)),
                group=group,
                auto_pad=attrs.get("auto_pad", "NOTSET"),
            )
        }

    ort_model = None
    if attrs.get("auto_pad", "NOTSET") != "NOTSET" and "dilations" in attrs:
        # onnxruntime does not run dilated convs with auto_pad SAME_*: give it explicit pads
        explicit = {k: v for k, v in attrs.items() if k != "auto_pad"}
        explicit["pads"] = resolve_pads(
            (1, c, h, w), (kh, kw), attrs.get("strides", (1, 1)), attrs["dilations"], None, attrs["auto_pad"]
        )
        ort_model = make_model(
            [helper.make_node("Conv", inputs, ["y"], **explicit)],
            [value_info("x", ["N", c, h, w])],
            [value_info("y", None)],
            inits,
        )
    # ATOL is set for sums of a few dozen N(0, 1) products; an output here sums
    # (c / group) * kh * kw of them, whose float32 rounding (which differs with
    # the order each engine sums in, e.g. AVX2 or AVX-512 kernels) grows with that.
    products = (c // group) * kh * kw
    atol = ATOL * max(1.0, products / 36)
    check(model, feeds_for("x", lambda n: (n, c, h, w)), tmp_path, reference, atol=atol, ort_model=ort_model)


def test_conv_kernel_shape_attribute(tmp_path):
    weights = random((2, 3, 2, 3), 1)
    node = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[2, 3], pads=[1, 0, 0, 1])
    model = make_model([node], [value_info("x", ["N", 3, 5, 5])], [value_info("y", None)], [initializer("W", weights)])
    check(
        model,
        feeds_for("x", lambda n: (n, 3, 5, 5)),
        tmp_path,
        lambda f: {"y": ref_conv(f["x"], weights, pads=(1, 0, 0, 1))},
    )


def test_conv_fixed_batch(tmp_path):
    weights = random((2, 3, 3, 3), 1)
    model = make_model(
        [helper.make_node("Conv", ["x", "W"], ["y"])],
        [value_info("x", [2, 3, 4, 4])],
        [value_info("y", [2, 2, 2, 2])],
        [initializer("W", weights)],
    )
    check(model, {"x": random((2, 3, 4, 4))}, tmp_path, lambda f: {"y": ref_conv(f["x"], weights)})


# -- pooling ------------------------------------------------------------------------------

POOL_CASES = {
    # name: (H, W, attrs)
    "2x2_s2": (6, 6, {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "3x3_s1": (5, 6, {"kernel_shape": [3, 3]}),
    "3x3_s1_pad1": (5, 6, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    "3x3_s2_pad1": (7, 8, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "asym_pads": (6, 5, {"kernel_shape": [3, 2], "pads": [0, 1, 2, 0]}),
    "pad_right_only": (5, 5, {"kernel_shape": [2, 2], "pads": [0, 0, 0, 1], "strides": [1, 2]}),
    "non_square_kernel": (7, 9, {"kernel_shape": [1, 3], "strides": [1, 2]}),
    "strides_3x1": (10, 5, {"kernel_shape": [3, 2], "strides": [3, 1]}),
    "odd_s2": (7, 7, {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "ceil": (7, 7, {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    "ceil_3x3_s2": (8, 6, {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    "ceil_pad": (7, 6, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    "ceil_exact": (6, 6, {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    "ceil_dropped_window": (6, 6, {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    "same_upper": (6, 7, {"kernel_shape": [2, 3], "auto_pad": "SAME_UPPER"}),
    "same_upper_s2": (7, 7, {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    "same_lower_s2": (6, 7, {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    "valid": (7, 6, {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"}),
    "global_window": (4, 5, {"kernel_shape": [4, 5]}),
}

AVG_ONLY = {
    "count_pad": (5, 6, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    "count_pad_asym": (5, 6, {"kernel_shape": [3, 2], "pads": [2, 0, 0, 1], "count_include_pad": 1}),
    "count_pad_s2": (7, 8, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    "count_pad_ceil": (
        7,
        6,
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1, "count_include_pad": 1},
    ),
    "count_pad_ceil_nopad": (7, 7, {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "count_include_pad": 1}),
    "count_pad_same_upper": (
        6,
        7,
        {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER", "count_include_pad": 1},
    ),
    "exclude_pad_explicit": (6, 6, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 0}),
}

MAX_ONLY = {
    "dilation2": (7, 8, {"kernel_shape": [2, 2], "dilations": [2, 2]}),
    "dilation_2x1_pad": (8, 7, {"kernel_shape": [3, 2], "dilations": [2, 1], "pads": [2, 1, 2, 0]}),
}


def _pool_cases():
    for name in POOL_CASES:
        yield pytest.param("MaxPool", name, POOL_CASES[name], id=f"MaxPool-{name}")
        yield pytest.param("AveragePool", name, POOL_CASES[name], id=f"AveragePool-{name}")
    for name, case in AVG_ONLY.items():
        yield pytest.param("AveragePool", name, case, id=f"AveragePool-{name}")
    for name, case in MAX_ONLY.items():
        yield pytest.param("MaxPool", name, case, id=f"MaxPool-{name}")


@pytest.mark.parametrize("op,name,case", list(_pool_cases()))
def test_pool(tmp_path, op, name, case):
    h, w, attrs = case
    c = 2
    model = make_model(
        [helper.make_node(op, ["x"], ["y"], **attrs)], [value_info("x", ["N", c, h, w])], [value_info("y", None)]
    )

    def reference(f):
        return {
            "y": ref_pool(
                f["x"],
                "max" if op == "MaxPool" else "avg",
                attrs["kernel_shape"],
                attrs.get("strides", (1, 1)),
                attrs.get("pads", (0, 0, 0, 0)),
                attrs.get("dilations", (1, 1)),
                attrs.get("ceil_mode", 0),
                attrs.get("count_include_pad", 0),
                attrs.get("auto_pad", "NOTSET"),
            )
        }

    # all-negative inputs catch a max that starts from 0 instead of -inf
    feeds = [{"x": random((n, c, h, w), seed=n) - (3.0 if op == "MaxPool" and n == 1 else 0.0)} for n in BATCHES]
    check(model, feeds, tmp_path, reference)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize(
    "shape", [("N", 3, 4, 5), ("N", 2, 7), ("N", 4, 1, 1), ("N", 2, 2, 3, 2)], ids=["4d", "3d", "1x1", "5d"]
)
def test_global_pool(tmp_path, op, shape):
    model = unary_model(op, list(shape), None)
    axes = tuple(range(2, len(shape)))
    reduce = np.mean if op == "GlobalAveragePool" else np.max
    feeds = [{"x": random((n, *shape[1:]), seed=n) - 2.0} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": reduce(f["x"].astype(np.float64), axis=axes, keepdims=True)})


# -- BatchNormalization ---------------------------------------------------------------------


def _bn_params(c, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(0.5, 1.5, c).astype(np.float32),
        rng.standard_normal(c).astype(np.float32),
        rng.standard_normal(c).astype(np.float32),
        rng.uniform(0.1, 2.0, c).astype(np.float32),
    )


def _ref_bn(x, params, eps=1e-5):
    scale, bias, mean, var = (p.astype(np.float64) for p in params)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)


@pytest.mark.parametrize(
    "shape", [("N", 3, 4, 5), ("N", 4), ("N", 2, 6), ("N", 1, 3, 3)], ids=["4d", "2d", "3d", "1ch"]
)
@pytest.mark.parametrize("epsilon", [None, 1e-3])
def test_batch_normalization(tmp_path, shape, epsilon):
    c = shape[1]
    params = _bn_params(c)
    inits = [initializer(nm, p) for nm, p in zip(["s", "b", "m", "v"], params, strict=True)]
    attrs = {} if epsilon is None else {"epsilon": epsilon}
    model = make_model(
        [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], **attrs)],
        [value_info("x", list(shape))],
        [value_info("y", None)],
        inits,
    )
    feeds = [{"x": random((n, *shape[1:]), seed=n)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": _ref_bn(f["x"].astype(np.float64), params, epsilon or 1e-5)})


@pytest.mark.parametrize("layer", ["Conv", "Conv_nobias", "Conv_group", "Gemm", "Gemm_transB", "Gemm_nobias"])
def test_batch_normalization_after_layer(tmp_path, layer):
    """BatchNormalization after a Conv or Gemm (folded into its weights by the optimiser)."""
    if layer.startswith("Conv"):
        c_in, m = (4, 6)
        group = 2 if layer == "Conv_group" else 1
        w = random((m, c_in // group, 3, 3), 1)
        b = None if layer == "Conv_nobias" else random((m,), 2)
        inputs = ["x", "W"] + ([] if b is None else ["B"])
        node = helper.make_node("Conv", inputs, ["h"], pads=[1, 1, 1, 1], group=group)
        x_decl, x_shape = ["N", c_in, 5, 4], lambda n: (n, c_in, 5, 4)

        def ref_h(x):
            return ref_conv(x, w, b, pads=(1, 1, 1, 1), group=group)
    else:
        k, m = 5, 3
        trans_b = layer == "Gemm_transB"
        w = random((m, k) if trans_b else (k, m), 1)
        b = None if layer == "Gemm_nobias" else random((m,), 2)
        inputs = ["x", "W"] + ([] if b is None else ["B"])
        node = helper.make_node("Gemm", inputs, ["h"], transB=int(trans_b))
        x_decl, x_shape = ["N", k], lambda n: (n, k)

        def ref_h(x):
            y = x @ (w.T if trans_b else w).astype(np.float64)
            return y if b is None else y + b

    params = _bn_params(m, seed=4)
    inits = [initializer("W", w)] + ([] if b is None else [initializer("B", b)])
    inits += [initializer(nm, p) for nm, p in zip(["s", "bb", "mu", "var"], params, strict=True)]
    nodes = [node, helper.make_node("BatchNormalization", ["h", "s", "bb", "mu", "var"], ["y"])]
    model = make_model(nodes, [value_info("x", x_decl)], [value_info("y", None)], inits)
    check(
        model,
        [{"x": random(x_shape(n), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": _ref_bn(ref_h(f["x"].astype(np.float64)), params)},
    )


# -- shape ops ------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, 2, 3, 4, -1, -2, -3, -4])
def test_flatten(tmp_path, axis):
    model = unary_model("Flatten", ["N", 2, 3, 4], None, axis=axis)
    feeds = [{"x": random((n, 2, 3, 4), seed=n)} for n in BATCHES]

    def reference(f):
        x = f["x"]
        a = axis % 4 if axis < 0 else axis
        outer = int(np.prod(x.shape[:a]))
        return {"y": x.reshape(outer, int(np.prod(x.shape[a:])))}

    check(model, feeds, tmp_path, reference)


def test_flatten_default_axis(tmp_path):
    model = unary_model("Flatten", ["N", 2, 3], None)
    check(
        model,
        [{"x": random((n, 2, 3), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": f["x"].reshape(f["x"].shape[0], 6)},
    )


RESHAPE_CASES = {
    # name: (target shape, numpy target(n))
    "0_-1": ([0, -1], lambda n: (n, 24)),
    "0_3_-1": ([0, 3, -1], lambda n: (n, 3, 8)),
    "0_0_-1": ([0, 0, -1], lambda n: (n, 2, 12)),
    "0_0_0_0": ([0, 0, 0, 0], lambda n: (n, 2, 3, 4)),
    "-1_4": ([-1, 4], lambda n: (n * 6, 4)),
    "-1_2_12": ([-1, 2, 12], lambda n: (n, 2, 12)),
    "-1": ([-1], lambda n: (n * 24,)),
    "0_4_0_-1": ([0, 4, 0, -1], lambda n: (n, 4, 3, 2)),
    "0_2_3_2_2": ([0, 2, 3, 2, 2], lambda n: (n, 2, 3, 2, 2)),
    "0_-1_1": ([0, -1, 1], lambda n: (n, 24, 1)),
}


@pytest.mark.parametrize("case", list(RESHAPE_CASES))
def test_reshape(tmp_path, case):
    target, np_target = RESHAPE_CASES[case]
    model = unary_model(
        "Reshape",
        ["N", 2, 3, 4],
        None,
        inits=[initializer("shape", np.array(target, np.int64))],
        extra_inputs=["shape"],
    )
    feeds = [{"x": random((n, 2, 3, 4), seed=n)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": f["x"].reshape(np_target(f["x"].shape[0]))})


def test_reshape_allowzero_without_zero(tmp_path):
    model = unary_model(
        "Reshape",
        ["N", 2, 6],
        None,
        opset=17,
        inits=[initializer("shape", np.array([0, 3, 4], np.int64))],
        extra_inputs=["shape"],
        allowzero=0,
    )
    check(
        model,
        [{"x": random((n, 2, 6), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": f["x"].reshape(f["x"].shape[0], 3, 4)},
    )


def test_reshape_fixed_shape_int64_data(tmp_path):
    model = unary_model(
        "Reshape",
        [2, 6],
        None,
        inits=[initializer("shape", np.array([3, -1], np.int64))],
        extra_inputs=["shape"],
        dtype=np.int64,
    )
    x = np.arange(12, dtype=np.int64).reshape(2, 6)
    check(model, {"x": x}, tmp_path, lambda f: {"y": f["x"].reshape(3, 4)})


@pytest.mark.parametrize(
    "perm",
    [None, [0, 2, 3, 1], [0, 3, 1, 2], [0, 1, 3, 2], [1, 0, 2, 3], [3, 2, 1, 0], [0, 1, 2, 3], [2, 0, 3, 1]],
    ids=lambda p: "default" if p is None else "".join(map(str, p)),
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_transpose(tmp_path, perm, dtype):
    attrs = {} if perm is None else {"perm": perm}
    model = unary_model("Transpose", ["N", 2, 3, 5], None, dtype=dtype, **attrs)
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.integers(-100, 100, size=(n, 2, 3, 5)).astype(dtype)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": np.transpose(f["x"], perm)})


def test_transpose_2d_and_bool(tmp_path):
    model = unary_model("Transpose", ["N", 3], None, dtype=np.bool_)
    feeds = [{"x": np.random.default_rng(n).integers(0, 2, (n, 3)).astype(bool)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": f["x"].T})


@pytest.mark.parametrize("axis", [1, 2, -1, -2])
def test_concat_runtime_inputs(tmp_path, axis):
    shapes = {
        1: ([2, 3], [4, 3], [1, 3]),
        -2: ([2, 3], [4, 3], [1, 3]),
        2: ([2, 3], [2, 1], [2, 4]),
        -1: ([2, 3], [2, 1], [2, 4]),
    }[axis]
    names = ["a", "b", "c"]
    model = make_model(
        [helper.make_node("Concat", names, ["y"], axis=axis)],
        [value_info(nm, ["N", *s]) for nm, s in zip(names, shapes, strict=True)],
        [value_info("y", None)],
    )
    feeds = [
        {nm: random((n, *s), seed=i + n) for i, (nm, s) in enumerate(zip(names, shapes, strict=True))} for n in BATCHES
    ]
    check(model, feeds, tmp_path, lambda f: {"y": np.concatenate([f[nm] for nm in names], axis=axis)})


def test_concat_with_constant(tmp_path):
    const = random((1, 2), 3)
    model = make_model(
        [helper.make_node("Concat", ["x", "k", "x"], ["y"], axis=0)],
        [value_info("x", [3, 2])],
        [value_info("y", None)],
        [initializer("k", const)],
    )
    check(model, {"x": random((3, 2), 1)}, tmp_path, lambda f: {"y": np.concatenate([f["x"], const, f["x"]])})


def test_concat_batch_axis(tmp_path):
    model = make_model(
        [helper.make_node("Concat", ["a", "b"], ["y"], axis=0)],
        [value_info("a", ["N", 3]), value_info("b", ["N", 3])],
        [value_info("y", None)],
    )
    feeds = [{"a": random((n, 3), 1), "b": random((n, 3), 2)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": np.concatenate([f["a"], f["b"]])})


def test_concat_int64_and_one_empty_part(tmp_path):
    model = make_model(
        [helper.make_node("Concat", ["a", "b"], ["y"], axis=1)],
        [value_info("a", ["N", 0], np.int64), value_info("b", ["N", 2], np.int64)],
        [value_info("y", None, np.int64)],
    )
    feeds = [{"a": np.zeros((n, 0), np.int64), "b": np.arange(2 * n, dtype=np.int64).reshape(n, 2)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": f["b"]})


@pytest.mark.parametrize("axes", [[1], [3], [-1], [1, 3], [3, 1], [-3, -1]], ids=str)
def test_squeeze(tmp_path, axes):
    model = unary_model(
        "Squeeze", ["N", 1, 4, 1], None, inits=[initializer("axes", np.array(axes, np.int64))], extra_inputs=["axes"]
    )
    feeds = [{"x": random((n, 1, 4, 1), seed=n)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": np.squeeze(f["x"], axis=tuple(axes))})


def test_squeeze_no_axes_with_batch_dim_is_rejected(tmp_path):
    """Without axes, ONNX removes every dim of size 1 -- the batch too when it is 1 --
    so the output's rank would depend on the batch size. servekit refuses it at load."""
    model = unary_model("Squeeze", ["N", 1, 3], None)
    with pytest.raises(servekit.InvalidArgumentError, match="Squeeze without axes on an input with a batch"):
        servekit.load(save(model, tmp_path))


def test_squeeze_no_axes_fixed_shape(tmp_path):
    model = unary_model("Squeeze", [2, 1, 3, 1], None)
    check(model, [{"x": random((2, 1, 3, 1), seed=1)}], tmp_path, lambda f: {"y": np.squeeze(f["x"])})


@pytest.mark.parametrize("axes", [[1], [0], [-1], [1, 3], [3, 1], [0, 4], [-1, -2]], ids=str)
def test_unsqueeze(tmp_path, axes):
    model = unary_model(
        "Unsqueeze", ["N", 3, 2], None, inits=[initializer("axes", np.array(axes, np.int64))], extra_inputs=["axes"]
    )
    feeds = [{"x": random((n, 3, 2), seed=n)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": np.expand_dims(f["x"], tuple(axes))})


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_identity(tmp_path, dtype):
    model = unary_model("Identity", ["N", 3], None, dtype=dtype)
    feeds = [{"x": (random((n, 3), seed=n) * 10).astype(dtype)} for n in BATCHES]
    got = check(model, feeds, tmp_path, lambda f: {"y": f["x"]})
    assert not np.shares_memory(got[1]["y"], feeds[1]["x"]), "the output must not alias the caller's input"


def test_identity_chain_between_ops(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Identity", ["a"], ["b"]),
        helper.make_node("Identity", ["b"], ["c"]),
        helper.make_node("Sigmoid", ["c"], ["y"]),
    ]
    model = make_model(nodes, [value_info("x", ["N", 4])], [value_info("y", None), value_info("b", None)])
    check(
        model,
        [{"x": random((n, 4), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": _sigmoid(np.maximum(f["x"].astype(np.float64), 0)), "b": np.maximum(f["x"], 0)},
    )


@pytest.mark.parametrize("variant", ["plain", "ratio", "ratio_training_false", "mask"])
def test_dropout(tmp_path, variant):
    inits, extra, outputs = [], [], ["y"]
    if variant in ("ratio", "ratio_training_false"):
        inits.append(initializer("ratio", np.array(0.5, np.float32)))
        extra.append("ratio")
    if variant == "ratio_training_false":
        inits.append(initializer("training", np.array(False)))
        extra.append("training")
    if variant == "mask":
        outputs.append("mask")
    node = helper.make_node("Dropout", ["x", *extra], outputs)
    out_info = [value_info("y", None)] + ([value_info("mask", None, np.bool_)] if variant == "mask" else [])
    model = make_model([node], [value_info("x", ["N", 3, 2])], out_info, inits)

    def reference(f):
        out = {"y": f["x"]}
        if variant == "mask":
            out["mask"] = np.ones(f["x"].shape, bool)
        return out

    check(model, [{"x": random((n, 3, 2), seed=n)} for n in BATCHES], tmp_path, reference)


PAD_CASES = {
    # name: (pads over (N, C, H, W), mode, constant value or None)
    "constant_zero": ([0, 0, 1, 1, 0, 0, 1, 1], "constant", None),
    "constant_value": ([0, 0, 1, 2, 0, 0, 2, 1], "constant", 1.5),
    "constant_one_side": ([0, 0, 0, 0, 0, 0, 2, 0], "constant", -1.0),
    "constant_left_only": ([0, 0, 0, 3, 0, 0, 0, 0], "constant", 0.25),
    "constant_channels": ([0, 1, 0, 0, 0, 2, 0, 0], "constant", 0.0),
    "constant_negative_crop": ([0, 0, -1, 0, 0, 0, 1, -1], "constant", 0.0),
    "reflect": ([0, 0, 1, 2, 0, 0, 2, 1], "reflect", None),
    "reflect_one_side": ([0, 0, 0, 0, 0, 0, 0, 2], "reflect", None),
    "reflect_channels": ([0, 1, 0, 0, 0, 1, 0, 0], "reflect", None),
    "edge": ([0, 0, 2, 1, 0, 0, 1, 3], "edge", None),
    "edge_one_side": ([0, 0, 3, 0, 0, 0, 0, 0], "edge", None),
    "no_padding": ([0, 0, 0, 0, 0, 0, 0, 0], "reflect", None),
}


@pytest.mark.parametrize("case", list(PAD_CASES))
def test_pad(tmp_path, case):
    pads, mode, value = PAD_CASES[case]
    inits = [initializer("pads", np.array(pads, np.int64))]
    extra = ["pads"]
    if value is not None:
        inits.append(initializer("value", np.array(value, np.float32)))
        extra.append("value")
    model = unary_model("Pad", ["N", 3, 4, 5], None, inits=inits, extra_inputs=extra, mode=mode)

    def reference(f):
        x = f["x"]
        rank = x.ndim
        begin, end = pads[:rank], pads[rank:]
        # negative pads crop
        x = x[
            tuple(
                slice(-b if b < 0 else 0, x.shape[d] + e if e < 0 else None)
                for d, (b, e) in enumerate(zip(begin, end, strict=True))
            )
        ]
        widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end, strict=True)]
        if mode == "constant":
            return {"y": np.pad(x, widths, mode="constant", constant_values=value or 0.0)}
        return {"y": np.pad(x, widths, mode={"reflect": "reflect", "edge": "edge"}[mode])}

    check(model, [{"x": random((n, 3, 4, 5), seed=n)} for n in BATCHES], tmp_path, reference)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_axes_opset18(tmp_path, mode):
    inits = [initializer("pads", np.array([1, 0, 2, 1], np.int64)), initializer("axes", np.array([-1, 2], np.int64))]
    model = unary_model(
        "Pad", ["N", 2, 4, 5], None, opset=18, inits=inits, extra_inputs=["pads", "", "axes"], mode=mode
    )
    widths = [(0, 0), (0, 0), (0, 1), (1, 2)]
    np_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge"}[mode]
    check(
        model,
        [{"x": random((n, 2, 4, 5), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": np.pad(f["x"], widths, mode=np_mode)},
    )


REDUCE_CASES = {
    # name: (axes or None, keepdims or None (default 1))
    "all_default": (None, None),
    "all_nokeep": (None, 0),
    "last": ([-1], 1),
    "last_nokeep": ([-1], 0),
    "spatial": ([2, 3], 1),
    "spatial_nokeep": ([2, 3], 0),
    "channel": ([1], 0),
    "batch": ([0], 1),
    "batch_nokeep": ([0], 0),
    "mixed": ([0, 2], 0),
    "negative_pair": ([-3, -1], 1),
    "unsorted": ([3, 1], 0),
}


@pytest.mark.parametrize("opset", [17, 18])
@pytest.mark.parametrize("case", list(REDUCE_CASES))
def test_reduce_mean(tmp_path, opset, case):
    axes, keepdims = REDUCE_CASES[case]
    attrs = {} if keepdims is None else {"keepdims": keepdims}
    inits, extra = [], []
    if axes is not None:
        if opset >= 18:
            inits.append(initializer("axes", np.array(axes, np.int64)))
            extra.append("axes")
        else:
            attrs["axes"] = axes
    model = unary_model("ReduceMean", ["N", 3, 4, 5], None, opset=opset, inits=inits, extra_inputs=extra, **attrs)
    batches = (1, 3) if axes is None or 0 in axes or -4 in axes else BATCHES

    def reference(f):
        ax = None if axes is None else tuple(axes)
        return {"y": np.mean(f["x"].astype(np.float64), axis=ax, keepdims=keepdims is None or bool(keepdims))}

    check(model, [{"x": random((n, 3, 4, 5), seed=n)} for n in batches], tmp_path, reference)


def test_reduce_mean_noop_with_empty_axes_opset18(tmp_path):
    model = unary_model("ReduceMean", ["N", 3], None, opset=18, noop_with_empty_axes=1)
    check(model, [{"x": random((n, 3), seed=n)} for n in BATCHES], tmp_path, lambda f: {"y": f["x"]})


def test_reduce_mean_large_axis_accuracy(tmp_path):
    """Mean of many values of one sign: a naive float32 running sum loses digits."""
    model = unary_model("ReduceMean", ["N", 100000], None, axes=[1], keepdims=0)
    x = (np.full((2, 100000), 1.0, np.float32) + random((2, 100000), 1) * 1e-3).astype(np.float32)
    check(model, {"x": x}, tmp_path, lambda f: {"y": f["x"].astype(np.float64).mean(axis=1)})


CAST_CASES = {
    # name: (from dtype, to dtype, values)
    "f32_i64": (np.float32, np.int64, [-2.7, -1.5, -0.5, 0.0, 0.5, 1.5, 2.7, 1e6]),
    "f32_i32": (np.float32, np.int32, [-2.7, -0.2, 0.9, 3.5, 12345.6]),
    "f32_f64": (np.float32, np.float64, [-1.25, 0.1, 3.0, 1e-30]),
    "f32_u8": (np.float32, np.uint8, [0.0, 1.9, 100.5, 255.0]),
    "f32_i8": (np.float32, np.int8, [-128.0, -1.5, 0.0, 127.0]),
    "f32_bool": (np.float32, np.bool_, [0.0, -0.0, 0.5, -3.0]),
    "i64_f32": (np.int64, np.float32, [-5, 0, 7, 1 << 20]),
    "i64_i32": (np.int64, np.int32, [-5, 0, 7, 123456]),
    "i32_i64": (np.int32, np.int64, [-5, 0, 7, 2**31 - 1]),
    "i64_bool": (np.int64, np.bool_, [0, 1, -2, 5]),
    "bool_f32": (np.bool_, np.float32, [True, False, True, True]),
    "u8_f32": (np.uint8, np.float32, [0, 1, 128, 255]),
    "f64_f32": (np.float64, np.float32, [0.1, -2.5, 1e10, 3.0]),
    "f32_f32": (np.float32, np.float32, [0.1, -2.5]),
}


@pytest.mark.parametrize("case", list(CAST_CASES))
def test_cast(tmp_path, case):
    src, dst, values = CAST_CASES[case]
    n = len(values)
    model = unary_model(
        "Cast", ["N", n], None, dtype=src, out_dtype=dst, to=int(helper.np_dtype_to_tensor_dtype(np.dtype(dst)))
    )
    x = np.array(values, dtype=src).reshape(1, n)
    feeds = [{"x": np.repeat(x, b, axis=0)} for b in BATCHES]

    def reference(f):
        if np.dtype(dst).kind in "iu" and np.dtype(src).kind == "f":
            return {"y": np.trunc(f["x"]).astype(dst)}
        return {"y": f["x"].astype(dst)}

    check(model, feeds, tmp_path, reference)


def test_shape_gather_constant_runtime(tmp_path):
    """Shape of a batched input as an output (runs at request time) and its batch entry."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Constant", [], ["i0"], value=helper.make_tensor("v", TensorProto.INT64, [], [0])),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Constant", [], ["two"], value_int=2),
        helper.make_node("Mul", ["n", "two"], ["y"]),
    ]
    model = make_model(
        nodes, [value_info("x", ["N", 3, 4])], [value_info("s", None, np.int64), value_info("y", None, np.int64)]
    )
    check(
        model,
        [{"x": random((n, 3, 4), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"s": np.array(f["x"].shape, np.int64), "y": np.array(2 * f["x"].shape[0], np.int64)},
    )


@pytest.mark.parametrize("start,end", [(1, None), (0, 1), (-2, None), (1, -1), (-10, 10)])
def test_shape_start_end(tmp_path, start, end):
    attrs = {"start": start} if end is None else {"start": start, "end": end}
    model = unary_model("Shape", ["N", 3, 4, 5], None, opset=17, out_dtype=np.int64, **attrs)
    check(
        model,
        [{"x": random((n, 3, 4, 5), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": np.array(f["x"].shape[slice(start, end)], np.int64)},
    )


GATHER_CASES = {
    # name: (axis, indices)
    "axis1_list": (1, [2, 0, 2]),
    "axis1_scalar": (1, 1),
    "axis1_negative": (1, [-1, -4]),
    "axis2_2d_indices": (2, [[0, 1], [4, 3]]),
    "axis_neg1": (-1, [4, 0]),
    "axis1_empty": (1, np.zeros((0,), np.int64)),
}


@pytest.mark.parametrize("case", list(GATHER_CASES))
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_gather_constant_indices(tmp_path, case, index_dtype):
    axis, indices = GATHER_CASES[case]
    indices = np.array(indices, index_dtype)
    model = unary_model(
        "Gather", ["N", 4, 5], None, inits=[initializer("idx", indices)], extra_inputs=["idx"], axis=axis
    )
    check(
        model,
        [{"x": random((n, 4, 5), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": np.take(f["x"], indices.astype(np.int64), axis=axis)},
    )


def test_gather_runtime_indices(tmp_path):
    model = make_model(
        [helper.make_node("Gather", ["table", "idx"], ["y"], axis=0)],
        [value_info("idx", ["N", 2], np.int64)],
        [value_info("y", None)],
        [initializer("table", random((6, 3), 1))],
    )
    table = random((6, 3), 1)
    feeds = [{"idx": np.array([[0, 5], [-1, 2], [3, -6]][:n], np.int64).reshape(n, 2)} for n in BATCHES]
    check(model, feeds, tmp_path, lambda f: {"y": table[f["idx"]]})


def test_gather_runtime_index_out_of_range(tmp_path):
    import servekit
    from onnx_testing import load

    model = make_model(
        [helper.make_node("Gather", ["table", "idx"], ["y"], axis=0)],
        [value_info("idx", ["N"], np.int64)],
        [value_info("y", None)],
        [initializer("table", random((6, 3), 1))],
    )
    loaded = load(model, tmp_path)
    with pytest.raises(servekit.InvalidArgumentError, match="index 6 is out of range"):
        loaded.predict(np.array([1, 6], np.int64))
    np.testing.assert_array_equal(loaded.predict(np.array([5, -6], np.int64)), random((6, 3), 1)[[5, 0]])


@pytest.mark.parametrize(
    "attr,value,expected",
    [
        (
            "value",
            helper.make_tensor("v", TensorProto.FLOAT, [3], [1.0, -2.0, 0.5]),
            np.array([1.0, -2.0, 0.5], np.float32),
        ),
        ("value_float", 2.5, np.array(2.5, np.float32)),
        ("value_floats", [0.5, 1.5, -1.0], np.array([0.5, 1.5, -1.0], np.float32)),
    ],
    ids=["value", "value_float", "value_floats"],
)
def test_constant_float(tmp_path, attr, value, expected):
    nodes = [helper.make_node("Constant", [], ["k"], **{attr: value}), helper.make_node("Add", ["x", "k"], ["y"])]
    model = make_model(nodes, [value_info("x", ["N", 3])], [value_info("y", None)])
    check(
        model,
        [{"x": random((n, 3), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": f["x"].astype(np.float64) + expected},
    )


@pytest.mark.parametrize("attr,value", [("value_int", 7), ("value_ints", [1, -2, 3])])
def test_constant_int(tmp_path, attr, value):
    nodes = [helper.make_node("Constant", [], ["k"], **{attr: value}), helper.make_node("Add", ["x", "k"], ["y"])]
    model = make_model(nodes, [value_info("x", ["N", 3], np.int64)], [value_info("y", None, np.int64)])
    check(
        model,
        [{"x": np.arange(3 * n, dtype=np.int64).reshape(n, 3)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": f["x"] + np.array(value, np.int64)},
    )


def test_constant_only_output(tmp_path):
    """A graph output that is a constant, next to a computed one."""
    nodes = [helper.make_node("Constant", [], ["k"], value_floats=[1.0, 2.0]), helper.make_node("Relu", ["x"], ["y"])]
    model = make_model(nodes, [value_info("x", ["N", 2])], [value_info("y", None), value_info("k", None)])
    check(
        model,
        [{"x": random((n, 2), seed=n)} for n in BATCHES],
        tmp_path,
        lambda f: {"y": np.maximum(f["x"], 0), "k": np.array([1.0, 2.0], np.float32)},
    )


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_argmax(tmp_path, axis, keepdims, dtype):
    model = unary_model("ArgMax", ["N", 4, 5], None, dtype=dtype, out_dtype=np.int64, axis=axis, keepdims=keepdims)
    rng = np.random.default_rng(0)
    batches = (1, 3) if axis == 0 else BATCHES
    feeds = [{"x": (rng.standard_normal((n, 4, 5)) * 100).astype(dtype)} for n in batches]

    def reference(f):
        return {"y": np.argmax(f["x"], axis=axis, keepdims=bool(keepdims)).astype(np.int64)}

    check(model, feeds, tmp_path, reference)


@pytest.mark.parametrize("select_last_index", [0, 1])
def test_argmax_ties(tmp_path, select_last_index):
    model = unary_model(
        "ArgMax", ["N", 6], None, out_dtype=np.int64, axis=1, keepdims=0, select_last_index=select_last_index
    )
    x = np.array([[1, 3, 3, 0, 3, 2], [5, 5, 5, 5, 5, 5], [-1, -1, -2, -3, -1, -9]], np.float32)
    expected = np.array([4, 5, 4], np.int64) if select_last_index else np.array([1, 0, 0], np.int64)
    check(model, {"x": x}, tmp_path, lambda f: {"y": expected})


# -- intra-op threads ------------------------------------------------------------------------


_TW = {
    "conv": random((16, 8, 3, 3), 1),
    "conv_b": random((16,), 2),
    "dw": random((16, 1, 3, 3), 3),
    "gemm": random((70, 130), 4),
    "gemm_b": random((70,), 5),
    "mm": random((3, 40, 50), 6),
}

THREADED = {
    # name: (nodes, initializers, x declared shape, x shape(n), numpy reference of y)
    "conv": (
        [helper.make_node("Conv", ["x", "W", "B"], ["y"], pads=[1, 1, 1, 1], strides=[2, 1])],
        [initializer("W", _TW["conv"]), initializer("B", _TW["conv_b"])],
        ["N", 8, 15, 14],
        lambda n: (n, 8, 15, 14),
        lambda x: ref_conv(x, _TW["conv"], _TW["conv_b"], strides=(2, 1), pads=(1, 1, 1, 1)),
    ),
    "depthwise": (
        [helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1, 1, 1], group=8)],
        [initializer("W", _TW["dw"])],
        ["N", 8, 15, 14],
        lambda n: (n, 8, 15, 14),
        lambda x: ref_conv(x, _TW["dw"], pads=(1, 1, 1, 1), group=8),
    ),
    "gemm": (
        [helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)],
        [initializer("W", _TW["gemm"]), initializer("B", _TW["gemm_b"])],
        ["N", 130],
        lambda n: (n, 130),
        lambda x: x @ _TW["gemm"].T.astype(np.float64) + _TW["gemm_b"],
    ),
    "matmul_batched": (
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        [initializer("W", _TW["mm"])],
        ["N", 3, 33, 40],
        lambda n: (n, 3, 33, 40),
        lambda x: np.matmul(x, _TW["mm"].astype(np.float64)),
    ),
    "avgpool": (
        [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)],
        [],
        ["N", 8, 15, 14],
        lambda n: (n, 8, 15, 14),
        lambda x: ref_pool(x, "avg", (3, 3), pads=(1, 1, 1, 1), count_include_pad=1),
    ),
}


@pytest.mark.parametrize("case", list(THREADED))
@pytest.mark.parametrize("threads", [2, 4])
def test_intra_op_threads(tmp_path, case, threads):
    """Kernels split over several threads give the single-threaded results."""
    nodes, inits, x_decl, x_shape, ref = THREADED[case]
    model = make_model(nodes, [value_info("x", x_decl)], [value_info("y", None)], inits)
    feeds = [{"x": random(x_shape(n), seed=n)} for n in (0, 1, 5, 16)]
    check(model, feeds, tmp_path, lambda f: {"y": ref(f["x"].astype(np.float64))}, intra_op_threads=threads, atol=1e-4)


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_over_empty_batch(tmp_path, keepdims):
    """The mean over an empty batch axis (servekit and onnxruntime both give zeros)."""
    model = unary_model("ReduceMean", ["N", 3], None, axes=[0], keepdims=keepdims)
    check(model, {"x": np.zeros((0, 3), np.float32)}, tmp_path)
