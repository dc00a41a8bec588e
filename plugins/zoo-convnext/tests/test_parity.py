"""zoo-convnext against timm: the variant table against timm's pretrained cfgs, the mapping of every
variant against timm's state_dict, and outputs on randomized weights for the Facebook AI
architectures (tiny … xlarge; the other architecture options: test_parity_options.py)."""

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import zoo_core  # noqa: E402
from zoo_core.testing.parity import check_timm_parity  # noqa: E402
from zoo_core.testing.timm_table import check_mapping_structure, check_row, check_table  # noqa: E402

from zoo_convnext.licenses import TIMM_LICENSE_IDS  # noqa: E402

pytestmark = pytest.mark.parity

VARIANTS = zoo_core.list_variants(family="convnext")


def _timm_v1_archs():
    """Every architecture of timm's convnext.py with Hub weights that is not ConvNeXt-V2."""
    from timm.models._registry import _model_to_module

    return sorted(a for a, module in _model_to_module.items() if module == "convnext" and not a.startswith("convnextv2")
                  and timm.list_pretrained(f"{a}.*"))


def test_table_is_every_v1_tag_of_timms_convnext_py():
    """Every pretrained tag timm's convnext.py registers with a Hub copy, ConvNeXt-V2's aside, is a row
    (and no other), in timm's order per architecture; an architecture alone is timm's default tag."""
    archs = _timm_v1_archs()
    assert "convnext_atto_rms" not in archs and len(archs) == 21  # atto_rms: registered untrained only
    checked = check_table("convnext", archs)
    assert sorted(checked) == sorted(VARIANTS) and len(VARIANTS) == 75


@pytest.mark.parametrize("name", VARIANTS)
def test_row_matches_timms_pretrained_cfg(name):
    """Head size, data config, Hub repository, stem/classifier names and license as timm states them."""
    check_row(name, TIMM_LICENSE_IDS)


@pytest.mark.parametrize("name", VARIANTS)
def test_mapping_consumes_timms_state_dict(name):
    """Our mapping uses every key of timm's state_dict with matching shapes, and writes every leaf."""
    assert check_mapping_structure(name) > 0


@pytest.mark.parametrize("arch,img_size,batch", [
    ("convnext_tiny", (64, 96), 2),
    ("convnext_small", (64, 64), 1),
    ("convnext_base", (64, 64), 1),
    ("convnext_large", (64, 64), 1),
    ("convnext_xlarge", (64, 64), 1),
])
def test_logits_and_pre_logits_match_timm(arch, img_size, batch):
    """Features, pre-logits and logits on randomized weights (every parameter, gamma included), rtol/atol 1e-4."""
    tag = "fb_in1k" if arch != "convnext_xlarge" else "fb_in22k_ft_in1k"
    print(check_timm_parity(f"{arch}.{tag}", img_size=img_size, batch=batch))


def test_odd_input_size_floors_as_timm():
    """A size that is not a multiple of 32 (71×45): every strided conv floors the same way as torch's."""
    print(check_timm_parity("convnext_tiny.fb_in1k", img_size=(71, 45), batch=1))


def test_dinov3_encoder_without_classifier():
    """convnext_*.dinov3_lvd1689m: no head.fc, the released head.norm applies to the pooled features."""
    print(check_timm_parity("convnext_small.dinov3_lvd1689m", img_size=(64, 64), batch=1))


def test_in22k_head_of_21841_classes():
    """fb_in22k: the 21841-way classifier maps and matches."""
    print(check_timm_parity("convnext_tiny.fb_in22k", img_size=(32, 32), batch=1))


@pytest.mark.parametrize("in_chans", [1, 4])
def test_in_chans_adapts_the_stem_as_timm(in_chans):
    """The released patchify kernel adapted to 1 (sum) and 4 (tiled, rescaled) channels, as timm's adapt_input_conv."""
    print(check_timm_parity("convnext_tiny.fb_in1k", in_chans=in_chans, img_size=(64, 64), batch=1))


@pytest.mark.parametrize("num_classes", [0, 10])
def test_num_classes(num_classes):
    """0: pooled, normalized features equal timm's ``num_classes=0`` model; 10: same features and pre-logits, fresh head."""
    print(check_timm_parity("convnext_tiny.fb_in1k", num_classes=num_classes, img_size=(64, 64), batch=1))


@pytest.mark.parametrize("name,out_indices", [("convnext_tiny.fb_in1k", None), ("convnext_tiny.dinov3_lvd1689m", (1, 3)),
                                              ("convnext_small.fb_in1k", 2)])
def test_features_only_matches_timm(zoo_hf_cache, name, out_indices):
    """``features_only``: the stage outputs at timm's out_indices (all, a subset, the last n) equal
    timm's ``features_only`` model's maps on the same weights, with the same feature_info."""
    from zoo_core.testing.features_parity import check_features_parity

    print(check_features_parity(name, zoo_hf_cache, out_indices=out_indices, img_size=(64, 96), seed=1))
