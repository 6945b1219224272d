"""Loaded models: ``servekit.load(path)`` and ``LoadedModel.predict``.

A LoadedModel wraps the native models of one version's signatures: an ONNX
model has one, ``serving_default``; a TensorFlow SavedModel has one per
signature it declares. ``predict`` validates and converts inputs in Python
(cheap checks with clear messages), then runs the model in C++ with the GIL
released, so several Python threads can predict at once.
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


DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"


@dataclass(frozen=True)
class Signature:
    """A model's inputs and outputs, in the order the model declares them."""

    inputs: tuple[TensorSignature, ...]
    outputs: tuple[TensorSignature, ...]
    name: str = DEFAULT_SIGNATURE
    method_name: str = PREDICT_METHOD

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
    """A model loaded into the native engine. Thread-safe.

    ``signatures`` maps each signature's name to its Signature; ``signature``
    is the one ``predict`` runs unless told otherwise: ``serving_default``, or
    the one signature of a model without it.
    """

    def __init__(self, natives: Sequence[tuple[str, str, _core.Model]], source: str, signature_name: str | None = None):
        self._source = source
        self._natives = {name: native for name, _, native in natives}
        self.signatures = {
            name: Signature(signatures(native.inputs), signatures(native.outputs), name, method)
            for name, method, native in natives
        }
        if signature_name is None:
            signature_name = (
                DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in self.signatures or len(natives) != 1 else natives[0][0]
            )
        self.signature = self._signature(signature_name)

    @classmethod
    def _from_onnx_bytes(cls, data: bytes, intra_op_threads: int | None = 1) -> LoadedModel:
        native = _core.load_model_bytes(data, intra_op_threads=_threads(intra_op_threads))
        return cls([(DEFAULT_SIGNATURE, PREDICT_METHOD, native)], "<bytes>")

    def _signature(self, name: str) -> Signature:
        try:
            return self.signatures[name]
        except KeyError:
            raise ValueError(
                f"the model has no signature {name!r}; its signatures are {sorted(self.signatures)}"
            ) from None

    def __repr__(self) -> str:
        inputs = ", ".join(str(t) for t in self.signature.inputs)
        outputs = ", ".join(str(t) for t in self.signature.outputs)
        others = sorted(set(self.signatures) - {self.signature.name})
        more = f", other signatures={others}" if others else ""
        return f"LoadedModel({self._source!r}, inputs=[{inputs}], outputs=[{outputs}]{more})"

    def _repr_html_(self) -> str:
        from servekit._display import signatures_html

        return signatures_html(self._source, self.signatures, self.signature.name)

    def predict(self, x, *, signature_name: str | None = None):
        """Runs the model.

        ``x`` is an array (one input), a list of arrays in input order, or a dict
        of named arrays. Returns an array for a single-output model, otherwise a
        dict from output name to array. ``signature_name`` picks another of
        ``signatures`` than ``signature``.
        """
        signature = self.signature if signature_name is None else self._signature(signature_name)
        outputs = self._natives[signature.name].run(arrange_inputs(signature, x))
        if len(outputs) == 1:
            return outputs[0]
        return dict(zip(signature.output_names, outputs, strict=True))

    __call__ = predict


def _threads(intra_op_threads: int | None) -> int:
    """None: every core this process may run on."""
    if intra_op_threads is None:
        return max(1, len(os.sched_getaffinity(0)))
    return intra_op_threads


def load(
    path: str | os.PathLike, *, intra_op_threads: int | None = 1, signature_name: str | None = None
) -> LoadedModel:
    """Loads a model version: a directory holding model.onnx or a TensorFlow
    SavedModel (saved_model.pb + variables/), or a bare .onnx file.

    ``intra_op_threads`` is how many threads one call may use; None means
    every core this process may run on. A call uses them only where the work is
    large enough to gain (a convolution or a Dense layer of 1 MFLOP and up), so
    small models stay on one thread. The default, 1, is right when several
    threads call ``predict`` at once, and whenever ``predict`` is called from a
    thread other than the main one: there, on the 2-core VM, OpenMP's hand-offs
    made the Keras CNN at batch 1 2.7x slower on two threads (160 µs against
    60). A script calling from its main thread gains from None on large models
    (ResNet-50 at batch 1: 1.7x faster on two cores). ``signature_name`` sets
    the signature ``predict`` runs by default.
    """
    path = os.fspath(path)
    natives = _core.load_version(path, intra_op_threads=_threads(intra_op_threads))
    return LoadedModel(natives, path, signature_name)
