"""Keras-style layers: the building blocks of Sequential and functional models.

Contract
- A layer is described by its constructor arguments (checked there, so a typo fails
  at once). It creates its weights on its first call (`build`), from the input shape,
  and keeps them: calling one layer on several tensors shares its weights.
- Calling a layer on SymbolicTensor(s) checks the shapes and returns a new
  SymbolicTensor; a mismatch raises ValueError naming the layer. No values are
  computed in Python: a model runs in the native engine once `_export` has lowered it
  to ONNX. Images are NHWC (channels last), as in Keras.
- Weights use Keras's shapes and order, so `get_weights()` / `set_weights()` lists
  move between these layers and Keras layers unchanged. Everything is float32.
- A layer gets its name from the first model it is placed in ("dense", "dense_1", ...
  unique within that model) unless the user gave `name=`; until then `name` is None.
- Not thread-safe while being built or while its weights are set.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re

import numpy as np

from . import _conv_arithmetic as window
from . import activations, initializers
from .symbolic_tensor import LayerCall, SymbolicTensor

DTYPE = "float32"

# Every weight change takes a fresh number, so a model can tell whether a compiled
# copy of itself (for predict) is stale by comparing its layers' numbers.
_weights_versions = itertools.count()


class _Weight:
    __slots__ = ("name", "value", "trainable")

    def __init__(self, name: str, value: np.ndarray, trainable: bool):
        self.name = name
        self.value = value
        self.trainable = trainable


class Layer:
    """Base class of all layers.

    Subclasses implement `_build_weights(input_shape)` (calling `_add_weight`) and
    `_output_shape(input_shape)`, raising plain ValueErrors; the base class adds the
    layer's name to them. Shapes include the batch dimension (None).
    """

    # Merge layers (Add, Concatenate) take a list of tensors; the others take one.
    _takes_list = False

    def __init__(self, name: str | None = None, input_shape=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self._name = name
        # Keras lets the first layer of a Sequential model declare its input shape.
        self._input_shape_hint = None if input_shape is None else _check_shape(input_shape)
        self._weights: list[_Weight] = []
        self._built = False
        self._weights_version = next(_weights_versions)

    # -- identity ---------------------------------------------------------------------

    @property
    def name(self) -> str | None:
        """The user's name, or the one given by the first model holding the layer."""
        return self._name

    @property
    def default_name(self) -> str:
        """The base of automatic names: the class name in snake_case, like Keras."""
        return _snake_case(type(self).__name__)

    def _set_name(self, name: str | None) -> None:
        self._name = name

    def _describe(self) -> str:
        kind = type(self).__name__
        return f"{kind} layer {self._name!r}" if self._name else f"{kind} layer"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self._name!r} built={self._built}>"

    # -- building and calling ----------------------------------------------------------

    @property
    def built(self) -> bool:
        return self._built

    def build(self, input_shape) -> None:
        """Creates the weights for inputs of `input_shape` (batch dimension included)."""
        with self._errors_named():
            self._build(input_shape)

    def compute_output_shape(self, input_shape) -> tuple:
        """The output shape for `input_shape`; ValueError if the layer cannot take it."""
        with self._errors_named():
            return tuple(self._output_shape(input_shape))

    def __call__(self, inputs) -> SymbolicTensor:
        tensors = self._check_call_inputs(inputs)
        shape = [t.shape for t in tensors] if self._takes_list else tensors[0].shape
        with self._errors_named():
            if not self._built:
                self._build(shape)
            output_shape = tuple(self._output_shape(shape))
        return SymbolicTensor(output_shape, DTYPE, LayerCall(self, tuple(tensors)))

    def _build(self, input_shape) -> None:
        if self._built:
            raise ValueError("is already built")
        self._weights = []
        try:
            self._build_weights(input_shape)
        except BaseException:
            self._weights = []
            raise
        self._built = True
        self._weights_version = next(_weights_versions)

    def _build_weights(self, input_shape) -> None:
        """Creates the weights; the default is a layer without any."""

    def _output_shape(self, input_shape) -> tuple:
        raise NotImplementedError

    @contextlib.contextmanager
    def _errors_named(self):
        try:
            yield
        except ValueError as err:
            raise ValueError(f"{self._describe()}: {err}") from None

    def _check_call_inputs(self, inputs) -> list[SymbolicTensor]:
        is_list = isinstance(inputs, (list, tuple))
        tensors = list(inputs) if is_list else [inputs]
        for tensor in tensors:
            if not isinstance(tensor, SymbolicTensor):
                raise TypeError(
                    f"{self._describe()}: layers are called on symbolic tensors (from "
                    f"servekit.Input or another layer), not on {type(tensor).__name__}; "
                    "to compute values, build a Model and call predict()"
                )
        if self._takes_list and (not is_list or len(tensors) < 2):
            raise ValueError(f"{self._describe()}: expects a list of at least 2 tensors")
        if not self._takes_list and is_list:
            raise ValueError(f"{self._describe()}: expects one tensor, got a list of {len(tensors)}")
        return tensors

    # -- weights -------------------------------------------------------------------------

    def _add_weight(self, name: str, shape: tuple, initializer, trainable: bool = True) -> None:
        value = np.ascontiguousarray(initializer(shape, DTYPE), dtype=np.float32)
        if value.shape != tuple(shape):
            raise ValueError(
                f"the initializer of weight {name!r} returned shape {value.shape}, expected {tuple(shape)}"
            )
        self._weights.append(_Weight(name, value, trainable))

    def _weight(self, name: str) -> np.ndarray:
        """The stored array itself (no copy) for the exporter; KeyError if absent."""
        for weight in self._weights:
            if weight.name == name:
                return weight.value
        raise KeyError(name)

    @property
    def weight_names(self) -> list[str]:
        """Names of the arrays `get_weights()` returns, in order (e.g. kernel, bias)."""
        return [weight.name for weight in self._weights]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights in Keras order; [] before the layer is built."""
        return [weight.value.copy() for weight in self._weights]

    def set_weights(self, weights) -> None:
        """Replaces all weights at once; ValueError (and no change) on a wrong count or
        shape."""
        self._assign_weights(self._checked_weights(weights))

    def count_params(self) -> int:
        if not self._built:
            raise ValueError(f"{self._describe()} is not built yet, so it has no weights")
        return sum(weight.value.size for weight in self._weights)

    def _checked_weights(self, weights) -> list[np.ndarray]:
        weights = list(weights)
        if not self._built:
            raise ValueError(
                f"{self._describe()} is not built yet: call it on an input (or add it to "
                "a model that has an input) before setting its weights"
            )
        if len(weights) != len(self._weights):
            names = ", ".join(self.weight_names) or "none"
            raise ValueError(
                f"{self._describe()} expects {len(self._weights)} weight arrays ({names}), got {len(weights)}"
            )
        checked = []
        for weight, value in zip(self._weights, weights, strict=True):
            array = np.asarray(value)
            if array.shape != weight.value.shape:
                raise ValueError(
                    f"{self._describe()}: weight {weight.name!r} expects shape {weight.value.shape}, got {array.shape}"
                )
            checked.append(np.array(array, dtype=np.float32, order="C", copy=True))
        return checked

    def _assign_weights(self, values: list[np.ndarray]) -> None:
        for weight, value in zip(self._weights, values, strict=True):
            weight.value = value
        self._weights_version = next(_weights_versions)

    def _count_params(self, trainable: bool) -> int:
        return sum(w.value.size for w in self._weights if w.trainable == trainable)


class InputLayer(Layer):
    """The source of a model input. `servekit.Input(shape)` creates one and returns its
    `output`; a Sequential model also accepts the layer itself."""

    def __init__(self, shape, dtype="float32", name: str | None = None):
        super().__init__(name=name)
        try:
            is_float32 = np.dtype(dtype) == np.float32
        except TypeError:
            is_float32 = False
        if not is_float32:
            # Every layer computes in float32; other input types would need casts.
            raise ValueError(f"only float32 inputs are supported, got dtype {dtype!r}")
        self._built = True
        self.output = SymbolicTensor((None, *_check_shape(shape)), DTYPE, LayerCall(self, ()))

    def __call__(self, inputs):
        raise TypeError("an InputLayer is not called: use its .output, or servekit.Input()")


class Dense(Layer):
    """Fully connected layer on the last axis: activation(x @ kernel + bias).

    Weights: kernel (in, units), bias (units,).
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name: str | None = None,
        input_shape=None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        self.units = _positive_int(units, "units")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _build_weights(self, input_shape):
        in_dim = self._input_dim(input_shape)
        self._add_weight("kernel", (in_dim, self.units), self.kernel_initializer)
        if self.use_bias:
            self._add_weight("bias", (self.units,), self.bias_initializer)

    def _output_shape(self, input_shape):
        in_dim = self._input_dim(input_shape)
        if self._built and in_dim != self._weight("kernel").shape[0]:
            raise ValueError(
                f"its kernel expects inputs whose last dimension is "
                f"{self._weight('kernel').shape[0]}, got shape {input_shape}"
            )
        return (*input_shape[:-1], self.units)

    @staticmethod
    def _input_dim(input_shape) -> int:
        if len(input_shape) < 2:
            raise ValueError(f"expects an input of rank 2 or more, got shape {input_shape}")
        if input_shape[-1] is None:
            raise ValueError(f"needs a known last dimension, got shape {input_shape}")
        return input_shape[-1]


