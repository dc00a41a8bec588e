"""``zoo_core.nn.depthwise_conv2d`` against ``lax.conv_general_dilated(feature_group_count=C)`` on
many shapes (values and gradients), its backend dispatch, and against torch's grouped conv."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from zoo_core import nn
from zoo_core.nn import depthwise
from zoo_core.nn.depthwise import depthwise_conv2d


def rand(shape, seed=0, scale=1.0):
    return jnp.asarray(scale * np.random.default_rng(seed).standard_normal(shape), dtype=jnp.float32)


def reference(x, kernel, stride, padding, dilation):
    return lax.conv_general_dilated(x, kernel, stride, padding, rhs_dilation=dilation,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=x.shape[-1],
                                    precision=lax.Precision.HIGHEST)


# (x shape, kernel shape (kh, kw, 1, C·m), stride, padding, dilation)
CASES = [
    pytest.param((2, 14, 14, 96), (7, 7, 1, 96), (1, 1), ((3, 3), (3, 3)), (1, 1), id="convnext-7x7"),
    pytest.param((1, 7, 7, 768), (7, 7, 1, 768), (1, 1), ((3, 3), (3, 3)), (1, 1), id="convnext-last-stage"),
    pytest.param((2, 9, 11, 40), (7, 7, 1, 40), (1, 1), ((3, 3), (3, 3)), (1, 1), id="odd-hw-c40"),
    pytest.param((1, 5, 3, 1), (3, 3, 1, 1), (1, 1), ((1, 1), (1, 1)), (1, 1), id="one-channel"),
    pytest.param((3, 10, 7, 24), (3, 3, 1, 24), (2, 2), "SAME", (1, 1), id="3x3-s2-same"),
    pytest.param((2, 12, 13, 48), (5, 3, 1, 48), (2, 3), ((1, 2), (0, 3)), (2, 1), id="rect-strided-dilated-asym"),
    pytest.param((1, 8, 8, 32), (3, 3, 1, 32), (1, 1), "VALID", (1, 1), id="valid"),
    pytest.param((1, 8, 8, 16), (3, 3, 1, 16), (1, 1), ((-1, 1), (2, 0)), (1, 1), id="negative-pad-crops"),
    pytest.param((2, 9, 9, 4), (3, 3, 1, 12), (3, 2), ((0, 2), (1, 1)), (2, 2), id="multiplier-3"),
    pytest.param((1, 6, 6, 8), (5, 5, 1, 16), (1, 1), ((2, 2), (2, 2)), (1, 1), id="multiplier-2"),
    pytest.param((2, 6, 5, 20), (1, 1, 1, 20), (1, 1), ((0, 0), (0, 0)), (1, 1), id="1x1"),
    pytest.param((1, 11, 11, 32), (3, 3, 1, 32), (1, 1), ((4, 4), (4, 4)), (4, 4), id="dilation-4"),
]


@pytest.mark.parametrize("x_shape,k_shape,stride,padding,dilation", CASES)
def test_matches_lax_conv(x_shape, k_shape, stride, padding, dilation):
    """Same output shape and values as lax's grouped conv (float32 rounding order aside)."""
    x, k = rand(x_shape), rand(k_shape, seed=1, scale=1 / (k_shape[0] * k_shape[1]) ** 0.5)
    y = jax.jit(lambda x, k: depthwise_conv2d(x, k, stride=stride, padding=padding, dilation=dilation))(x, k)
    expected = reference(x, k, stride, padding, dilation)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("x_shape,k_shape,stride,padding,dilation", CASES[:2] + CASES[4:6] + CASES[7:9])
def test_gradients_match_lax_conv(x_shape, k_shape, stride, padding, dilation):
    """∂/∂x and ∂/∂kernel (the CPU path's own backward pass) equal those of lax's grouped conv."""
    x, k = rand(x_shape), rand(k_shape, seed=1, scale=0.3)
    cotangent = rand(reference(x, k, stride, padding, dilation).shape, seed=2)

    def loss(conv):
        return lambda x, k: jnp.sum(conv(x, k) * cotangent)

    ours = jax.jit(jax.grad(loss(lambda x, k: depthwise_conv2d(x, k, stride=stride, padding=padding,
                                                                dilation=dilation)), argnums=(0, 1)))(x, k)
    expected = jax.grad(loss(lambda x, k: reference(x, k, stride, padding, dilation)), argnums=(0, 1))(x, k)
    for name, a, b in zip(("dx", "dkernel"), ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.abs(b).max()), err_msg=name)


