"""zoo-vit against timm: every architecture of the table, the model options (in_chans, num_classes,
image size, pooling) and the table's facts, on randomized weights (DESIGN.md's parity protocol)."""

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
from zoo_core.testing.timm_table import check_mapping_structure, check_row, check_table  # noqa: E402

from zoo_vit.variants import ARCHS, VARIANTS  # noqa: E402

pytestmark = pytest.mark.parity

TINY = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"

# One variant per distinct architecture: (variant, img_size, batch). None runs at the variant's own
# input size; a smaller size (large models, and ones with many tokens) builds both models there and
# loads the checkpoint made at the native size through each side's pos_embed resampling.
ARCHITECTURES = [
    ("vit_tiny_patch16_224.augreg_in21k_ft_in1k", None, 2),
    ("vit_tiny_patch16_384.augreg_in21k_ft_in1k", None, 1),
    ("vit_small_patch32_224.augreg_in21k_ft_in1k", None, 2),
    ("vit_small_patch32_384.augreg_in21k_ft_in1k", None, 1),
    ("vit_small_patch16_224.augreg_in21k_ft_in1k", None, 2),
    ("vit_small_patch16_384.augreg_in21k_ft_in1k", None, 1),
    ("vit_small_patch8_224.dino", 112, 1),
    ("vit_base_patch32_224.augreg_in21k_ft_in1k", None, 2),
    ("vit_base_patch32_384.augreg_in21k_ft_in1k", None, 1),
    ("vit_base_patch16_224.augreg2_in21k_ft_in1k", None, 1),
    ("vit_base_patch16_384.augreg_in21k_ft_in1k", None, 1),
    ("vit_base_patch8_224.augreg2_in21k_ft_in1k", 64, 1),
    ("vit_large_patch32_224.orig_in21k", None, 1),
    ("vit_large_patch32_384.orig_in21k_ft_in1k", None, 1),
    ("vit_large_patch16_224.augreg_in21k_ft_in1k", 112, 1),
    ("vit_large_patch16_384.augreg_in21k_ft_in1k", 128, 1),
    pytest.param("vit_huge_patch14_224.orig_in21k", 56, 1, marks=pytest.mark.largest),  # 630M parameters: 38 s
    ("vit_base_patch16_224_miil.in21k_ft_in1k", None, 2),
    ("vit_small_patch14_dinov2.lvd142m", None, 1),
    ("vit_base_patch14_dinov2.lvd142m", 126, 1),
    ("vit_large_patch14_dinov2.lvd142m", 70, 1),
]


def test_every_architecture_is_tested():
    """The parity list above names one variant of each architecture in the table."""
    archs = {(p.values[0] if hasattr(p, "values") else p[0]).split(".")[0] for p in ARCHITECTURES}
    assert archs == set(ARCHS)


@pytest.mark.parametrize("name,img_size,batch", ARCHITECTURES)
def test_architecture_matches_timm(name, img_size, batch):
    """Tokens, pre-logits and logits equal timm's for the same randomized weights."""
    size = {} if img_size is None else {"img_size": img_size}
    report = check_timm_parity(name, batch=batch, img_size=img_size, zoo_kwargs=size, timm_kwargs=size)
    print(report)


@pytest.mark.parametrize("name", [v.name for v in VARIANTS])
def test_mapping_consumes_timm_state_dict(name):
    """Our mapping uses exactly the keys and shapes of timm's state_dict for every variant."""
    assert check_mapping_structure(name) > 0


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
])
def test_checkpoint_at_another_image_size_matches_timm(name, img_size):
    """A checkpoint made at the variant's size, loaded into models built for img_size: our pos_embed
    resampling on load equals timm's checkpoint_filter_fn."""
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


def test_variant_table_matches_timm():
    """Every pretrained tag of the table's architectures is listed, in timm's order, the default tag
    first; each architecture with timm's model args (built on the meta device)."""
    assert len(check_table("vit", ARCHS)) == len(VARIANTS)
    for arch, kwargs in ARCHS.items():
        with torch.device("meta"):
            ref = timm.create_model(arch)
        block = ref.blocks[0]
        assert (ref.patch_embed.patch_size[0], ref.embed_dim, len(ref.blocks), block.attn.num_heads) == (
            kwargs["patch_size"], kwargs["embed_dim"], kwargs["depth"], kwargs["num_heads"]), arch
        assert (block.attn.qkv.bias is not None) == kwargs.get("qkv_bias", True), arch
        assert block.mlp.fc1.out_features == 4 * kwargs["embed_dim"], arch
        assert getattr(block.ls1, "init_values", None) == kwargs.get("init_values"), arch


@pytest.mark.parametrize("name", [v.name for v in VARIANTS])
def test_row_matches_timms_pretrained_cfg(name):
    """Head size, data config, Hub repository, stem/classifier names and license as timm states them."""
    check_row(name, {"Apache-2.0": "apache-2.0", "CC-BY-NC-4.0": "cc-by-nc-4.0", "unspecified": None})


@pytest.mark.parametrize("name,out_indices,img_size", [
    (TINY, None, (64, 96)),                                # every block (timm is given all twelve)
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
