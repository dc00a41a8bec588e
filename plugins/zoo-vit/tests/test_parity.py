"""zoo-vit against timm through the registry: the classic architectures at full size, the model
options (in_chans, num_classes, image size, pooling), features_only, and the new options' rows at
reduced depth, on randomized weights (DESIGN.md's parity protocol). The table, rows and mappings of
every tag: test_table.py; every architecture option at reduced size: test_options.py."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import jax  # noqa: E402

import zoo_core  # noqa: E402
from zoo_core.interop import save_safetensors  # noqa: E402
from zoo_core.testing.parity import (  # noqa: E402
    assert_close,
    check_timm_parity,
    randomize_torch_module,
    state_dict_to_numpy,
    to_numpy,
)

from zoo_vit.variants import ARCHS  # noqa: E402

pytestmark = pytest.mark.parity

TINY = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"

# Full-size parity through the registry, one variant per classic architecture: (variant, img_size,
# batch). None runs at the variant's own input size; a smaller size builds both models there and
# loads the checkpoint made at the native size through each side's pos_embed resampling. The
# classic architectures share one code path (and every option is proven in test_options.py), so CI
# runs a few and the rest are opt-in (``largest``: `nox -s parity_largest`; 30-130 s each on CI's
# machine); every tag's mapping is proven key for key below.
LARGEST = pytest.mark.largest
ARCHITECTURES = [
    ("vit_tiny_patch16_224.augreg_in21k_ft_in1k", None, 2),
    ("vit_tiny_patch16_384.augreg_in21k_ft_in1k", None, 1),
    ("vit_small_patch32_224.augreg_in21k_ft_in1k", None, 2),
    pytest.param("vit_small_patch32_384.augreg_in21k_ft_in1k", None, 1, marks=LARGEST),
    ("vit_small_patch16_224.augreg_in21k_ft_in1k", None, 2),
    pytest.param("vit_small_patch16_384.augreg_in21k_ft_in1k", None, 1, marks=LARGEST),
    ("vit_small_patch8_224.dino", 112, 1),
    pytest.param("vit_base_patch32_224.augreg_in21k_ft_in1k", None, 2, marks=LARGEST),
    pytest.param("vit_base_patch32_384.augreg_in21k_ft_in1k", None, 1, marks=LARGEST),
    pytest.param("vit_base_patch16_224.augreg2_in21k_ft_in1k", None, 1, marks=LARGEST),
    pytest.param("vit_base_patch16_384.augreg_in21k_ft_in1k", None, 1, marks=LARGEST),
    pytest.param("vit_base_patch8_224.augreg2_in21k_ft_in1k", 64, 1, marks=LARGEST),
    pytest.param("vit_large_patch32_224.orig_in21k", None, 1, marks=LARGEST),
    pytest.param("vit_large_patch32_384.orig_in21k_ft_in1k", None, 1, marks=LARGEST),
    pytest.param("vit_large_patch16_224.augreg_in21k_ft_in1k", 112, 1, marks=LARGEST),
    pytest.param("vit_large_patch16_384.augreg_in21k_ft_in1k", 128, 1, marks=LARGEST),
    pytest.param("vit_huge_patch14_224.orig_in21k", 56, 1, marks=LARGEST),  # 630M parameters: 38 s
    ("vit_base_patch16_224_miil.in21k_ft_in1k", None, 2),
    ("vit_small_patch14_dinov2.lvd142m", None, 1),
    ("vit_base_patch14_dinov2.lvd142m", 126, 1),
    pytest.param("vit_large_patch14_dinov2.lvd142m", 70, 1, marks=LARGEST),
]


def test_every_classic_architecture_is_tested():
    """The list above names one variant of each architecture with no option beyond the classic
    ViT's (qkv_bias, init_values); every other option is proven in test_options.py."""
    classic = {arch for arch, kwargs in ARCHS.items()
               if set(kwargs) <= {"patch_size", "embed_dim", "depth", "num_heads", "qkv_bias", "init_values"}}
    archs = {(p.values[0] if hasattr(p, "values") else p[0]).split(".")[0] for p in ARCHITECTURES}
    assert archs <= classic


@pytest.mark.parametrize("name,img_size,batch", ARCHITECTURES)
def test_architecture_matches_timm(name, img_size, batch):
    """Tokens, pre-logits and logits equal timm's for the same randomized weights."""
    size = {} if img_size is None else {"img_size": img_size}
    report = check_timm_parity(name, batch=batch, img_size=img_size, zoo_kwargs=size, timm_kwargs=size)
    print(report)


@pytest.mark.parametrize("name,img_size,overrides", [
    ("vit_base_patch16_siglip_224.webli", 32, dict(depth=2)),
    ("vit_small_patch14_reg4_dinov2.lvd142m", 28, dict(depth=2)),
    ("aimv2_large_patch14_224.apple_pt", 28, dict(depth=2)),
])
@pytest.mark.filterwarnings("ignore::zoo_core.builtin_hooks.NonCommercialWeightsWarning")  # AIMv2: Apple-AMLR
def test_new_options_through_the_registry_match_timm(tmp_path, name, img_size, overrides):
    """The registry path (create_pretrained from a timm checkpoint file) of SigLIP, DINOv2-reg and
    AIMv2 rows, at full width but depth 2 and a small image: timm's create_model and zoo's builder
    get the same overrides."""
    kwargs = dict(img_size=img_size, **overrides)
    ref = timm.create_model(name, pretrained=False, **kwargs)
    randomize_torch_module(ref, seed=5)
    ref.eval()
    path = tmp_path / "model.safetensors"
    save_safetensors(path, state_dict_to_numpy(ref.state_dict()))
    model, load = zoo_core.create_pretrained(name, checkpoint_path=path, **kwargs)
    params, state = load()
    x = np.random.default_rng(5).standard_normal((1, 3, img_size, img_size), dtype=np.float32)
    with torch.no_grad():
        t_feats = ref.forward_features(torch.from_numpy(x))
        t_pre = ref.forward_head(t_feats, pre_logits=True)
    y, _ = jax.jit(model.apply)(params, state, x.transpose(0, 2, 3, 1))
    feats, _ = jax.jit(model.forward_features)(params, state, x.transpose(0, 2, 3, 1))
    assert_close(feats, to_numpy(t_feats), name=f"{name} tokens")
    assert_close(y, to_numpy(t_pre), name=f"{name} pooled (num_classes 0)")


