"""A convolution and the eval-mode BatchNorm after it, with an optional residual add and ReLU, as one op.

``conv_affine(x, kernel, scale, shift, ...) = act?((conv2d(x, kernel) · scale + shift) + residual?)``
with ``(scale, shift)`` the norm's per-channel affine (``BatchNorm.scale_shift``). ``conv_norm_act``
applies a ``Conv2d`` and its norm that way where it can (eval, a ``BatchNorm``) and as the two modules
one after the other elsewhere (training, other norms), so model code has one call for both.

On the CPU a float32 1×1 conv (stride 1 or 2, no padding; Cout a multiple of 16) runs as
zoo-cpu-kernels' pointwise kernel, which applies the affine, the residual and the ReLU to its
accumulators before it stores them: ResNet's 1×1 convs and everything up to the next conv in one pass
over memory. Its activation may instead be the exact GELU (``gelu=True``; ``dense_layer(...,
gelu=True)`` for an MLP's first linear layer). A stem's conv on few input channels (ResNet's 7×7 stride 2 on the image, no residual)
runs as its direct kernel, with the same epilogue. Its gradients are the composition's (a custom VJP), and it is reverse-mode only, as
the other compiled convs. Everywhere else ``conv_affine`` is that composition, which XLA fuses;
a bfloat16 input is normalized in float32 and cast back before the residual, as ``BatchNorm`` does.

``conv_norm_act(..., gate=g)`` adds a channel gate computed from the normalized output's spatial
mean (squeeze-excitation, ECA): ``relu?(y · g(mean_hw(y)) + residual?)``. For an unpadded stride-1
1×1 conv and an eval-mode BatchNorm, ``mean_hw(y)`` is the norm of the conv of ``mean_hw(x)`` (both
are linear), so the gate is known before the conv runs and folds into a per-image scale and shift:
one pass instead of the conv, a reduction over its output, and a pass for the gate, the residual
and the ReLU.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from zoo_core.nn.activations import gelu as gelu_fn
from zoo_core.nn.activations import relu as relu_fn
from zoo_core.nn.conv import Conv2d, conv2d, direct_covers, explicit_pads, pair, resolve_padding, with_reference_vjp
from zoo_core.nn.norm import BatchNorm, LayerNorm


def _compose(x, kernel, scale, shift, residual=None, *, stride, padding, dilation, groups, relu, gelu=False):
    y = conv2d(x, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups)
    wide = y.astype(jnp.promote_types(y.dtype, jnp.float32))
    if scale.ndim == 2:  # per image: (N, Cout)
        scale, shift = scale[:, None, None, :], shift[:, None, None, :]
    y = (wide * scale.astype(wide.dtype) + shift.astype(wide.dtype)).astype(x.dtype)
    if residual is not None:
        y = y + residual
    if gelu:
        return gelu_fn(y)
    return relu_fn(y) if relu else y


def _kernel_call(x, kernel, stride, padding, dilation, groups, relu: bool, with_residual: bool,
                 per_image: bool = False, gelu: bool = False):
    """zoo-cpu-kernels' fused call for this conv, ``call(x, kernel, scale, shift[, residual])``, or
    ``None``: the pointwise kernel for a 1×1 conv (stride 1 or 2, no padding; scale and shift
    ``per_image``, or a ``gelu`` epilogue, where its version takes them), the direct kernel for a
    stem's conv on few input channels (no residual, shared scale and shift, no GELU)."""
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    stride, dilation = pair(stride), pair(dilation)
    if kernels is None or groups != 1 or dilation != (1, 1) or x.dtype != jnp.float32:
        return None
    pads = explicit_pads(resolve_padding(padding, kernel.shape[:2], stride, dilation), x.shape[1:3],
                         kernel.shape[:2], stride, dilation)
    if (hasattr(kernels, "pointwise_supports") and tuple(kernel.shape[:2]) == (1, 1) and not any(sum(pads, ()))
            and stride in ((1, 1), (2, 2)) and (not per_image or getattr(kernels, "POINTWISE_PER_IMAGE", False))
            and (not gelu or getattr(kernels, "POINTWISE_GELU", False))
            and kernels.pointwise_supports(x.dtype, kernel.dtype, out_chans=kernel.shape[3], stride=stride[0])):
        return functools.partial(_pointwise_call, stride[0], relu, gelu)
    if not with_residual and not per_image and not gelu and direct_covers(x, kernel, stride, dilation, pads):
        return functools.partial(_direct_call, stride[0], pads, relu)
    return None


