"""A convolution and the eval-mode BatchNorm after it, with an optional residual add and ReLU, as one op.

``conv_affine(x, kernel, scale, shift, ...) = relu?((conv2d(x, kernel) · scale + shift) + residual?)``
with ``(scale, shift)`` the norm's per-channel affine (``BatchNorm.scale_shift``). ``conv_norm_act``
applies a ``Conv2d`` and its norm that way where it can (eval, a ``BatchNorm``) and as the two modules
one after the other elsewhere (training, other norms), so model code has one call for both.

On the CPU a float32 1×1 conv (stride 1 or 2, no padding; Cout a multiple of 16) runs as
zoo-cpu-kernels' pointwise kernel, which applies the affine, the residual and the ReLU to its
accumulators before it stores them: ResNet's 1×1 convs and everything up to the next conv in one pass
over memory. A stem's conv on few input channels (ResNet's 7×7 stride 2 on the image, no residual)
runs as its direct kernel, with the same epilogue. Its gradients are the composition's (a custom VJP), and it is reverse-mode only, as
the other compiled convs. Everywhere else ``conv_affine`` is that composition, which XLA fuses;
a bfloat16 input is normalized in float32 and cast back before the residual, as ``BatchNorm`` does.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from zoo_core.nn.activations import relu as relu_fn
from zoo_core.nn.conv import Conv2d, conv2d, direct_covers, explicit_pads, pair, resolve_padding
from zoo_core.nn.norm import BatchNorm


def _compose(x, kernel, scale, shift, residual, *, stride, padding, dilation, groups, relu):
    y = conv2d(x, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups)
    wide = y.astype(jnp.promote_types(y.dtype, jnp.float32))
    y = (wide * scale.astype(wide.dtype) + shift.astype(wide.dtype)).astype(x.dtype)
    if residual is not None:
        y = y + residual
    return relu_fn(y) if relu else y


def _kernel_call(x, kernel, stride, padding, dilation, groups, relu: bool, with_residual: bool):
    """zoo-cpu-kernels' fused call for this conv, ``call(x, kernel, scale, shift[, residual])``, or
    ``None``: the pointwise kernel for a 1×1 conv (stride 1 or 2, no padding), the direct kernel for a
    stem's conv on few input channels (no residual)."""
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    stride, dilation = pair(stride), pair(dilation)
    if kernels is None or groups != 1 or dilation != (1, 1) or x.dtype != jnp.float32:
        return None
    pads = explicit_pads(resolve_padding(padding, kernel.shape[:2], stride, dilation), x.shape[1:3],
                         kernel.shape[:2], stride, dilation)
    if (hasattr(kernels, "pointwise_supports") and tuple(kernel.shape[:2]) == (1, 1) and not any(sum(pads, ()))
            and stride in ((1, 1), (2, 2))
            and kernels.pointwise_supports(x.dtype, kernel.dtype, out_chans=kernel.shape[3], stride=stride[0])):
        return functools.partial(_pointwise_call, stride[0], relu)
    if not with_residual and direct_covers(x, kernel, stride, dilation, pads):
        return functools.partial(_direct_call, stride[0], pads, relu)
    return None


def _pointwise_call(stride: int, relu: bool, x, kernel, scale, shift, residual=None):
    from zoo_core.kernels import cpu_kernels

    return cpu_kernels().pointwise_conv2d(x, kernel.reshape(kernel.shape[2:]), scale, shift, residual,
                                          stride=stride, relu=relu)


def _direct_call(stride: int, pads, relu: bool, x, kernel, scale, shift):
    from zoo_core.kernels import cpu_kernels

    return cpu_kernels().direct_conv2d(x, kernel, scale, shift, stride=stride, pads=pads, relu=relu)


def conv_affine(x: jax.Array, kernel: jax.Array, scale: jax.Array, shift: jax.Array, *, stride=1, padding=0,
                dilation=1, groups: int = 1, residual: jax.Array | None = None, relu: bool = False) -> jax.Array:
    """``relu?(conv2d(x, kernel, ...) · scale + shift + residual?)``: ``x`` (N, H, W, Cin), ``kernel``
    (kh, kw, Cin // groups, Cout), ``scale`` and ``shift`` (Cout,), ``residual`` the output's shape."""
    compose = functools.partial(_compose, stride=stride, padding=padding, dilation=dilation, groups=groups, relu=relu)
    call = _kernel_call(x, kernel, stride, padding, dilation, groups, relu, residual is not None)
    if (call is None or kernel.dtype != jnp.float32 or scale.dtype != jnp.float32 or shift.dtype != jnp.float32
            or (residual is not None and residual.dtype != jnp.float32)):
        return compose(x, kernel, scale, shift, residual)
    args = (x, kernel, scale, shift) if residual is None else (x, kernel, scale, shift, residual)
    return lax.platform_dependent(*args, cpu=functools.partial(_compiled_affine, compose, call),
                                  default=lambda *a: compose(*a, *(None,) * (5 - len(a))))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _compiled_affine(compose, call, *args):
    """``call(*args)`` (a compiled kernel's FFI call) with the composition's gradients."""
    return call(*args)


def _compiled_affine_fwd(compose, call, *args):
    return _compiled_affine(compose, call, *args), args


def _compiled_affine_bwd(compose, call, args, grad):
    _, vjp = jax.vjp(lambda *a: compose(*a, *(None,) * (5 - len(a))), *args)
    return vjp(grad)


_compiled_affine.defvjp(_compiled_affine_fwd, _compiled_affine_bwd)


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
