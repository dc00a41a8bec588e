"""Multi-head self-attention: ViT's attention over tokens and MaxViT's 2-D attention with a learned
relative position bias.

Paper: `Attention Is All You Need` (https://arxiv.org/abs/1706.03762); the relative position bias
as in Swin (https://arxiv.org/abs/2103.14030) and MaxViT (https://arxiv.org/abs/2204.01697).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``mhsa(dim, num_heads, qkv_bias=..., norm=...)`` → ``MultiHeadSelfAttention`` | ``timm.layers.Attention`` (fused ``qkv``; optional scale-norm; no qk-norm or gate) | ``qkv.weight`` (3·dim, dim) → ``qkv/kernel`` (dim, 3·dim), ``proj.weight`` → ``proj/kernel`` (``linear_to_dense``); biases as they are; ``norm.*`` |
| ``rel_pos_attention(dim, window_size, ...)`` → ``RelPosAttention2d`` | ``timm.models.maxxvit.Attention2d`` with ``rel_pos_cls=RelPosBias`` | ``qkv.weight`` / ``proj.weight`` (OIHW 1×1) → ``kernel`` (1, 1, in, out) (``conv_to_hwio``); ``rel_pos.relative_position_bias_table`` → ``rel_pos/relative_position_bias_table``; the index buffer is not persistent in timm and is recomputed here |
| ``rel_pos_index(window_size)`` | ``timm.layers.gen_relative_position_index`` | — |

The attention itself (``dot_product_attention``) is two batched matmuls around a float32 softmax
in timm's (N, heads, T, head_dim) layout; it equals timm's fused (``scaled_dot_product_attention``)
and unfused paths to float32 rounding. ``MultiHeadSelfAttention`` takes it straight from the qkv
layer's output (``qkv_attention``): on the CPU, in float32, zoo-cpu-kernels' attention kernel reads
(N, T, 3·dim) and writes (N, T, dim) token-major, without the transposes around the two matmuls.
"""

from __future__ import annotations

import functools

import attrs
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from zoo_core.nn import initializers as inits
from zoo_core.nn.conv import Conv2d, pair, with_reference_vjp
from zoo_core.nn.linear import Dense
from zoo_core.nn.module import Module