@pytest.mark.parametrize("in_chans,num_classes", [(1, None), (4, None), (3, 0), (3, 10), (1, 0)])
@pytest.mark.filterwarnings("ignore::zoo_core.api.HeadSkippedWarning")  # num_classes=10: a fresh head, as asked
def test_in_chans_and_num_classes_match_timm(in_chans, num_classes):
    """The stem adapted as timm's adapt_input_conv; the head dropped (0) or fresh (10) as timm does."""
    print(check_timm_parity("vit_small_patch16_224.augreg_in21k_ft_in1k", in_chans=in_chans,
                            num_classes=num_classes, batch=1))


@pytest.mark.parametrize("name,img_size", [
    (TINY, 384),                                          # 14x14 → 24x24, upsampled
    (TINY, 160),                                          # 14x14 → 10x10, downsampled with antialias
    (TINY, (160, 224)),                                   # non-square: 14x14 → 10x14
    ("vit_small_patch16_384.augreg_in21k_ft_in1k", 224),  # a 384 checkpoint at 224: 24x24 → 14x14
    ("vit_base_patch32_224.orig_in21k", 96),              # no head, 7x7 → 3x3
    ("flexivit_small.1200ep_in1k", 96),                   # FlexiViT: bilinear, no antialias, no class row
    ("vit_base_patch16_radio_v3.c_radio", 64),            # RADIO: bilinear with align_corners, 7 registers
    ("vit_betwixt_patch16_reg4_gap_256.sbb_in1k", 128),   # registers without position rows, bicubic
])
def test_checkpoint_at_another_image_size_matches_timm(name, img_size):
    """A checkpoint made at the variant's size, loaded into models built for img_size: our pos_embed
    resampling on load equals timm's checkpoint_filter_fn (its interpolation for FlexiViT and RADIO)."""
    size = {"img_size": img_size}
    print(check_timm_parity(name, batch=1, img_size=img_size, zoo_kwargs=size, timm_kwargs=size))


@pytest.mark.parametrize("global_pool,fc_norm", [("avg", None), ("avg", False), ("max", None), ("avgmax", None),
                                                 ("token", True)])
def test_pooling_options_match_timm(tmp_path, global_pool, fc_norm):
    """Average/max pooling over patch tokens with the final norm moved after the pool (fc_norm) as
    timm places it, on a checkpoint of that configuration."""
    kwargs = {"global_pool": global_pool, "fc_norm": fc_norm}
    ref = timm.create_model(TINY, pretrained=False, **kwargs)
    randomize_torch_module(ref, seed=3)
    ref.eval()
    path = tmp_path / "model.safetensors"
    save_safetensors(path, state_dict_to_numpy(ref.state_dict()))
    model, load = zoo_core.create_pretrained(TINY, checkpoint_path=path, **kwargs)
    params, state = load()
    x = np.random.default_rng(3).standard_normal((2, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        t_feats = ref.forward_features(torch.from_numpy(x))
        t_pre = ref.forward_head(t_feats, pre_logits=True)
        t_logits = ref.forward_head(t_feats)

    @jax.jit
    def forward(params, x):
        feats, _ = model.forward_features(params, state, x)
        return feats, model.forward_head(params, feats, pre_logits=True), model.forward_head(params, feats)

    feats, pre, logits = forward(params, x.transpose(0, 2, 3, 1))
    assert_close(feats, to_numpy(t_feats), name="features")
    assert_close(pre, to_numpy(t_pre), name="pre-logits")
    assert_close(logits, to_numpy(t_logits), name="logits")


def test_features_only_defaults_are_timms():
    """features_only without out_indices: timm's default for ViT, the last 3 blocks."""
    import zoo_core

    with torch.device("meta"):
        ref = timm.create_model(TINY, features_only=True)
    ours = zoo_core.create_model(TINY, features_only=True)
    assert [i.module for i in ours.feature_info()] == [i["module"] for i in ref.feature_info.get_dicts()]


@pytest.mark.parametrize("name,out_indices,img_size", [
    (TINY, 12, (64, 96)),                                  # every block
    ("vit_small_patch14_dinov2.lvd142m", 3, (56, 70)),     # timm's own default: the last 3, LayerScale
    (TINY, (0, 5, -1), (48, 48)),
])
def test_features_only_matches_timm(zoo_hf_cache, name, out_indices, img_size):
    """``features_only``: the blocks' patch tokens as (N, gh, gw, D) maps (prefix token dropped, no
    final norm, as timm's forward_intermediates for features_only) equal timm's ``features_only``
    model's NCHW maps on the same weights, with the same feature_info."""
    from zoo_core.testing.features_parity import check_features_parity

    print(check_features_parity(name, zoo_hf_cache, out_indices=out_indices, img_size=img_size,
                                model_kwargs={"img_size": img_size}))
