"""The compiled self-attention against a float64 numpy reference (panel, strip and channel tails,
both code paths, large logits, vmap, threads, sharding, arguments)."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_cpu_kernels import attention
from zoo_cpu_kernels.attention import attention_supports, self_attention


def reference(qkv, heads, scale, bias=None):
    n, t, c = qkv.shape
    qkv = np.asarray(qkv, np.float64) + (0 if bias is None else np.asarray(bias, np.float64))
    q, k, v = qkv.reshape(n, t, 3, heads, -1).transpose(2, 0, 3, 1, 4)
    logits = q @ k.swapaxes(-1, -2) * scale
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return (w @ v).transpose(0, 2, 1, 3).reshape(n, t, -1)


def data(n, t, heads, d, spread=1.0, seed=0):
    return (np.random.default_rng(seed).standard_normal((n, t, 3 * heads * d)) * spread).astype(np.float32)


# (N, T, heads, D): T off the 6-row panels (1-5 left) and off the 64-key strips and 16-key vectors
# (1, 7, 17, 65, 197: ViT's 14² + 1), D 16 to 80 (the last output block 16-48 wide, and 64 + 16)
CASES = [(1, 1, 1, 16), (2, 7, 3, 32), (1, 17, 2, 48), (3, 65, 1, 64), (1, 197, 2, 64), (2, 13, 4, 80),
         (1, 64, 1, 16), (1, 6, 5, 96)]


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_the_float64_reference(case, portable):
    n, t, heads, d = case
    qkv = data(*case)
    bias = np.random.default_rng(9).standard_normal(3 * heads * d).astype(np.float32)
    got = jax.jit(lambda a, b: attention._attend(a, b, heads=heads, scale=d ** -0.5, portable=portable))(qkv, bias)
    assert got.shape == (n, t, heads * d)
    np.testing.assert_allclose(np.asarray(got), reference(qkv, heads, d ** -0.5, bias), rtol=1e-5, atol=1e-5)
    unbiased = attention._attend(qkv, heads=heads, scale=d ** -0.5, portable=portable)
    np.testing.assert_allclose(np.asarray(unbiased), reference(qkv, heads, d ** -0.5), rtol=1e-5, atol=1e-5)


def test_large_logits_and_peaked_rows():
    """Logits of ~±1000: the row maximum keeps exp in range and keys far below it weigh 0. Float32
    logits that large are off by ~1e-4 themselves, so the bar is XLA's own float32 error, doubled."""
    qkv = data(2, 23, 2, 32, spread=6.0, seed=1)
    want = reference(qkv, 2, 1.0)
    q, k, v = jnp.asarray(qkv).reshape(2, 23, 3, 2, 32).transpose(2, 0, 3, 1, 4)
    xla = (jax.nn.softmax(q @ k.swapaxes(-1, -2), axis=-1) @ v).transpose(0, 2, 1, 3).reshape(2, 23, 64)
    got = np.asarray(self_attention(qkv, heads=2, scale=1.0))
    assert np.isfinite(got).all()
    assert np.abs(got - want).max() <= 2 * np.abs(np.asarray(xla) - want).max() + 1e-6


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
def test_logits_all_far_below_zero(portable):
    """Every logit -288 with T off the 16-key vectors: the keys past T (whose logits against kᵀ's zero
    padding are 0) must not count in a row's maximum, or every weight underflows and the sum is 0."""
    n, t, heads, d = 2, 23, 2, 32
    qkv = np.random.default_rng(4).standard_normal((n, t, 3 * heads * d)).astype(np.float32)
    qkv[..., :heads * d] = 3.0
    qkv[..., heads * d:2 * heads * d] = -3.0
    got = np.asarray(attention._attend(qkv, heads=heads, scale=1.0, portable=portable))
    v = qkv[..., 2 * heads * d:]
    np.testing.assert_allclose(got, np.broadcast_to(v.mean(1, keepdims=True), v.shape), rtol=1e-5, atol=1e-5)


def test_threads_agree():
    qkv = data(3, 41, 4, 32, seed=2)
    calls = [attention._attend(qkv, heads=4, scale=0.2, max_threads=t) for t in (1, 0)]
    np.testing.assert_array_equal(np.asarray(calls[0]), np.asarray(calls[1]))


def test_vmap_folds_the_batch():
    qkv = data(6, 19, 2, 16, seed=3).reshape(2, 3, 19, 96)
    bias = np.random.default_rng(4).standard_normal((2, 96)).astype(np.float32)
    got = jax.vmap(lambda a: self_attention(a, bias[0], heads=2, scale=0.25))(qkv)
    want = reference(qkv.reshape(6, 19, 96), 2, 0.25, bias[0]).reshape(2, 3, 19, 32)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    got = jax.vmap(lambda a, b: self_attention(a, b, heads=2, scale=0.25))(qkv, bias)  # a bias per batch entry
    want = np.stack([reference(qkv[i], 2, 0.25, bias[i]) for i in range(2)])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    got = jax.vmap(lambda b: self_attention(qkv[0], b, heads=2, scale=0.25))(bias)  # only the bias batched
    want = np.stack([reference(qkv[0], 2, 0.25, bias[i]) for i in range(2)])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    fn = jax.jit(lambda a: self_attention(a, heads=2, scale=0.25))
    assert attention.ATTENTION_TARGET in fn.lower(qkv[0]).compile().as_text()


def test_supports_and_refusals():
    assert attention_supports(np.float32, heads=12, head_dim=64)
    assert not attention_supports(np.float32, heads=12, head_dim=24)
    assert not attention_supports(jnp.bfloat16, heads=12, head_dim=64)
    with pytest.raises(ValueError, match=r"self_attention: needs float32 qkv \(N, T, 3·2·D\).*\(1, 5, 90\)"):
        self_attention(np.zeros((1, 5, 90), np.float32), heads=2, scale=1.0)  # D = 15
    with pytest.raises(ValueError, match="float32"):
        self_attention(np.zeros((1, 5, 96), jnp.bfloat16), heads=2, scale=1.0)
    with pytest.raises(ValueError, match=r"\(5, 96\)"):
        self_attention(np.zeros((5, 96), np.float32), heads=2, scale=1.0)
    with pytest.raises(ValueError, match=r"bias must be float32 \(96,\), got float32 \(32,\)"):
        self_attention(np.zeros((1, 5, 96), np.float32), np.zeros(32, np.float32), heads=2, scale=1.0)


def test_empty_batch():
    assert self_attention(np.zeros((0, 4, 96), np.float32), heads=2, scale=1.0).shape == (0, 4, 32)


def test_a_batch_sharded_over_devices_is_computed_where_it_lies(computed_where_it_lies):
    """Under jax.sharding each device attends over its own images: no all-gather of the batch."""
    computed_where_it_lies("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from zoo_cpu_kernels.attention import self_attention
        qkv = np.random.default_rng(0).standard_normal((8, 11, 3 * 2 * 16), dtype=np.float32)
        batch = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), P("b"))
        bias = np.linspace(-1, 1, 96, dtype=np.float32)
        def f(a):
            return self_attention(jax.lax.with_sharding_constraint(a, batch), bias, heads=2, scale=0.25)
        hlo = jax.jit(f).lower(qkv).compile().as_text()
        err = float(np.abs(np.asarray(jax.jit(f)(qkv)) - self_attention(qkv, bias, heads=2, scale=0.25)).max())
        print(len(jax.devices()), "all-gather" in hlo, err)
    """)
