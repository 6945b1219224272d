"""Helpers shared by the engine tests: build ONNX models with onnx.helper, run them
through servekit and onnxruntime, and compare the results.

Every model is written to a file and loaded with ``servekit.load`` (the public
path), and run by onnxruntime from the same bytes.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import servekit

RTOL = 1e-5
ATOL = 1e-5  # float32 sums of a few dozen N(0, 1) products

OPSET = 17
IR_VERSION = 8  # onnxruntime 1.31 accepts ir_version <= 13

_NP_TO_ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.bool_): TensorProto.BOOL,
}


def onnx_type(dtype) -> int:
    return _NP_TO_ONNX[np.dtype(dtype)]


def value_info(name: str, shape, dtype=np.float32) -> onnx.ValueInfoProto:
    """A tensor ValueInfo; a string dim is symbolic (``"N"`` = the batch), None = no shape."""
    return helper.make_tensor_value_info(name, onnx_type(dtype), shape)


def initializer(name: str, array, raw: bool = True) -> onnx.TensorProto:
    """An initializer holding `array`, in raw_data (raw=True) or in the typed field."""
    array = np.asarray(array)
    if raw:
        return numpy_helper.from_array(array, name)
    return helper.make_tensor(name, onnx_type(array.dtype), array.shape, array.flatten().tolist(), raw=False)


def make_model(nodes, inputs, outputs, initializers=(), opset: int = OPSET, name: str = "test") -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION)


def save(model: onnx.ModelProto, directory, filename: str = "model.onnx") -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(os.fspath(directory), filename)
    onnx.save_model(model, path)
    return path


def load(model: onnx.ModelProto, directory, **kwargs) -> servekit.LoadedModel:
    """Saves `model` under `directory` and loads it with servekit.load."""
    return servekit.load(save(model, directory), **kwargs)


def ort_session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_ort(model: onnx.ModelProto, feeds: dict) -> dict:
    session = ort_session(model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def as_dict(result, model: onnx.ModelProto) -> dict:
    """servekit's predict result (array or dict) as {output name: array}."""
    if isinstance(result, dict):
        return result
    assert len(model.graph.output) == 1, "predict returned one array for a multi-output model"
    return {model.graph.output[0].name: result}