def _pointwise_call(stride: int, relu: bool, gelu: bool, x, kernel, scale, shift, residual=None):
    from zoo_core.kernels import cpu_kernels

    act = {"gelu": True} if gelu else {}  # a zoo-cpu-kernels without POINTWISE_GELU takes no such keyword
    return cpu_kernels().pointwise_conv2d(x, kernel.reshape(kernel.shape[2:]), scale, shift, residual,
                                          stride=stride, relu=relu, **act)


def _direct_call(stride: int, pads, relu: bool, x, kernel, scale, shift):
    from zoo_core.kernels import cpu_kernels

    return cpu_kernels().direct_conv2d(x, kernel, scale, shift, stride=stride, pads=pads, relu=relu)


def conv_affine(x: jax.Array, kernel: jax.Array, scale: jax.Array, shift: jax.Array, *, stride=1, padding=0,
                dilation=1, groups: int = 1, residual: jax.Array | None = None, relu: bool = False,
                gelu: bool = False) -> jax.Array:
    """``act?(conv2d(x, kernel, ...) · scale + shift + residual?)``: ``x`` (N, H, W, Cin), ``kernel``
    (kh, kw, Cin // groups, Cout), ``scale`` and ``shift`` (Cout,) or, each image its own, (N, Cout),
    ``residual`` the output's shape; ``act`` ReLU where ``relu``, the exact GELU (``nn.gelu``) where
    ``gelu``, not both."""
    if relu and gelu:
        raise ValueError("conv_affine: relu and gelu were both asked for; it applies one activation")
    compose = functools.partial(_compose, stride=stride, padding=padding, dilation=dilation, groups=groups, relu=relu,
                                gelu=gelu)
    call = _kernel_call(x, kernel, stride, padding, dilation, groups, relu, residual is not None, scale.ndim == 2,
                        gelu)
    if (call is None or kernel.dtype != jnp.float32 or scale.dtype != jnp.float32 or shift.dtype != jnp.float32
            or (residual is not None and residual.dtype != jnp.float32)):
        return compose(x, kernel, scale, shift, residual)
    args = (x, kernel, scale, shift) if residual is None else (x, kernel, scale, shift, residual)
    return lax.platform_dependent(*args, cpu=functools.partial(with_reference_vjp, compose, call), default=compose)


def conv_norm_act(conv: Conv2d, norm, params: tuple, state, x: jax.Array, *, train: bool = False,
                  residual: jax.Array | None = None, relu: bool = False, gate: Callable | None = None):
    """``relu?(norm(conv(x)) · gate?(mean_hw(norm(conv(x)))) + residual?)`` for a ``Conv2d`` and the
    norm after it, with ``params`` the pair (conv's, norm's) and ``state`` the norm's; returns (y, the
    norm's new state). ``gate`` maps each image's channel means (N, Cout) to a per-channel factor
    (N, Cout), as ``SEBlock.gate`` and ``EcaModule.gate`` do. In eval with a ``BatchNorm`` this is one
    ``conv_affine`` (the conv's bias folded into the shift; a gate too, for an unpadded stride-1 1×1
    conv, see the module's docstring)."""
    conv_params, norm_params = params
    if train or not isinstance(norm, BatchNorm):
        y, _ = conv.apply(conv_params, {}, x)
        y, new_state = norm.apply(norm_params, state, y, train=train)
        return _gate_residual_act(y, gate, residual, relu), new_state
    scale, shift = norm.scale_shift(norm_params, state["mean"], state["var"])
    if conv.bias:
        shift = shift + conv_params["bias"] * scale
    kernel = conv_params["kernel"]
    affine = functools.partial(conv_affine, x, kernel, stride=conv.stride, padding=conv.padding,
                               dilation=conv.dilation, groups=conv.groups)
    if gate is None:
        return affine(scale, shift, residual=residual, relu=relu), state
    if not _mean_commutes(x, kernel, conv.stride, conv.padding, conv.dilation, conv.groups):
        return _gate_residual_act(affine(scale, shift), gate, residual, relu), state
    wide = jnp.promote_types(x.dtype, jnp.float32)
    pooled = jnp.matmul(jnp.mean(x.astype(wide), axis=(1, 2)), kernel.reshape(kernel.shape[2:]).astype(wide),
                        precision=lax.Precision.HIGHEST)  # mean_hw(conv(x)), (N, Cout)
    g = gate((pooled * scale.astype(wide) + shift.astype(wide)).astype(x.dtype)).astype(wide)
    return affine(scale * g, shift * g, residual=residual, relu=relu), state


