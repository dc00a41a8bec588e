"""The compiled per-column moments (``zoo_kernel_moments``) against numpy in float64: shapes that
reach every column tail (64-column blocks, 8-column vectors, single columns), one row, one column,
work split over the thread pool, a mean large against the spread; jit, vmap, a 2-device mesh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_cpu_kernels.moments import MOMENTS_TARGET, kernel_moments, moments_supports

SHAPES = [(1, 1), (1, 24), (7, 1), (5,), (3, 3, 5, 24), (2, 1000), (4608, 77), (3, 3, 512, 72), (1, 1, 2048, 512),
          (2, 3, 4, 5, 9)]


def expected(kernel: np.ndarray):
    k64 = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
    return k64.mean(0), k64.var(0)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("mean", [0.0, 30.0])
def test_moments_equal_float64(shape, mean):
    """With mean 30 and std 1 a float32 sum of squares about zero would lose the variance."""
    kernel = np.random.default_rng(0).standard_normal(shape).astype(np.float32) + np.float32(mean)
    got_mean, got_var = jax.jit(kernel_moments)(jnp.asarray(kernel))
    want_mean, want_var = expected(kernel)
    assert got_mean.shape == got_var.shape == (shape[-1],) and got_mean.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got_mean), want_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(got_var), want_var, rtol=1e-5, atol=1e-12)


def test_constant_columns_have_zero_variance():
    kernel = np.tile(np.float32([1e6, -3.5, 0.0, 7.25]), (300, 1))
    mean, var = kernel_moments(jnp.asarray(kernel))
    np.testing.assert_array_equal(np.asarray(mean), kernel[0])
    np.testing.assert_array_equal(np.asarray(var), 0.0)


def test_moments_run_under_vmap_and_jit():
    kernels = np.random.default_rng(1).standard_normal((3, 3, 3, 16, 40)).astype(np.float32)
    mean, var = jax.jit(jax.vmap(kernel_moments))(jnp.asarray(kernels))
    for i in range(3):
        want_mean, want_var = expected(kernels[i])
        np.testing.assert_allclose(np.asarray(mean[i]), want_mean, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(var[i]), want_var, rtol=1e-5)
    assert MOMENTS_TARGET in jax.jit(kernel_moments).lower(jnp.asarray(kernels[0])).as_text()


def test_vmap_is_one_call_and_each_matrix_keeps_its_own_shift():
    """A batch of images (N, H·W, C) as GroupNorm passes it: one batched call, no loop; each image
    shifted by its own first row, so an image far from the others keeps its variance."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 37, 24)).astype(np.float32)
    x[3] += 1e4  # a large mean against a unit spread
    fn = jax.jit(jax.vmap(kernel_moments))
    mean, var = fn(jnp.asarray(x))
    for i in range(5):
        want_mean, want_var = expected(x[i])
        np.testing.assert_allclose(np.asarray(mean[i]), want_mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.asarray(var[i]), want_var, rtol=1e-4)
    hlo = fn.lower(jnp.asarray(x)).compile().as_text()
    assert hlo.count(MOMENTS_TARGET) == 1 and " while(" not in hlo
    nested = jax.jit(jax.vmap(jax.vmap(kernel_moments)))(jnp.asarray(x.reshape(5, 1, 37, 24)))
    np.testing.assert_array_equal(np.asarray(nested[1][:, 0]), np.asarray(var))


def test_supports_and_argument_errors():
    assert moments_supports(np.float32) and not moments_supports(jnp.bfloat16) and not moments_supports(np.float64)
    with pytest.raises(ValueError, match="float32"):
        kernel_moments(jnp.zeros((3, 4), jnp.bfloat16))
    with pytest.raises(ValueError, match="rank"):
        kernel_moments(jnp.float32(1.0))
    with pytest.raises(ValueError, match="no rows"):
        kernel_moments(jnp.zeros((0, 4), jnp.float32))


def test_a_replicated_kernel_on_a_two_device_mesh():
    """Weights are replicated under jax.sharding: the call runs on each device (both devices' calls
    sharing one thread pool, the kernel large enough to be split over it), no collective."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from zoo_cpu_kernels.moments import kernel_moments
        k = np.random.default_rng(0).standard_normal((3, 3, 128, 128)).astype(np.float32) + 2
        mesh = Mesh(np.array(jax.devices()), ("b",))
        kr = jax.device_put(k, NamedSharding(mesh, P()))
        x = jax.device_put(np.ones((4, 128), np.float32), NamedSharding(mesh, P("b")))
        f = jax.jit(lambda k, x: x * kernel_moments(k)[1])
        hlo = f.lower(kr, x).compile().as_text()
        y = np.asarray(f(kr, x))
        want = k.reshape(-1, 128).astype(np.float64).var(0)
        print(len(jax.devices()), "all-" in hlo, float(np.abs(y - want).max() / want.max()))
    """)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    devices, collective, err = out.stdout.split()
    assert (devices, collective) == ("2", "False") and float(err) < 1e-6
