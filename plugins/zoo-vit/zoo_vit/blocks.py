"""The block types of timm's ``vision_transformer.py`` besides the pre-norm ``Block`` (which is
``zoo_core.nn.transformer.VitBlock``), and the factory that builds a config's block ``i``.

| ours | timm (``vision_transformer.py``) | state-dict keys → leaves |
| --- | --- | --- |
| ``ResPostBlock`` | ``ResPostBlock``: norm after each branch (``vit_base_patch16_rpn_224``) | ``attn.*``, ``norm1.*``, ``mlp.*``, ``norm2.*`` |
| ``ParallelScalingBlock`` | ``ParallelScalingBlock`` (ViT-22B style; ``vit_pwee``) | ``in_norm.*``, ``in_proj.*``, ``mlp_bias`` (without qkv bias), ``attn_out_proj.*``, ``mlp_out_proj.*``, ``ls.gamma`` |
| ``DiffParallelScalingBlock`` | ``DiffParallelScalingBlock`` (``vit_dpwee``) | ``in_norm.*``, ``in_proj.*``, ``mlp_bias``, ``lambda_q1`` … ``lambda_k2``, ``sub_norm.weight``, ``out_proj.*``, ``ls.gamma`` |
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn import LayerScale
from zoo_core.nn import initializers as inits
from zoo_core.nn.activations import get_act
from zoo_core.nn.attention import dot_product_attention, mhsa
from zoo_core.nn.diff_attention import diff_attention, differential_attention, init_lambdas, lambda_init
from zoo_core.nn.linear import Dense
from zoo_core.nn.mlp import glu_mlp, swiglu
from zoo_core.nn.module import Identity, Module, split_keys
from zoo_core.nn.norm import LayerNorm, RmsNorm
from zoo_core.nn.transformer import mlp, vit_block, vit_dense

from zoo_vit.config import ViTConfig


def norm_factory(kind: str, eps: float) -> Callable[[int], Module]:
    """The norm layer of ``norm_layer`` / ``embed_norm_layer`` for a width."""
    return (lambda dim: LayerNorm(dim, eps=eps)) if kind == "layernorm" else (lambda dim: RmsNorm(dim, eps=eps))


def mlp_factory(kind: str) -> Callable[..., Module]:
    """``mlp_layer(in_features, hidden_features, act=..., bias=..., norm=...)``."""
    if kind == "swiglu":
        return swiglu
    if kind == "glu_silu_gate_first":
        return lambda dim, hidden, *, act, bias, norm: glu_mlp(dim, hidden, act=get_act("silu"), gate_last=False,
                                                               bias=bias, norm=norm)
    return mlp


@attrs.frozen
class ResPostBlock(Module):
    """timm's ``ResPostBlock``: ``x + norm1(attn(x))`` then ``x + norm2(mlp(x))``; the norms'
    scales start at ``init_values``."""

    attn: Module
    norm1: Module
    mlp: Module
    norm2: Module
    init_values: float | None = None

    def init(self, key):
        params, state = super().init(key)
        if self.init_values is not None:
            for name in ("norm1", "norm2"):
                params[name]["scale"] = inits.filled(params[name]["scale"].shape, self.init_values)
        return params, state

    def apply(self, params, state, x, *, train=False):
        def sublayer(name, y):
            return getattr(self, name).apply(params[name], state[name], y)[0]

        x = x + sublayer("norm1", sublayer("attn", x))
        x = x + sublayer("norm2", sublayer("mlp", x))
        return x, state


@attrs.frozen
class ParallelScalingBlock(Module):
    """timm's ``ParallelScalingBlock`` (``fuse_out_proj=False``): one ``in_proj`` of ``in_norm(x)``
    gives the MLP's hidden units and q, k, v (split in that order); ``x + ls(attn_out_proj(attn) +
    mlp_out_proj(act(mlp)))``. Without a qkv bias the MLP's bias is the separate ``mlp_bias``."""

    num_heads: int
    mlp_hidden: int
    in_norm: Module
    in_proj: Dense
    attn_out_proj: Dense
    mlp_out_proj: Dense
    ls: LayerScale | Identity
    act: Callable[[jax.Array], jax.Array]

    def init(self, key):
        params, state = super().init(key)
        if not self.in_proj.bias:
            params["mlp_bias"] = inits.filled((self.mlp_hidden,), 0.0)
        return params, state

    def split(self, params, state, x):
        """``in_norm`` and ``in_proj`` → the MLP's pre-activation and q, k, v (N, T, dim) each."""
        y = self.in_norm.apply(params["in_norm"], state["in_norm"], x)[0]
        y = self.in_proj.apply(params["in_proj"], state["in_proj"], y)[0]
        dim = x.shape[-1]
        x_mlp, q, k, v = jnp.split(y, [self.mlp_hidden, self.mlp_hidden + dim, self.mlp_hidden + 2 * dim], axis=-1)
        if "mlp_bias" in params:
            x_mlp = x_mlp + params["mlp_bias"].astype(x_mlp.dtype)
        return self.act(x_mlp), q, k, v

    def apply(self, params, state, x, *, train=False):
        n, t, dim = x.shape
        x_mlp, q, k, v = self.split(params, state, x)
        q, k, v = (a.reshape(n, t, self.num_heads, -1).transpose(0, 2, 1, 3) for a in (q, k, v))
        x_attn = dot_product_attention(q, k, v).transpose(0, 2, 1, 3).reshape(n, t, dim)
        y = (self.attn_out_proj.apply(params["attn_out_proj"], {}, x_attn)[0]
             + self.mlp_out_proj.apply(params["mlp_out_proj"], {}, x_mlp)[0])
        return x + self.ls.apply(params["ls"], state["ls"], y)[0], state