class Conv2D(Layer):
    """2-D convolution over NHWC images, then the activation.

    Weights: kernel (kh, kw, in_channels / groups, filters), bias (filters,).
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        dilation_rate=1,
        groups: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name: str | None = None,
        input_shape=None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        self.filters = _positive_int(filters, "filters")
        self.kernel_size = window.normalize_tuple(kernel_size, 2, "kernel_size")
        self.strides = window.normalize_tuple(strides, 2, "strides")
        self.padding = window.normalize_padding(padding)
        self.dilation_rate = window.normalize_tuple(dilation_rate, 2, "dilation_rate")
        self.groups = _positive_int(groups, "groups")
        if self.filters % self.groups:
            raise ValueError(f"filters ({filters}) must be divisible by groups ({groups})")
        _check_strides_with_dilation(self.strides, self.dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _build_weights(self, input_shape):
        channels = _image_channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"input channels ({channels}) must be divisible by groups ({self.groups})")
        kernel_shape = (*self.kernel_size, channels // self.groups, self.filters)
        self._add_weight("kernel", kernel_shape, self.kernel_initializer)
        if self.use_bias:
            self._add_weight("bias", (self.filters,), self.bias_initializer)

    def _output_shape(self, input_shape):
        channels = _image_channels(input_shape)
        if self._built:
            expected = self._weight("kernel").shape[2] * self.groups
            if channels != expected:
                raise ValueError(f"its kernel expects {expected} input channels, got shape {input_shape}")
        height, width = _window_output(input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        return (input_shape[0], height, width, self.filters)


class DepthwiseConv2D(Layer):
    """Depthwise 2-D convolution: each input channel is convolved with its own
    `depth_multiplier` filters; output channel c * depth_multiplier + m comes from input
    channel c and filter m, as in Keras.

    Weights: kernel (kh, kw, in_channels, depth_multiplier),
    bias (in_channels * depth_multiplier,).
    """

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        dilation_rate=1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        name: str | None = None,
        input_shape=None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        self.kernel_size = window.normalize_tuple(kernel_size, 2, "kernel_size")
        self.strides = window.normalize_tuple(strides, 2, "strides")
        self.padding = window.normalize_padding(padding)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier")
        self.dilation_rate = window.normalize_tuple(dilation_rate, 2, "dilation_rate")
        _check_strides_with_dilation(self.strides, self.dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _build_weights(self, input_shape):
        channels = _image_channels(input_shape)
        kernel_shape = (*self.kernel_size, channels, self.depth_multiplier)
        self._add_weight("kernel", kernel_shape, self.depthwise_initializer)
        if self.use_bias:
            self._add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer)

    def _output_shape(self, input_shape):
        channels = _image_channels(input_shape)
        if self._built and channels != self._weight("kernel").shape[2]:
            raise ValueError(
                f"its kernel expects {self._weight('kernel').shape[2]} input channels, got shape {input_shape}"
            )
        height, width = _window_output(input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        return (input_shape[0], height, width, channels * self.depth_multiplier)


class _Pooling2D(Layer):
    """Shared arguments of the windowed pooling layers (strides default to pool_size)."""

    def __init__(
        self,
        pool_size=2,
        strides=None,
        padding: str = "valid",
        name: str | None = None,
        input_shape=None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        self.pool_size = window.normalize_tuple(pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else window.normalize_tuple(strides, 2, "strides")
        self.padding = window.normalize_padding(padding)

    def _output_shape(self, input_shape):
        channels = _image_channels(input_shape, need_channels=False)
        height, width = _window_output(input_shape, self.pool_size, self.strides, self.padding, (1, 1))
        return (input_shape[0], height, width, channels)


class MaxPooling2D(_Pooling2D):
    """Maximum over each window; with "same" padding the padded cells never win."""


class AveragePooling2D(_Pooling2D):
    """Mean over each window; with "same" padding only real cells are averaged
    (TensorFlow's rule, ONNX count_include_pad=0)."""


class GlobalAveragePooling2D(Layer):
    """Mean over height and width: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with
    keepdims=True."""

    def __init__(self, keepdims: bool = False, name: str | None = None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        self.keepdims = bool(keepdims)

    def _output_shape(self, input_shape):
        channels = _image_channels(input_shape, need_channels=False)
        if self.keepdims:
            return (input_shape[0], 1, 1, channels)
        return (input_shape[0], channels)


class Flatten(Layer):
    """Flattens all but the batch axis, in Keras's (row-major, channels-last) order."""

    def _output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"expects an input of rank 2 or more, got shape {input_shape}")
        return (input_shape[0], _product(input_shape[1:]))


class Reshape(Layer):
    """Reshapes all but the batch axis to `target_shape`, which may hold one -1."""

    def __init__(self, target_shape, name: str | None = None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        target = (target_shape,) if isinstance(target_shape, int) else tuple(target_shape)
        if not target or any(not isinstance(d, int) or isinstance(d, bool) or (d < 1 and d != -1) for d in target):
            raise ValueError(f"target_shape must hold positive ints and at most one -1, got {target_shape!r}")
        if target.count(-1) > 1:
            raise ValueError(f"target_shape may hold at most one -1, got {target_shape!r}")
        self.target_shape = target

    def _output_shape(self, input_shape):
        size = _product(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size is None:
                resolved = None
            elif size % known:
                raise ValueError(
                    f"cannot reshape {input_shape} to {self.target_shape}: "
                    f"{size} values do not divide into groups of {known}"
                )
            else:
                resolved = size // known
            target = tuple(resolved if d == -1 else d for d in self.target_shape)
        else:
            if size is not None and size != known:
                raise ValueError(
                    f"cannot reshape {input_shape} ({size} values per example) to {self.target_shape} ({known} values)"
                )
            target = self.target_shape
        return (input_shape[0], *target)


class Dropout(Layer):
    """Identity at inference (the only mode here); kept so Keras models port as written."""

    def __init__(self, rate: float, name: str | None = None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"rate must be a number between 0 and 1, got {rate!r}")
        self.rate = float(rate)

    def _output_shape(self, input_shape):
        return input_shape


class BatchNormalization(Layer):
    """Inference-mode batch normalisation over the last (channel) axis:
    gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta.

    Weights, in Keras order: gamma (if scale), beta (if center), moving_mean,
    moving_variance. `momentum` only matters in training and is kept for compatibility.
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        name: str | None = None,
        input_shape=None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        if not isinstance(axis, int):
            raise ValueError(f"axis must be an int, got {axis!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def _build_weights(self, input_shape):
        channels = self._channels(input_shape)
        if self.scale:
            self._add_weight("gamma", (channels,), self.gamma_initializer)
        if self.center:
            self._add_weight("beta", (channels,), self.beta_initializer)
        self._add_weight("moving_mean", (channels,), self.moving_mean_initializer, False)
        self._add_weight("moving_variance", (channels,), self.moving_variance_initializer, False)

    def _output_shape(self, input_shape):
        channels = self._channels(input_shape)
        if self._built and channels != self._weight("moving_mean").shape[0]:
            raise ValueError(f"was built for {self._weight('moving_mean').shape[0]} channels, got shape {input_shape}")
        return input_shape

    def _channels(self, input_shape) -> int:
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(f"expects an input of rank 2 or more, got shape {input_shape}")
        if self.axis not in (-1, rank - 1):
            # The exporter maps the last axis to ONNX's channel axis; others are rare.
            raise ValueError(f"only axis=-1 (channels last) is supported, got axis={self.axis}")
        if input_shape[-1] is None:
            raise ValueError(f"needs a known last dimension, got shape {input_shape}")
        return input_shape[-1]


class Activation(Layer):
    """Applies a named activation (see servekit.activations.NAMES)."""

    def __init__(self, activation: str, name: str | None = None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        self.activation = activations.get(activation)

    def _output_shape(self, input_shape):
        return input_shape


class Add(Layer):
    """Element-wise sum of two or more tensors of the same shape (no broadcasting)."""

    _takes_list = True

    def _output_shape(self, input_shapes):
        first = input_shapes[0]
        merged = list(first)
        for shape in input_shapes[1:]:
            if len(shape) != len(first) or any(
                a is not None and b is not None and a != b for a, b in zip(shape, first, strict=True)
            ):
                shapes = ", ".join(str(s) for s in input_shapes)
                raise ValueError(f"inputs must all have the same shape, got {shapes}")
            merged = [a if a is not None else b for a, b in zip(merged, shape, strict=True)]
        return tuple(merged)


class Concatenate(Layer):
    """Joins tensors along `axis` (default: the last, channels); other sizes must match."""

    _takes_list = True

    def __init__(self, axis: int = -1, name: str | None = None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(f"axis must be an int, got {axis!r}")
        self.axis = axis

    def normalized_axis(self, rank: int) -> int:
        """The axis as a non-negative index into a shape of `rank` (batch is 0)."""
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"axis {self.axis} is not a non-batch axis of a rank-{rank} input")
        return axis

    def _output_shape(self, input_shapes):
        rank = len(input_shapes[0])
        shapes = ", ".join(str(s) for s in input_shapes)
        if any(len(shape) != rank for shape in input_shapes):
            raise ValueError(f"inputs must all have the same rank, got {shapes}")
        axis = self.normalized_axis(rank)
        merged = list(input_shapes[0])
        for shape in input_shapes[1:]:
            for i, (a, b) in enumerate(zip(merged, shape, strict=True)):
                if i == axis:
                    continue
                if a is not None and b is not None and a != b:
                    raise ValueError(f"inputs must match on every axis but {axis}, got {shapes}")
                merged[i] = a if a is not None else b
        merged[axis] = _sum_or_none(shape[axis] for shape in input_shapes)
        return tuple(merged)


# -- shape helpers ------------------------------------------------------------------------


def _check_shape(shape) -> tuple:
    """Validates a shape given without the batch dimension, as Keras's Input takes it."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"shape must be a tuple of ints (None for unknown), got {shape!r}") from None
    if not dims or any(d is not None and (not isinstance(d, int) or isinstance(d, bool) or d < 1) for d in dims):
        raise ValueError(
            f"shape must be a non-empty tuple of positive ints or None, without the batch dimension; got {shape!r}"
        )
    return dims


def _image_channels(input_shape, need_channels: bool = True) -> int | None:
    if len(input_shape) != 4:
        raise ValueError(f"expects a 4-D input (batch, height, width, channels), got shape {input_shape}")
    if need_channels and input_shape[3] is None:
        raise ValueError(f"needs a known number of channels, got shape {input_shape}")
    return input_shape[3]


def _window_output(input_shape, kernel, strides, padding, dilation) -> tuple:
    return tuple(
        window.output_length(input_shape[1 + i], kernel[i], strides[i], padding, dilation[i]) for i in range(2)
    )


def _check_strides_with_dilation(strides, dilation_rate) -> None:
    # TensorFlow (hence Keras) rejects the combination; refusing it keeps the two equal.
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            f"strides > 1 cannot be combined with dilation_rate > 1 (as in Keras); "
            f"got strides={strides}, dilation_rate={dilation_rate}"
        )


def _positive_int(value, arg_name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{arg_name} must be a positive int, got {value!r}")
    return int(value)


def _product(dims) -> int | None:
    return None if any(d is None for d in dims) else math.prod(dims)


def _sum_or_none(dims) -> int | None:
    dims = list(dims)
    return None if any(d is None for d in dims) else sum(dims)


def _snake_case(name: str) -> str:
    # Keras's rule: "DepthwiseConv2D" -> "depthwise_conv2d", "InputLayer" -> "input_layer".
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
