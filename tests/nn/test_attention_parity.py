"""``zoo_core.nn.mhsa``, ``rel_pos_attention`` and ``rel_pos_index`` against timm's ``Attention``,
MaxViT's ``Attention2d`` with ``RelPosBias`` and ``gen_relative_position_index``."""

from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from timm.layers import Attention, RelPosBias, gen_relative_position_index  # noqa: E402
from timm.models.maxxvit import Attention2d  # noqa: E402

from zoo_core.nn.attention import mhsa, rel_pos_attention, rel_pos_index  # noqa: E402
from zoo_core.testing.parity import assert_close, layer_from_torch, randomize_torch_module, to_nhwc  # noqa: E402

pytestmark = pytest.mark.parity




@pytest.mark.parametrize("dim,num_heads,qkv_bias,tokens,fused", [
    (192, 3, True, 197, True),     # ViT-Ti/16 at 224: class token + 14x14 patches
    (384, 6, True, 50, False),     # ViT-S/32, timm's unfused path
    (64, 8, False, 17, True),      # no qkv bias (MIIL), head_dim 8
    (96, 1, True, 1, False),       # one head, one token
])
def test_mhsa_matches_timm_attention(dim, num_heads, qkv_bias, tokens, fused):
    """Same keys and shapes (fused qkv), same output as timm's Attention, fused and unfused."""
    ref = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
    ref.fused_attn = fused
    randomize_torch_module(ref, seed=dim)
    ref.eval()
    ours = mhsa(dim, num_heads, qkv_bias=qkv_bias)
    params, state = layer_from_torch(ours, ref)
    x = np.random.default_rng(0).standard_normal((2, tokens, dim), dtype=np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    y, _ = jax.jit(ours.apply)(params, state, jnp.asarray(x))
    assert_close(y, expected, name="mhsa output")


@pytest.mark.parametrize("dim,window,kwargs,fused", [
    (64, (7, 7), {}, True),                                   # MaxViT defaults: dim_head 32, head-first
    (64, (4, 6), {"head_first": False}, False),               # non-square window, (3, heads, d) channel order
    (32, (5, 5), {"dim_out": 96, "dim_head": 16}, True),      # expand first: attention at dim_out
    (96, (3, 4), {"dim_out": 48, "expand_first": False, "bias": False}, False),
])
def test_rel_pos_attention_matches_timm_attention2d(dim, window, kwargs, fused):
    """Same keys (qkv/proj 1x1 convs, bias table) and same output as timm's Attention2d with
    RelPosBias on an NCHW map, here NHWC."""
    ref = Attention2d(dim, rel_pos_cls=partial(RelPosBias, window_size=window), **kwargs)
    ref.fused_attn = fused
    randomize_torch_module(ref, seed=dim + window[1])
    ref.eval()
    ours = rel_pos_attention(dim, window, **kwargs)
    params, state = layer_from_torch(ours, ref)
    assert params["rel_pos"]["relative_position_bias_table"].shape == tuple(ref.rel_pos.relative_position_bias_table.shape)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((2, dim, *window), dtype=np.float32))
    with torch.no_grad():
        expected = ref(x)
    y, _ = jax.jit(ours.apply)(params, state, jnp.asarray(to_nhwc(x)))
    assert_close(y, to_nhwc(expected), name="rel_pos_attention output")


def test_rel_pos_attention_rejects_a_map_of_another_size():
    """The bias table belongs to one window: another map size is an error, not a silent broadcast."""
    ours = rel_pos_attention(32, (4, 4))
    params, state = ours.init(jax.random.key(0))
    with pytest.raises(ValueError, match="does not match the window"):
        ours.apply(params, state, jnp.zeros((1, 4, 5, 32)))


@pytest.mark.parametrize("window", [(1, 1), (2, 2), (7, 7), (3, 5), (8, 4), (14, 14)])
@pytest.mark.parametrize("class_token", [False, True])
def test_rel_pos_index_matches_timm(window, class_token):
    """Every (query, key) pair gets the same table row as timm's gen_relative_position_index."""
    expected = gen_relative_position_index(window, class_token=class_token).numpy()
    np.testing.assert_array_equal(rel_pos_index(window, class_token=class_token), expected)
