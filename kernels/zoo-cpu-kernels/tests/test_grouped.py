"""The compiled grouped conv against lax.conv(feature_group_count=...), and zoo's grouped_conv2d
choosing it (values, gradients, dispatch, vmap, a batch sharded over devices)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from zoo_core.nn.grouped import grouped_conv2d

import zoo_cpu_kernels

# (N, H, W, Cin), kernel (kh, kw, Cin / G, Cout), groups, stride, ((top, bottom), (left, right))
CASES = [
    pytest.param((2, 9, 8, 128), (3, 3, 4, 128), 32, (1, 1), ((1, 1), (1, 1)), id="narrow-cg4"),
    pytest.param((1, 11, 10, 256), (3, 3, 8, 256), 32, (2, 2), ((1, 1), (1, 1)), id="narrow-cg8-s2-odd"),
    pytest.param((2, 6, 17, 32), (3, 3, 2, 32), 16, (1, 1), ((1, 1), (1, 1)), id="narrow-cg2-all-tail-blocks"),
    pytest.param((1, 7, 7, 512), (3, 3, 16, 512), 32, (1, 1), ((1, 1), (1, 1)), id="wide-cg16"),
    pytest.param((2, 7, 9, 1024), (3, 3, 32, 1024), 32, (2, 2), ((1, 1), (1, 1)), id="wide-cg32-s2"),
    pytest.param((1, 5, 30, 96), (3, 3, 48, 96), 2, (1, 1), ((1, 1), (1, 1)), id="wide-cg48-two-and-one-vectors"),
    pytest.param((1, 6, 5, 128), (3, 3, 64, 128), 2, (1, 1), ((0, 2), (2, 0)), id="wide-cg64-asym-pads"),
    pytest.param((1, 6, 6, 32), (3, 3, 4, 64), 8, (1, 1), ((1, 1), (1, 1)), id="wide-v8-in4-out8"),
    pytest.param((2, 10, 9, 64), (3, 3, 8, 64), 8, (2, 2), ((0, 1), (0, 1)), id="tf-same-s2"),
    pytest.param((1, 8, 13, 64), (5, 3, 4, 64), 16, (2, 1), ((2, 2), (1, 1)), id="narrow-5x3-s2x1"),
    pytest.param((1, 9, 11, 64), (3, 5, 4, 64), 16, (3, 2), ((0, 0), (0, 0)), id="rect-s3x2-valid"),
    pytest.param((1, 4, 5, 32), (3, 3, 8, 32), 4, (1, 1), ((4, 3), (5, 4)), id="pads-wider-than-the-window"),
    pytest.param((1, 4, 4, 64), (1, 1, 16, 64), 4, (1, 1), ((0, 0), (0, 0)), id="1x1"),
    pytest.param((8, 16, 16, 128), (3, 3, 4, 128), 32, (1, 1), ((1, 1), (1, 1)), id="spread-over-threads"),
]


def reference(x, k, groups, stride, pads):
    return lax.conv_general_dilated(x, k, stride, pads, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    feature_group_count=groups, precision=lax.Precision.HIGHEST)


def data(x_shape, k_shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    k = rng.standard_normal(k_shape, dtype=np.float32) / np.sqrt(np.prod(k_shape[:3]))
    return jnp.asarray(x), jnp.asarray(k)


def covered(x, k, groups, stride, pads) -> bool:
    return zoo_cpu_kernels.grouped_supports(x.dtype, k.dtype, groups=groups, in_chans=x.shape[-1],
                                            out_chans=k.shape[-1], stride=stride, dilation=(1, 1), pads=pads)


@pytest.mark.parametrize(("x_shape", "k_shape", "groups", "stride", "pads"), CASES)
def test_the_kernel_matches_lax_conv(x_shape, k_shape, groups, stride, pads):
    x, k = data(x_shape, k_shape)
    assert covered(x, k, groups, stride, pads)
    got = jax.jit(lambda x, k: zoo_cpu_kernels.grouped_conv2d(x, k, groups=groups, stride=stride, pads=pads))(x, k)
    want = reference(x, k, groups, stride, pads)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("x_shape", "k_shape", "groups", "stride", "pads"), [CASES[i] for i in (0, 1, 4, 6, 7)])
def test_gradients_through_the_kernel_equal_the_pure_jax_path(x_shape, k_shape, groups, stride, pads):
    x, k = data(x_shape, k_shape, seed=1)
    weights = jnp.asarray(np.random.default_rng(2).standard_normal(reference(x, k, groups, stride, pads).shape,
                                                                   dtype=np.float32))

    def grads(cpu_kernel):
        def loss(x, k):
            return jnp.sum(grouped_conv2d(x, k, groups=groups, stride=stride, pads=pads, cpu_kernel=cpu_kernel)
                           * weights)
        return jax.jit(jax.grad(loss, argnums=(0, 1)))(x, k)

    for a, b in zip(grads(None), grads(False)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def _uses_kernel(fn, *args) -> bool:
    return zoo_cpu_kernels.GROUPED_TARGET in jax.jit(fn).lower(*args).as_text()


def test_zoo_uses_the_kernel_for_the_cases_it_covers_and_only_those(monkeypatch):
    x, k = data((1, 8, 8, 64), (3, 3, 4, 64))
    same = ((1, 1), (1, 1))
    assert _uses_kernel(lambda x, k: grouped_conv2d(x, k, groups=16, pads=same), x, k)
    assert _uses_kernel(lambda x, k: grouped_conv2d(x, k, groups=16, pads=same, stride=2), x, k)
    assert not _uses_kernel(lambda x, k: grouped_conv2d(x, k, groups=16, pads=same, cpu_kernel=False), x, k)
    assert not _uses_kernel(lambda x, k: grouped_conv2d(x, k, groups=16, pads=same, dilation=2), x, k)
    assert not _uses_kernel(lambda x, k: grouped_conv2d(x.astype(jnp.bfloat16), k, groups=16, pads=same), x, k)
    x12, k12 = data((1, 8, 8, 48), (3, 3, 12, 48))  # 12 channels per group: neither narrow nor whole vectors
    assert not _uses_kernel(lambda x, k: grouped_conv2d(x, k, groups=4, pads=same), x12, k12)
    monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    assert not _uses_kernel(lambda x, k: grouped_conv2d(x, k, groups=16, pads=((0, 0), (1, 1))), x, k)


@pytest.mark.parametrize(("stride", "calls"), [(1, 2), (2, 1)])
def test_the_input_gradient_of_a_stride_1_conv_is_the_kernel_too(stride, calls):
    """Forward and backward of a stride-1 conv: two calls (the conv, the input gradient); at stride
    2 the input gradient is the pure-JAX one."""
    x, k = data((1, 8, 8, 64), (3, 3, 4, 64))

    def loss(x, k):
        return jnp.sum(grouped_conv2d(x, k, groups=16, stride=stride, pads=((1, 1), (1, 1))) ** 2)

    text = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(x, k).as_text()
    assert text.count(f"custom_call @{zoo_cpu_kernels.GROUPED_TARGET}") == calls


def test_grouped_supports_names_exactly_the_covered_cases():
    ok = dict(groups=32, in_chans=128, out_chans=128, stride=(1, 1), dilation=(1, 1), pads=((1, 1), (1, 1)))
    assert zoo_cpu_kernels.grouped_supports(np.float32, np.float32, **ok)
    assert zoo_cpu_kernels.grouped_supports(np.float32, np.float32, **{**ok, "stride": (2, 2)})
    assert zoo_cpu_kernels.grouped_supports(np.float32, np.float32, **{**ok, "groups": 4})  # cg 32: wide
    assert not zoo_cpu_kernels.grouped_supports(np.float64, np.float32, **ok)
    assert not zoo_cpu_kernels.grouped_supports(np.float32, np.float32, **{**ok, "dilation": (2, 2)})
    assert not zoo_cpu_kernels.grouped_supports(np.float32, np.float32, **{**ok, "pads": ((-1, 1), (1, 1))})
    assert not zoo_cpu_kernels.grouped_supports(np.float32, np.float32, **{**ok, "in_chans": 120, "out_chans": 120,
                                                                           "groups": 10})  # cg 12
    assert not zoo_cpu_kernels.grouped_supports(np.float32, np.float32, **{**ok, "groups": 3})  # does not divide


def test_the_kernel_runs_under_vmap():
    x, k = data((2, 6, 6, 64), (3, 3, 4, 64))
    xs = jnp.stack([x, x[::-1]])
    pads = ((1, 1), (1, 1))
    got = jax.vmap(lambda x: zoo_cpu_kernels.grouped_conv2d(x, k, groups=16, stride=(1, 1), pads=pads))(xs)
    np.testing.assert_allclose(got[1], reference(x[::-1], k, 16, (1, 1), pads), rtol=1e-4, atol=1e-4)
    ks = jnp.stack([k, -k])
    got = jax.vmap(lambda k: zoo_cpu_kernels.grouped_conv2d(x, k, groups=16, stride=(2, 2), pads=pads))(ks)
    np.testing.assert_allclose(got[1], reference(x, -k, 16, (2, 2), pads), rtol=1e-4, atol=1e-4)


def test_a_batch_sharded_over_devices_is_convolved_where_it_lies(computed_where_it_lies):
    """Under jax.sharding each device convolves its own images: no all-gather of the batch."""
    computed_where_it_lies("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import zoo_cpu_kernels
        pads, conv = ((1, 1), (1, 1)), zoo_cpu_kernels.grouped_conv2d
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 9, 9, 64), dtype=np.float32)
        k = rng.standard_normal((3, 3, 4, 64), dtype=np.float32)
        batch = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), P("b"))
        f = jax.jit(lambda x, k: conv(jax.lax.with_sharding_constraint(x, batch), k, groups=16, stride=(1, 1),
                                      pads=pads))
        hlo = f.lower(x, k).compile().as_text()
        one = jax.jit(lambda x, k: conv(x, k, groups=16, stride=(1, 1), pads=pads))(x, k)
        print(len(jax.devices()), "all-gather" in hlo, float(np.abs(np.asarray(f(x, k)) - np.asarray(one)).max()))
    """)
