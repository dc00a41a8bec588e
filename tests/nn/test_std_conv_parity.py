"""``zoo_core.nn.StdConv2d`` against timm's ``StdConv2d`` on randomized weights."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from timm.layers import StdConv2d as TimmStdConv2d  # noqa: E402

from zoo_core.interop import conv_to_hwio  # noqa: E402
from zoo_core.nn.std_conv import StdConv2d, standardize_kernel, std_conv  # noqa: E402
from zoo_core.testing.parity import assert_close, randomize_torch_module, to_nhwc  # noqa: E402

pytestmark = pytest.mark.parity

CASES = [
    # (in, out, kernel, stride, dilation, groups, bias, eps, (N, H, W))
    (3, 16, 7, 2, 1, 1, False, 1e-8, (2, 17, 23)),  # BiT stem: odd, non-square input
    (8, 8, 3, 1, 1, 1, False, 1e-6, (1, 9, 9)),  # batch 1, timm's default eps
    (16, 32, 3, 2, 1, 1, True, 1e-8, (1, 10, 7)),  # bias, stride 2 on an odd width
    (16, 32, 1, 2, 1, 1, False, 1e-8, (2, 8, 8)),  # 1x1 projection with stride
    (12, 24, 3, 1, 2, 3, False, 1e-5, (1, 11, 13)),  # dilation and groups
]


@pytest.mark.parametrize("cin,cout,k,stride,dilation,groups,bias,eps,nhw", CASES)
def test_std_conv_matches_timm(cin, cout, k, stride, dilation, groups, bias, eps, nhw):
    """Standardized kernel and conv output equal timm's StdConv2d for the same stored weight."""
    ref = TimmStdConv2d(cin, cout, k, stride=stride, dilation=dilation, groups=groups, bias=bias, eps=eps)
    randomize_torch_module(ref, seed=cin + cout + k)
    ours = StdConv2d(cin, cout, k, stride=stride, dilation=dilation, groups=groups, bias=bias, eps=eps)
    params = {"kernel": jnp.asarray(conv_to_hwio(ref.weight.detach().numpy()))}
    if bias:
        params["bias"] = jnp.asarray(ref.bias.detach().numpy())
    n, h, w = nhw
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((n, cin, h, w), dtype=np.float32))
    with torch.no_grad():
        expected = ref(x)
    y, state = ours.apply(params, {}, jnp.asarray(to_nhwc(x)))
    assert state == {}
    assert_close(y, to_nhwc(expected), name="StdConv2d output")


def test_standardized_kernel_has_zero_mean_unit_variance():
    """Each output channel of a standardized kernel has mean 0 and biased variance var / (var + eps)."""
    kernel = jnp.asarray(np.random.default_rng(1).standard_normal((3, 3, 5, 4), dtype=np.float32)) * 3 + 1
    std = np.asarray(standardize_kernel(kernel, 1e-8))
    np.testing.assert_allclose(std.mean(axis=(0, 1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(std.var(axis=(0, 1, 2)), 1, rtol=1e-5)


def test_std_conv_is_bits_configuration():
    """``std_conv`` builds timm's BiT conv: eps 1e-8, no bias, symmetric default padding."""
    layer = std_conv(64, 128, 3, stride=2)
    assert (layer.eps, layer.bias, layer.padding) == (1e-8, False, "")
    params, _ = layer.init(jax.random.key(0))
    assert params["kernel"].shape == (3, 3, 64, 128)
