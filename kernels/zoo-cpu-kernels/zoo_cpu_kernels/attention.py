"""Multi-head self-attention straight from a qkv layer's output (a ViT block's attention on the CPU).

The FFI target ``zoo_attention`` (``attention.cc``) takes the qkv layer's product (N, T, 3·H·D)
float32, channels ordered (3, H, D) as timm's ``Attention`` reshapes them, and that layer's bias
(3·H·D,), and returns (N, T, H·D), token-major, ready for the proj layer: ``softmax(q kᵀ · scale) v``
per head, the bias added as q, k and v are read, without the transposes to head-major and back.
Under jax.sharding the call splits along the batch; under ``jax.vmap`` a batch of inputs folds into
N (a batch of biases loops). No autodiff rule: zoo-core adds the VJP.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoo_cpu_kernels import _batchable, _lib, _partitioned

ATTENTION_TARGET = "zoo_attention"

jax.ffi.register_ffi_target(ATTENTION_TARGET, jax.ffi.pycapsule(_lib.ZooAttention), platform="cpu")


def attention_supports(dtype, *, heads: int, head_dim: int) -> bool:
    """Whether ``self_attention`` computes this case: float32, a positive multiple of 16 channels
    per head."""
    return np.dtype(dtype) == np.float32 and heads >= 1 and head_dim > 0 and head_dim % 16 == 0


def _attention_call(qkv: jax.Array, bias: jax.Array, config) -> jax.Array:
    heads, scale, max_threads, portable = config
    n, t, c = qkv.shape
    out = jax.ShapeDtypeStruct((n, t, c // 3), qkv.dtype)
    return jax.ffi.ffi_call(ATTENTION_TARGET, out)(
        qkv, bias, heads=np.int64(heads), scale=np.float32(scale), max_threads=np.int64(max_threads),
        portable=np.int64(portable))


# split along the batch under jax.sharding (the bias whole); under jax.vmap the batch folds into N
# (a batch of biases loops)
_PARTITIONED = _partitioned(_attention_call, "n t c, c -> n t o")


def _attend(qkv, bias=None, *, heads: int, scale: float, max_threads: int = 0, portable: bool = False) -> jax.Array:
    qkv = jnp.asarray(qkv)
    if qkv.ndim != 3 or qkv.shape[-1] % (3 * heads) or not attention_supports(
            qkv.dtype, heads=heads, head_dim=qkv.shape[-1] // (3 * heads)):
        raise ValueError(f"self_attention: needs float32 qkv (N, T, 3·{heads}·D) with D a positive multiple of 16, "
                         f"got {qkv.dtype} {qkv.shape}")
    bias = jnp.zeros(qkv.shape[-1:], jnp.float32) if bias is None else jnp.asarray(bias)
    if bias.shape != qkv.shape[-1:] or bias.dtype != jnp.float32:
        raise ValueError(f"self_attention: the bias must be float32 ({qkv.shape[-1]},), got {bias.dtype} {bias.shape}")
    return _batchable(_PARTITIONED, (int(heads), float(scale), int(max_threads), int(portable)))(qkv, bias)


def self_attention(qkv: jax.Array, bias: jax.Array | None = None, *, heads: int, scale: float) -> jax.Array:
    """``qkv`` (N, T, 3·heads·D) float32, channels (3, heads, D), and ``bias`` (3·heads·D,) float32
    or None → (N, T, heads·D): ``softmax(q kᵀ · scale) v`` per head of ``qkv + bias``, each head's D
    output channels at ``h·D``, with float32 accumulation. Not differentiable itself."""
    return _attend(qkv, bias, heads=heads, scale=scale)
