"""Loaded models: ``servekit.load(path)`` and ``LoadedModel.predict``.

A LoadedModel wraps a native model. ``predict`` validates and converts inputs in
Python (cheap checks with clear messages), then runs the model in C++ with the
GIL released, so several Python threads can predict at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from servekit import _core


@dataclass(frozen=True)
class TensorSignature:
    """One input or output: its name, numpy dtype and shape (None = batch size)."""

    name: str
    dtype: np.dtype
    shape: tuple

    def __str__(self) -> str:
        dims = ", ".join("None" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"


@dataclass(frozen=True)
class Signature:
    """A model's inputs and outputs, in the order the model declares them."""

    inputs: tuple[TensorSignature, ...]
    outputs: tuple[TensorSignature, ...]

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]


def signatures(specs) -> tuple[TensorSignature, ...]:
    return tuple(TensorSignature(name, np.dtype(dtype), tuple(shape)) for name, dtype, shape in specs)


def _as_input_array(value, spec: TensorSignature) -> np.ndarray:
    """Converts one input value to a C-contiguous array of the model's dtype.

    Like Keras, numeric data is cast to a float input's dtype (float64 and ints
    to float32). Integer inputs accept integer arrays whose values fit; a value
    that would wrap is a ValueError. Anything else is a TypeError that names the
    input and the expected dtype.
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged nested lists
        raise ValueError(f"input '{spec.name}' is not a rectangular array: {error}") from None
    expected = spec.dtype
    if array.dtype != expected:
        kind = array.dtype.kind
        if expected.kind == "f" and kind in "fiub":
            array = array.astype(expected)
        elif expected.kind in "iu" and kind in "iu":
            if not np.can_cast(array.dtype, expected, "safe") and array.size:
                limits = np.iinfo(expected)
                if array.min() < limits.min or array.max() > limits.max:
                    raise ValueError(
                        f"input '{spec.name}' expects {expected}; values in [{array.min()}, {array.max()}] "
                        f"do not fit its range [{limits.min}, {limits.max}]"
                    )
            array = array.astype(expected)
        elif expected.kind == "b" and kind == "b":
            pass
        else:
            raise TypeError(f"input '{spec.name}' expects {expected} data; got an array of {array.dtype}")
    # np.require keeps 0-d arrays 0-d (ascontiguousarray would make them 1-d).
    return np.require(array, requirements="C")


def arrange_inputs(signature: Signature, x) -> list[np.ndarray]:
    """The model's inputs, in signature order, as C-contiguous arrays of its dtypes.

    ``x`` is an array (one input), a list in input order, or a dict of named arrays.
    """
    specs = signature.inputs
    if isinstance(x, Mapping):
        names = set(signature.input_names)
        unknown = sorted(set(x) - names)
        if unknown:
            raise ValueError(f"unknown input(s) {unknown}; the model's inputs are {signature.input_names}")
        missing = [name for name in signature.input_names if name not in x]
        if missing:
            raise ValueError(f"missing input(s) {missing}; the model's inputs are {signature.input_names}")
        values = [x[spec.name] for spec in specs]
    elif len(specs) == 1:
        values = [x]
    elif isinstance(x, Sequence) and not isinstance(x, (str, bytes)) and len(x) == len(specs):
        values = list(x)
    else:
        raise ValueError(
            f"the model has {len(specs)} inputs {signature.input_names}: "
            "pass a dict of named arrays or a list in that order"
        )
    return [_as_input_array(value, spec) for value, spec in zip(values, specs, strict=True)]


class LoadedModel:
    """A model loaded into the native engine. Thread-safe."""

    def __init__(self, native: _core.Model, source: str):
        self._native = native
        self._source = source
        self.signature = Signature(signatures(native.inputs), signatures(native.outputs))

    @classmethod
    def _from_onnx_bytes(cls, data: bytes, intra_op_threads: int = 1) -> LoadedModel:
        return cls(_core.load_model_bytes(data, intra_op_threads=intra_op_threads), "<bytes>")

    def __repr__(self) -> str:
        inputs = ", ".join(str(t) for t in self.signature.inputs)
        outputs = ", ".join(str(t) for t in self.signature.outputs)
        return f"LoadedModel({self._source!r}, inputs=[{inputs}], outputs=[{outputs}])"

    def predict(self, x):
        """Runs the model.

        ``x`` is an array (one input), a list of arrays in input order, or a dict
        of named arrays. Returns an array for a single-output model, otherwise a
        dict from output name to array.
        """
        outputs = self._native.run(arrange_inputs(self.signature, x))
        if len(outputs) == 1:
            return outputs[0]
        return dict(zip(self.signature.output_names, outputs, strict=True))

    __call__ = predict


def load(path: str | os.PathLike, *, intra_op_threads: int = 1) -> LoadedModel:
    """Loads a version directory (holding model.onnx) or a bare .onnx file.

    ``intra_op_threads`` is how many threads one request may use inside a
    kernel; 1 (the default) serves concurrent requests best on few cores.
    """
    path = os.fspath(path)
    return LoadedModel(_core.load_model(path, intra_op_threads=intra_op_threads), path)
