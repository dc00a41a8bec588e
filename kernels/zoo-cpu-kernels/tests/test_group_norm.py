"""The compiled GroupNorm + ReLU (``zoo_group_norm_act``) against numpy in float64: groups of 1, 2 and
many channels, channel tails of 16 beside blocks of 64, one pixel, images split over the thread pool, a
mean large against the spread; the folded weight standardization and the emitted channel sums; jit,
vmap, a 4-device mesh; bad operands refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_cpu_kernels.group_norm import GROUP_NORM_TARGET, group_norm_act, group_norm_supports


def expected(x, scale, bias, groups, eps, relu, fold=None):
    z = x.astype(np.float64)
    if fold is not None:
        sums, mean, var, std_eps = fold
        z = (z - sums[..., None].astype(np.float64) * mean) / np.sqrt(var.astype(np.float64) + std_eps)
    n, c = z.shape[0], z.shape[-1]
    zg = z.reshape(n, -1, groups, c // groups)
    mu = zg.mean(axis=(1, 3), keepdims=True)
    var = ((zg - mu) ** 2).mean(axis=(1, 3), keepdims=True)
    y = ((zg - mu) / np.sqrt(var + eps)).reshape(z.shape) * scale + bias
    return np.maximum(y, 0.0) if relu else y


def operands(shape, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = (rng.standard_normal(shape) * 2.0 + offset).astype(np.float32)
    scale, bias = rng.standard_normal((2, c)).astype(np.float32)
    return x, scale, bias


def a_fold(shape, seed=1):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    return ((rng.random(shape[:-1]) * 20.0).astype(np.float32), (rng.standard_normal(c) * 0.05).astype(np.float32),
            (rng.random(c) * 0.02 + 0.001).astype(np.float32), 1e-8)


CASES = [((1, 7, 7, 64), 32), ((2, 5, 3, 48), 3), ((3, 14, 14, 256), 32), ((1, 1, 1, 16), 16), ((2, 9, 11, 80), 1),
         ((1, 56, 56, 64), 32), ((2, 7, 7, 2048), 32)]


@pytest.mark.parametrize("shape,groups", CASES, ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
@pytest.mark.parametrize("folded", [False, True], ids=["plain", "folded"])
@pytest.mark.parametrize("relu", [True, False], ids=["relu", "linear"])
def test_group_norm_act_equals_float64(shape, groups, folded, relu):
    x, scale, bias = operands(shape)
    fold = a_fold(shape) if folded else None
    run = jax.jit(lambda x, s, b, *f: group_norm_act(x, s, b, groups=groups, eps=1e-5, relu=relu,
                                                     fold=(*f, 1e-8) if f else None, emit_sums=True))
    y, sums = run(x, scale, bias, *(fold[:3] if folded else ()))
    want = expected(x, scale, bias, groups, 1e-5, relu, fold)
    assert y.shape == x.shape and sums.shape == x.shape[:-1] and y.dtype == sums.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(np.asarray(sums), want.sum(-1), rtol=1e-5, atol=2e-4)


def test_a_mean_large_against_the_spread_keeps_its_variance():
    """Mean 1000, spread 1: float32 sums of squares about zero would lose the variance entirely."""
    x, scale, bias = operands((2, 12, 12, 64), offset=1000.0)
    y, sums = group_norm_act(jnp.asarray(x), scale, bias, groups=8, eps=1e-5, relu=False)
    assert sums is None
    np.testing.assert_allclose(np.asarray(y), expected(x, scale, bias, 8, 1e-5, False), rtol=1e-4, atol=2e-4)


def test_constant_groups_normalize_to_their_bias():
    x = np.broadcast_to(np.arange(32, dtype=np.float32) * 100.0, (1, 4, 4, 32)).copy()
    y, _ = group_norm_act(jnp.asarray(x), np.ones(32, np.float32), np.full(32, 0.5, np.float32), groups=32, eps=1e-5,
                          relu=True)
    np.testing.assert_array_equal(np.asarray(y), 0.5)


def test_under_vmap_images_fold_into_the_batch_and_batched_params_loop():
    x, scale, bias = operands((3, 2, 6, 6, 32))
    fold = a_fold((3, 2, 6, 6, 32))

    def one(x, s, b, *f):
        return group_norm_act(x, s, b, groups=4, eps=1e-5, fold=(*f, 1e-8), emit_sums=True)

    y, sums = jax.jit(jax.vmap(one, in_axes=(0, None, None, 0, None, None)))(x, scale, bias, *fold[:3])
    for i in range(3):
        want = expected(x[i], scale, bias, 4, 1e-5, True, (fold[0][i], *fold[1:]))
        np.testing.assert_allclose(np.asarray(y[i]), want, rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(np.asarray(sums[i]), want.sum(-1), rtol=1e-5, atol=2e-4)
    scales = np.stack([scale, -scale, 2 * scale])
    y = jax.vmap(lambda x, s: group_norm_act(x, s, bias, groups=4, eps=1e-5)[0])(x, scales)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(y[i]), expected(x[i], scales[i], bias, 4, 1e-5, True), rtol=1e-5,
                                   atol=2e-5)


def test_one_call_in_the_compiled_program():
    x, scale, bias = operands((2, 8, 8, 64))
    hlo = jax.jit(lambda x: group_norm_act(x, scale, bias, groups=32, eps=1e-5)[0]).lower(x).compile().as_text()
    assert hlo.count(f'custom_call_target="{GROUP_NORM_TARGET}"') == 1


@pytest.mark.parametrize("dtype,channels,groups,ndim,ok", [
    (np.float32, 64, 32, 4, True), (np.float32, 48, 3, 4, True), (np.float32, 40, 8, 4, False),
    (np.float32, 64, 24, 4, False), (jnp.bfloat16, 64, 32, 4, False), (np.float32, 64, 32, 3, False)])
def test_supports(dtype, channels, groups, ndim, ok):
    assert group_norm_supports(dtype, channels=channels, groups=groups, ndim=ndim) is ok


@pytest.mark.parametrize("change,message", [
    ({"x": np.zeros((1, 4, 4, 40), np.float32)}, "multiple of 16"),
    ({"groups": 5}, "multiple of 16 and of groups"),
    ({"scale": np.ones(16, np.float32)}, r"scale and bias must be \(32,\)"),
    ({"fold": (np.zeros((1, 4, 5), np.float32), np.zeros(32, np.float32), np.ones(32, np.float32), 1e-8)},
     r"window sums \(1, 4, 4\)")])
def test_bad_operands_are_refused_with_their_shapes(change, message):
    kwargs = {"x": np.zeros((1, 4, 4, 32), np.float32), "scale": np.ones(32, np.float32),
              "bias": np.zeros(32, np.float32), "groups": 8, "eps": 1e-5, **change}
    with pytest.raises(ValueError, match=message):
        group_norm_act(**kwargs)


def test_a_batch_sharded_over_devices_is_normalized_where_it_lies():
    """Under jax.sharding each device normalizes its own images: no all-gather of the batch."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from zoo_cpu_kernels.group_norm import group_norm_act
        rng = np.random.default_rng(0)
        batch = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), P("b"))
        x = rng.standard_normal((8, 6, 6, 32), dtype=np.float32)
        s = rng.random((8, 6, 6), dtype=np.float32)
        m, v = rng.random((2, 32), dtype=np.float32)
        def f(x, s):
            x = jax.lax.with_sharding_constraint(x, batch)
            return group_norm_act(x, np.ones(32, np.float32), np.zeros(32, np.float32), groups=8, eps=1e-5,
                                  fold=(s, m, v + 0.5, 1e-8), emit_sums=True)
        hlo = jax.jit(f).lower(x, s).compile().as_text()
        got, one = jax.jit(f)(x, s), f(x, s)
        err = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(got, one))
        print(len(jax.devices()), "all-gather" in hlo, err)
    """)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    devices, gathered, err = out.stdout.split()
    assert (devices, gathered) == ("4", "False") and float(err) < 1e-5
