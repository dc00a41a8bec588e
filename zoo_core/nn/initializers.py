"""Initializers with PyTorch's semantics, for kernels in our layouts.

Conv kernels are HWIO ``(kh, kw, in, out)``; dense kernels are ``(in, out)``. Fan-in and fan-out
follow ``torch.nn.init._calculate_fan_in_and_fan_out`` on the equivalent PyTorch tensor.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

Initializer = Callable[[jax.Array, Sequence[int]], jax.Array]

# Set by ``zoo_core.nn.abstract_init``, which wants shapes and dtypes only. ``STRUCT``: every
# initializer (and ``filled``) returns a ``jax.ShapeDtypeStruct`` and no JAX operation runs at all;
# any other true value (inside ``jax.eval_shape``): the random initializers return zeros of the
# same shape and dtype, because tracing the random-number graph is most of the time an init takes.
SHAPES_ONLY = contextvars.ContextVar("zoo_shapes_only", default=False)
STRUCT = "struct"


def filled(shape: Sequence[int], value: float, dtype=jnp.float32) -> jax.Array:
    """``jnp.full(shape, value, dtype)``: a parameter's fixed starting value (a norm's ones and
    zeros, a LayerScale's constant). Inside ``abstract_init``, only its shape and dtype."""
    if SHAPES_ONLY.get() == STRUCT:
        return jax.ShapeDtypeStruct(tuple(int(n) for n in shape), jax.dtypes.canonicalize_dtype(dtype))
    return jnp.full(shape, value, dtype)


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of an HWIO conv kernel, an ``(in, out)`` dense kernel or a vector."""
    if len(shape) < 2:
        return int(shape[0]) if shape else 1, int(shape[0]) if shape else 1
    receptive = math.prod(shape[:-2])
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


def kaiming_normal_fan_out(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    """``nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')``: std ``sqrt(2/fan_out)``."""
    _, fan_out = fans(shape)
    if SHAPES_ONLY.get():
        return filled(shape, 0.0, dtype)
    return jax.random.normal(key, shape, dtype) * math.sqrt(2.0 / fan_out)


def normal_init(std: float) -> Initializer:
    """``nn.init.normal_(w, 0, std)`` as an initializer."""

    def init(key, shape, dtype=jnp.float32):
        if SHAPES_ONLY.get():
            return filled(shape, 0.0, dtype)
        return jax.random.normal(key, shape, dtype) * std

    return init


def trunc_normal_init(std: float = 0.02, a: float = -2.0, b: float = 2.0) -> Initializer:
    """timm's ``trunc_normal_(w, std=std, a=a, b=b)``: cut at absolute values ``a`` and ``b``."""

    def init(key, shape, dtype=jnp.float32):
        if SHAPES_ONLY.get():
            return filled(shape, 0.0, dtype)
        return jax.random.truncated_normal(key, a / std, b / std, shape, dtype) * std

    return init


def torch_default(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    """PyTorch's default for Conv/Linear weights: ``kaiming_uniform_(a=sqrt(5))``,
    i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    fan_in, _ = fans(shape)
    bound = 1.0 / math.sqrt(fan_in)
    if SHAPES_ONLY.get():
        return filled(shape, 0.0, dtype)
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def torch_default_bias(fan_in: int) -> Initializer:
    """PyTorch's default bias: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""

    def init(key, shape, dtype=jnp.float32):
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        if SHAPES_ONLY.get():
            return filled(shape, 0.0, dtype)
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def zeros(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    return filled(shape, 0.0, dtype)


def ones(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    return filled(shape, 1.0, dtype)


def constant(value: float) -> Initializer:
    def init(key, shape, dtype=jnp.float32):
        return filled(shape, value, dtype)

    return init
