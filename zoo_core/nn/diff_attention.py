"""Differential attention: the difference of two softmax attention maps over the same values.

Paper: `Differential Transformer` (https://arxiv.org/abs/2410.05258).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``diff_attention(dim, num_heads, depth=i)`` → ``DiffAttention`` | ``timm.layers.DiffAttention`` (``dual_lambda=False``, no qk-norm) | ``qkv.*``, ``proj.*`` (``linear_to_dense``), ``lambda_q1``/``lambda_k1``/``lambda_q2``/``lambda_k2`` (head_dim,), ``sub_norm.weight`` → ``sub_norm/scale``; ``norm.*`` with ``scale_norm`` |
| ``differential_attention(q, k, v, lam, ...)`` | the attention core of ``DiffAttention`` and ViT's ``DiffParallelScalingBlock`` | — |

Each of the ``num_heads`` heads has two query/key halves of ``head_dim = dim / heads / 2``
channels and one value of ``2 · head_dim``: ``softmax(q1 k1ᵀ) v − λ softmax(q2 k2ᵀ) v``, with
``λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init`` and ``λ_init = 0.8 − 0.6 · exp(−0.3 · depth)``; the
result is RMS-normed per head (``sub_norm``, eps 1e-5) and scaled by ``1 − λ_init``.
"""

from __future__ import annotations

import math

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn import initializers as inits
from zoo_core.nn.attention import dot_product_attention
from zoo_core.nn.linear import Dense
from zoo_core.nn.module import Module, split_keys
from zoo_core.nn.norm import RmsNorm
from zoo_core.nn.transformer import vit_dense

LAMBDA_NAMES = ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2")


def lambda_init(depth: int) -> float:
    """timm's ``set_lambda_init``: ``0.8 − 0.6 · exp(−0.3 · depth)`` for the block at ``depth``."""
    return 0.8 - 0.6 * math.exp(-0.3 * depth)


def init_lambdas(key: jax.Array, head_dim: int) -> dict:
    """The four (head_dim,) lambda vectors, normal with std 0.1 as timm draws them, in float32."""
    return {name: inits.normal_init(0.1)(k, (head_dim,)) for name, k in zip(LAMBDA_NAMES, split_keys(key, 4))}


def differential_attention(q: jax.Array, k: jax.Array, v: jax.Array, params: dict, sub_norm: RmsNorm,
                           depth_lambda_init: float) -> jax.Array:
    """The core of timm's differential attention.

    ``q``, ``k``: (N, 2·heads, T, head_dim) with the two halves of head ``h`` at ``2h`` and
    ``2h + 1``; ``v``: (N, heads, T, 2·head_dim); ``params`` holds the four lambda vectors and
    ``sub_norm``. Returns (N, heads, T, 2·head_dim), sub-normed and scaled by ``1 − λ_init``.
    """
    lam1 = jnp.exp(jnp.sum(params["lambda_q1"] * params["lambda_k1"]).astype(jnp.float32))
    lam2 = jnp.exp(jnp.sum(params["lambda_q2"] * params["lambda_k2"]).astype(jnp.float32))
    lam = (lam1 - lam2 + depth_lambda_init).astype(q.dtype)
    y = dot_product_attention(q[:, 0::2], k[:, 0::2], v) - lam * dot_product_attention(q[:, 1::2], k[:, 1::2], v)
    y, _ = sub_norm.apply(params["sub_norm"], {}, y)
    return y * jnp.asarray(1 - depth_lambda_init, y.dtype)


@attrs.frozen
class DiffAttention(Module):
    """timm's ``DiffAttention``: (N, T, dim) → (N, T, dim). ``qkv`` packs (q, k, v) as three
    ``dim``-wide chunks; ``norm`` (``scale_norm``) is None where timm has ``Identity``."""

    num_heads: int
    depth: int
    qkv: Dense
    sub_norm: RmsNorm
    proj: Dense
    norm: Module | None = None

    @property
    def head_dim(self) -> int:
        return self.qkv.in_features // self.num_heads // 2

    def init(self, key):
        k_children, k_lambda = split_keys(key, 2)
        params, state = super().init(k_children)
        params.update(init_lambdas(k_lambda, self.head_dim))
        return params, state

    def apply(self, params, state, x, *, train=False):
        n, t, c = x.shape
        heads, hd = self.num_heads, self.head_dim
        q, k, v = jnp.split(self.qkv.apply(params["qkv"], state["qkv"], x)[0], 3, axis=-1)
        q = q.reshape(n, t, 2 * heads, hd).transpose(0, 2, 1, 3)
        k = k.reshape(n, t, 2 * heads, hd).transpose(0, 2, 1, 3)
        v = v.reshape(n, t, heads, 2 * hd).transpose(0, 2, 1, 3)
        y = differential_attention(q, k, v, params, self.sub_norm, lambda_init(self.depth))
        y = y.transpose(0, 2, 1, 3).reshape(n, t, c)
        if self.norm is not None:
            y = self.norm.apply(params["norm"], state["norm"], y)[0]
        return self.proj.apply(params["proj"], state["proj"], y)[0], state


def diff_attention(dim: int, num_heads: int = 8, *, qkv_bias: bool = False, proj_bias: bool = True,
                   norm: Module | None = None, depth: int = 0) -> DiffAttention:
    """timm's ``DiffAttention(dim, num_heads, qkv_bias, scale_norm, proj_bias, depth=depth)``;
    ``norm`` is the ``scale_norm`` layer built for ``dim`` (or None)."""
    if dim % (2 * num_heads):
        raise ValueError(f"diff_attention: dim {dim} does not split into {num_heads} heads of two halves")
    return DiffAttention(num_heads=num_heads, depth=depth, qkv=vit_dense(dim, 3 * dim, qkv_bias),
                         sub_norm=RmsNorm(dim // num_heads, eps=1e-5), proj=vit_dense(dim, dim, proj_bias), norm=norm)
