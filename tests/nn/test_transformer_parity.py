"""``zoo_core.nn.patch_embed``, ``mlp`` and ``vit_block`` against timm's ``PatchEmbed``, ``Mlp`` and
ViT ``Block``."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from timm.layers import Mlp, PatchEmbed  # noqa: E402
from timm.models.vision_transformer import Block  # noqa: E402

from zoo_core.errors import InputError  # noqa: E402
from zoo_core.nn.activations import gelu_tanh  # noqa: E402
from zoo_core.nn.transformer import mlp, patch_embed, vit_block  # noqa: E402
from zoo_core.testing.parity import assert_close, layer_from_torch, randomize_torch_module, to_nhwc  # noqa: E402

pytestmark = pytest.mark.parity




@pytest.mark.parametrize("img_size,patch_size,in_chans,embed_dim,bias", [
    (224, 16, 3, 192, True),
    (64, 32, 3, 96, True),
    ((48, 80), 8, 1, 32, False),   # non-square image, one channel, no bias
    (70, 14, 4, 40, True),         # 70 = 5 patches of 14
    (50, 16, 3, 24, True),         # 50 is not a multiple of 16: the last 2 rows/cols are dropped, as the conv does
])
def test_patch_embed_matches_timm(img_size, patch_size, in_chans, embed_dim, bias):
    """Same tokens, in the same row-major patch order, as timm's conv patch embedding."""
    ref = PatchEmbed(img_size, patch_size, in_chans, embed_dim, bias=bias)
    randomize_torch_module(ref, seed=embed_dim)
    ours = patch_embed(img_size, patch_size, in_chans, embed_dim, bias=bias)
    assert ours.grid_size == tuple(ref.grid_size) and ours.num_patches == ref.num_patches
    params, state = layer_from_torch(ours, ref)
    hw = ref.img_size
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, in_chans, *hw), dtype=np.float32))
    with torch.no_grad():
        expected = ref(x).numpy()
    y, _ = jax.jit(ours.apply)(params, state, jnp.asarray(to_nhwc(x)))
    assert_close(y, expected, name="patch_embed output")


def test_patch_embed_rejects_another_image_size():
    """As timm's strict_img_size: the error names both sizes and how to build for the new one."""
    ours = patch_embed(32, 16, 3, 8)
    params, state = ours.init(jax.random.key(0))
    with pytest.raises(InputError, match=r"48x32 .* 32x32 .*img_size=\(48, 32\)"):
        ours.apply(params, state, jnp.zeros((1, 48, 32, 3)))


@pytest.mark.parametrize("in_features,hidden,out,bias,act", [
    (192, 768, None, True, "gelu"),
    (64, 100, 32, False, "gelu"),
    (48, None, None, True, "gelu_tanh"),
])
def test_mlp_matches_timm(in_features, hidden, out, bias, act):
    """fc1 → act → fc2 with the same keys and output as timm's Mlp."""
    act_layer = torch.nn.GELU if act == "gelu" else (lambda: torch.nn.GELU(approximate="tanh"))
    ref = Mlp(in_features, hidden, out, act_layer=act_layer, bias=bias)
    randomize_torch_module(ref, seed=in_features)
    ours = mlp(in_features, hidden, out, bias=bias, **({} if act == "gelu" else {"act": gelu_tanh}))
    params, state = layer_from_torch(ours, ref)
    x = np.random.default_rng(0).standard_normal((2, 5, in_features), dtype=np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    y, _ = jax.jit(ours.apply)(params, state, jnp.asarray(x))
    assert_close(y, expected, name="mlp output")


@pytest.mark.parametrize("dim,num_heads,kwargs,tokens", [
    (192, 3, {"qkv_bias": True}, 197),                       # ViT-Ti/16 block
    (64, 4, {"qkv_bias": False}, 10),                        # MIIL: no qkv bias
    (96, 6, {"qkv_bias": True, "init_values": 1e-5}, 26),    # DINOv2: LayerScale (gamma randomized)
    (48, 2, {"qkv_bias": True, "mlp_ratio": 2.5, "proj_bias": False}, 5),
])
def test_vit_block_matches_timm(dim, num_heads, kwargs, tokens):
    """Pre-norm attention and MLP residuals (LayerScale when init_values) as timm's Block."""
    ref = Block(dim, num_heads, **kwargs)
    randomize_torch_module(ref, seed=dim)
    ref.eval()
    ours = vit_block(dim, num_heads, **kwargs)
    params, state = layer_from_torch(ours, ref)
    x = np.random.default_rng(0).standard_normal((2, tokens, dim), dtype=np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    y, _ = jax.jit(ours.apply)(params, state, jnp.asarray(x))
    assert_close(y, expected, name="vit_block output")
