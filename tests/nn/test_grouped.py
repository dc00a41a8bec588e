"""``zoo_core.nn.grouped.grouped_conv2d`` against ``lax.conv_general_dilated(feature_group_count=g)``
(values and gradients, the pure-JAX super-blocks and, where installed, the compiled kernel), its
dispatch from ``conv2d``, and against torch's grouped ``nn.Conv2d``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from zoo_core import nn
from zoo_core.errors import ArgumentError
from zoo_core.nn.conv import resolve_padding
from zoo_core.nn.grouped import explicit_pads, grouped_conv2d, super_block_groups


def rand(shape, seed=0, scale=1.0):
    return jnp.asarray(scale * np.random.default_rng(seed).standard_normal(shape), dtype=jnp.float32)


def reference(x, kernel, groups, stride, pads, dilation):
    return lax.conv_general_dilated(x, kernel.astype(x.dtype), stride, pads, rhs_dilation=dilation,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups,
                                    precision=lax.Precision.HIGHEST)


def pads_of(padding, k_shape, stride, dilation):
    return resolve_padding(padding, k_shape[:2], stride, dilation)


# (x shape, kernel shape (kh, kw, Cin / g, Cout), groups, stride, padding as conv2d takes it, dilation)
CASES = [
    pytest.param((2, 9, 8, 128), (3, 3, 4, 128), 32, (1, 1), 1, (1, 1), id="resnext-l1-cg4"),
    pytest.param((1, 11, 10, 256), (3, 3, 8, 256), 32, (2, 2), 1, (1, 1), id="resnext-l2-s2-cg8-odd"),
    pytest.param((2, 5, 6, 512), (3, 3, 16, 512), 32, (1, 1), 1, (1, 1), id="cg16"),
    pytest.param((1, 7, 7, 1024), (3, 3, 32, 1024), 32, (2, 2), 1, (1, 1), id="cg32-s2-odd"),
    pytest.param((1, 6, 5, 128), (3, 3, 64, 128), 2, (1, 1), 1, (1, 1), id="cg64-wider-than-a-block"),
    pytest.param((2, 10, 9, 64), (3, 3, 8, 64), 8, (2, 2), "same", (1, 1), id="tf-same-s2"),
    pytest.param((1, 8, 9, 32), (3, 3, 4, 32), 8, (1, 1), "valid", (1, 1), id="valid"),
    pytest.param((1, 9, 9, 64), (3, 3, 4, 64), 16, (1, 1), 2, (2, 2), id="dilated"),
    pytest.param((2, 8, 7, 48), (5, 3, 12, 48), 4, (1, 2), ((2, 1), (0, 2)), (1, 1), id="rect-asym-cg12"),
    pytest.param((1, 6, 6, 32), (3, 3, 4, 64), 8, (1, 1), 1, (1, 1), id="out-per-group-8-in-4"),
    pytest.param((2, 5, 5, 24), (3, 3, 8, 48), 3, (2, 2), 1, (1, 1), id="three-groups-cout-twice-cin"),
    pytest.param((1, 4, 4, 32), (1, 1, 8, 32), 4, (1, 1), 0, (1, 1), id="1x1"),
]


@pytest.mark.parametrize("cpu_kernel", [False, None], ids=["pure-jax", "default"])
@pytest.mark.parametrize("x_shape,k_shape,groups,stride,padding,dilation", CASES)
def test_matches_feature_group_count(x_shape, k_shape, groups, stride, padding, dilation, cpu_kernel):
    x, k = rand(x_shape), rand(k_shape, seed=1, scale=1 / np.sqrt(np.prod(k_shape[:3])))
    pads = pads_of(padding, k_shape, stride, dilation)
    ours = jax.jit(lambda x, k: grouped_conv2d(x, k, groups=groups, stride=stride, pads=pads, dilation=dilation,
                                               cpu_kernel=cpu_kernel))(x, k)
    want = reference(x, k, groups, stride, pads, dilation)
    assert ours.shape == want.shape
    np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cpu_kernel", [False, None], ids=["pure-jax", "default"])
@pytest.mark.parametrize("x_shape,k_shape,groups,stride,padding,dilation", [CASES[i] for i in (0, 1, 3, 5, 8, 10)])
def test_gradients_match_feature_group_count(x_shape, k_shape, groups, stride, padding, dilation, cpu_kernel):
    x, k = rand(x_shape), rand(k_shape, seed=1, scale=0.3)
    pads = pads_of(padding, k_shape, stride, dilation)
    cotangent = rand(reference(x, k, groups, stride, pads, dilation).shape, seed=2)

    def grads(conv):
        return jax.jit(jax.grad(lambda x, k: jnp.sum(conv(x, k) * cotangent), argnums=(0, 1)))(x, k)

    ours = grads(lambda x, k: grouped_conv2d(x, k, groups=groups, stride=stride, pads=pads, dilation=dilation,
                                             cpu_kernel=cpu_kernel))
    want = grads(lambda x, k: reference(x, k, groups, stride, pads, dilation))
    for a, b, name in zip(ours, want, ("input", "kernel")):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=name)


def test_bfloat16_inputs_give_bfloat16_outputs_close_to_float32():
    x, k = rand((2, 8, 8, 128)), rand((3, 3, 4, 128), seed=1, scale=1 / 6)
    pads = ((1, 1), (1, 1))
    ours = jax.jit(lambda x, k: grouped_conv2d(x, k, groups=32, pads=pads))(x.astype(jnp.bfloat16), k)
    assert ours.dtype == jnp.bfloat16
    want = reference(x.astype(jnp.bfloat16).astype(jnp.float32), k.astype(jnp.bfloat16).astype(jnp.float32),
                     32, (1, 1), pads, (1, 1))
    np.testing.assert_allclose(ours.astype(jnp.float32), want, rtol=2e-2, atol=2e-2)


def test_conv2d_and_conv2d_module_route_grouped_convs_here():
    """``conv2d`` with groups computes what ``grouped_conv2d`` does, without ``feature_group_count``
    in the CPU program; groups == 1 and depthwise convs keep their own paths."""
    x, k = rand((1, 6, 6, 64)), rand((3, 3, 8, 64), seed=1)
    via_conv2d = jax.jit(lambda x, k: nn.conv2d(x, k, padding=1, groups=8))
    np.testing.assert_array_equal(via_conv2d(x, k), grouped_conv2d(x, k, groups=8, pads=((1, 1), (1, 1))))
    assert "feature_group_count = 8" not in via_conv2d.lower(x, k).as_text()
    module = nn.Conv2d(64, 64, 3, padding=1, groups=8, bias=False)
    np.testing.assert_array_equal(module.apply({"kernel": k}, {}, x)[0], via_conv2d(x, k))


def test_gpu_programs_keep_feature_group_count():
    """Lowered for CUDA (no GPU needed), the conv and its gradient are XLA's grouped conv."""
    from jax import export

    x, k = rand((1, 6, 6, 64)), rand((3, 3, 4, 64), seed=1)
    conv = jax.jit(lambda x, k: grouped_conv2d(x, k, groups=16, pads=((1, 1), (1, 1))))
    grad = jax.jit(jax.grad(lambda x, k: jnp.sum(grouped_conv2d(x, k, groups=16, stride=2)), argnums=(0, 1)))
    for fn in (conv, grad):
        text = export.export(fn, platforms=["cuda"])(x, k).mlir_module()
        assert "feature_group_count = 16" in text and "zoo_grouped" not in text