def _gate_residual_act(y, gate, residual, relu: bool):
    if gate is not None:
        y = y * gate(jnp.mean(y, axis=(1, 2)))[:, None, None, :].astype(y.dtype)
    if residual is not None:
        y = y + residual
    return relu_fn(y) if relu else y


def _mean_commutes(x, kernel, stride, padding, dilation, groups: int) -> bool:
    """Whether the spatial mean of ``conv2d(x, kernel)`` is the conv of ``x``'s: a 1×1 kernel at stride
    1 without padding or groups (every output pixel is the same linear map of one input pixel)."""
    if tuple(kernel.shape[:2]) != (1, 1) or groups != 1 or pair(stride) != (1, 1):
        return False
    pads = explicit_pads(resolve_padding(padding, (1, 1), (1, 1), pair(dilation)), x.shape[1:3], (1, 1), (1, 1),
                         pair(dilation))
    return not any(sum(pads, ()))


def dense_affine(x: jax.Array, kernel: jax.Array, scale: jax.Array, shift: jax.Array, *,
                 residual: jax.Array | None = None, gelu: bool = False, in_scale: jax.Array | None = None,
                 in_shift: jax.Array | None = None, in_norm_eps: float | None = None) -> jax.Array:
    """``gelu?((x @ kernel) · scale + shift + residual?)`` over the last axis: ``x`` (..., K),
    ``kernel`` (K, N), ``scale`` and ``shift`` (N,), ``residual`` (..., N), ``gelu`` the exact GELU
    (``nn.gelu``). For float32 on the CPU this is ``conv_affine`` of a 1×1 conv over the rows taken as
    pixels (each index of the leading axis an image), so (N a multiple of 16) zoo-cpu-kernels'
    pointwise kernel computes it with the affine, the residual and the GELU in its epilogue (a linear
    layer, its bias, a LayerScale and the residual add in one pass, or an MLP's first layer and its
    GELU); on other backends, and for other dtypes, the matmul and the rest composed.

    With ``in_scale`` and ``in_shift`` (both (B, K), B the leading axis of ``x``, each index of it an image):
    ``x · in_scale + in_shift`` in place of ``x``, per image (ConvNeXt-V2's GRN before fc2). On the CPU the
    pointwise kernel applies it to each tile of rows as it reads them (its input prologue), where
    zoo-cpu-kernels has one (``POINTWISE_PROLOGUE``), instead of a pass of its own over ``x``.

    With ``in_norm_eps`` as well, ``in_scale`` and ``in_shift`` are a LayerNorm's scale and bias (K,) and
    the layer reads ``layer_norm(x, in_scale, in_shift, in_norm_eps)`` (a ViT block's norm before qkv or
    fc1): on the CPU each row is normalized in the same prologue (``POINTWISE_LAYERNORM``), so the norm's
    output is never written."""
    if in_norm_eps is not None:
        return _dense_affine_layer_norm(x, kernel, scale, shift, residual, gelu, in_scale, in_shift, in_norm_eps)
    if in_scale is not None or in_shift is not None:
        return _dense_affine_prologue(x, kernel, scale, shift, residual, gelu, in_scale, in_shift)

    def composed(x, kernel, scale, shift, residual=None):
        y = (x @ kernel.astype(x.dtype)) * scale.astype(x.dtype) + shift.astype(x.dtype)
        y = y if residual is None else y + residual
        return gelu_fn(y) if gelu else y

    if x.dtype != jnp.float32 or kernel.dtype != jnp.float32 or x.size == 0:
        return composed(x, kernel, scale, shift, residual)
    k, n = kernel.shape
    lead = x.shape[:-1]
    images = lead[0] if lead else 1  # the leading axis stays the batch: under jax.sharding it stays split

    def on_cpu(x, kernel, scale, shift, residual=None):
        rows = x.reshape(images, 1, -1, k)
        res = None if residual is None else residual.reshape(images, 1, -1, n)
        y = conv_affine(rows, kernel.reshape(1, 1, k, n), scale.astype(jnp.float32), shift.astype(jnp.float32),
                        residual=res, gelu=gelu)
        return y.reshape(*lead, n)

    args = (x, kernel, scale, shift) if residual is None else (x, kernel, scale, shift, residual)
    return lax.platform_dependent(*args, cpu=on_cpu, default=composed)


