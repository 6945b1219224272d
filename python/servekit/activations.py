"""Activation functions that layers accept by name, as Keras's `activation=` does.

Contract: `get(identifier)` turns a user's `activation=` argument into one of the
canonical names in `NAMES`, or raises ValueError listing them. Nothing here computes
anything: models run in the native engine, and `_export` lowers each name to ONNX ops.
"""

from __future__ import annotations

# Keras 3's `keras.activations.leaky_relu` default. (The `LeakyReLU` *layer* defaults to
# 0.3; only the activation name is supported here, so 0.2 is the one that applies.)
LEAKY_RELU_ALPHA = 0.2

# Keras's `keras.activations.elu` default.
ELU_ALPHA = 1.0

NAMES = (
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "gelu",  # exact, erf-based (Keras's default approximate=False)
    "leaky_relu",
    "relu6",
    "silu",
    "elu",
)

# Other spellings Keras accepts for the same function.
_ALIASES = {"swish": "silu"}


def get(identifier: str | None) -> str:
    """Returns the canonical activation name for `identifier` (None means "linear")."""
    if identifier is None:
        return "linear"
    if not isinstance(identifier, str):
        raise ValueError(
            f"activation must be a name (one of {', '.join(NAMES)}, 'swish') or None, "
            f"got {identifier!r}; custom Python functions cannot run in the native engine"
        )
    name = _ALIASES.get(identifier, identifier)
    if name not in NAMES:
        raise ValueError(f"unknown activation {identifier!r}; supported: {', '.join(NAMES)}, 'swish'")
    return name
