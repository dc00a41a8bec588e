"""A convolution and the eval-mode BatchNorm after it, with an optional residual add and ReLU, as one op.

``conv_affine(x, kernel, scale, shift, ...) = relu?((conv2d(x, kernel) · scale + shift) + residual?)``
with ``(scale, shift)`` the norm's per-channel affine (``BatchNorm.scale_shift``). ``conv_norm_act``
applies a ``Conv2d`` and its norm that way where it can (eval, a ``BatchNorm``) and as the two modules
one after the other elsewhere (training, other norms), so model code has one call for both.

On the CPU a float32 1×1 conv (stride 1 or 2, no padding; Cout a multiple of 16) runs as
zoo-cpu-kernels' pointwise kernel, which applies the affine, the residual and the ReLU to its
accumulators before it stores them: ResNet's 1×1 convs and everything up to the next conv in one pass
over memory. Its gradients are the composition's (a custom VJP), and it is reverse-mode only, as
the other compiled convs. Everywhere else ``conv_affine`` is that composition, which XLA fuses;
a bfloat16 input is normalized in float32 and cast back before the residual, as ``BatchNorm`` does.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from zoo_core.nn.activations import relu as relu_fn
from zoo_core.nn.conv import Conv2d, conv2d, pair, resolve_padding
from zoo_core.nn.norm import BatchNorm


def _compose(x, kernel, scale, shift, residual, *, stride, padding, dilation, groups, relu):
    y = conv2d(x, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups)
    wide = y.astype(jnp.promote_types(y.dtype, jnp.float32))
    y = (wide * scale.astype(wide.dtype) + shift.astype(wide.dtype)).astype(x.dtype)
    if residual is not None:
        y = y + residual
    return relu_fn(y) if relu else y


def _pointwise_stride(x, kernel, stride, padding, dilation, groups) -> int | None:
    """The stride (1 or 2) when zoo-cpu-kernels' pointwise kernel computes this conv, else ``None``."""
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    stride, dilation = pair(stride), pair(dilation)
    if (kernels is None or not hasattr(kernels, "pointwise_supports") or groups != 1
            or tuple(kernel.shape[:2]) != (1, 1) or dilation != (1, 1) or stride not in ((1, 1), (2, 2))):
        return None
    pads = resolve_padding(padding, kernel.shape[:2], stride, dilation)
    if isinstance(pads, str) or any(v for p in pads for v in p):
        return None
    ok = kernels.pointwise_supports(x.dtype, kernel.dtype, out_chans=kernel.shape[3], stride=stride[0])
    return stride[0] if ok else None


def conv_affine(x: jax.Array, kernel: jax.Array, scale: jax.Array, shift: jax.Array, *, stride=1, padding=0,
                dilation=1, groups: int = 1, residual: jax.Array | None = None, relu: bool = False) -> jax.Array:
    """``relu?(conv2d(x, kernel, ...) · scale + shift + residual?)``: ``x`` (N, H, W, Cin), ``kernel``
    (kh, kw, Cin // groups, Cout), ``scale`` and ``shift`` (Cout,), ``residual`` the output's shape."""
    compose = functools.partial(_compose, stride=stride, padding=padding, dilation=dilation, groups=groups, relu=relu)
    s = _pointwise_stride(x, kernel, stride, padding, dilation, groups)
    if (s is None or scale.dtype != jnp.float32 or shift.dtype != jnp.float32
            or (residual is not None and residual.dtype != jnp.float32)):
        return compose(x, kernel, scale, shift, residual)
    args = (x, kernel, scale, shift) if residual is None else (x, kernel, scale, shift, residual)
    compiled = functools.partial(_compiled_pointwise, compose, s, relu)
    return lax.platform_dependent(*args, cpu=compiled, default=lambda *a: compose(*a, *(None,) * (5 - len(a))))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _compiled_pointwise(compose, stride: int, relu: bool, x, kernel, scale, shift, residual=None):
    from zoo_core.kernels import cpu_kernels

    return cpu_kernels().pointwise_conv2d(x, kernel.reshape(kernel.shape[2:]), scale, shift, residual,
                                          stride=stride, relu=relu)


def _compiled_pointwise_fwd(compose, stride, relu, *args):
    return _compiled_pointwise(compose, stride, relu, *args), args


def _compiled_pointwise_bwd(compose, stride, relu, args, grad):
    _, vjp = jax.vjp(lambda *a: compose(*a, *(None,) * (5 - len(a))), *args)
    return vjp(grad)


_compiled_pointwise.defvjp(_compiled_pointwise_fwd, _compiled_pointwise_bwd)


def conv_norm_act(conv: Conv2d, norm, params: tuple, state, x: jax.Array, *, train: bool = False,
                  residual: jax.Array | None = None, relu: bool = False):
    """``relu?(norm(conv(x)) + residual?)`` for a ``Conv2d`` and the norm after it, with ``params`` the
    pair (conv's, norm's) and ``state`` the norm's; returns (y, the norm's new state). In eval with a
    ``BatchNorm`` this is one ``conv_affine`` (the conv's bias folded into the shift)."""
    conv_params, norm_params = params
    if train or not isinstance(norm, BatchNorm):
        y, _ = conv.apply(conv_params, {}, x)
        y, new_state = norm.apply(norm_params, state, y, train=train)
        if residual is not None:
            y = y + residual
        return (relu_fn(y) if relu else y), new_state
    scale, shift = norm.scale_shift(norm_params, state["mean"], state["var"])
    if conv.bias:
        shift = shift + conv_params["bias"] * scale
    y = conv_affine(x, conv_params["kernel"], scale, shift, stride=conv.stride, padding=conv.padding,
                    dilation=conv.dilation, groups=conv.groups, residual=residual, relu=relu)
    return y, state
