"""zoo-resnet against timm: the variant table against timm's pretrained cfgs, the mapping of every
variant against timm's state_dict, and outputs of the classic ResNet-18 … 152 on randomized weights
(the other architecture options: ``test_parity_archs.py``)."""

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import zoo_core  # noqa: E402
from zoo_core.testing.parity import check_timm_parity, check_timm_parity_float64  # noqa: E402
from zoo_core.testing.timm_table import check_mapping_structure, check_row, check_table  # noqa: E402

pytestmark = pytest.mark.parity

VARIANTS = zoo_core.list_variants(family="resnet")
TIMM_LICENSES = {"Apache-2.0": "apache-2.0", "BSD-3-Clause": "bsd-3-clause", "CC-BY-NC-4.0": "cc-by-nc-4.0",
                 "unspecified": None}


def test_table_lists_exactly_timms_pretrained_tags_in_timms_order():
    """Every pretrained tag of timm's resnet.py is a row (and no other), each architecture's tags in
    timm's order, its default tag first; all 150 have a Hub copy (timm/<name>)."""
    timms = timm.list_models(module="resnet", pretrained=True)
    assert sorted(VARIANTS) == sorted(timms) and len(VARIANTS) == 150
    assert len(check_table("resnet")) == len(VARIANTS)


@pytest.mark.parametrize("name", VARIANTS)
def test_row_matches_timms_pretrained_cfg(name):
    """Head size, data config, Hub repository, stem/classifier names and license as timm states them."""
    check_row(name, TIMM_LICENSES)


@pytest.mark.parametrize("name", VARIANTS)
def test_mapping_consumes_timms_state_dict(name):
    """Our mapping uses every key of timm's state_dict with matching shapes, and writes every leaf
    (per tag, not per architecture: the ImageNet-12k tags have an 11821-class head)."""
    assert check_mapping_structure(name) > 0


# atol 1e-3 for resnet152: with every weight randomized its residual stream grows to |437| by the
# last stage and float32 rounding reaches 5.6e-4 on features and logits (1.3e-6 of that scale);
# in float64 the same model agrees with timm to 2e-12 (test_deepest_resnet_is_exact_in_float64).
@pytest.mark.parametrize("arch,batch,atol", [("resnet18", 2, 1e-4), ("resnet34", 2, 1e-4), ("resnet50", 2, 1e-4),
                                             ("resnet101", 1, 1e-4), ("resnet152", 1, 1e-3)])
def test_logits_and_pre_logits_match_timm(arch, batch, atol):
    """Logits, pre-logits and features on randomized weights, 64×56 input, rtol 1e-4."""
    print(check_timm_parity(f"{arch}.tv_in1k", img_size=(64, 56), batch=batch, atol=atol))


def test_deepest_resnet_is_exact_in_float64():
    """resnet152 with float64 weights, input and arithmetic matches timm to 1e-9: its float32 misses are rounding."""
    print(check_timm_parity_float64("resnet152.tv_in1k", img_size=(64, 56)))


@pytest.mark.parametrize("arch,in_chans", [("resnet50", 1), ("resnet34", 4)])
def test_in_chans_adapts_the_stem_as_timm(arch, in_chans):
    """The released stem kernel adapted to 1 (sum) and 4 (tiled, rescaled) channels, as timm's adapt_input_conv."""
    print(check_timm_parity(f"{arch}.a1_in1k", in_chans=in_chans, img_size=(64, 64), batch=1))


@pytest.mark.parametrize("num_classes", [0, 10])
def test_num_classes(num_classes):
    """0: pooled features equal timm's ``num_classes=0`` model; 10: same features and pre-logits, fresh head."""
    print(check_timm_parity("resnet50.a1_in1k", num_classes=num_classes, img_size=(64, 64), batch=1))


def test_bamboo_backbone_without_classifier():
    """resnet50.bamboo is released with no head: the row says 0 classes and the weights load as such."""
    print(check_timm_parity("resnet50.bamboo", img_size=(64, 64), batch=1))


def test_train_mode_step_matches_timm():
    """One train-mode forward: outputs and every updated BatchNorm running mean/var equal timm's.

    160² (5×5 maps, 50 values per channel in the last stage's batch statistics): at 64² the last
    stage normalizes over 8 values per channel and float32 rounding, amplified through 50 layers of
    batch statistics, reaches ~2e-4 (with float64 weights, inputs and batch statistics both agree to 1e-12).
    """
    print(check_timm_parity("resnet50.a1_in1k", img_size=(160, 160), batch=2, train_step=True))


@pytest.mark.parametrize("name,out_indices", [("resnet18.a1_in1k", None), ("resnet50.a1_in1k", (0, 2, 4)),
                                              ("resnet18.a1_in1k", 2)])
def test_features_only_matches_timm(zoo_hf_cache, name, out_indices):
    """``features_only``: ``act1`` and the stage outputs at timm's out_indices (all, a subset with the
    stem, the last n) equal timm's ``features_only`` model's maps on the same weights, with the same
    feature_info (basic and bottleneck widths)."""
    from zoo_core.testing.features_parity import check_features_parity

    print(check_features_parity(name, zoo_hf_cache, out_indices=out_indices, img_size=(64, 96)))
