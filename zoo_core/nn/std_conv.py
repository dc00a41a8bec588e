"""Convolution with Weight Standardization (BiT ResNetV2, NFNet-style stems).

Paper: `Micro-Batch Training with Batch-Channel Normalization and Weight Standardization`
(https://arxiv.org/abs/1903.10520).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``StdConv2d`` | ``timm.layers.StdConv2d`` | ``weight`` (OIHW, ``conv_to_hwio``) → ``kernel``; ``bias`` → ``bias`` |
| ``std_conv(...)`` | ``partial(StdConv2d, eps=1e-8)`` as BiT builds it | as ``StdConv2d`` |

timm standardizes the weight at every forward with
``F.batch_norm(weight.reshape(1, out, -1), None, None, training=True, momentum=0., eps=eps)``:
each output channel's kernel is centred and divided by ``sqrt(var + eps)``, with the *biased*
variance over (in, kh, kw). The stored weight stays unstandardized, so the released checkpoint maps
onto ``kernel`` unchanged.
"""

from __future__ import annotations

from typing import Any

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn import initializers as inits
from zoo_core.nn.conv import Padding, conv2d, pair
from zoo_core.nn.module import Module


def standardize_kernel(kernel: jax.Array, eps: float) -> jax.Array:
    """Weight-standardize an HWIO kernel (kh, kw, in, out) per output channel: zero mean and unit
    (biased) variance over (kh, kw, in), ``eps`` added to the variance. Computed in at least float32."""
    k = kernel.astype(jnp.promote_types(kernel.dtype, jnp.float32))
    mean = jnp.mean(k, axis=(0, 1, 2), keepdims=True)
    var = jnp.mean(jnp.square(k - mean), axis=(0, 1, 2), keepdims=True)
    return ((k - mean) * jax.lax.rsqrt(var + eps)).astype(kernel.dtype)


@attrs.frozen
class StdConv2d(Module):
    """timm's ``StdConv2d`` on NHWC: a ``Conv2d`` whose kernel is standardized at each call.

    (N, H, W, in_chans) → (N, H', W', out_chans). Params ``kernel`` (kh, kw, in // groups, out) and,
    with ``bias=True``, ``bias`` (out,). ``padding=""`` is timm's default symmetric padding
    ``get_padding(kernel_size, stride, dilation)``; ``eps`` defaults to timm's 1e-6.
    """

    in_chans: int
    out_chans: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: Padding = ""
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    bias: bool = False
    eps: float = 1e-6
    kernel_init: Any = inits.torch_default

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        kh, kw = pair(self.kernel_size)
        return (kh, kw, self.in_chans // self.groups, self.out_chans)

    def init(self, key):
        params = {"kernel": self.kernel_init(key, self.kernel_shape)}
        if self.bias:
            params["bias"] = inits.filled((self.out_chans,), 0.0)
        return params, {}

    def apply(self, params, state, x, *, train=False):
        kernel = standardize_kernel(params["kernel"], self.eps)
        y = conv2d(x, kernel, stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)
        if self.bias:
            y = y + params["bias"].astype(y.dtype)
        return y, state


def std_conv(in_chans: int, out_chans: int, kernel_size: int | tuple[int, int], *, stride=1, padding: Padding = "",
             dilation=1, groups: int = 1, bias: bool = False, eps: float = 1e-8,
             kernel_init: Any = inits.kaiming_normal_fan_out) -> StdConv2d:
    """BiT's convolution: ``StdConv2d`` with ``eps=1e-8`` (timm's ``partial(StdConv2d, eps=1e-8)``)
    and timm ResNetV2's ``kaiming_normal_(mode='fan_out')`` initialization."""
    return StdConv2d(in_chans, out_chans, kernel_size, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, bias=bias, eps=eps, kernel_init=kernel_init)
