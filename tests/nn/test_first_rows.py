"""The first rows of a ViT block alone (``VitBlock.apply_first``, ``MultiHeadSelfAttention.apply(rows=)``,
``qkv_attention_first``): a classifier that reads the class token needs the last block's output for that
token only, so past the qkv layer the block computes those rows. Each must equal the full computation's rows,
with the compiled CPU kernels and without."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core.nn import RmsNorm
from zoo_core.nn.attention import qkv_attention, qkv_attention_first
from zoo_core.nn.diff_attention import diff_attention
from zoo_core.nn.transformer import vit_block

DIM, HEADS, T = 64, 2, 13  # head_dim 32: the attention and pointwise kernels' case


def _random(tree, seed):
    leaves, treedef = jax.tree.flatten(tree)
    rng = np.random.default_rng(seed)
    return jax.tree.unflatten(treedef, [jnp.asarray(0.3 * rng.standard_normal(a.shape), a.dtype) for a in leaves])


@pytest.fixture(params=[True, False], ids=["kernels", "composed"])
def kernels_on(request, monkeypatch):
    if not request.param:
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    return request.param


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("rows", [1, 4])
def test_qkv_attention_first_is_the_first_rows_of_qkv_attention(kernels_on, with_bias, rows):
    qkv = jax.random.normal(jax.random.key(0), (2, T, 3 * DIM))
    bias = jax.random.normal(jax.random.key(1), (3 * DIM,)) if with_bias else None
    want = jax.jit(qkv_attention, static_argnums=1)(qkv, HEADS, bias)[:, :rows]
    got = jax.jit(qkv_attention_first, static_argnums=2)(qkv[:, :rows, :DIM], qkv[..., DIM:], HEADS, bias)
    assert got.shape == (2, rows, DIM)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


BLOCKS = {
    "layernorm": lambda: vit_block(DIM, HEADS, qkv_bias=True),  # the norm as the qkv layer's prologue
    "layer-scale": lambda: vit_block(DIM, HEADS, qkv_bias=True, init_values=0.5),
    "rmsnorm": lambda: vit_block(DIM, HEADS, norm=lambda d: RmsNorm(d, eps=1e-6)),  # the norm on its own
    "scale-norms": lambda: vit_block(DIM, HEADS, qkv_bias=True, scale_attn_norm=True, scale_mlp_norm=True),
    "diff-attention": lambda: vit_block(DIM, HEADS, attn=diff_attention(DIM, HEADS, depth=1)),  # apply, then rows
}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_block_apply_first_is_the_first_rows_of_apply(kernels_on, kind, rows, dtype):
    block = BLOCKS[kind]()
    params, state = block.init(jax.random.key(0))
    params = _random(params, seed=1)
    x = jax.random.normal(jax.random.key(2), (2, T, DIM)).astype(dtype)
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    want = jax.jit(lambda p, x: block.apply(p, state, x)[0])(params, x)[:, :rows]
    got = jax.jit(lambda p, x: block.apply_first(p, state, x, rows))(params, x)
    assert got.shape == (2, rows, DIM) and got.dtype == dtype
    tol = 1e-5 if dtype == jnp.float32 else 5e-2  # bfloat16: products of other shapes round differently
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32), rtol=tol, atol=tol)

