"""The layers zoo-resnet added to ``zoo_core.nn``: ECA, BlurPool / ``create_aa``, ``avg_pool2d``'s
``ceil_mode``, grouped convs and SE's kernel init. Structural checks run without torch; the
``parity``-marked ones compare each layer with its ``timm.layers`` / PyTorch counterpart."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core import nn
from zoo_core.nn.blur import BlurPool2d, binomial_filter, blur_pool2d, create_aa
from zoo_core.nn.eca import EcaModule, eca_kernel_size, eca_module
from zoo_core.nn.pool import AvgPool2d, avg_pool2d
from zoo_core.nn.se import se_block


def x_nhwc(n=2, h=9, w=8, c=16, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32))


@pytest.mark.parametrize("channels,k", [(16, 3), (64, 3), (128, 5), (256, 5), (1024, 5), (2048, 7)])
def test_eca_kernel_size_follows_channels(channels, k):
    assert eca_kernel_size(channels) == k == eca_module(channels).kernel_size


def test_eca_gates_each_channel_and_keeps_pytorchs_weight_shape():
    module = EcaModule(5)
    params, state = module.init(jax.random.key(0))
    assert params["conv"]["kernel"].shape == (1, 1, 5) and state == {"conv": {}}
    x = x_nhwc()
    y, _ = module.apply(params, state, x)
    gate = y / x
    assert y.shape == x.shape
    np.testing.assert_allclose(gate, jnp.broadcast_to(gate[:, :1, :1, :], x.shape), rtol=1e-5)  # one gate per (n, c)
    assert float(gate.min()) > 0 and float(gate.max()) < 1
    with pytest.raises(ValueError, match="odd"):
        EcaModule(4)


def test_blurpool_is_a_normalized_binomial_blur_with_stride():
    np.testing.assert_allclose(binomial_filter(3), np.outer([1, 2, 1], [1, 2, 1]) / 16)
    assert binomial_filter(5).sum() == pytest.approx(1.0)
    x = jnp.ones((1, 9, 8, 4))
    y, state = BlurPool2d(4).apply({}, {}, x)
    assert y.shape == (1, 5, 4, 4) and state == {}
    np.testing.assert_allclose(y, 1.0, rtol=1e-6)  # a constant stays constant (reflect padding)
    assert BlurPool2d(4).init(jax.random.key(0)) == ({}, {})
    with pytest.raises(ValueError, match="pad_mode"):
        BlurPool2d(4, pad_mode="edge")


def test_create_aa_kinds():
    assert isinstance(create_aa(None, 8), nn.Identity) and isinstance(create_aa("avg", 8, enable=False), nn.Identity)
    assert create_aa("avg", 8) == AvgPool2d(2)
    assert create_aa("blur", 8) == BlurPool2d(8, stride=2)
    with pytest.raises(ValueError, match="unknown anti-aliasing"):
        create_aa("max", 8)


def test_avg_pool_ceil_mode_shapes_and_partial_windows():
    """ceil_mode adds the last partial window; without count_include_pad it averages what it covers."""
    x = x_nhwc(n=1, h=5, w=4, c=2)
    y = avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)
    assert y.shape == (1, 3, 2, 2)
    np.testing.assert_allclose(y[0, 2, 0], x[0, 4, :2].mean(axis=0), rtol=1e-6)
    assert avg_pool2d(x, 2, 2).shape == (1, 2, 2, 2)
    assert AvgPool2d(2, 2, ceil_mode=True).apply({}, {}, x)[0].shape == (1, 3, 2, 2)


def test_se_block_kernel_init():
    se = se_block(64, rd_ratio=0.25, kernel_init=nn.kaiming_normal_fan_out)
    params, _ = se.init(jax.random.key(0))
    assert params["fc1"]["kernel"].shape == (1, 1, 64, 16)
    assert float(jnp.std(params["fc2"]["kernel"])) == pytest.approx((2 / 64) ** 0.5, rel=0.2)


@pytest.mark.parity
@pytest.mark.torch
@pytest.mark.parametrize("channels", [64, 256, 2048])
def test_eca_matches_timm(channels):
    torch = pytest.importorskip("torch")
    from timm.layers import EcaModule as TimmEca

    from zoo_core.testing.parity import assert_close, randomize_torch_module, to_nchw, to_nhwc

    ref = TimmEca(channels).eval()
    randomize_torch_module(ref, seed=1)
    x = x_nhwc(h=5, w=6, c=channels)
    module = eca_module(channels)
    params = {"conv": {"kernel": jnp.asarray(ref.conv.weight.detach().numpy())}}
    with torch.no_grad():
        expected = to_nhwc(ref(torch.from_numpy(to_nchw(x))))
    assert_close(module.apply(params, {"conv": {}}, x)[0], expected, rtol=1e-5, atol=1e-6, name="eca")


@pytest.mark.parity
@pytest.mark.torch
@pytest.mark.parametrize("hw,filt_size,pad_mode", [((9, 8), 3, "reflect"), ((8, 8), 3, "reflect"),
                                                  ((11, 7), 5, "reflect"), ((9, 8), 3, "constant")])
def test_blurpool_matches_timm(hw, filt_size, pad_mode):
    torch = pytest.importorskip("torch")
    from timm.layers import BlurPool2d as TimmBlur

    from zoo_core.testing.parity import assert_close, to_nchw, to_nhwc

    x = x_nhwc(h=hw[0], w=hw[1], c=16)
    with torch.no_grad():
        expected = to_nhwc(TimmBlur(16, filt_size=filt_size, pad_mode=pad_mode)(torch.from_numpy(to_nchw(x))))
    assert_close(blur_pool2d(x, filt_size, 2, pad_mode), expected, rtol=1e-5, atol=1e-6, name="blurpool")


@pytest.mark.parity
@pytest.mark.torch
@pytest.mark.parametrize("hw", [(7, 8), (9, 9), (6, 5), (3, 4)])
@pytest.mark.parametrize("k,s,p,ceil_mode,include_pad", [(2, 2, 0, True, False), (2, 2, 0, False, True),
                                                          (3, 2, 1, True, True), (3, 2, 1, True, False),
                                                          (2, 1, 0, True, False), (3, 3, 1, True, True)])
def test_avg_pool_matches_torch(hw, k, s, p, ceil_mode, include_pad):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from zoo_core.testing.parity import assert_close, to_nchw, to_nhwc

    x = x_nhwc(h=hw[0], w=hw[1], c=3)
    expected = to_nhwc(F.avg_pool2d(torch.from_numpy(to_nchw(x)), k, s, p, ceil_mode=ceil_mode,
                                    count_include_pad=include_pad))
    assert_close(avg_pool2d(x, k, s, p, include_pad, ceil_mode), expected, rtol=1e-6, atol=1e-6, name="avg_pool2d")


@pytest.mark.parity
@pytest.mark.torch
@pytest.mark.parametrize("groups,stride", [(32, 1), (32, 2), (64, 2)])
def test_grouped_conv_matches_torch(groups, stride):
    """ResNeXt's grouped 3×3 conv (groups 32 / 64, 4 channels per group)."""
    torch = pytest.importorskip("torch")

    from zoo_core.interop import conv_to_hwio
    from zoo_core.testing.parity import assert_close, to_nchw, to_nhwc

    chans = 4 * groups
    ref = torch.nn.Conv2d(chans, chans, 3, stride=stride, padding=1, groups=groups, bias=False)
    x = x_nhwc(h=9, w=8, c=chans)
    with torch.no_grad():
        expected = to_nhwc(ref(torch.from_numpy(to_nchw(x))))
    conv = nn.Conv2d(chans, chans, 3, stride=stride, padding=1, groups=groups, bias=False)
    params = {"kernel": jnp.asarray(conv_to_hwio(ref.weight.detach().numpy()))}
    assert_close(conv.apply(params, {}, x)[0], expected, rtol=1e-5, atol=1e-5, name="grouped conv")


@pytest.mark.parametrize("chans,groups,stride", [(128, 32, 1), (64, 8, 2), (256, 32, 2)])
def test_grouped_conv_block_diagonal_equals_feature_groups(chans, groups, stride):
    """The CPU formulation (a dense conv with the block-diagonal kernel, up to 128 channels) equals
    ``lax.conv`` with ``feature_group_count`` to float32 rounding; wider convs keep the latter."""
    from jax import lax

    from zoo_core.nn.conv import block_diagonal_kernel, conv2d

    x = x_nhwc(h=9, w=8, c=chans)
    kernel = jnp.asarray(np.random.default_rng(1).standard_normal((3, 3, chans // groups, chans), np.float32))
    dense = block_diagonal_kernel(kernel, groups)
    assert dense.shape == (3, 3, chans, chans)
    assert float(jnp.abs(dense[:, :, : chans // groups, chans // groups:]).max()) == 0.0  # off-diagonal blocks
    reference = lax.conv_general_dilated(x, kernel, (stride, stride), [(1, 1), (1, 1)],
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)
    ours = jax.jit(lambda x, k: conv2d(x, k, stride=stride, padding=1, groups=groups))(x, kernel)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-4)