def _dense_affine_prologue(x, kernel, scale, shift, residual, gelu: bool, in_scale, in_shift) -> jax.Array:
    """``dense_affine`` of ``x · in_scale + in_shift`` (per image: (B, K) each, B = ``x.shape[0]``)."""
    if in_scale is None or in_shift is None or x.ndim < 2:
        raise ValueError("dense_affine: in_scale and in_shift go together, on an x of rank 2 or more")
    images, k, n = x.shape[0], kernel.shape[0], kernel.shape[1]
    for name, a in (("in_scale", in_scale), ("in_shift", in_shift)):
        if a.shape != (images, k):
            raise ValueError(f"dense_affine: {name} must be ({images}, {k}), one row per image, not {a.shape}")
    per_image = (images,) + (1,) * (x.ndim - 2) + (k,)

    def composed(x, kernel, scale, shift, in_scale, in_shift, residual=None):
        x = x * in_scale.reshape(per_image).astype(x.dtype) + in_shift.reshape(per_image).astype(x.dtype)
        return dense_affine(x, kernel, scale, shift, residual=residual, gelu=gelu)

    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    args = (x, kernel, scale, shift, in_scale, in_shift) + (() if residual is None else (residual,))
    if (kernels is None or not getattr(kernels, "POINTWISE_PROLOGUE", False) or x.size == 0 or n % 16
            or any(a.dtype != jnp.float32 for a in args)):
        return composed(*args)

    def on_cpu(x, kernel, scale, shift, in_scale, in_shift, residual=None):
        rows = x.reshape(images, 1, -1, k)
        res = None if residual is None else residual.reshape(images, 1, -1, n)
        act = {"gelu": True} if gelu else {}
        y = kernels.pointwise_conv2d(rows, kernel, scale, shift, res, in_scale=in_scale, in_shift=in_shift, **act)
        return y.reshape(*x.shape[:-1], n)

    return lax.platform_dependent(*args, cpu=functools.partial(with_reference_vjp, composed, on_cpu),
                                  default=composed)


def _dense_affine_layer_norm(x, kernel, scale, shift, residual, gelu: bool, in_scale, in_shift,
                             eps: float) -> jax.Array:
    """``dense_affine`` of ``layer_norm(x, in_scale, in_shift, eps)`` ((K,) each)."""
    from zoo_core.nn.norm import layer_norm

    k, n = kernel.shape
    if in_scale is None or in_shift is None or x.ndim < 2:
        raise ValueError("dense_affine: a LayerNorm prologue needs in_scale and in_shift, on an x of rank 2 or more")
    for name, a in (("in_scale", in_scale), ("in_shift", in_shift)):
        if a.shape != (k,):
            raise ValueError(f"dense_affine: with in_norm_eps, {name} must be the norm's ({k},), not {a.shape}")

    def composed(x, kernel, scale, shift, in_scale, in_shift, residual=None):
        return dense_affine(layer_norm(x, in_scale, in_shift, eps), kernel, scale, shift, residual=residual,
                            gelu=gelu)

    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    args = (x, kernel, scale, shift, in_scale, in_shift) + (() if residual is None else (residual,))
    if (kernels is None or not getattr(kernels, "POINTWISE_LAYERNORM", False) or x.size == 0 or n % 16
            or any(a.dtype != jnp.float32 for a in args)):
        return composed(*args)
    images = x.shape[0]

    def on_cpu(x, kernel, scale, shift, in_scale, in_shift, residual=None):
        rows = x.reshape(images, 1, -1, k)
        res = None if residual is None else residual.reshape(images, 1, -1, n)
        act = {"gelu": True} if gelu else {}
        y = kernels.pointwise_conv2d(rows, kernel, scale, shift, res, in_scale=in_scale, in_shift=in_shift,
                                     in_norm_eps=eps, **act)
        return y.reshape(*x.shape[:-1], n)

    return lax.platform_dependent(*args, cpu=functools.partial(with_reference_vjp, composed, on_cpu),
                                  default=composed)


