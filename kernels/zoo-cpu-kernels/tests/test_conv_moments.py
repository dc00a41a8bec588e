"""The conv that takes its kernel's moments as it reads the kernel (``conv2d_with_moments``): both
results against float64, both loops (the AVX-512 register blocks and the plain one), the work items
that take the moments in a register block and those that read them plainly, vmap, sharding, refusals."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_cpu_kernels
from zoo_cpu_kernels.conv_moments import conv2d_with_moments, conv_moments_supports

# (N, H, W, Cin, Cout, k): 3×3 rows of 7 and 14 (7-pixel blocks) and others (6), channel tails of
# 48/32/16 (their blocks of 8-16 pixels), images too small for a whole block or without a row whose
# windows use all three kernel rows (the moments read plainly), Cin across several 128-channel chunks,
# 1×1 convs with tiles of one or many blocks (Cin across 256-channel chunks), and wide 1×1 kernels
# read from packed chunks (Cout >= 512 in tiles of >= 96 pixels: the packed chunk's first block)
CASES = [(1, 7, 7, 512, 512, 3), (2, 14, 14, 160, 64, 3), (1, 9, 23, 40, 176, 3), (2, 5, 9, 3, 48, 3),
         (1, 2, 7, 16, 128, 3), (1, 1, 1, 8, 32, 3), (1, 12, 5, 33, 16, 3), (1, 28, 28, 64, 64, 3),
         (1, 14, 14, 1024, 256, 1), (2, 7, 7, 600, 80, 1), (1, 2, 2, 16, 48, 1), (3, 9, 11, 20, 112, 1),
         (1, 56, 56, 64, 256, 1), (1, 14, 14, 300, 528, 1), (2, 12, 12, 64, 1072, 1)]


def data(n, h, w, cin, cout, k, seed=0, mean=0.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
    kernel = (rng.standard_normal((k, k, cin, cout)) / np.sqrt(k * k * cin) + mean).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(kernel)


def reference(x, kernel, stride):
    """The conv (padding kh // 2) and the moments in float64, with numpy."""
    k64 = np.asarray(kernel, np.float64)
    kh, pad = k64.shape[0], k64.shape[0] // 2
    n, h, w, _ = x.shape
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    y = sum(xp[:, i:i + stride * oh:stride, j:j + stride * ow:stride] @ k64[i, j] for i in range(kh) for j in range(kh))
    k64 = k64.reshape(-1, k64.shape[-1])
    return y, np.stack([k64.mean(0), k64.var(0)])


@pytest.mark.parametrize("portable", [False, True], ids=["blocks", "plain"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_conv_and_moments_equal_float64(case, stride, portable):
    x, kernel = data(*case, mean=0.02)
    y, moments = jax.jit(lambda x, k: conv2d_with_moments(x, k, stride=stride, portable=portable))(x, kernel)
    y_ref, moments_ref = reference(x, kernel, stride)
    assert y.shape == y_ref.shape and moments.shape == (2, case[4])
    np.testing.assert_allclose(np.asarray(y), y_ref, rtol=1e-5, atol=2e-5)
    # The sums are float32 over runs of 8 rows of w - w[0] and double across runs: the mean is off by
    # float32 rounding relative to the channel's spread, not to the mean itself (measured: <= 1.1e-7 of
    # the std over these cases, against 6.5e-8 for the separate double-precision pass; float32 sums
    # over whole 128-channel chunks were at 7.7e-7 and moved BiT's parity features past 1e-4); the
    # variance relative (measured: <= 4.2e-7).
    std = np.sqrt(moments_ref[1])
    assert np.all(np.abs(np.asarray(moments[0]) - moments_ref[0]) <= 5e-7 * std)
    np.testing.assert_allclose(np.asarray(moments[1]), moments_ref[1], rtol=1e-5)


def test_moments_equal_the_separate_pass_with_a_large_mean():
    """A kernel whose mean is 100× its spread: the shifted double sums keep the variance."""
    x, kernel = data(1, 7, 7, 256, 128, 3, mean=2.0)
    _, moments = conv2d_with_moments(x, kernel)
    mean, var = zoo_cpu_kernels.kernel_moments(kernel)
    np.testing.assert_allclose(np.asarray(moments[0]), np.asarray(mean), rtol=1e-7)
    np.testing.assert_allclose(np.asarray(moments[1]), np.asarray(var), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(moments[1]), reference(x, kernel, 1)[1][1], rtol=1e-4)


@pytest.mark.parametrize("k", [1, 3])
def test_an_empty_batch_still_has_moments(k):
    x, kernel = data(0, 7, 7, 16, 64, k)
    y, moments = conv2d_with_moments(x, kernel)
    assert y.shape == (0, 7, 7, 64)
    np.testing.assert_allclose(np.asarray(moments), reference(x[:0], kernel, 1)[1], rtol=1e-5, atol=1e-8)


def test_vmap_folds_inputs_and_loops_over_kernels():
    x, kernel = data(3, 8, 8, 32, 48, 3)
    ys, moments = jax.vmap(lambda x: conv2d_with_moments(x, kernel))(x[:, None])
    y_ref, m_ref = reference(x, kernel, 1)
    np.testing.assert_allclose(np.asarray(ys[:, 0]), y_ref, rtol=1e-5, atol=2e-5)
    assert moments.shape == (3, 2, 48)  # the same moments for every input, broadcast by vmap
    np.testing.assert_allclose(np.asarray(moments[2]), m_ref, rtol=1e-5, atol=1e-8)
    kernels = jnp.stack([kernel, -2 * kernel])
    ys, moments = jax.vmap(lambda k: conv2d_with_moments(x, k))(kernels)
    np.testing.assert_allclose(np.asarray(ys[1]), -2 * y_ref, rtol=1e-5, atol=4e-5)
    np.testing.assert_allclose(np.asarray(moments[1]), m_ref * np.array([[-2.0], [4.0]]), rtol=1e-5, atol=1e-8)


def test_supports_names_exactly_the_covered_cases():
    def supports(kernel_shape, stride=(1, 1), pads=((1, 1), (1, 1)), dtype=jnp.float32, dilation=(1, 1)):
        return conv_moments_supports(dtype, dtype, kernel_shape=kernel_shape, stride=stride, dilation=dilation,
                                     pads=pads)

    assert supports((3, 3, 8, 32)) and supports((3, 3, 8, 32), stride=(2, 2))
    assert supports((1, 1, 8, 32), pads=((0, 0), (0, 0))) and supports((1, 1, 8, 32), (2, 2), ((0, 0), (0, 0)))
    assert not supports((3, 3, 8, 24))                          # Cout not a multiple of 16
    assert not supports((3, 3, 8, 32), pads=((0, 0), (0, 0)))   # 3×3 without padding
    assert not supports((1, 1, 8, 32))                          # 1×1 with padding
    assert not supports((3, 3, 8, 32), stride=(3, 3))
    assert not supports((3, 3, 8, 32), dilation=(2, 2))
    assert not supports((5, 5, 8, 32), pads=((2, 2), (2, 2)))
    assert not supports((3, 3, 0, 32))                          # nothing to take moments over
    assert not supports((3, 3, 8, 32), dtype=jnp.bfloat16)


@pytest.mark.parametrize(("x_shape", "k_shape", "stride"), [
    ((1, 5, 5, 8), (3, 3, 8, 24), 1),    # Cout
    ((1, 5, 5, 8), (3, 3, 4, 32), 1),    # Cin of the kernel against x's
    ((1, 5, 5, 8), (5, 5, 8, 32), 1),    # kernel size
    ((1, 5, 5, 8), (3, 3, 8, 32), 3),    # stride
    ((5, 5, 8), (3, 3, 8, 32), 1),       # rank
])
def test_bad_arguments_are_refused_with_the_shapes(x_shape, k_shape, stride):
    x, kernel = jnp.zeros(x_shape, jnp.float32), jnp.zeros(k_shape, jnp.float32)
    with pytest.raises(ValueError, match=r"conv2d_with_moments.*" + re.escape(str(k_shape))):
        conv2d_with_moments(x, kernel, stride=stride)


def test_a_batch_sharded_over_devices_is_convolved_where_it_lies(computed_where_it_lies):
    computed_where_it_lies("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from zoo_cpu_kernels.conv_moments import conv2d_with_moments
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 9, 9, 64), dtype=np.float32)
        k = rng.standard_normal((3, 3, 64, 64), dtype=np.float32)
        batch = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), P("b"))
        f = jax.jit(lambda x, k: conv2d_with_moments(jax.lax.with_sharding_constraint(x, batch), k))
        hlo = f.lower(x, k).compile().as_text()
        (y, m), (y1, m1) = f(x, k), jax.jit(conv2d_with_moments)(x, k)
        err = max(float(np.abs(np.asarray(y) - np.asarray(y1)).max()), float(np.abs(np.asarray(m) - np.asarray(m1)).max()))
        print(len(jax.devices()), "all-gather" in hlo, err)
    """)