def dot_product_attention(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    """``softmax(q kᵀ / √d + bias) v`` per head, in timm's head-major layout.

    ``q``: (N, heads, Tq, d), ``k`` and ``v``: (N, heads, Tk, d), ``bias``: broadcastable to
    (N, heads, Tq, Tk). Returns (N, heads, Tq, d). The logits are accumulated and returned by
    the q·kᵀ matmul in at least float32, and the softmax runs in float32, so bfloat16 inputs
    only round the attention weights once, before the second matmul. (Head-major batched
    matmuls are the fastest layout for XLA on CPU, ahead of token-major einsums and of
    ``jax.nn.dot_product_attention``, which computes the same values.) The softmax's division comes
    after the second matmul: each row of ``exp(logits - max)`` times v, divided by the row's sum
    (Tq·d divisions, not Tq·Tk; on a Zen 4 EPYC this made ViT-B's attention 35% faster).
    """
    scale = jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
    logits = jnp.matmul(q * scale, jnp.swapaxes(k, -1, -2),
                        preferred_element_type=jnp.promote_types(q.dtype, jnp.float32))
    if bias is not None:
        logits = logits + bias.astype(logits.dtype)
    logits = logits.astype(jnp.float32)
    weights = jnp.exp(logits - lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True)))
    out = jnp.matmul(weights.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return (out / jnp.sum(weights, axis=-1, keepdims=True)).astype(v.dtype)


def _composed_qkv_attention(heads: int, qkv: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    if bias is not None:
        qkv = qkv + bias.astype(qkv.dtype)
    n, t, _ = qkv.shape
    q, k, v = qkv.reshape(n, t, 3, heads, -1).transpose(2, 0, 3, 1, 4)
    return dot_product_attention(q, k, v).transpose(0, 2, 1, 3).reshape(n, t, -1)


def qkv_attention(qkv: jax.Array, heads: int, bias: jax.Array | None = None) -> jax.Array:
    """``dot_product_attention`` of the q, k and v in a qkv layer's output ``qkv + bias``: ``qkv``
    (N, T, 3·heads·D), channels ordered (3, heads, D) as timm's ``Attention`` reshapes them, ``bias``
    (3·heads·D,) or None → (N, T, heads·D), each head's output at channels h·D. On the CPU, for
    float32 and D a multiple of 16, zoo-cpu-kernels' attention kernel computes it in one call, the
    bias added as it reads q, k and v (its gradients are this composition's); elsewhere the
    composition."""
    from zoo_core.kernels import cpu_kernels

    compose = functools.partial(_composed_qkv_attention, heads)
    kernels = cpu_kernels()
    head_dim = qkv.shape[-1] // (3 * heads)
    if (kernels is None or not hasattr(kernels, "attention_supports") or qkv.ndim != 3
            or qkv.shape[-1] != 3 * heads * head_dim
            or not kernels.attention_supports(qkv.dtype, heads=heads, head_dim=head_dim)
            or (bias is not None and (bias.dtype != jnp.float32 or bias.shape != qkv.shape[-1:]))):
        return compose(qkv, bias)
    call = functools.partial(kernels.self_attention, heads=heads, scale=head_dim ** -0.5)
    bias = jnp.zeros(qkv.shape[-1:], jnp.float32) if bias is None else bias
    return lax.platform_dependent(qkv, bias, cpu=functools.partial(with_reference_vjp, compose, call),
                                  default=compose)


def qkv_attention_first(q: jax.Array, kv: jax.Array, heads: int, bias: jax.Array | None = None) -> jax.Array:
    """The first ``rows`` tokens of ``qkv_attention``: ``q`` (N, rows, heads·D) the qkv layer's q channels
    for those tokens, ``kv`` (N, T, 2·heads·D) its k and v channels for all T tokens, both before the
    layer's ``bias`` (3·heads·D,) or None → (N, rows, heads·D) (``dot_product_attention``: with a few
    queries its two products are small)."""
    n, rows, dim = q.shape
    k, v = kv[..., :dim], kv[..., dim:]
    if bias is not None:
        bias = bias.astype(q.dtype)
        q, k, v = q + bias[:dim], k + bias[dim:2 * dim], v + bias[2 * dim:]
    q, k, v = (a.reshape(n, a.shape[1], heads, -1).transpose(0, 2, 1, 3) for a in (q, k, v))
    return dot_product_attention(q, k, v).transpose(0, 2, 1, 3).reshape(n, rows, dim)


@attrs.frozen
class MultiHeadSelfAttention(Module):
    """timm's ``Attention``: (N, T, dim) → (N, T, dim).

    ``qkv`` projects to (q, k, v) for every head at once; its output channels are ordered
    (3, heads, head_dim) as in timm's ``reshape(B, N, 3, num_heads, head_dim).permute(2, 0, 3, 1, 4)``.
    """

    num_heads: int
    qkv: Dense
    proj: Dense
    norm: Module | None = None

    def apply(self, params, state, x, *, train=False, rows: int | None = None):
        """(N, T, dim) → (N, T, dim); with ``rows``, the outputs of the first ``rows`` tokens alone (N, rows,
        dim): their queries against every token's keys and values, ``proj`` on those rows only."""
        kernel = params["qkv"]["kernel"].astype(x.dtype)  # the bias is added as the attention reads it
        if rows is None:
            y = self._attend(params, x @ kernel)
        else:
            dim = kernel.shape[-1] // 3
            y = self._attend(params, x[:, :rows] @ kernel[:, :dim], x @ kernel[:, dim:])
        return self.proj.apply(params["proj"], state["proj"], y)[0], state

    def _attend(self, params, qkv: jax.Array, kv: jax.Array | None = None) -> jax.Array:
        """The attention (then ``norm``) of the qkv layer's output before its bias: ``qkv_attention`` of
        ``qkv``, or with ``kv`` ``qkv_attention_first`` of ``qkv`` (the first rows' q channels) and ``kv``."""
        bias = params["qkv"]["bias"] if self.qkv.bias else None
        if kv is None:
            y = qkv_attention(qkv, self.num_heads, bias)
        else:
            y = qkv_attention_first(qkv, kv, self.num_heads, bias)
        if self.norm is not None:
            y = self.norm.apply(params["norm"], {}, y)[0]
        return y

    def apply_residual(self, params, x: jax.Array, residual: jax.Array, gamma: jax.Array | None = None, *,
                       pre_norm=None, rows: int | None = None) -> jax.Array:
        """``residual + gamma? · attn(x)`` (a LayerScale ``gamma`` or none): in float32 ``qkv`` and
        ``proj`` are ``nn.dense_affine`` / ``nn.dense_layer`` calls (on the CPU zoo-cpu-kernels' pointwise
        kernel, ``proj``'s bias, the LayerScale and the residual add in its epilogue); elsewhere
        ``apply`` and the sum. ``pre_norm``: a LayerNorm's ``(scale, bias, eps)`` applied to ``x`` first
        (the block's ``norm1``), as ``qkv``'s prologue. With ``rows``, the first ``rows`` tokens only (as
        ``apply``; ``residual`` is theirs, (N, rows, dim)): the k and v channels of ``qkv`` for every token,
        its q channels for those rows."""
        from zoo_core.nn.fused import dense_affine, dense_layer
        from zoo_core.nn.norm import layer_norm

        if x.dtype != jnp.float32:
            x = x if pre_norm is None else layer_norm(x, *pre_norm)
            y, _ = self.apply(params, {name: {} for name in params}, x, rows=rows)
            return residual + (y if gamma is None else y * gamma.astype(y.dtype))
        kernel = params["qkv"]["kernel"]
        pro = {} if pre_norm is None else dict(zip(("in_scale", "in_shift", "in_norm_eps"), pre_norm))

        def qkv_layer(x, kernel):  # the bias is added as the attention reads it
            ones, zeros = jnp.ones(kernel.shape[-1:], jnp.float32), jnp.zeros(kernel.shape[-1:], jnp.float32)
            return dense_affine(x, kernel, ones, zeros, **pro)

        if rows is None:
            y = self._attend(params, qkv_layer(x, kernel))
        else:
            dim = kernel.shape[-1] // 3
            y = self._attend(params, qkv_layer(x[:, :rows], kernel[:, :dim]), qkv_layer(x, kernel[:, dim:]))
        return dense_layer(params["proj"], y, gamma=gamma, residual=residual)


def mhsa(dim: int, num_heads: int = 8, *, qkv_bias: bool = False, proj_bias: bool = True,
         norm: Module | None = None) -> MultiHeadSelfAttention:
    """timm's ``Attention(dim, num_heads, qkv_bias, scale_norm, proj_bias=proj_bias)`` (qk_norm
    off), with the initialisation timm's ViT gives its linears: truncated normal (std 0.02)
    kernels, zero biases. ``norm`` (``scale_norm``: BEiT-3's norm of the attention output before
    ``proj``) is the norm layer built for ``dim``, or None."""
    if dim % num_heads:
        raise ValueError(f"mhsa: dim {dim} does not split into {num_heads} heads")
    kernel_init, bias_init = inits.trunc_normal_init(0.02), inits.zeros
    return MultiHeadSelfAttention(
        num_heads=num_heads,
        qkv=Dense(dim, 3 * dim, bias=qkv_bias, kernel_init=kernel_init, bias_init=bias_init),
        proj=Dense(dim, dim, bias=proj_bias, kernel_init=kernel_init, bias_init=bias_init),
        norm=norm,
    )


def rel_pos_index(window_size: int | tuple[int, int], class_token: bool = False) -> np.ndarray:
    """timm's ``gen_relative_position_index``: for every (query, key) pair of positions in a
    ``(Wh, Ww)`` window, the row of the relative-position table that holds their bias.

    Returns an int (Wh·Ww, Wh·Ww) array with values in ``[0, (2Wh-1)(2Ww-1))``; with
    ``class_token`` it is (Wh·Ww+1)² and rows/columns 0 use the three extra table entries
    (token→cls, cls→token, cls→cls) as BEiT does.
    """
    wh, ww = pair(window_size)
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0)
    index = (relative[..., 0] + wh - 1) * (2 * ww - 1) + (relative[..., 1] + ww - 1)
    if class_token:
        num_relative_distance = (2 * wh - 1) * (2 * ww - 1)
        index = np.pad(index, ((1, 0), (1, 0)))
        index[0, :] = num_relative_distance
        index[:, 0] = num_relative_distance + 1
        index[0, 0] = num_relative_distance + 2
    return index


@attrs.frozen
class RelPosBias(Module):
    """timm's ``RelPosBias`` (no prefix tokens): a learned ``relative_position_bias_table``
    ((2Wh-1)(2Ww-1), heads), gathered into a (heads, Wh·Ww, Wh·Ww) attention bias."""

    window_size: tuple[int, int]
    num_heads: int

    def init(self, key):
        wh, ww = self.window_size
        shape = ((2 * wh - 1) * (2 * ww - 1), self.num_heads)
        return {"relative_position_bias_table": inits.trunc_normal_init(0.02)(key, shape)}, {}

    def bias(self, params) -> jax.Array:
        """The (heads, Wh·Ww, Wh·Ww) bias added to the attention logits."""
        area = self.window_size[0] * self.window_size[1]
        table = params["relative_position_bias_table"]
        index = rel_pos_index(self.window_size).reshape(-1)
        return table[index].reshape(area, area, self.num_heads).transpose(2, 0, 1)

    def apply(self, params, state, x, *, train=False):
        """Add the bias to attention logits ``x`` (N, heads, Wh·Ww, Wh·Ww)."""
        return x + self.bias(params).astype(x.dtype), state


@attrs.frozen
class RelPosAttention2d(Module):
    """timm MaxViT's ``Attention2d`` with ``RelPosBias``: attention over all positions of an
    (N, Wh, Ww, dim) map → (N, Wh, Ww, dim_out), biased by relative position.

    ``qkv`` and ``proj`` are 1×1 convs, as in timm. With ``head_first`` the ``qkv`` channels are
    ordered (heads, 3, dim_head) (timm's ``view(B, heads, dim_head * 3, -1).chunk(3)``), otherwise
    (3, heads, dim_head).
    """

    num_heads: int
    dim_head: int
    head_first: bool
    qkv: Conv2d
    rel_pos: RelPosBias
    proj: Conv2d

    def apply(self, params, state, x, *, train=False):
        n, h, w, _ = x.shape
        if (h, w) != self.rel_pos.window_size:
            raise ValueError(f"RelPosAttention2d: input map {(h, w)} does not match the window {self.rel_pos.window_size}")
        qkv, _ = self.qkv.apply(params["qkv"], state["qkv"], x)
        if self.head_first:
            q, k, v = qkv.reshape(n, h * w, self.num_heads, 3, self.dim_head).transpose(3, 0, 2, 1, 4)
        else:
            q, k, v = qkv.reshape(n, h * w, 3, self.num_heads, self.dim_head).transpose(2, 0, 3, 1, 4)
        y = dot_product_attention(q, k, v, self.rel_pos.bias(params["rel_pos"])[None])
        y = y.transpose(0, 2, 1, 3).reshape(n, h, w, -1)
        return self.proj.apply(params["proj"], state["proj"], y)[0], state


def rel_pos_attention(dim: int, window_size: int | tuple[int, int], *, dim_out: int | None = None, dim_head: int = 32,
                      bias: bool = True, expand_first: bool = True, head_first: bool = True) -> RelPosAttention2d:
    """timm's ``Attention2d(dim, dim_out, dim_head, bias, expand_first, head_first,
    rel_pos_cls=partial(RelPosBias, window_size=window_size))``.

    The attention width is ``dim_out`` with ``expand_first`` (else ``dim``), split into heads of
    ``dim_head`` channels.
    """
    dim_out = dim_out or dim
    dim_attn = dim_out if expand_first else dim
    if dim_attn % dim_head:
        raise ValueError(f"rel_pos_attention: attention width {dim_attn} does not split into heads of {dim_head}")
    num_heads = dim_attn // dim_head
    return RelPosAttention2d(
        num_heads=num_heads,
        dim_head=dim_head,
        head_first=head_first,
        qkv=Conv2d(dim, 3 * dim_attn, 1, bias=bias),
        rel_pos=RelPosBias(pair(window_size), num_heads),
        proj=Conv2d(dim_attn, dim_out, 1, bias=bias),
    )
