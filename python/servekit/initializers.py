"""Weight initialisers with Keras's names and formulas, reproducible through seeds.

Contract
- An initialiser is a callable `init(shape, dtype="float32") -> numpy.ndarray`.
- A seeded initialiser is a pure function of (seed, shape): calling it twice gives the
  same array, as Keras 3 documents for integer seeds. Give two layers different seeds
  if they must differ.
- An unseeded initialiser draws from one module-wide generator, so
  `set_random_seed(seed)` makes every later unseeded initialisation reproducible (the
  equivalent of `keras.utils.set_random_seed`). Drawing from it is thread-safe.
- `get(identifier)` resolves what layers accept: a name ("glorot_uniform",
  "he_normal", "zeros", "ones", or the class name), an Initializer, or a callable.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numpy as np

# Generator for unseeded initialisers; replaced by set_random_seed. The lock makes
# "draw a child seed" atomic, since numpy Generators are not thread-safe.
_global_rng = np.random.default_rng()
_global_rng_lock = threading.Lock()

# Standard deviation of a unit normal truncated to [-2, 2]; Keras divides by it so that
# truncated-normal initialisers keep the variance they promise.
_TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def set_random_seed(seed: int) -> None:
    """Makes every later unseeded initialisation reproducible."""
    global _global_rng
    _check_seed(seed)
    with _global_rng_lock:
        _global_rng = np.random.default_rng(seed)


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """Returns (fan_in, fan_out) the way Keras does for Dense and conv kernels."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    # Conv kernels are (*window, in, out): each output sees the whole receptive field.
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    """Base class: subclasses implement `__call__(shape, dtype)`."""

    def __call__(self, shape: Sequence[int], dtype="float32") -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Zeros(Initializer):
    """All zeros (Keras's default for biases)."""

    def __call__(self, shape, dtype="float32"):
        return np.zeros(tuple(shape), dtype=dtype)


class Ones(Initializer):
    """All ones (Keras's default for BatchNormalization gamma and moving variance)."""

    def __call__(self, shape, dtype="float32"):
        return np.ones(tuple(shape), dtype=dtype)


class _RandomInitializer(Initializer):
    def __init__(self, seed: int | None = None):
        if seed is not None:
            _check_seed(seed)
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        with _global_rng_lock:
            child_seed = int(_global_rng.integers(2**63))
        return np.random.default_rng(child_seed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed!r})"


class GlorotUniform(_RandomInitializer):
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)); Keras's default
    for Dense and conv kernels."""

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
        return self._rng().uniform(-limit, limit, size=tuple(shape)).astype(dtype)


class HeNormal(_RandomInitializer):
    """Truncated normal (re-drawn beyond two standard deviations) with standard deviation
    sqrt(2 / fan_in), as Keras's he_normal."""

    def __call__(self, shape, dtype="float32"):
        fan_in, _ = compute_fans(shape)
        stddev = math.sqrt(2.0 / max(1, fan_in)) / _TRUNCATED_NORMAL_STDDEV
        rng = self._rng()
        values = rng.standard_normal(size=tuple(shape))
        outside = np.abs(values) > 2.0
        while outside.any():
            values[outside] = rng.standard_normal(size=int(outside.sum()))
            outside = np.abs(values) > 2.0
        return (values * stddev).astype(dtype)


# Keras exposes the snake_case names as aliases of the classes.
zeros = Zeros
ones = Ones
glorot_uniform = GlorotUniform
he_normal = HeNormal

_BY_NAME = {
    "zeros": Zeros,
    "ones": Ones,
    "glorot_uniform": GlorotUniform,
    "he_normal": HeNormal,
    "Zeros": Zeros,
    "Ones": Ones,
    "GlorotUniform": GlorotUniform,
    "HeNormal": HeNormal,
}


def get(identifier) -> Callable[..., np.ndarray]:
    """Resolves a layer's `*_initializer=` argument to a callable."""
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]()
        except KeyError:
            names = ", ".join(sorted(name for name in _BY_NAME if name.islower()))
            raise ValueError(f"unknown initializer {identifier!r}; supported: {names}") from None
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"initializer must be a name or a callable, got {identifier!r}")


def _check_seed(seed) -> None:
    # bool is an int subclass, but True as a seed is almost certainly a mistake.
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
