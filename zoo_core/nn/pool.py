"""Pooling on (N, H, W, C) with PyTorch's padding semantics."""

from __future__ import annotations

import attrs
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from zoo_core.nn.conv import pair
from zoo_core.nn.module import Module


def _pads(padding) -> list[tuple[int, int]]:
    if isinstance(padding, int):
        return [(padding, padding), (padding, padding)]
    if isinstance(padding[0], int):
        return [(padding[0], padding[0]), (padding[1], padding[1])]
    return [tuple(padding[0]), tuple(padding[1])]


def max_pool2d(x: jax.Array, kernel_size, stride=None, padding=0) -> jax.Array:
    """``F.max_pool2d``: padding counts as ``-inf`` (never selected); ``stride`` defaults to the kernel."""
    k = pair(kernel_size)
    s = pair(stride if stride is not None else kernel_size)
    pads = [(0, 0), *_pads(padding), (0, 0)]
    # a concrete numpy identity lets JAX pick its differentiable max-pool primitive
    init = np.array(-np.inf, x.dtype)
    return lax.reduce_window(x, init, lax.max, (1, *k, 1), (1, *s, 1), pads)


def avg_pool2d(x: jax.Array, kernel_size, stride=None, padding=0, count_include_pad: bool = True) -> jax.Array:
    """``F.avg_pool2d`` (``ceil_mode=False``); with ``count_include_pad`` zeros of the padding count."""
    k = pair(kernel_size)
    s = pair(stride if stride is not None else kernel_size)
    pads = [(0, 0), *_pads(padding), (0, 0)]
    zero = np.array(0, x.dtype)
    summed = lax.reduce_window(x, zero, lax.add, (1, *k, 1), (1, *s, 1), pads)
    if count_include_pad:
        return summed / (k[0] * k[1])
    ones = jnp.ones((1, x.shape[1], x.shape[2], 1), x.dtype)
    counts = lax.reduce_window(ones, zero, lax.add, (1, *k, 1), (1, *s, 1), pads)
    return summed / counts


def global_avg_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
    """(N, H, W, C) → (N, C): mean over H and W (timm ``SelectAdaptivePool2d('avg')``)."""
    return jnp.mean(x, axis=(1, 2), keepdims=keepdims)


@attrs.frozen
class MaxPool2d(Module):
    """``nn.MaxPool2d(kernel_size, stride, padding)`` as a module."""

    kernel_size: int
    stride: int | None = None
    padding: int = 0

    def apply(self, params, state, x, *, train=False):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding), state
