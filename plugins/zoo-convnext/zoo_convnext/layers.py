"""The small layers ConvNeXt's options need beyond ``zoo_core.nn``: timm's ``SimpleNorm`` (the
``norm_layer='simplenorm'`` of ``convnext_zepto_rms``), an activation as a module (the
``overlap_act`` stem's GELU sits between two convs of an ``nn.Sequential``), and the norm and
activation factories of an architecture row.

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``SimpleNorm`` | ``SimpleNorm`` / ``SimpleNorm2d`` (NHWC: the same, over C) | ``weight`` → ``scale`` |
| ``Activation`` | ``nn.GELU``, ``GELUTanh``, ``nn.SiLU`` in an ``nn.Sequential`` | none |
| ``make_norm('layernorm', eps)`` | ``LayerNorm`` / ``LayerNorm2d`` | ``weight`` → ``scale``, ``bias`` |
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import jax
import jax.numpy as jnp

from zoo_core import nn
from zoo_core.nn.initializers import filled

#: timm's default eps of ``LayerNorm``, ``LayerNorm2d`` and ``SimpleNorm(2d)``: ConvNeXt's unless
#: the architecture sets ``norm_eps`` (``convnext_xxlarge`` and the test models: 1e-5)
DEFAULT_NORM_EPS = 1e-6
NORM_LAYERS = ("layernorm", "simplenorm")


@attrs.frozen
class SimpleNorm(nn.Module):
    """timm's ``SimpleNorm(dim, eps)`` over the last axis: ``x · rsqrt(var(x) + eps) · scale``, with
    torch's *unbiased* variance (``torch.var``'s default) and no centering of ``x`` and no bias.
    Computed in float32 as ``LayerNorm`` is; the result has ``x``'s dtype."""

    dim: int
    eps: float = DEFAULT_NORM_EPS

    def init(self, key):
        return {"scale": filled((self.dim,), 1.0)}, {}

    def apply(self, params, state, x, *, train=False):
        xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        var = jnp.var(xf, axis=-1, keepdims=True, ddof=1)
        y = (xf * jax.lax.rsqrt(var + self.eps)).astype(x.dtype)
        return y * params["scale"].astype(y.dtype), state


@attrs.frozen
class Activation(nn.Module):
    """An activation function as a parameter-free module (timm's ``act_layer()`` in a Sequential)."""

    fn: Callable[[jax.Array], jax.Array]

    def apply(self, params, state, x, *, train=False):
        return self.fn(x), state


def make_norm(norm_layer: str, eps: float | None) -> Callable[[int], nn.Module]:
    """``dim → norm module`` for timm's ``norm_layer`` name (``'layernorm'``, ``'simplenorm'``) and
    ``norm_eps`` (``None``: timm's default 1e-6). On NHWC timm's channels-first (``…2d``) and
    channels-last forms are the same computation, so one factory serves both."""
    eps = DEFAULT_NORM_EPS if eps is None else eps
    if norm_layer == "layernorm":
        return lambda dim: nn.LayerNorm(dim, eps=eps)
    if norm_layer == "simplenorm":
        return lambda dim: SimpleNorm(dim, eps=eps)
    raise ValueError(f"norm_layer {norm_layer!r}: one of {', '.join(NORM_LAYERS)}")


def make_divisible(v: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """timm's ``make_divisible``: ``v`` rounded to a multiple of ``divisor``, never below
    ``round_limit · v`` (the ``overlap_tiered`` stem's middle width: ``dims[0] // 2`` → 24 for atto)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < round_limit * v else new_v
