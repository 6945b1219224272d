"""Sliding-window arithmetic shared by convolution and pooling layers and the exporter.

Contract: pure functions of integers. Sizes follow TensorFlow exactly, so a model built
here has the output shapes (and, once exported with these pads, the values) Keras gives:
- "valid": no padding; out = floor((in - effective_kernel) / stride) + 1.
- "same":  out = ceil(in / stride); the total padding needed is split with the odd
  pixel at the end (bottom/right), which is ONNX's SAME_UPPER.
A spatial size of None means "known only at run time".
"""

from __future__ import annotations

from collections.abc import Sequence

PADDINGS = ("valid", "same")


def normalize_tuple(value, n: int, arg_name: str) -> tuple[int, ...]:
    """Accepts an int or a sequence of `n` ints, all positive, as Keras's kernel_size,
    strides and dilation_rate arguments do."""
    if isinstance(value, int) and not isinstance(value, bool):
        values = (value,) * n
    elif isinstance(value, Sequence) and len(value) == n:
        values = tuple(value)
    else:
        raise ValueError(f"{arg_name} must be an int or a sequence of {n} ints, got {value!r}")
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{arg_name} must contain positive ints, got {value!r}")
    return values


def normalize_padding(value) -> str:
    """Accepts "valid" or "same" in any case, as Keras does."""
    if isinstance(value, str) and value.lower() in PADDINGS:
        return value.lower()
    raise ValueError(f"padding must be 'valid' or 'same', got {value!r}")


def effective_kernel(kernel: int, dilation: int) -> int:
    """The span of a dilated kernel: (kernel - 1) * dilation + 1."""
    return (kernel - 1) * dilation + 1


def output_length(length: int | None, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """The output size along one spatial axis; ValueError if "valid" leaves nothing."""
    if length is None:
        return None
    span = effective_kernel(kernel, dilation)
    if padding == "same":
        return -(-length // stride)
    if length < span:
        raise ValueError(f"spatial size {length} is smaller than the window ({span}) with padding='valid'")
    return (length - span) // stride + 1


def same_padding(length: int | None, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int] | None:
    """(pad_before, pad_after) for "same"; None if it depends on an unknown size."""
    span = effective_kernel(kernel, dilation)
    if length is None:
        if stride != 1:
            return None
        # With stride 1 the padding does not depend on the size.
        total = span - 1
    else:
        out = -(-length // stride)
        total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2
