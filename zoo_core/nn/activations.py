"""Activations with PyTorch's exact definitions."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def relu(x: jax.Array) -> jax.Array:
    return jax.nn.relu(x)


def gelu(x: jax.Array) -> jax.Array:
    """``nn.GELU()`` (exact, erf form): ``x * Φ(x)``. Not the tanh approximation JAX defaults to."""
    return jax.nn.gelu(x, approximate=False)


def gelu_tanh(x: jax.Array) -> jax.Array:
    """``nn.GELU(approximate='tanh')``."""
    return jax.nn.gelu(x, approximate=True)


def silu(x: jax.Array) -> jax.Array:
    return jax.nn.silu(x)


def sigmoid(x: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(x)


def identity(x: jax.Array) -> jax.Array:
    return x


ACTIVATIONS = {"relu": relu, "gelu": gelu, "gelu_tanh": gelu_tanh, "silu": silu, "swish": silu,
               "sigmoid": sigmoid, "identity": identity, "tanh": jnp.tanh}


def get_act(name_or_fn):
    """An activation by timm name (``"relu"``, ``"gelu"``, …) or the callable itself."""
    if callable(name_or_fn):
        return name_or_fn
    try:
        return ACTIVATIONS[name_or_fn]
    except KeyError:
        raise ValueError(f"unknown activation {name_or_fn!r}; known: {', '.join(sorted(ACTIVATIONS))}") from None
