"""``zoo_core.nn.layernorm2d`` on NHWC against timm's ``LayerNorm2d`` on NCHW (and ``LayerNorm``
channels-last), several shapes: odd, batch 1, non-square, one pixel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from timm.layers import LayerNorm, LayerNorm2d  # noqa: E402

from zoo_core import nn  # noqa: E402
from zoo_core.testing.parity import assert_close, randomize_torch_module, to_nchw, to_nhwc  # noqa: E402

pytestmark = pytest.mark.parity

SHAPES = [(2, 9, 11, 96), (1, 7, 7, 768), (3, 5, 13, 40), (1, 1, 1, 3), (2, 56, 56, 96)]


def rand(shape, seed=0):
    # an offset and a scale per channel: the mean and variance are not the trivial 0 and 1
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * rng.uniform(0.5, 3, shape[-1]) + rng.uniform(-2, 2, shape[-1])).astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
def test_layernorm2d_on_nhwc_matches_timm_on_nchw(shape):
    """timm normalizes NCHW over C at each pixel; ours normalizes NHWC's last axis: same numbers."""
    ref = LayerNorm2d(shape[-1])
    randomize_torch_module(ref, seed=shape[-1])
    x = rand(shape)
    with torch.no_grad():
        expected = to_nhwc(ref(torch.from_numpy(to_nchw(x))))
    ours = nn.layernorm2d(shape[-1])
    assert ours.eps == ref.eps == 1e-6
    y, _ = jax.jit(ours.apply)({"scale": ref.weight.detach().numpy(), "bias": ref.bias.detach().numpy()}, {},
                               jnp.asarray(x))
    assert_close(y, expected, name="layernorm2d")


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_layernorm2d_matches_timm_channels_last_layernorm(shape):
    """ConvNeXt's blocks use timm's LayerNorm (eps 1e-6) on NHWC: the same layer as layernorm2d here."""
    ref = LayerNorm(shape[-1])
    randomize_torch_module(ref, seed=1)
    x = rand(shape, seed=1)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    y, _ = nn.layernorm2d(shape[-1]).apply({"scale": ref.weight.detach().numpy(), "bias": ref.bias.detach().numpy()},
                                           {}, jnp.asarray(x))
    assert_close(y, expected, name="layernorm channels-last")
