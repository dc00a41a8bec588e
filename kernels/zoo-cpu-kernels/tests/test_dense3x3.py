"""The compiled dense 3×3 conv against lax.conv, and zoo's conv2d choosing it (values, gradients,
dispatch, vmap, the cases it leaves to lax)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from zoo_core import nn

import zoo_cpu_kernels

# (N, H, W, Cin, Cout): tails of every register block (6 and 7 pixels, 64/32/16 channels), one-pixel
# images, Cin not a multiple of the 128-channel chunk, work spread over the thread pool; and kernels of
# 512 output channels or more, read from packed copies of their chunks (blocks of 64, a 48-channel tail
# as 32 + 16, several chunks and a short last one)
SHAPES = [(2, 5, 9, 3, 16), (1, 1, 1, 8, 48), (2, 7, 13, 20, 80), (1, 4, 6, 64, 112), (1, 3, 14, 33, 64),
          (1, 2, 7, 16, 128), (3, 8, 23, 40, 176), (1, 1, 12, 5, 32), (2, 14, 14, 160, 64), (4, 28, 28, 64, 64),
          (1, 7, 7, 300, 512), (2, 9, 11, 40, 560), (1, 14, 14, 130, 528)]


def reference(x, k, stride):
    return lax.conv_general_dilated(x, k, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    precision=lax.Precision.HIGHEST)


def data(n, h, w, cin, cout, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
    k = (rng.standard_normal((3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(k)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_kernel_equals_lax(shape, stride):
    x, k = data(*shape)
    got = jax.jit(lambda x, k: zoo_cpu_kernels.dense3x3_conv2d(x, k, stride=stride))(x, k)
    expected = reference(x, k, stride)
    assert got.shape == expected.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_dispatches_to_it_with_lax_gradients(stride):
    x, k = data(2, 9, 11, 32, 48)
    fn = jax.jit(lambda x, k: nn.conv2d(x, k, stride=stride, padding=1))
    assert zoo_cpu_kernels.DENSE3X3_TARGET in fn.lower(x, k).compile().as_text()
    np.testing.assert_allclose(np.asarray(fn(x, k)), np.asarray(reference(x, k, stride)), rtol=1e-5, atol=1e-5)
    w = jax.random.normal(jax.random.key(0), fn(x, k).shape)

    def loss(conv):
        return lambda x, k: jnp.sum(conv(x, k) * w)

    got = jax.grad(loss(lambda x, k: nn.conv2d(x, k, stride=stride, padding=1)), (0, 1))(x, k)
    expected = jax.grad(loss(lambda x, k: reference(x, k, stride)), (0, 1))(x, k)
    for a, b in zip(got, expected):  # linear in each argument: the gradients are lax's exactly up to order
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def test_vmap_folds_the_batch():
    x, k = data(3, 6, 6, 16, 32)
    got = jax.vmap(lambda x: nn.conv2d(x, k, padding=1))(x[:, None])
    np.testing.assert_allclose(np.asarray(got[:, 0]), np.asarray(reference(x, k, 1)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("cout", "padding", "stride", "dtype"), [
    (24, 1, 1, jnp.float32),      # Cout not a multiple of 16
    (32, 0, 1, jnp.float32),      # no padding
    (32, 1, 3, jnp.float32),      # stride 3
    (32, 1, 1, jnp.bfloat16),     # not float32
])
def test_other_cases_stay_lax(cout, padding, stride, dtype):
    x, k = data(1, 8, 8, 16, cout)
    x, k = x.astype(dtype), k.astype(dtype)
    fn = jax.jit(lambda x, k: nn.conv2d(x, k, stride=stride, padding=padding))
    assert zoo_cpu_kernels.DENSE3X3_TARGET not in fn.lower(x, k).compile().as_text()


def test_turned_off_with_the_environment(monkeypatch):
    monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    x, k = data(1, 8, 8, 16, 32)
    fn = jax.jit(lambda x, k: nn.conv2d(x, k, padding=1))
    assert zoo_cpu_kernels.DENSE3X3_TARGET not in fn.lower(x, k).compile().as_text()
