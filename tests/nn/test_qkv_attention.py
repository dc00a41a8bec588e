"""``zoo_core.nn.attention.qkv_attention``: the compiled CPU kernel where it covers the case, the
composition of ``dot_product_attention`` elsewhere, the same values and gradients either way."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core.kernels import cpu_kernels
from zoo_core.nn.attention import _composed_qkv_attention, dot_product_attention, qkv_attention

needs_kernels = pytest.mark.skipif(cpu_kernels() is None or not hasattr(cpu_kernels(), "attention_supports"),
                                   reason="zoo-cpu-kernels with the attention kernel is not installed")


def _qkv(n, t, heads, d, seed=0, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), (n, t, 3 * heads * d)).astype(dtype)


@pytest.mark.parametrize("kernels_on", [True, False], ids=["kernels", "composed"])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("n,t,heads,d", [(2, 197, 3, 64), (1, 13, 2, 16), (3, 5, 4, 8)])  # d 8: never the kernel
def test_equals_per_head_softmax_attention(monkeypatch, kernels_on, with_bias, n, t, heads, d):
    if not kernels_on:
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    qkv = _qkv(n, t, heads, d)
    bias = jax.random.normal(jax.random.key(7), (3 * heads * d,)) if with_bias else None
    biased = np.asarray(qkv, np.float64) + (0 if bias is None else np.asarray(bias, np.float64))
    q, k, v = biased.reshape(n, t, 3, heads, d).transpose(2, 0, 3, 1, 4)
    logits = q @ k.swapaxes(-1, -2) / np.sqrt(d)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    want = ((w / w.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(n, t, heads * d)
    got = jax.jit(qkv_attention, static_argnums=1)(qkv, heads, bias)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


@needs_kernels
def test_the_kernel_runs_where_it_covers_the_case():
    hlo = jax.jit(qkv_attention, static_argnums=1).lower(_qkv(2, 9, 2, 32), 2).compile().as_text()
    assert cpu_kernels().ATTENTION_TARGET in hlo
    hlo = jax.jit(qkv_attention, static_argnums=1).lower(_qkv(2, 9, 2, 24), 2).compile().as_text()
    assert cpu_kernels().ATTENTION_TARGET not in hlo  # D 24: not a multiple of 16


@needs_kernels
def test_gradients_are_the_compositions():
    qkv, cot = _qkv(2, 11, 2, 16, seed=1), _qkv(2, 11, 2, 16, seed=2)[..., :32]
    bias = jax.random.normal(jax.random.key(3), (96,))
    loss = jax.jit(jax.grad(lambda a, b: jnp.sum(qkv_attention(a, 2, b) * cot), argnums=(0, 1)))
    want = jax.grad(lambda a, b: jnp.sum(_composed_qkv_attention(2, a, b) * cot), argnums=(0, 1))(qkv, bias)
    for got, expected in zip(loss(qkv, bias), want):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)  # k-bias: ~0


def test_bfloat16_composes_in_bfloat16():
    qkv = _qkv(1, 7, 2, 16, dtype=jnp.bfloat16)
    y = qkv_attention(qkv, 2)
    assert y.dtype == jnp.bfloat16
    ref = qkv_attention(qkv.astype(jnp.float32), 2)
    np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(ref), atol=2e-2)


def test_dot_product_attention_with_a_bias_and_masked_keys():
    """The division after the second matmul keeps the softmax's values: a -inf bias drops keys."""
    q, k, v = (jax.random.normal(jax.random.key(i), (1, 2, 5, 8)) for i in range(3))
    bias = jnp.where(jnp.arange(5) < 3, 0.0, -jnp.inf)[None, None, None, :]
    got = dot_product_attention(q, k, v, bias)
    want = dot_product_attention(q[..., :], k[:, :, :3], v[:, :, :3])
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
    assert float(jnp.abs(got - jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2) / np.sqrt(8) + bias) @ v).max()) < 1e-6
