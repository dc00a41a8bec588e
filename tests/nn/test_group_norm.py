"""``nn.GroupNorm``'s statistics: the one compiled call (zoo-cpu-kernels' GroupNorm for NHWC with
channels in 16s, its moments pass for other ranks, where installed) equals XLA's two passes
(``ZOO_CPU_KERNELS=0``) and a float64 reference, values and gradients, a large mean and one channel per
group included. ``nn.group_norm_act`` (GroupNorm + ReLU on a folded weight-standardized conv's output,
with the channel sums of its result) equals the composition it replaces, gradients included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core import nn
from zoo_core.kernels import import_cpu_kernels
from zoo_core.nn import norm

kernels = import_cpu_kernels()
COMPILED = kernels is not None and hasattr(kernels, "kernel_moments")
COMPILED_NORM = kernels is not None and hasattr(kernels, "group_norm_act")


def reference(x, groups, scale, bias, eps):
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    xg = x.reshape(n, h * w, groups, c // groups)
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = xg.var(axis=(1, 3), keepdims=True)
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape)
    return y * np.asarray(scale, np.float64) + np.asarray(bias, np.float64)


@pytest.mark.parametrize("enabled", ["1", "0"])
@pytest.mark.parametrize(("shape", "groups", "offset"), [
    ((2, 7, 5, 64), 32, 0.0), ((1, 9, 9, 48), 4, 100.0), ((3, 4, 6, 16), 16, -3.0), ((2, 1, 1, 32), 8, 0.0)])
def test_statistics_equal_the_float64_reference(monkeypatch, shape, groups, offset, enabled):
    monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
    keys = jax.random.split(jax.random.key(0), 3)
    x = offset + jax.random.normal(keys[0], shape) * jnp.linspace(0.5, 2.0, shape[-1])
    gn = nn.GroupNorm(groups, shape[-1], eps=1e-5)
    params = {"scale": 1 + 0.1 * jax.random.normal(keys[1], (shape[-1],)),
              "bias": jax.random.normal(keys[2], (shape[-1],))}
    got, _ = jax.jit(lambda p, x: gn.apply(p, {}, x))(params, x)
    np.testing.assert_allclose(np.asarray(got), reference(x, groups, params["scale"], params["bias"], 1e-5),
                               rtol=1e-4, atol=1e-4 if offset else 2e-5)  # |offset| 100: float32 x itself rounds at 1e-5


def test_the_one_pass_runs_where_installed_and_the_gradients_agree(monkeypatch):
    gn = nn.GroupNorm(8, 32)
    params, _ = gn.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (2, 6, 6, 32)) + 2.0
    w = jax.random.normal(jax.random.key(2), x.shape)

    def grads(enabled):
        monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
        fn = jax.jit(jax.grad(lambda p, x: jnp.sum(gn.apply(p, {}, x)[0] * w), argnums=(0, 1)))
        hlo = jax.jit(lambda x: gn.apply(params, {}, x)[0]).lower(x).compile().as_text()
        return fn(params, x), hlo

    (g1, hlo1), (g0, hlo0) = grads("1"), grads("0")
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    assert "zoo_kernel_moments" not in hlo0 and "zoo_group_norm_act" not in hlo0
    assert ("zoo_group_norm_act" in hlo1) is COMPILED_NORM  # NHWC, channels a multiple of 16: the one call


def test_only_float32_takes_the_one_pass():
    assert norm._one_pass_channel_moments(jnp.ones((1, 4, 8), jnp.bfloat16)) == (None, None)
    assert norm._one_pass_channel_moments(jnp.ones((1, 0, 8), jnp.float32)) == (None, None)


@pytest.mark.parametrize("enabled", ["1", "0"])
@pytest.mark.parametrize("shape", [(3, 32), (2, 11, 32), (2, 3, 4, 5, 32)], ids=lambda s: "x".join(map(str, s)))
def test_any_rank_normalizes_over_everything_but_the_batch_and_channels(monkeypatch, shape, enabled):
    """(N, C), (N, T, C), (N, D, H, W, C): the statistics over all middle axes, as ``nn.GroupNorm``
    over the channels-last layout (no reshape of the input: see ``GroupNorm.apply``)."""
    monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
    x = jax.random.normal(jax.random.key(0), shape) + 1.0
    gn = nn.GroupNorm(8, 32, eps=1e-5)
    params, _ = gn.init(jax.random.key(1))
    got, _ = jax.jit(lambda x: gn.apply(params, {}, x))(x)
    as_nhwc = np.asarray(x).reshape(shape[0], -1, 1, 32)
    want = reference(as_nhwc, 8, params["scale"], params["bias"], 1e-5).reshape(shape)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=2e-5)


def folded_operands(shape, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    raw = jnp.asarray(rng.standard_normal(shape, dtype=np.float32) * 3.0 + 1.0)
    sums = jnp.asarray(rng.random(shape[:-1], dtype=np.float32) * 10.0)
    mean = jnp.asarray(rng.standard_normal(c, dtype=np.float32) * 0.05)
    var = jnp.asarray(rng.random(c, dtype=np.float32) * 0.02 + 0.005)
    return raw, sums, mean, var


@pytest.mark.parametrize("enabled", ["1", "0"])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("folded", [True, False])
def test_group_norm_act_equals_the_composition_values_and_gradients(monkeypatch, enabled, relu, folded):
    """``relu?(norm(finish_fold(raw, fold)))`` and the channel sums of the result, from the one call
    (where installed) or XLA's ops, against the composition of zoo's own pieces."""
    from zoo_core.nn.std_conv import finish_fold

    monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
    gn = nn.GroupNorm(8, 32, eps=1e-5)
    params = {"scale": 1 + 0.1 * jax.random.normal(jax.random.key(1), (32,)),
              "bias": jax.random.normal(jax.random.key(2), (32,))}
    raw, sums, mean, var = folded_operands((2, 6, 5, 32))
    w = jax.random.normal(jax.random.key(3), raw.shape)
    w_sums = jax.random.normal(jax.random.key(4), raw.shape[:-1])

    def fused(p, raw, sums, mean, var):
        fold = (sums, mean, var, 1e-8) if folded else None
        return nn.group_norm_act(gn, p, raw, relu=relu, fold=fold, emit_sums=True)

    def composed(p, raw, sums, mean, var):
        y = gn.apply_xla(p, finish_fold(raw, (sums, mean, var, 1e-8) if folded else None))
        y = jnp.maximum(y, 0) if relu else y
        return y, jnp.sum(y, axis=-1)

    def loss(fn):
        return lambda *a: jnp.sum(fn(*a)[0] * w) + jnp.sum(fn(*a)[1] * w_sums)

    args = (params, raw, sums, mean, var)
    for got, want in zip(jax.jit(fused)(*args), composed(*args)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=5e-5)
    g_fused = jax.jit(jax.grad(loss(fused), argnums=(0, 1, 2, 3, 4)))(*args)
    g_composed = jax.grad(loss(composed), argnums=(0, 1, 2, 3, 4))(*args)
    for a, b in zip(jax.tree.leaves(g_fused), jax.tree.leaves(g_composed)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-3 * float(jnp.abs(b).max()))
    hlo = jax.jit(fused).lower(*args).compile().as_text()
    assert hlo.count("zoo_group_norm_act") == (enabled == "1" and COMPILED_NORM)


def test_group_norm_act_without_sums_and_without_affine(monkeypatch):
    monkeypatch.setenv("ZOO_CPU_KERNELS", "1")
    gn = nn.GroupNorm(4, 16, eps=1e-5, affine=False)
    x = jax.random.normal(jax.random.key(0), (1, 3, 3, 16)) * 5.0
    y, sums = jax.jit(lambda x: nn.group_norm_act(gn, {}, x))(x)
    assert sums is None
    want = np.maximum(reference(x, 4, np.ones(16), np.zeros(16), 1e-5), 0.0)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=2e-5)
