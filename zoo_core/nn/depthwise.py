"""Depthwise convolution (``groups == in_chans``), exact on every backend.

Reference implementation through ``lax.conv_general_dilated``; the CPU fast path lives here too
once measured (see ``nox -s bench``).
"""

from __future__ import annotations

import jax
from jax import lax


def depthwise_conv2d(x: jax.Array, kernel: jax.Array, *, stride=(1, 1), padding=((0, 0), (0, 0)),
                     dilation=(1, 1), precision=None) -> jax.Array:
    """Depthwise conv: ``x`` (N, H, W, C), ``kernel`` (kh, kw, 1, C·m) → (N, H', W', C·m)."""
    return lax.conv_general_dilated(
        x, kernel.astype(x.dtype), window_strides=stride, padding=padding, rhs_dilation=dilation,
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=x.shape[-1], precision=precision,
    )
