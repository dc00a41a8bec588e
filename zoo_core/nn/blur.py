"""Anti-aliased downsampling: BlurPool (a fixed binomial blur, then the stride) and timm's ``create_aa``.

Paper: `Making Convolutional Networks Shift-Invariant Again` (https://arxiv.org/abs/1904.11486).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``BlurPool2d`` | ``timm.layers.BlurPool2d`` (``filt_size=3``, ``pad_mode='reflect'``) | none: timm's ``filt`` buffer is non-persistent, ours is computed |
| ``create_aa(kind, channels, stride)`` | ``timm.layers.create_aa`` with ``aa_layer`` ``nn.AvgPool2d`` (``"avg"``) or ``BlurPool2d`` (``"blur"``) | none |
| ``binomial_filter`` | ``BlurPool2d``'s ``filt`` | — |
"""

from __future__ import annotations

from math import comb

import attrs
import jax
import jax.numpy as jnp
import numpy as np

from zoo_core.nn.conv import conv2d, get_padding
from zoo_core.nn.module import Identity, Module
from zoo_core.nn.pool import AvgPool2d

AA_KINDS = ("avg", "blur")


def binomial_filter(filt_size: int) -> np.ndarray:
    """The (k, k) blur: the outer product of binomial coefficients ``C(k-1, i) / 2^(k-1)`` (sums to 1)."""
    coeffs = np.array([comb(filt_size - 1, i) for i in range(filt_size)], np.float64) / 2 ** (filt_size - 1)
    return np.outer(coeffs, coeffs).astype(np.float32)


@attrs.frozen
class BlurPool2d(Module):
    """(N, H, W, C) → (N, ⌊(H + 2p - k) / s⌋ + 1, …, C): pad by ``p = get_padding(k, s)`` on every
    side (``pad_mode``: ``"reflect"`` as timm, or ``"constant"``, zeros), then a depthwise conv with
    the fixed ``binomial_filter(filt_size)`` at ``stride``. No parameters."""

    channels: int
    filt_size: int = 3
    stride: int = 2
    pad_mode: str = "reflect"

    def __attrs_post_init__(self):
        if self.filt_size < 2:
            raise ValueError(f"BlurPool2d: filt_size {self.filt_size} must be at least 2")
        if self.pad_mode not in ("reflect", "constant"):
            raise ValueError(f"BlurPool2d: pad_mode {self.pad_mode!r} is not 'reflect' or 'constant'")

    def apply(self, params, state, x, *, train=False):
        p = get_padding(self.filt_size, self.stride)
        x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode=self.pad_mode)
        filt = binomial_filter(self.filt_size)
        kernel = jnp.broadcast_to(jnp.asarray(filt, x.dtype)[:, :, None, None],
                                  (self.filt_size, self.filt_size, 1, self.channels))
        return conv2d(x, kernel, stride=self.stride, groups=self.channels), state


def create_aa(kind: str | None, channels: int, stride: int = 2, enable: bool = True) -> Module:
    """timm's ``create_aa``: ``Identity`` when ``kind`` is None or not ``enable``; ``"avg"``: timm's
    ``nn.AvgPool2d(stride)`` (kernel = stride, no padding, floor); ``"blur"``: ``BlurPool2d(channels,
    stride=stride)``."""
    if not kind or not enable:
        return Identity()
    if kind == "avg":
        return AvgPool2d(stride)
    if kind == "blur":
        return BlurPool2d(channels, stride=stride)
    raise ValueError(f"create_aa: unknown anti-aliasing kind {kind!r} (known: {', '.join(AA_KINDS)})")


def blur_pool2d(x: jax.Array, filt_size: int = 3, stride: int = 2, pad_mode: str = "reflect") -> jax.Array:
    """``BlurPool2d(x.shape[-1], filt_size, stride, pad_mode)`` as a function."""
    return BlurPool2d(x.shape[-1], filt_size, stride, pad_mode).apply({}, {}, x)[0]
