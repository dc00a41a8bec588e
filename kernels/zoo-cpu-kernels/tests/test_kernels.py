"""The compiled depthwise kernel against lax.conv, and zoo's depthwise_conv2d choosing it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from zoo_core.nn import depthwise_conv2d

import zoo_cpu_kernels

CASES = [  # (N, H, W, C), (kh, kw), ((top, bottom), (left, right))
    ((1, 9, 13, 40), (7, 7), ((3, 3), (3, 3))),  # C = 16 + 16 + 8
    ((2, 5, 6, 23), (7, 7), ((3, 3), (3, 3))),  # kernel larger than the image; C = 16 + 1·7
    ((1, 7, 7, 768), (7, 7), ((3, 3), (3, 3))),  # ConvNeXt's last stage
    ((8, 28, 28, 192), (7, 7), ((3, 3), (3, 3))),  # spread over threads
    ((3, 11, 4, 17), (3, 3), ((1, 1), (1, 1))),
    ((2, 10, 9, 24), (5, 5), ((2, 1), (0, 2))),  # asymmetric padding
    ((1, 12, 12, 8), (7, 7), ((0, 0), (0, 0))),  # VALID
    ((1, 6, 5, 1), (3, 5), ((2, 0), (1, 3))),  # one channel, non-square kernel
]


def reference(x, k, pads):
    return lax.conv_general_dilated(x, k, (1, 1), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    feature_group_count=x.shape[-1], precision=lax.Precision.HIGHEST)


def data(shape, kernel_hw, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    k = rng.standard_normal((*kernel_hw, 1, shape[-1]), dtype=np.float32) / np.sqrt(kernel_hw[0] * kernel_hw[1])
    return jnp.asarray(x), jnp.asarray(k)


@pytest.mark.parametrize(("shape", "kernel_hw", "pads"), CASES)
def test_the_kernel_matches_lax_conv(shape, kernel_hw, pads):
    x, k = data(shape, kernel_hw)
    got = jax.jit(lambda x, k: zoo_cpu_kernels.depthwise_conv2d(x, k, pads))(x, k)
    want = reference(x, k, pads)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("shape", "kernel_hw", "pads"), CASES[:2] + CASES[4:6])
def test_gradients_through_the_kernel_equal_the_pure_jax_path(shape, kernel_hw, pads):
    x, k = data(shape, kernel_hw, seed=1)
    weights = jnp.asarray(np.random.default_rng(2).standard_normal(reference(x, k, pads).shape, dtype=np.float32))

    def loss(x, k, cpu_kernel):
        return jnp.sum(depthwise_conv2d(x, k, padding=pads, cpu_kernel=cpu_kernel) * weights)

    compiled = jax.grad(loss, argnums=(0, 1))(x, k, None)
    pure = jax.grad(loss, argnums=(0, 1))(x, k, False)
    for a, b in zip(compiled, pure):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def _uses_kernel(fn, *args) -> bool:
    return zoo_cpu_kernels.TARGET in jax.jit(fn).lower(*args).as_text()


def test_zoo_uses_the_kernel_for_the_cases_it_covers_and_only_those(monkeypatch):
    x, k = data((1, 9, 9, 16), (7, 7))
    same = ((3, 3), (3, 3))
    assert _uses_kernel(lambda x, k: depthwise_conv2d(x, k, padding=same), x, k)
    assert not _uses_kernel(lambda x, k: depthwise_conv2d(x, k, padding=same, cpu_kernel=False), x, k)
    assert not _uses_kernel(lambda x, k: depthwise_conv2d(x, k, padding=same, stride=2), x, k)
    assert not _uses_kernel(lambda x, k: depthwise_conv2d(x, k, padding=same, dilation=2), x, k)
    assert not _uses_kernel(lambda x, k: depthwise_conv2d(x.astype(jnp.bfloat16), k, padding=same), x, k)
    k2 = jnp.concatenate([k, k], axis=-1)  # channel multiplier 2
    assert not _uses_kernel(lambda x, k: depthwise_conv2d(x, k, padding=same), x, k2)
    monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    assert not _uses_kernel(lambda x, k: depthwise_conv2d(x, k, padding=((2, 2), (2, 2))), x, k)


def test_the_kernel_runs_under_vmap():
    x, k = data((2, 9, 9, 16), (7, 7))
    xs = jnp.stack([x, x[::-1]])
    pads = ((3, 3), (3, 3))
    got = jax.vmap(lambda x: zoo_cpu_kernels.depthwise_conv2d(x, k, pads))(xs)
    np.testing.assert_allclose(got[1], reference(x[::-1], k, pads), rtol=1e-5, atol=1e-5)


def test_supports_names_exactly_the_covered_case():
    ok = dict(stride=(1, 1), dilation=(1, 1), pads=((3, 3), (3, 3)), multiplier=1)
    assert zoo_cpu_kernels.supports(np.float32, np.float32, **ok)
    assert not zoo_cpu_kernels.supports(np.float64, np.float32, **ok)
    assert not zoo_cpu_kernels.supports(np.float32, np.float32, **{**ok, "pads": ((-1, 3), (3, 3))})
    assert not zoo_cpu_kernels.supports(np.float32, np.float32, **{**ok, "multiplier": 2})


def test_a_batch_sharded_over_devices_is_convolved_where_it_lies():
    """Under jax.sharding each device convolves its own images: no all-gather of the batch."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import zoo_cpu_kernels
        pads = ((3, 3), (3, 3))
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 9, 9, 16), dtype=np.float32)
        k = rng.standard_normal((7, 7, 1, 16), dtype=np.float32)
        batch = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), P("b"))
        f = jax.jit(lambda x, k: zoo_cpu_kernels.depthwise_conv2d(jax.lax.with_sharding_constraint(x, batch), k, pads))
        hlo = f.lower(x, k).compile().as_text()
        one = jax.jit(lambda x, k: zoo_cpu_kernels.depthwise_conv2d(x, k, pads))(x, k)
        print(len(jax.devices()), "all-gather" in hlo, float(np.abs(np.asarray(f(x, k)) - np.asarray(one)).max()))
    """)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    devices, gathered, err = out.stdout.split()
    assert (devices, gathered) == ("4", "False") and float(err) == 0.0


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (8, 8), (13, 29), (64, 3), (3, 64), (340, 1536), (0, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_transpose_into_writes_the_transpose_into_a_column_slice(rows, cols, dtype):
    src = np.random.default_rng(0).integers(-1000, 1000, (rows, cols)).astype(dtype)
    dst = np.full((cols, rows + 11), -7, dtype)
    zoo_cpu_kernels.transpose_into(src, dst[:, 4:4 + rows])
    np.testing.assert_array_equal(dst[:, 4:4 + rows], src.T)
    assert (dst[:, :4] == -7).all() and (dst[:, 4 + rows:] == -7).all()  # nothing outside the slice


def test_transpose_into_reads_a_source_with_a_row_stride():
    big = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    dst = np.empty((17, 20), np.float32)
    zoo_cpu_kernels.transpose_into(big[:, 5:22], dst)
    np.testing.assert_array_equal(dst, big[:, 5:22].T)


@pytest.mark.parametrize(("src", "dst", "message"), [
    (np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32), "not the transpose"),
    (np.zeros((3, 4), np.float64), np.zeros((4, 3), np.float64), "4-byte dtype"),
    (np.zeros((3, 4), np.float32), np.zeros((4, 3), np.int32), "4-byte dtype"),
    (np.zeros((3, 8), np.float32)[:, ::2], np.zeros((4, 3), np.float32), "src's rows are not contiguous"),
    (np.zeros((3, 4), np.float32), np.zeros((4, 6), np.float32)[:, ::2], "dst's rows are not contiguous"),
    (np.zeros((3, 4), np.float32), np.zeros((4, 3), np.float32)[::-1], "row stride"),
])
def test_transpose_into_refuses_what_it_cannot_write(src, dst, message):
    with pytest.raises(ValueError, match=message):
        zoo_cpu_kernels.transpose_into(src, dst)


def test_transpose_into_refuses_a_read_only_destination():
    dst = np.zeros((4, 3), np.float32)
    dst.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        zoo_cpu_kernels.transpose_into(np.zeros((3, 4), np.float32), dst)


def test_fma_peak():
    """The multiply-add ceiling is a positive rate; bad arguments are refused before the library runs."""
    import zoo_cpu_kernels

    assert 0 < zoo_cpu_kernels.fma_peak(1, 0.05) < 1e6
    with pytest.raises(ValueError, match="threads >= 1"):
        zoo_cpu_kernels.fma_peak(0)
    with pytest.raises(ValueError, match="seconds > 0"):
        zoo_cpu_kernels.fma_peak(1, 0.0)