def dense_layer(params, x: jax.Array, *, gamma: jax.Array | None = None,
                residual: jax.Array | None = None, gelu: bool = False, in_scale: jax.Array | None = None,
                in_shift: jax.Array | None = None, in_norm_eps: float | None = None) -> jax.Array:
    """A ``Dense`` layer's leaves (``kernel``, optional ``bias``) as one ``dense_affine``:
    ``gelu?(residual? + gamma? · (x' @ kernel + bias?))``, ``gamma`` a LayerScale after the layer,
    ``gelu`` the exact GELU after it all (an MLP's first layer), ``x'`` = ``x · in_scale + in_shift`` per
    image where those are given (``dense_affine``), or with ``in_norm_eps`` their LayerNorm of ``x``, else
    ``x``."""
    kernel = params["kernel"]
    features = kernel.shape[-1]
    bias = params["bias"] if "bias" in params else jnp.zeros((features,), kernel.dtype)
    pro = {"in_scale": in_scale, "in_shift": in_shift} if in_scale is not None or in_shift is not None else {}
    if in_norm_eps is not None:
        pro["in_norm_eps"] = in_norm_eps
    if gamma is None:
        return dense_affine(x, kernel, jnp.ones((features,), kernel.dtype), bias, residual=residual, gelu=gelu, **pro)
    return dense_affine(x, kernel, gamma, gamma * bias, residual=residual, gelu=gelu, **pro)



def gelu_mlp_residual(fc1: dict, fc2: dict, x: jax.Array, residual: jax.Array, *, gamma: jax.Array | None = None,
                      pre_norm: tuple | None = None) -> jax.Array:
    """``residual + gamma? · dense(fc2, gelu(dense(fc1, x')))``: an MLP with the exact GELU, its LayerScale and
    its residual add (``fc1``, ``fc2``: ``Dense`` leaves, ``kernel`` and optional ``bias``), ``x'`` = ``x`` or,
    with ``pre_norm`` = (scale, bias, eps), its LayerNorm. On the CPU, for float32 with zoo-cpu-kernels'
    ``pointwise_mlp`` (hidden and output widths multiples of 16), where the hidden activations are more than
    its chunk (``MLP_CHUNK_FLOATS``, 4 MiB), the two layers run as one call that keeps each chunk of rows'
    hidden activations in cache between them: they are never written to memory, nor held in XLA's buffer
    for the forward (ConvNeXt-T at batch 8: 59 → 31 MB). It computes what the two
    ``dense_layer`` calls compute, bit for bit; its gradients are theirs (a custom VJP). Elsewhere those two
    calls."""
    norm = None if pre_norm is None else tuple(pre_norm[:2])
    eps = None if pre_norm is None else float(pre_norm[2])

    def composed(x, fc1, fc2, residual, gamma, norm):
        h = first_layer(gelu_fn, fc1, x, None if norm is None else (*norm, eps))
        return dense_layer(fc2, h, gamma=gamma, residual=residual)

    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    args = (x, fc1, fc2, residual, gamma, norm)
    hidden, out = fc1["kernel"].shape[-1], fc2["kernel"].shape[-1]
    # One call where the hidden activations span more than one of its chunks; in one chunk they stay in cache
    # between two calls as well, and ViT-B at batch 1 (197 × 3072 hidden values) ran 0.982× in one call.
    rows = math.prod(x.shape[:-1]) if x.ndim >= 2 and x.size else 0
    one_call = getattr(kernels, "POINTWISE_MLP", False) and rows * hidden > kernels.MLP_CHUNK_FLOATS
    if (not one_call or hidden % 16 or out % 16
            or residual.shape != (*x.shape[:-1], out) or any(a.dtype != jnp.float32 for a in jax.tree.leaves(args))):
        return composed(*args)
    images = x.shape[0]

    def on_cpu(x, fc1, fc2, residual, gamma, norm):
        b1 = fc1["bias"] if "bias" in fc1 else jnp.zeros((hidden,), jnp.float32)
        b2 = fc2["bias"] if "bias" in fc2 else jnp.zeros((out,), jnp.float32)
        s2 = jnp.ones((out,), jnp.float32) if gamma is None else gamma
        rows = x.reshape(images, 1, -1, x.shape[-1])
        y = kernels.pointwise_mlp(rows, (fc1["kernel"], jnp.ones((hidden,), jnp.float32), b1),
                                  (fc2["kernel"], s2, s2 * b2), residual.reshape(images, 1, -1, out),
                                  norm=None if norm is None else (*norm, eps))
        return y.reshape(*x.shape[:-1], out)

    return lax.platform_dependent(*args, cpu=functools.partial(with_reference_vjp, composed, on_cpu),
                                  default=composed)


