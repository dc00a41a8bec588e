"""zoo-bit against timm: the variant table against timm's pretrained cfgs, the mapping of every
variant against timm's state_dict, and BiT's outputs on randomized weights for every BiT
architecture (timm's own ResNetV2 trainings: ``test_parity_resnetv2.py``)."""

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import zoo_core  # noqa: E402
from zoo_core.testing.parity import check_timm_parity, check_timm_parity_float64  # noqa: E402
from zoo_core.testing.timm_table import check_mapping_structure, check_row, check_table  # noqa: E402

pytestmark = pytest.mark.parity

VARIANTS = zoo_core.list_variants(family="bit")


def test_table_lists_exactly_timms_pretrained_tags_in_timms_order():
    """Every tag timm registers with weights in resnetv2.py is a row (and no other), in timm's order
    per architecture, the default tag first; the family lists every architecture of the module
    that has one."""
    assert len(check_table("bit")) == len(VARIANTS) == 24
    assert sorted(VARIANTS) == sorted(timm.list_models(module="resnetv2", pretrained=True))


@pytest.mark.parametrize("name", VARIANTS)
def test_row_matches_timms_pretrained_cfg(name):
    """Head size, data config, Hub repository, stem/classifier names, Apache-2.0 and num_features, as timm states them."""
    check_row(name, {"Apache-2.0": "apache-2.0"})


@pytest.mark.parametrize("name", VARIANTS)
def test_mapping_consumes_timms_state_dict(name):
    """Our mapping uses every key of timm's state_dict with matching shapes, and writes every leaf."""
    assert check_mapping_structure(name) > 0


# Tolerances: with every weight randomized, the pre-activation residual stream is never normalized
# and grows with depth; the final GroupNorm divides it back to O(1), so float32 rounding of the
# stream shows in the features. Measured at 64², batch 1, features / logits max abs error:
#   101x1 1.6e-4 / 5e-5, 101x3 1.7e-4 / 5e-5, 152x2 3.7e-4 / 1.2e-4, 152x4 3.5e-4 / 1.1e-4.
# timm's own float32 output is as far from its float64 output (101x1: 2.1e-4, 152x2: 4.5e-4), and
# in float64 with float64 GroupNorm statistics ours matches timm to 2e-13 (50x1).
@pytest.mark.parametrize("arch,batch,atol", [
    ("resnetv2_50x1_bit", 2, 1e-4),
    ("resnetv2_50x3_bit", 1, 1e-4),
    ("resnetv2_101x1_bit", 1, 5e-4),
    pytest.param("resnetv2_101x3_bit", 1, 5e-4, marks=pytest.mark.largest),  # 388M parameters: 45 s
    ("resnetv2_152x2_bit", 1, 1e-3),
    pytest.param("resnetv2_152x4_bit", 1, 1e-3, marks=pytest.mark.largest),  # 936M parameters: ~10 GB peak, 105 s
])
def test_logits_and_pre_logits_match_timm(arch, batch, atol):
    """Logits (ImageNet-21k head), pre-logits and features on randomized weights, 64×56 input."""
    print(check_timm_parity(f"{arch}.goog_in21k", img_size=(64, 56), batch=batch, atol=atol))


def test_odd_input_and_1000_class_head():
    """An odd, non-square input through the fixed stem, with the distilled ImageNet-1k row."""
    print(check_timm_parity("resnetv2_50x1_bit.goog_distilled_in1k", img_size=(61, 67), batch=1))


@pytest.mark.parametrize("in_chans", [1, 4])
def test_in_chans_adapts_the_stem_as_timm(in_chans):
    """The released (unstandardized) stem kernel adapted as timm's adapt_input_conv, then standardized."""
    print(check_timm_parity("resnetv2_50x1_bit.goog_in21k_ft_in1k", in_chans=in_chans, img_size=(64, 64), batch=1))


@pytest.mark.parametrize("num_classes", [0, 10])
def test_num_classes(num_classes):
    """0: pooled features equal timm's ``num_classes=0`` model; 10: same features and pre-logits, fresh head."""
    print(check_timm_parity("resnetv2_50x1_bit.goog_in21k", num_classes=num_classes, img_size=(64, 64), batch=1))


def test_train_mode_step_matches_timm():
    """train=True equals timm in train mode (GroupNorm has no running statistics to update)."""
    print(check_timm_parity("resnetv2_50x1_bit.goog_in21k_ft_in1k", img_size=(64, 48), batch=2, train_step=True))


def test_bit_is_exact_in_float64():
    """resnetv2_50x1_bit with float64 weights, input and arithmetic matches timm to 1e-9."""
    print(check_timm_parity_float64("resnetv2_50x1_bit.goog_in21k", img_size=(64, 56)))


# Tolerance: the stage outputs are the un-normalized residual stream (no final norm here), which
# grows with depth on randomized weights: max |x| 47 / 76 / 127 / 133 for stages.0..3 (50x1, 64×96,
# seed 2). Measured max abs error against timm's float32: 8.8e-5 / 3.3e-4 / 1.2e-3 / 2.1e-3, and
# timm's own float32 is as far from its float64 (7.2e-5 / 2.5e-4 / 1.2e-3 / 1.9e-3): about 1.6e-5 of
# each map's scale. stem.conv (max |x| 56) is within 1.5e-5.
@pytest.mark.parametrize("name,out_indices", [("resnetv2_50x1_bit.goog_in21k_ft_in1k", None),
                                              ("resnetv2_50x1_bit.goog_in21k", (0, -1))])
def test_features_only_matches_timm(zoo_hf_cache, name, out_indices):
    """``features_only``: ``stem.conv`` (before the padded max-pool) and the stage outputs (the last
    before the final norm, as timm's hooks take it) at timm's out_indices equal timm's
    ``features_only`` model's maps on the same weights, with the same feature_info."""
    from zoo_core.testing.features_parity import check_features_parity

    print(check_features_parity(name, zoo_hf_cache, out_indices=out_indices, img_size=(64, 96), atol=5e-3))
