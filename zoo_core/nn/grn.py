"""Global Response Normalization (ConvNeXt V2, arXiv:2301.00808) on channels-last inputs.

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``GlobalResponseNorm`` | ``timm.layers.GlobalResponseNorm`` (either layout: ``channels_last`` only changes the axes) | ``weight`` → ``scale``, ``bias`` → ``bias``, both (C,) |
| ``GlobalResponseNormMlp`` | ``timm.layers.GlobalResponseNormMlp`` | ``fc1``, ``grn``, ``fc2`` (``nn.Linear``, or 1×1 convs with ``use_conv=True``) |

The original ConvNeXt-V2 checkpoints name these ``grn.gamma`` / ``grn.beta`` with shape (1, 1, 1, C);
timm's released weights are already (C,) ``mlp.grn.weight`` / ``mlp.grn.bias``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn import initializers as inits
from zoo_core.nn.activations import gelu
from zoo_core.nn.linear import Dense
from zoo_core.nn.module import Module


def spatial_l2_norm(x: jax.Array) -> jax.Array:
    """``‖x‖₂`` over H and W of (N, H, W, C) → (N, 1, 1, C), as ``torch.norm(p=2, dim=(1, 2))``.

    The gradient at an all-zero channel is 0 (torch's subgradient), not NaN: the square root only
    sees positive sums.
    """
    sum_sq = jnp.sum(jnp.square(x), axis=(1, 2), keepdims=True)
    positive = sum_sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sum_sq, 1.0)), 0.0)


def grn(x: jax.Array, scale: jax.Array, bias: jax.Array, eps: float = 1e-6) -> jax.Array:
    """``x + bias + scale · (x · n)`` on (N, H, W, C), where ``n = g / (mean_C(g) + eps)`` and
    ``g`` is each channel's L2 norm over the image (``spatial_l2_norm``). The statistics ``g`` and
    ``n`` are computed in at least float32 (a bfloat16 or float16 ``x`` is upcast for them; float16
    would overflow in the sum of squares) and the result has ``x``'s dtype."""
    n = grn_response(x.astype(jnp.promote_types(x.dtype, jnp.float32)), eps).astype(x.dtype)
    return x + (bias.astype(x.dtype) + scale.astype(x.dtype) * (x * n))


def grn_response(x: jax.Array, eps: float = 1e-6) -> jax.Array:
    """GRN's per-image channel response ``n = g / (mean_C(g) + eps)`` of (N, H, W, C), ``g`` each
    channel's L2 norm over the image: (N, 1, 1, C)."""
    g = spatial_l2_norm(x)
    return g / (jnp.mean(g, axis=-1, keepdims=True) + eps)


@attrs.frozen
class GlobalResponseNorm(Module):
    """timm's ``GlobalResponseNorm(dim, eps=1e-6)``: (N, H, W, dim) → (N, H, W, dim).

    ``scale`` (timm ``weight``) and ``bias`` start at zero, so a fresh layer is the identity.
    """

    dim: int
    eps: float = 1e-6

    def init(self, key):
        return {"scale": inits.filled((self.dim,), 0.0), "bias": inits.filled((self.dim,), 0.0)}, {}

    def apply(self, params, state, x, *, train=False):
        return grn(x, params["scale"], params["bias"], self.eps), state


@attrs.frozen
class GlobalResponseNormMlp(Module):
    """timm's ``GlobalResponseNormMlp``: ``fc2(grn(act(fc1(x))))`` on (N, H, W, in) → (N, H, W, out).

    timm's ``use_conv=True`` form (1×1 convs on NCHW, ConvNeXt-V2 atto … nano) computes the same
    thing; only its ``fc`` weights are (out, in, 1, 1) (mapped with ``interop.conv1x1_to_dense``).
    """

    fc1: Dense
    grn: GlobalResponseNorm
    fc2: Dense
    act: Callable[[jax.Array], jax.Array] = gelu

    def apply(self, params, state, x, *, train=False):
        x, _ = self.fc1.apply(params["fc1"], state["fc1"], x)
        x, _ = self.grn.apply(params["grn"], state["grn"], self.act(x))
        x, _ = self.fc2.apply(params["fc2"], state["fc2"], x)
        return x, state

    def apply_residual(self, params, x: jax.Array, residual: jax.Array, gamma: jax.Array | None = None) -> jax.Array:
        """``residual + gamma? · mlp(x)``, the linear layers as ``nn.dense_layer`` calls in float32 (see
        ``Mlp.apply_residual``)."""
        from zoo_core.nn.fused import apply_with_residual, dense_layer, first_layer

        if x.dtype != jnp.float32:
            return apply_with_residual(self, params, x, residual, gamma)
        h = first_layer(self.act, params["fc1"], x)
        fc2 = params["fc2"]
        if h.ndim == 4 and h.shape[0] == 1 and fc2["kernel"].shape[1] < h.shape[1] * h.shape[2]:
            # One image whose pixels outnumber fc2's outputs (ConvNeXt-V2's first two stages): the GRN,
            # h · (1 + scale · n) + bias, folds into fc2's kernel rows and bias, a smaller array to scale
            # than h (the sum of squares over h stays).
            stats = h.astype(jnp.float32)
            gain = 1 + params["grn"]["scale"] * grn_response(stats, self.grn.eps)[0, 0, 0]
            kernel = gain[:, None] * fc2["kernel"]
            bias = params["grn"]["bias"] @ fc2["kernel"] + (fc2["bias"] if "bias" in fc2 else 0)
            return dense_layer({"kernel": kernel, "bias": bias}, h, gamma=gamma, residual=residual)
        if h.ndim == 4 and _PROLOGUE:
            # Elsewhere the GRN as fc2's input prologue, per image: h · (1 + scale · n) + bias (on the CPU the
            # pointwise kernel applies it to each tile of h as it reads it).
            gain = 1 + params["grn"]["scale"] * grn_response(h, self.grn.eps)[:, 0, 0]
            shift = jnp.broadcast_to(params["grn"]["bias"], gain.shape)
            return dense_layer(fc2, h, gamma=gamma, residual=residual, in_scale=gain, in_shift=shift)
        h, _ = self.grn.apply(params["grn"], {}, h)
        return dense_layer(fc2, h, gamma=gamma, residual=residual)


_PROLOGUE = True


def grn_mlp(in_features: int, hidden_features: int, out_features: int | None = None, *,
            act: Callable[[jax.Array], jax.Array] = gelu) -> GlobalResponseNormMlp:
    """``GlobalResponseNormMlp(in_features, hidden_features, out_features, act_layer=act)`` with
    timm's ConvNeXt init: truncated-normal (std 0.02) kernels, zero biases, a zero (identity) GRN."""
    out_features = out_features or in_features
    kernel_init, bias_init = inits.trunc_normal_init(0.02), inits.zeros
    return GlobalResponseNormMlp(
        fc1=Dense(in_features, hidden_features, kernel_init=kernel_init, bias_init=bias_init),
        grn=GlobalResponseNorm(hidden_features),
        fc2=Dense(hidden_features, out_features, kernel_init=kernel_init, bias_init=bias_init),
        act=act,
    )
