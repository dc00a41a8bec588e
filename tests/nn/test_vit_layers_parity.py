"""The transformer layers added for timm's ViT options against timm's own: ``RmsNorm``,
QuickGELU, ``GluMlp`` / ``SwiGLU``, ``Mlp`` and ``Attention`` with their inner norms,
``DiffAttention``, ``AttentionPoolLatent`` and ``PatchEmbed`` with a norm / any image size."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from timm.layers import (  # noqa: E402
    Attention,
    AttentionPoolLatent,
    DiffAttention,
    GluMlp,
    LayerNorm,
    Mlp,
    PatchEmbed,
    RmsNorm,
    SwiGLU,
)
from timm.layers.activations import quick_gelu as timm_quick_gelu  # noqa: E402

from zoo_core.errors import InputError  # noqa: E402
from zoo_core.nn import RmsNorm as ZooRmsNorm  # noqa: E402
from zoo_core.nn import quick_gelu  # noqa: E402
from zoo_core.nn.activations import silu  # noqa: E402
from zoo_core.nn.attention import mhsa  # noqa: E402
from zoo_core.nn.attention_pool import attention_pool_latent  # noqa: E402
from zoo_core.nn.diff_attention import diff_attention  # noqa: E402
from zoo_core.nn.mlp import glu_mlp, swiglu  # noqa: E402
from zoo_core.nn.norm import LayerNorm as ZooLayerNorm  # noqa: E402
from zoo_core.nn.transformer import mlp, patch_embed  # noqa: E402
from zoo_core.testing.parity import assert_close, layer_from_torch, randomize_torch_module, to_nhwc  # noqa: E402

pytestmark = pytest.mark.parity




def check(ours, ref, x, name, seed=0):
    """``ours`` with ``ref``'s randomized weights gives ``ref``'s output on ``x`` (N, ..., C)."""
    randomize_torch_module(ref, seed)
    ref.eval()
    params, state = layer_from_torch(ours, ref)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    y, _ = jax.jit(ours.apply)(params, state, jnp.asarray(x))
    assert_close(y, expected, name=name)


def tokens(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


@pytest.mark.parametrize("eps", [1e-6, 1e-5])
def test_rms_norm_matches_timm(eps):
    check(ZooRmsNorm(24, eps=eps), RmsNorm(24, eps=eps), tokens(2, 5, 24), "RmsNorm")


def test_quick_gelu_matches_timm():
    x = tokens(4, 33) * 4
    assert_close(quick_gelu(jnp.asarray(x)), timm_quick_gelu(torch.from_numpy(x)).numpy(), name="quick_gelu")


@pytest.mark.parametrize("gate_last", [True, False])
def test_glu_mlp_matches_timm(gate_last):
    """timm's GluMlp (SwiGLUPacked with gate_last=False: DINOv2 giant), one packed fc1."""
    ref = GluMlp(16, 40, act_layer=torch.nn.SiLU, gate_last=gate_last)
    check(glu_mlp(16, 40, act=silu, gate_last=gate_last), ref, tokens(2, 3, 16), "GluMlp")


def test_swiglu_matches_timm():
    """timm's SwiGLU (AIMv2): split fc1_g / fc1_x, no bias, and with an inner norm."""
    check(swiglu(16, 44, bias=False), SwiGLU(16, 44, bias=False), tokens(2, 3, 16), "SwiGLU")
    check(swiglu(16, 44, norm=ZooLayerNorm(44, 1e-5)), SwiGLU(16, 44, norm_layer=LayerNorm), tokens(2, 3, 16),
          "SwiGLU with norm")


def test_mlp_and_attention_with_inner_norms_match_timm():
    """BEiT-3's scale_mlp_norm (Mlp's norm after the activation) and scale_attn_norm (Attention's
    norm before proj)."""
    check(mlp(16, 48, norm=ZooLayerNorm(48, 1e-5)), Mlp(16, 48, norm_layer=LayerNorm), tokens(2, 3, 16), "Mlp norm")
    ref = Attention(32, num_heads=4, qkv_bias=True, scale_norm=True, norm_layer=LayerNorm)
    check(mhsa(32, 4, qkv_bias=True, norm=ZooLayerNorm(32, 1e-5)), ref, tokens(2, 7, 32), "Attention scale_norm")


@pytest.mark.parametrize("depth,qkv_bias", [(0, False), (5, True)])
def test_diff_attention_matches_timm(depth, qkv_bias):
    """Differential attention, lambda_init from the block depth."""
    ref = DiffAttention(32, num_heads=4, qkv_bias=qkv_bias, depth=depth)
    check(diff_attention(32, 4, qkv_bias=qkv_bias, depth=depth), ref, tokens(2, 9, 32), "DiffAttention", seed=depth)


def test_attention_pool_latent_matches_timm():
    """SigLIP's map head: a latent query attends over the tokens, then x + mlp(norm(x))."""
    ref = AttentionPoolLatent(32, num_heads=4, mlp_ratio=3.0, norm_layer=LayerNorm, act_layer=torch.nn.GELU)
    ours = attention_pool_latent(32, 4, mlp_ratio=3.0, norm=ZooLayerNorm(32, 1e-5))
    check(ours, ref, tokens(2, 10, 32), "AttentionPoolLatent")


def test_patch_embed_with_norm_and_any_size_matches_timm():
    """AIMv2's RmsNorm in the patch embedding; dynamic_img_size's non-strict embedding at another
    size; a size that is not a multiple of the patch refused as timm refuses it."""
    ref = PatchEmbed(32, 8, 3, 16, norm_layer=RmsNorm, strict_img_size=False)
    randomize_torch_module(ref, 1)
    ours = patch_embed(32, 8, 3, 16, norm=ZooRmsNorm(16, 1e-6), strict_img_size=False)
    params, state = layer_from_torch(ours, ref)
    x = torch.from_numpy(tokens(1, 3, 40, 24))
    with torch.no_grad():
        expected = ref(x).numpy()
    y, _ = ours.apply(params, state, jnp.asarray(to_nhwc(x)))
    assert_close(y, expected, name="PatchEmbed norm")
    with pytest.raises(InputError, match="not divisible by the patch size"):
        ours.apply(params, state, jnp.zeros((1, 36, 24, 3)))
