"""Normalization layers on channels-last inputs.

| ours | timm / torch | state-dict keys → leaves |
| --- | --- | --- |
| ``BatchNorm`` | ``nn.BatchNorm2d`` | ``weight``→``scale``, ``bias``, ``running_mean``→state ``mean``, ``running_var``→state ``var``; ``num_batches_tracked`` ignored |
| ``GroupNorm`` | ``nn.GroupNorm`` | ``weight``→``scale``, ``bias`` |
| ``LayerNorm`` | ``nn.LayerNorm`` over the last axis | ``weight``→``scale``, ``bias`` |
| ``layernorm2d`` | timm ``LayerNorm2d`` (NHWC: the same as ``LayerNorm`` on C) | as ``LayerNorm`` |
| ``vit_layernorm`` | ViT's ``nn.LayerNorm(dim, eps=1e-6)`` on (N, T, D) tokens | as ``LayerNorm`` |
| ``RmsNorm(dim, eps)`` | ``timm.layers.RmsNorm`` over the last axis (no centring, no bias) | ``weight``→``scale`` |
"""

from __future__ import annotations

import functools
import math

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn.initializers import filled
from zoo_core.nn.module import Module


@attrs.frozen
class BatchNorm(Module):
    """``nn.BatchNorm2d`` on (N, H, W, C) (or any (..., C)).

    Eval uses the running statistics in ``state``. ``train=True`` normalizes with the batch's
    biased variance and returns running statistics updated as PyTorch does:
    ``new = (1 - momentum) * old + momentum * batch`` with the *unbiased* batch variance.
    A bfloat16 / float16 ``x`` is normalized in float32 (statistics, scale and shift: ``x · scale
    + shift`` cancels when the mean is large) and the result has ``x``'s dtype.
    """

    num_features: int
    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True

    def init(self, key):
        c = self.num_features
        params = {"scale": filled((c,), 1.0), "bias": filled((c,), 0.0)} if self.affine else {}
        return params, {"mean": filled((c,), 0.0), "var": filled((c,), 1.0)}

    def apply(self, params, state, x, *, train=False):
        xc = x.astype(jnp.promote_types(x.dtype, jnp.float32))  # one wide copy: one cotangent path
        if train:
            axes = tuple(range(x.ndim - 1))
            xf = xc.astype(jnp.float32)
            mean = jnp.mean(xf, axis=axes)
            var = jnp.mean(jnp.square(xf - mean), axis=axes)
            n = x.size // x.shape[-1]
            unbiased = var * (n / max(n - 1, 1))
            m = self.momentum
            new_state = {
                "mean": (1 - m) * state["mean"] + m * jax.lax.stop_gradient(mean),
                "var": (1 - m) * state["var"] + m * jax.lax.stop_gradient(unbiased),
            }
        else:
            mean, var = state["mean"], state["var"]
            new_state = state
        scale, shift = self.scale_shift(params, mean, var)
        return (xc * scale.astype(xc.dtype) + shift.astype(xc.dtype)).astype(x.dtype), new_state

    def scale_shift(self, params, mean: jax.Array, var: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The per-channel ``(scale, shift)`` with ``norm(x) = x · scale + shift`` for statistics
        ``mean`` and ``var`` (eval: the running ones, ``state["mean"]`` and ``state["var"]``)."""
        inv = jax.lax.rsqrt(var + self.eps)
        if self.affine:
            scale = params["scale"] * inv
            return scale, params["bias"] - mean * scale
        return inv, -mean * inv


@attrs.frozen
class GroupNorm(Module):
    """``nn.GroupNorm(num_groups, num_channels, eps)`` on (N, H, W, C): statistics per sample and
    group of ``C // num_groups`` channels over H, W and the group's channels."""

    num_groups: int
    num_channels: int
    eps: float = 1e-5
    affine: bool = True

    def __attrs_post_init__(self):
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: {self.num_channels} channels do not split into {self.num_groups} groups")

    def init(self, key):
        c = self.num_channels
        return ({"scale": filled((c,), 1.0), "bias": filled((c,), 0.0)} if self.affine else {}), {}

    def apply(self, params, state, x, *, train=False):
        return group_norm_act(self, params, x, relu=False)[0], state

    def apply_xla(self, params, x: jax.Array) -> jax.Array:
        """``apply``'s normalization as XLA's ops (the reference of ``group_norm_act``'s compiled call)."""
        # Per-channel statistics over the spatial axis with the channels minor (one compiled pass
        # where zoo-cpu-kernels is installed, else two: the mean, then the mean square of x - mean),
        # then over each group's channels on the small (N, C) result: NHWC keeps the channel axis
        # vectorized, where reducing (N, HW, G, C/G) over axes 1 and 3 runs 2-4x slower on XLA CPU
        # (C/G is 2 for 64 channels in 32 groups).
        # No reshape to (N, H·W, C): as the root of its producer's fusion, that bitcast kept XLA from
        # fusing the padded taps of BiT's stem pool into one loop (five padded copies, ~12 ms at batch 8).
        g = self.num_groups
        n, c = x.shape[0], x.shape[-1]
        xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))  # float64 stays float64
        spatial = tuple(range(1, x.ndim - 1))

        def per_channel(group_stat):  # (N, G) -> (N, 1, ..., 1, C)
            return jnp.repeat(group_stat, c // g, axis=-1).reshape((n,) + (1,) * len(spatial) + (c,))

        def group_mean(per_channel_mean):  # (N, C) -> (N, G)
            return per_channel_mean.reshape(n, g, c // g).mean(axis=-1)

        mean_c, var_c = _one_pass_channel_moments(xf)
        if mean_c is None:
            centered = xf - per_channel(group_mean(jnp.mean(xf, axis=spatial)))
            inv = per_channel(jax.lax.rsqrt(group_mean(jnp.mean(jnp.square(centered), axis=spatial)) + self.eps))
        else:  # a group's variance: its channels' mean variance plus the variance of their means
            mean_g = group_mean(mean_c)
            centered = xf - per_channel(mean_g)
            var_g = group_mean(var_c + jnp.square(mean_c - jnp.repeat(mean_g, c // g, axis=-1)))
            inv = per_channel(jax.lax.rsqrt(var_g + self.eps))
        y = (centered * inv).astype(x.dtype)
        if self.affine:
            y = y * params["scale"].astype(y.dtype) + params["bias"].astype(y.dtype)
        return y


def group_norm_act(norm: GroupNorm, params, x: jax.Array, *, relu: bool = True, fold=None,
                   emit_sums: bool = False) -> tuple[jax.Array, jax.Array | None]:
    """``relu?(norm(z))`` with ``z = finish_fold(x, fold)`` (``x`` itself without a ``fold``: the raw
    output and folded standardization of ``StdConv2d.apply_raw``), and where ``emit_sums`` each pixel's
    sum of the result over its channels, (N, H, W) (what the next ``StdConv2d`` folds with) → ``(y,
    sums or None)``. timm's ``GroupNormAct`` (BiT's pre-activation norm) on a weight-standardized conv.

    On the CPU, for float32 NHWC whose channels are a multiple of 16, with zoo-cpu-kernels installed,
    one call (``zoo_cpu_kernels.group_norm_act``): the statistics in one pass over ``x``, the normalized
    output in a second, ``z`` never written, where XLA runs a moments pass, a dozen small ops on the
    (N, C) statistics and passes for the fold, the normalization and the sums (BiT-50 at batch 1 on a
    2-core Xeon: see docs/performance.md). Its gradients are the composition's (a custom VJP).
    Elsewhere the composition itself."""
    from zoo_core.kernels import cpu_kernels
    from zoo_core.nn.conv import with_reference_vjp
    from zoo_core.nn.std_conv import finish_fold

    std_eps = 0.0 if fold is None else fold[3]
    c = x.shape[-1]

    def composed(x, scale, bias, *fold_arrays):
        z = finish_fold(x, (*fold_arrays, std_eps) if fold_arrays else None)
        y = norm.apply_xla({"scale": scale, "bias": bias} if norm.affine else {}, z)
        y = jnp.maximum(y, 0) if relu else y
        return (y, jnp.sum(y, axis=-1)) if emit_sums else (y,)

    if norm.affine:
        scale, bias = params["scale"], params["bias"]
    else:
        scale, bias = jnp.ones((c,), jnp.float32), jnp.zeros((c,), jnp.float32)
    args = (x, scale, bias, *(() if fold is None else fold[:3]))
    kernels = cpu_kernels()
    if (kernels is None or not hasattr(kernels, "group_norm_act") or c != norm.num_channels
            or not kernels.group_norm_supports(x.dtype, channels=c, groups=norm.num_groups, ndim=x.ndim)
            or any(a.dtype != jnp.float32 for a in args)):
        out = composed(*args)
    else:
        def call(x, scale, bias, *fold_arrays):
            y, sums = kernels.group_norm_act(x, scale, bias, groups=norm.num_groups, eps=norm.eps, relu=relu,
                                             fold=(*fold_arrays, std_eps) if fold_arrays else None,
                                             emit_sums=emit_sums)
            return (y, sums) if emit_sums else (y,)

        out = jax.lax.platform_dependent(*args, cpu=functools.partial(with_reference_vjp, composed, call),
                                         default=composed)
    return out[0], (out[1] if emit_sums else None)


def _one_pass_channel_moments(xf: jax.Array) -> tuple[jax.Array | None, jax.Array | None]:
    """Each image's per-channel mean and biased variance of float32 ``xf`` (N, ..., C), each (N, C),
    from one read (zoo-cpu-kernels' moments pass, double-precision sums shifted by the first row)
    where it is installed, else ``(None, None)``. Against XLA's two reductions (the mean, then the
    mean square about it) BiT-50 at batch 1 takes 28.5 instead of 30.7 ms (2-core AMD EPYC; batch 8
    level). Gradients are the pure-JAX moments' (``std_conv.kernel_moments``)."""
    from zoo_core.nn.std_conv import _compiled_moments_cover, kernel_moments

    if xf.dtype != jnp.float32 or math.prod(xf.shape[1:-1]) == 0 or not _compiled_moments_cover(xf[0]):
        return None, None
    return jax.vmap(kernel_moments)(xf)


@attrs.frozen
class LayerNorm(Module):
    """``nn.LayerNorm(dim, eps)`` over the last axis (biased variance)."""

    dim: int
    eps: float = 1e-5
    affine: bool = True
    bias: bool = True

    def init(self, key):
        if not self.affine:
            return {}, {}
        params = {"scale": filled((self.dim,), 1.0)}
        if self.bias:
            params["bias"] = filled((self.dim,), 0.0)
        return params, {}

    def apply(self, params, state, x, *, train=False):
        return layer_norm(x, params.get("scale") if self.affine else None,
                          params.get("bias") if self.affine and self.bias else None, self.eps), state

    def prologue(self, params) -> tuple[jax.Array, jax.Array, float] | None:
        """``(scale, bias, eps)`` for a layer that takes this norm as its input prologue
        (``nn.dense_affine(in_norm_eps=)``), where the norm has both; else ``None``."""
        return (params["scale"], params["bias"], self.eps) if self.affine and self.bias else None


def layer_norm(x: jax.Array, scale: jax.Array | None, bias: jax.Array | None, eps: float) -> jax.Array:
    """``LayerNorm`` over the last axis as a function: statistics in float32 (the mean, then the mean
    square about it), the result in ``x``'s dtype, times ``scale`` and plus ``bias`` where given."""
    xf = x.astype(jnp.float32)
    mean = jnp.mean(xf, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(xf - mean), axis=-1, keepdims=True)
    y = ((xf - mean) * jax.lax.rsqrt(var + eps)).astype(x.dtype)
    if scale is not None:
        y = y * scale.astype(y.dtype)
    if bias is not None:
        y = y + bias.astype(y.dtype)
    return y


def layernorm2d(channels: int, eps: float = 1e-6) -> LayerNorm:
    """timm ``LayerNorm2d(channels, eps)``: LayerNorm over C at each pixel. On NHWC this is a plain
    last-axis LayerNorm, so the (C,) ``weight``/``bias`` map onto ``scale``/``bias`` unchanged."""
    return LayerNorm(channels, eps=eps)


def vit_layernorm(dim: int, eps: float = 1e-6) -> LayerNorm:
    """ViT's ``nn.LayerNorm(dim, eps=1e-6)`` over the feature axis of (N, T, dim) tokens."""
    return LayerNorm(dim, eps=eps)


@attrs.frozen
class RmsNorm(Module):
    """timm's ``RmsNorm(channels, eps, affine)`` over the last axis: ``x / sqrt(mean(x²) + eps) ·
    scale``, no mean subtracted and no bias. Statistics in float32; the result has ``x``'s dtype."""

    dim: int
    eps: float = 1e-6
    affine: bool = True

    def init(self, key):
        return ({"scale": filled((self.dim,), 1.0)} if self.affine else {}), {}

    def apply(self, params, state, x, *, train=False):
        xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        y = (xf * jax.lax.rsqrt(jnp.mean(jnp.square(xf), axis=-1, keepdims=True) + self.eps)).astype(x.dtype)
        if self.affine:
            y = y * params["scale"].astype(y.dtype)
        return y, state
