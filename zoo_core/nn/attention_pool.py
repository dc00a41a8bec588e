"""Attention pooling with a learned latent query (SigLIP's ``map`` head).

Paper: `Sigmoid Loss for Language Image Pre-Training` (SigLIP, https://arxiv.org/abs/2303.15343);
the multihead attention pooling (MAP) head of big_vision's ViT.

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``attention_pool_latent(dim, num_heads, mlp_ratio, norm, act)`` → ``AttentionPoolLatent`` | ``timm.layers.AttentionPoolLatent`` (``q_proj``, no qk-norm, no pos-embed, ``out_features = dim``) | ``latent`` (1, L, dim) as it is; ``q.*``, ``kv.*``, ``proj.*``, ``mlp.fc1/fc2.*`` (``linear_to_dense``); ``norm.weight`` → ``norm/scale``, ``norm.bias`` |
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn import initializers as inits
from zoo_core.nn.activations import gelu
from zoo_core.nn.attention import dot_product_attention
from zoo_core.nn.linear import Dense
from zoo_core.nn.module import Module, split_keys
from zoo_core.nn.transformer import Mlp, mlp, vit_dense


@attrs.frozen
class AttentionPoolLatent(Module):
    """timm's ``AttentionPoolLatent``: ``latent_len`` learned queries attend over (N, T, dim)
    tokens; ``x = proj(attn)``, then ``x + mlp(norm(x))``; the first latent (``pool="token"``) or
    their mean (``"avg"``) → (N, dim)."""

    num_heads: int
    latent_len: int
    q: Dense
    kv: Dense
    proj: Dense
    norm: Module
    mlp: Mlp
    pool: str = "token"

    @property
    def dim(self) -> int:
        return self.kv.in_features

    def init(self, key):
        k_children, k_latent = split_keys(key, 2)
        params, state = super().init(k_children)
        params["latent"] = inits.trunc_normal_init(self.dim ** -0.5)(k_latent, (1, self.latent_len, self.dim))
        return params, state

    def apply(self, params, state, x, *, train=False):
        n, t, c = x.shape
        heads = self.num_heads
        latent = jnp.broadcast_to(params["latent"].astype(x.dtype), (n, self.latent_len, c))
        q = self.q.apply(params["q"], {}, latent)[0].reshape(n, self.latent_len, heads, -1).transpose(0, 2, 1, 3)
        k, v = self.kv.apply(params["kv"], {}, x)[0].reshape(n, t, 2, heads, -1).transpose(2, 0, 3, 1, 4)
        y = dot_product_attention(q, k, v).transpose(0, 2, 1, 3).reshape(n, self.latent_len, c)
        y = self.proj.apply(params["proj"], {}, y)[0]
        # No child holds state: the classifier path (``forward_head``) calls this without the trees.
        h = self.norm.apply(params["norm"], {}, y)[0]
        y = y + self.mlp.apply(params["mlp"], {"fc1": {}, "fc2": {}}, h)[0]
        return (y[:, 0] if self.pool == "token" else jnp.mean(y, axis=1)), state


def attention_pool_latent(dim: int, num_heads: int = 8, *, mlp_ratio: float = 4.0, norm: Module,
                          act: Callable[[jax.Array], jax.Array] = gelu, latent_len: int = 1, qkv_bias: bool = True,
                          pool: str = "token") -> AttentionPoolLatent:
    """timm's ``AttentionPoolLatent(dim, num_heads=num_heads, mlp_ratio=mlp_ratio, norm_layer=...,
    act_layer=...)`` as ViT's ``global_pool="map"`` builds it; ``norm`` is the norm layer built
    for ``dim``."""
    if dim % num_heads:
        raise ValueError(f"attention_pool_latent: dim {dim} does not split into {num_heads} heads")
    return AttentionPoolLatent(num_heads=num_heads, latent_len=latent_len, q=vit_dense(dim, dim, qkv_bias),
                               kv=vit_dense(dim, 2 * dim, qkv_bias), proj=vit_dense(dim, dim), norm=norm,
                               mlp=mlp(dim, int(dim * mlp_ratio), act=act), pool=pool)