@attrs.frozen
class DiffParallelScalingBlock(Module):
    """timm's ``DiffParallelScalingBlock``: the parallel block with differential attention
    (``zoo_core.nn.diff_attention``) and one fused ``out_proj`` of ``concat(attn, act(mlp))``."""

    num_heads: int
    mlp_hidden: int
    depth: int
    in_norm: Module
    in_proj: Dense
    sub_norm: RmsNorm
    out_proj: Dense
    ls: LayerScale | Identity
    act: Callable[[jax.Array], jax.Array]

    split = ParallelScalingBlock.split

    def init(self, key):
        k_children, k_lambda = split_keys(key, 2)
        params, state = super().init(k_children)
        if not self.in_proj.bias:
            params["mlp_bias"] = inits.filled((self.mlp_hidden,), 0.0)
        params.update(init_lambdas(k_lambda, self.sub_norm.dim // 2))
        return params, state

    def apply(self, params, state, x, *, train=False):
        n, t, dim = x.shape
        heads, hd = self.num_heads, self.sub_norm.dim // 2
        x_mlp, q, k, v = self.split(params, state, x)
        q = q.reshape(n, t, 2 * heads, hd).transpose(0, 2, 1, 3)
        k = k.reshape(n, t, 2 * heads, hd).transpose(0, 2, 1, 3)
        v = v.reshape(n, t, heads, 2 * hd).transpose(0, 2, 1, 3)
        x_attn = differential_attention(q, k, v, params, self.sub_norm, lambda_init(self.depth))
        x_attn = x_attn.transpose(0, 2, 1, 3).reshape(n, t, dim)
        y = self.out_proj.apply(params["out_proj"], {}, jnp.concatenate([x_attn, x_mlp], axis=-1))[0]
        return x + self.ls.apply(params["ls"], state["ls"], y)[0], state


def _parallel_block(c: ViTConfig, depth: int) -> Module:
    dim, hidden = c.embed_dim, int(c.mlp_ratio * c.embed_dim)
    norm = norm_factory(c.norm_layer, c.norm_eps)
    common = dict(num_heads=c.num_heads, mlp_hidden=hidden, in_norm=norm(dim),
                  in_proj=vit_dense(dim, hidden + 3 * dim, c.qkv_bias),
                  ls=LayerScale(dim, c.init_values) if c.init_values is not None else Identity(),
                  act=get_act(c.act_layer))
    if c.block_fn == "parallel_scaling":
        return ParallelScalingBlock(attn_out_proj=vit_dense(dim, dim, c.proj_bias),
                                    mlp_out_proj=vit_dense(hidden, dim, c.proj_bias), **common)
    return DiffParallelScalingBlock(depth=depth, sub_norm=RmsNorm(dim // c.num_heads, eps=1e-5),
                                    out_proj=vit_dense(dim + hidden, dim, c.proj_bias), **common)


def make_block(c: ViTConfig, depth: int) -> Module:
    """Block ``depth`` of the config's ``block_fn``, as timm's ``VisionTransformer`` builds it."""
    if c.block_fn in ("parallel_scaling", "diff_parallel_scaling"):
        return _parallel_block(c, depth)
    dim, norm = c.embed_dim, norm_factory(c.norm_layer, c.norm_eps)
    attn_norm = norm(dim) if c.scale_attn_norm else None
    if c.attn_layer == "diff":
        attn = diff_attention(dim, c.num_heads, qkv_bias=c.qkv_bias, proj_bias=c.proj_bias, norm=attn_norm,
                              depth=depth)
    else:
        attn = mhsa(dim, c.num_heads, qkv_bias=c.qkv_bias, proj_bias=c.proj_bias, norm=attn_norm)
    act, mlp_layer = get_act(c.act_layer), mlp_factory(c.mlp_layer)
    if c.block_fn == "res_post":
        hidden = int(dim * c.mlp_ratio)
        return ResPostBlock(attn=attn, norm1=norm(dim),
                            mlp=mlp_layer(dim, hidden, act=act, bias=c.proj_bias,
                                          norm=norm(hidden) if c.scale_mlp_norm else None),
                            norm2=norm(dim), init_values=c.init_values)
    return vit_block(dim, c.num_heads, mlp_ratio=c.mlp_ratio, init_values=c.init_values, act=act, norm=norm,
                     mlp_layer=mlp_layer, attn=attn, proj_bias=c.proj_bias, scale_mlp_norm=c.scale_mlp_norm)