def test_super_blocks_hold_whole_groups_that_divide_the_group_count():
    assert super_block_groups(32, 4) == 8  # 32 channels
    assert super_block_groups(32, 32) == 1
    assert super_block_groups(2, 64) == 1  # one group wider than a block
    assert super_block_groups(3, 8) == 3  # 24 channels
    assert super_block_groups(6, 8) == 3  # 4 groups would fit, but 4 does not divide 6
    assert super_block_groups(32, 4, block=128) == 32


def test_explicit_pads_resolves_lax_names():
    assert explicit_pads("SAME", (10, 9), (3, 3), (2, 2), (1, 1)) == ((0, 1), (1, 1))
    assert explicit_pads("valid", (10, 9), (3, 3), (1, 1), (1, 1)) == ((0, 0), (0, 0))
    assert explicit_pads([(1, 2), (3, 4)], (5, 5), (3, 3), (1, 1), (1, 1)) == ((1, 2), (3, 4))


@pytest.mark.parametrize("k_shape,groups,message", [
    ((3, 3, 4, 64), 0, "groups=0"),
    ((3, 3, 4, 64), 8, "groups=8"),  # 8 × 4 != 64 input channels
    ((3, 3, 8, 60), 8, "groups=8"),  # Cout not a multiple
    ((3, 3, 4), 16, "kernel="),
])
def test_refuses_shapes_that_do_not_match_groups(k_shape, groups, message):
    with pytest.raises(ArgumentError, match=message):
        grouped_conv2d(rand((1, 4, 4, 64)), rand(k_shape), groups=groups)


@pytest.mark.parity
@pytest.mark.torch
@pytest.mark.parametrize("chans,groups,stride,size", [(128, 32, 1, 9), (256, 32, 2, 11), (512, 32, 2, 7),
                                                      (1024, 32, 1, 5), (96, 3, 2, 8)])
def test_matches_torch_grouped_conv(chans, groups, stride, size):
    torch = pytest.importorskip("torch")

    from zoo_core.interop import conv_to_hwio

    ref = torch.nn.Conv2d(chans, chans, 3, stride=stride, padding=1, groups=groups, bias=False)
    x = np.random.default_rng(0).standard_normal((2, chans, size, size + 1)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy().transpose(0, 2, 3, 1)
    kernel = jnp.asarray(conv_to_hwio(ref.weight.detach().numpy()))
    ours = jax.jit(lambda x, k: grouped_conv2d(x, k, groups=groups, stride=stride, pads=((1, 1), (1, 1))))(
        jnp.asarray(x.transpose(0, 2, 3, 1)), kernel)
    np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-4)