def depthwise_layer_norm(conv: Conv2d, norm: LayerNorm, params: dict, x: jax.Array) -> jax.Array:
    """``norm(conv(x))`` for a depthwise ``conv`` and a ``LayerNorm`` over its output channels (ConvNeXt's
    ``conv_dw`` and ``norm``), ``params`` holding the two modules' leaves as ``{"conv": ..., "norm": ...}``.
    On the CPU, for float32 with zoo-cpu-kernels
    installed, a stride-1 conv with a bias and an affine norm with a bias run as one call: the depthwise
    kernel normalizes each output row while it is in cache, instead of XLA's passes over the whole
    activation for the bias, the two moments and the normalization. Its gradients are the composition's
    (a custom VJP). Elsewhere, and for any other configuration, the two modules one after the other."""

    def composed(x, conv_params, norm_params):
        y, _ = conv.apply(conv_params, {}, x)
        return norm.apply(norm_params, {}, y)[0]

    conv_params, norm_params = params["conv"], params["norm"]
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    chans = x.shape[-1]
    if (kernels is None or not hasattr(kernels, "depthwise_layernorm") or x.ndim != 4
            or not (conv.groups == conv.in_chans == conv.out_chans == chans) or not conv.bias
            or pair(conv.stride) != (1, 1) or pair(conv.dilation) != (1, 1)
            or not (norm.affine and norm.bias and norm.dim == chans)
            or any(a.dtype != jnp.float32 for a in (x, *conv_params.values(), *norm_params.values()))):
        return composed(x, conv_params, norm_params)
    kernel = conv_params["kernel"]
    pads = explicit_pads(resolve_padding(conv.padding, kernel.shape[:2], (1, 1), (1, 1)), x.shape[1:3],
                         kernel.shape[:2], (1, 1), (1, 1))
    if not kernels.supports(x.dtype, kernel.dtype, stride=(1, 1), dilation=(1, 1), pads=pads, multiplier=1):
        return composed(x, conv_params, norm_params)

    def reference(x, kernel, bias, scale, shift):
        return composed(x, {"kernel": kernel, "bias": bias}, {"scale": scale, "bias": shift})

    def call(x, kernel, bias, scale, shift):
        return kernels.depthwise_layernorm(x, kernel, bias, scale, shift, pads, norm.eps)

    args = (x, kernel, conv_params["bias"], norm_params["scale"], norm_params["bias"])
    return lax.platform_dependent(*args, cpu=functools.partial(with_reference_vjp, reference, call),
                                  default=reference)


def first_layer(act: Callable[[jax.Array], jax.Array], params, x: jax.Array, pre_norm=None) -> jax.Array:
    """``act(dense_layer(params, x))``, an MLP's first linear layer and its activation: the exact GELU
    (``nn.gelu``) goes into the layer's epilogue (on the CPU the pointwise kernel applies it as it
    stores, instead of a pass of its own over the hidden activations), any other ``act`` after it.
    ``pre_norm``: a LayerNorm's ``(scale, bias, eps)`` applied to ``x`` first, as the layer's prologue."""
    pro = {} if pre_norm is None else dict(zip(("in_scale", "in_shift", "in_norm_eps"), pre_norm))
    if act is gelu_fn:
        return dense_layer(params, x, gelu=True, **pro)
    return act(dense_layer(params, x, **pro))


def apply_with_residual(module, params, x: jax.Array, residual: jax.Array,
                        gamma: jax.Array | None = None) -> jax.Array:
    """``residual + gamma? · module(x)`` with the module's own ``apply`` (a stateless module: an Mlp), the
    composition the MLPs' ``apply_residual`` fall back to where their ``dense_layer`` path does not apply."""
    y, _ = module.apply(params, {name: {} for name in params}, x)
    return residual + (y if gamma is None else y * gamma.astype(y.dtype))