def assert_same(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    """Same shape, same dtype and values within tolerance."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}shape {actual.shape} != expected {expected.shape}"
    if expected.dtype.kind == "f":
        assert actual.dtype == expected.dtype, f"{what}dtype {actual.dtype} != expected {expected.dtype}"
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
    else:
        assert actual.dtype == expected.dtype, f"{what}dtype {actual.dtype} != expected {expected.dtype}"
        np.testing.assert_array_equal(actual, expected, err_msg=what)


def _has_empty_batch(feeds: dict) -> bool:
    return any(np.ndim(v) > 0 and np.shape(v)[0] == 0 for v in feeds.values())


def check(model, feeds, tmp_path, reference=None, rtol=RTOL, atol=ATOL, ort_model=None, intra_op_threads=1):
    """Runs `model` in servekit and onnxruntime and compares every output.

    `feeds` is one {input name: array} dict or a list of them (e.g. several batch
    sizes; the model is loaded once). `reference` is None or a function from feeds
    to {output name: expected array}: a numpy reference independent of both
    engines. `ort_model` is an equivalent model for onnxruntime when it cannot run
    `model` itself (e.g. Conv with dilations and auto_pad SAME_*).

    onnxruntime is not a reference for empty batches: it refuses some and returns
    wrong shapes for others (ReduceMean and ArgMax over a non-batch axis return
    the input's shape). A batch-0 case is checked against the numpy reference when
    there is one, else against onnxruntime.
    Also checks that predict leaves the caller's input arrays unchanged.
    Returns servekit's outputs (a dict, or a list of dicts for a list of feeds).
    """
    single = isinstance(feeds, dict)
    feeds_list = [feeds] if single else list(feeds)
    loaded = load(model, tmp_path, intra_op_threads=intra_op_threads)
    session = ort_session(ort_model or model)
    ort_names = [o.name for o in session.get_outputs()]
    results = []
    for f in feeds_list:
        tag = "batch " + ",".join(str(np.shape(v)[0]) for v in f.values() if np.ndim(v) > 0) + ": "
        before = {k: np.array(v, copy=True) for k, v in f.items()}
        got = as_dict(loaded.predict(f), model)
        for k, v in f.items():
            np.testing.assert_array_equal(v, before[k], err_msg=f"{tag}predict modified input '{k}'")
        assert sorted(got) == sorted(o.name for o in model.graph.output)
        if not (_has_empty_batch(f) and reference is not None):
            expected = dict(zip(ort_names, session.run(None, f), strict=True))
            for name, value in expected.items():
                assert_same(got[name], value, rtol, atol, what=f"{tag}vs onnxruntime, output '{name}': ")
        if reference is not None:
            for name, value in reference(f).items():
                value = np.asarray(value)
                if value.dtype == np.float64 and got[name].dtype == np.float32:
                    value = value.astype(np.float32)
                assert_same(got[name], value, rtol, atol, what=f"{tag}vs numpy, output '{name}': ")
        results.append(got)
    return results[0] if single else results


def random(shape, seed=0, dtype=np.float32, low=None, high=None):
    rng = np.random.default_rng(seed)
    if low is not None:
        return rng.uniform(low, high, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# -- numpy references (float64) -------------------------------------------------------------


def erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, np.float64))


def same_pads(size, kernel, stride, dilation, upper):
    """(begin, end) pads of auto_pad SAME_UPPER / SAME_LOWER."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size)
    small, big = total // 2, total - total // 2
    return (small, big) if upper else (big, small)


def resolve_pads(x_shape, kernel, strides, dilations, pads, auto_pad):
    """ONNX pads [top, left, bottom, right] after auto_pad."""
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        (top, bottom), (left, right) = (
            same_pads(x_shape[2 + i], kernel[i], strides[i], dilations[i], auto_pad == "SAME_UPPER") for i in range(2)
        )
        return [top, left, bottom, right]
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    return list(pads)


def ref_conv(x, w, b=None, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), group=1, auto_pad="NOTSET"):
    """ONNX Conv (NCHW, weights MCkk) in float64."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    m, cg, kh, kw = w.shape
    pads = resolve_pads(x.shape, (kh, kw), strides, dilations, pads, auto_pad)
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, _, h, wd = x.shape
    sh, sw = strides
    dh, dw = dilations
    oh = (h - ((kh - 1) * dh + 1)) // sh + 1
    ow = (wd - ((kw - 1) * dw + 1)) // sw + 1
    out = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                patch = x[
                    :,
                    g * cg : (g + 1) * cg,
                    i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                    j * dw : j * dw + sw * (ow - 1) + 1 : sw,
                ]
                out[:, g * mg : (g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, w[g * mg : (g + 1) * mg, :, i, j])
    if b is not None:
        out += np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return out


def pool_output_size(size, kernel, stride, dilation, pad_begin, pad_end, ceil_mode):
    span = (kernel - 1) * dilation + 1
    if ceil_mode:
        out = -(-(size + pad_begin + pad_end - span) // stride) + 1
        if (out - 1) * stride >= size + pad_begin:  # the last window starts in the end padding
            out -= 1
        return out
    return (size + pad_begin + pad_end - span) // stride + 1


def ref_pool(
    x,
    kind,
    kernel,
    strides=(1, 1),
    pads=(0, 0, 0, 0),
    dilations=(1, 1),
    ceil_mode=0,
    count_include_pad=0,
    auto_pad="NOTSET",
):
    """ONNX MaxPool / AveragePool (2-D) in float64.

    With count_include_pad the divisor counts the explicit pads but not the
    ceil_mode overhang past them (onnxruntime's and PyTorch's rule).
    """
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    pads = resolve_pads(x.shape, kernel, strides, dilations, pads, auto_pad)
    oh = pool_output_size(h, kernel[0], strides[0], dilations[0], pads[0], pads[2], ceil_mode)
    ow = pool_output_size(w, kernel[1], strides[1], dilations[1], pads[1], pads[3], ceil_mode)
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        h0 = i * strides[0] - pads[0]
        rows = [h0 + k * dilations[0] for k in range(kernel[0])]
        rows_in = [r for r in rows if 0 <= r < h]
        for j in range(ow):
            w0 = j * strides[1] - pads[1]
            cols = [w0 + k * dilations[1] for k in range(kernel[1])]
            cols_in = [q for q in cols if 0 <= q < w]
            window = x[:, :, rows_in][:, :, :, cols_in]
            if kind == "max":
                out[:, :, i, j] = window.max(axis=(2, 3)) if window.size else -np.inf
            else:
                if count_include_pad:
                    hh = min(h0 + kernel[0], h + pads[2]) - h0
                    ww = min(w0 + kernel[1], w + pads[3]) - w0
                    divisor = hh * ww
                else:
                    divisor = len(rows_in) * len(cols_in)
                out[:, :, i, j] = window.sum(axis=(2, 3)) / divisor
    return out


# -- crash isolation ------------------------------------------------------------------------

_ISOLATED = textwrap.dedent(
    """
    import sys
    import numpy as np
    import servekit
    feeds = dict(np.load(sys.argv[2]))
    try:
        result = servekit.load(sys.argv[1]).predict(feeds)
    except servekit.Error as error:
        print(type(error).__name__ + ":" + str(error), end="")
        sys.exit(3)
    if not isinstance(result, dict):
        result = {"__single__": result}
    np.savez(sys.argv[3], **result)
    """
)


def predict_in_subprocess(model_path, feeds: dict, tmp_path, timeout=120):
    """``servekit.load(model_path).predict(feeds)`` in a child process, so that a
    native crash fails the calling test instead of killing the test session.

    Returns what predict returns; re-raises a servekit error of the same type;
    fails the test if the child dies from a signal.
    """
    feeds_path = os.path.join(os.fspath(tmp_path), "feeds.npz")
    out_path = os.path.join(os.fspath(tmp_path), "outputs.npz")
    np.savez(feeds_path, **feeds)
    proc = subprocess.run(
        [sys.executable, "-c", _ISOLATED, os.fspath(model_path), feeds_path, out_path],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode < 0:
        pytest.fail(
            f"servekit crashed (signal {-proc.returncode}) loading or running {model_path}\n{proc.stderr[-2000:]}"
        )
    if proc.returncode == 3:
        name, _, message = proc.stdout.partition(":")
        raise getattr(servekit._core, name, servekit.Error)(message)
    if proc.returncode != 0:
        pytest.fail(f"the child process failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    with np.load(out_path) as data:
        result = {k: data[k] for k in data.files}
    return result["__single__"] if "__single__" in result else result