def test_bfloat16_accumulates_in_float32():
    """bfloat16 in, bfloat16 out, within bfloat16 rounding of the float32 result."""
    x, k = rand((1, 8, 8, 32)), rand((7, 7, 1, 32), seed=1, scale=1 / 7)
    y = depthwise_conv2d(x.astype(jnp.bfloat16), k.astype(jnp.bfloat16), padding=((3, 3), (3, 3)))
    assert y.dtype == jnp.bfloat16
    expected = reference(x.astype(jnp.bfloat16).astype(jnp.float32), k.astype(jnp.bfloat16).astype(jnp.float32),
                         (1, 1), ((3, 3), (3, 3)), (1, 1))
    np.testing.assert_allclose(y.astype(jnp.float32), expected, rtol=1e-2, atol=1e-2)


def test_vmap_over_kernels():
    """vmap (a batch of kernels) composes with the backend dispatch."""
    x, ks = rand((1, 6, 6, 16)), rand((3, 3, 3, 1, 16), seed=1)
    ys = jax.vmap(lambda k: depthwise_conv2d(x, k, padding="SAME"))(ks)
    for y, k in zip(ys, ks):
        np.testing.assert_allclose(y, reference(x, k, (1, 1), "SAME", (1, 1)), rtol=1e-5, atol=1e-5)


def test_conv2d_routes_depthwise_here():
    """``nn.Conv2d(C, C·m, groups=C)`` (timm's conv_dw) uses this path and equals lax's grouped conv."""
    conv = nn.Conv2d(24, 48, 7, padding=3, groups=24)
    params, _ = conv.init(jax.random.key(0))
    x = rand((2, 9, 10, 24))
    y, _ = jax.jit(conv.apply)(params, {}, x)
    expected = reference(x, params["kernel"], (1, 1), ((3, 3), (3, 3)), (1, 1)) + params["bias"]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=2e-5)


def test_cpu_compiles_to_shifted_sums_and_large_kernels_to_lax():
    """On CPU the compiled program has no convolution (the shifted sum); a kernel past
    MAX_SHIFTED_TAPS stays a lax convolution on every backend."""
    x = jnp.ones((1, 16, 16, 8))

    def hlo(kernel_size):
        k, pad = jnp.ones((kernel_size, kernel_size, 1, 8)), kernel_size // 2
        f = jax.jit(lambda x, k: depthwise_conv2d(x, k, padding=((pad, pad), (pad, pad))))
        return f.lower(x, k).compile().as_text()

    assert jax.default_backend() == "cpu"
    assert "convolution(" not in hlo(7)
    assert depthwise.MAX_SHIFTED_TAPS < 11 * 11
    assert "convolution(" in hlo(11)


def test_rejects_a_non_depthwise_kernel():
    with pytest.raises(ValueError, match="kernel"):
        depthwise_conv2d(jnp.ones((1, 4, 4, 8)), jnp.ones((3, 3, 2, 8)))


@pytest.mark.parity
@pytest.mark.parametrize("size,chans", [(56, 96), (28, 192), (14, 384), (7, 768), (9, 40)])
def test_matches_torch_grouped_conv(size, chans):
    """ConvNeXt's stage shapes (batch 2): equal to ``F.conv2d(groups=C)`` on the same data, NCHW there."""
    torch = pytest.importorskip("torch")
    from zoo_core.testing.parity import assert_close, to_nchw, to_nhwc

    x, k = np.asarray(rand((2, size, size, chans))), np.asarray(rand((7, 7, 1, chans), seed=1, scale=1 / 7))
    expected = torch.nn.functional.conv2d(torch.from_numpy(to_nchw(x)), torch.from_numpy(k.transpose(3, 2, 0, 1).copy()),
                                          padding=3, groups=chans)
    y = jax.jit(lambda x, k: depthwise_conv2d(x, k, padding=((3, 3), (3, 3))))(x, k)
    assert_close(y, to_nhwc(expected), rtol=1e-5, atol=1e-5, name="depthwise vs torch")
