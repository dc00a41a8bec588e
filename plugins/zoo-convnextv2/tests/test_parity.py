"""zoo-convnextv2 against timm: the variant table against timm's pretrained cfgs, the mapping of
every variant against timm's state_dict, and outputs on randomized weights (GRN included) for
every architecture."""

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import zoo_core  # noqa: E402
from zoo_core.testing.parity import check_timm_parity  # noqa: E402
from zoo_core.testing.timm_table import check_mapping_structure, check_row, check_table  # noqa: E402

pytestmark = [pytest.mark.parity, pytest.mark.filterwarnings("ignore::zoo_core.builtin_hooks.NonCommercialWeightsWarning")]

ARCHS = ("convnextv2_atto", "convnextv2_femto", "convnextv2_pico", "convnextv2_nano", "convnextv2_tiny",
         "convnextv2_base", "convnextv2_large", "convnextv2_huge")
VARIANTS = zoo_core.list_variants(family="convnextv2")


def test_table_lists_exactly_timms_pretrained_tags_in_timms_order():
    """Every tag timm registers with weights for the eight architectures is a row (and no other), in
    timm's order, the default tag first; convnextv2_small has none."""
    from timm.models._registry import _model_default_cfgs

    assert len(check_table("convnextv2", ARCHS)) == len(VARIANTS)
    assert list(_model_default_cfgs["convnextv2_small"].tags) == ["untrained"]


@pytest.mark.parametrize("name", VARIANTS)
def test_row_matches_timms_pretrained_cfg(name):
    """Head size, data config, Hub repository, stem/classifier names and CC-BY-NC-4.0, as timm states them."""
    check_row(name, {"CC-BY-NC-4.0": "cc-by-nc-4.0"})
    assert zoo_core.get_variant(name).license.commercial == "no"


@pytest.mark.parametrize("name", VARIANTS)
def test_mapping_consumes_timms_state_dict(name):
    """Our mapping uses every key of timm's state_dict with matching shapes (1×1-conv MLP weights for
    atto … nano), and writes every leaf."""
    assert check_mapping_structure(name) > 0


@pytest.mark.parametrize("arch,img_size,batch", [
    ("convnextv2_atto", (64, 96), 2),
    ("convnextv2_femto", (64, 64), 2),
    ("convnextv2_pico", (64, 64), 2),
    ("convnextv2_nano", (64, 64), 1),
    ("convnextv2_tiny", (64, 64), 1),
    ("convnextv2_base", (64, 64), 1),
    ("convnextv2_large", (64, 64), 1),
    pytest.param("convnextv2_huge", (64, 64), 1, marks=pytest.mark.largest),  # 660M parameters: 41 s
])
def test_logits_and_pre_logits_match_timm(arch, img_size, batch):
    """Features, pre-logits and logits on randomized weights (GRN gamma/beta non-zero), rtol/atol 1e-4."""
    print(check_timm_parity(f"{arch}.fcmae_ft_in1k", img_size=img_size, batch=batch))


def test_fcmae_encoder_without_classifier():
    """convnextv2_*.fcmae: 0 classes; the pooled, head-normalized features match timm's."""
    print(check_timm_parity("convnextv2_nano.fcmae", img_size=(64, 64), batch=1))


@pytest.mark.parametrize("in_chans", [1, 2])
def test_in_chans_adapts_the_stem_as_timm(in_chans):
    """The released patchify kernel adapted to other channel counts, as timm's adapt_input_conv."""
    print(check_timm_parity("convnextv2_atto.fcmae_ft_in1k", in_chans=in_chans, img_size=(64, 64), batch=1))


@pytest.mark.parametrize("num_classes", [0, 7])
def test_num_classes(num_classes):
    """0: pooled features equal timm's ``num_classes=0`` model; 7: same features and pre-logits, fresh head."""
    print(check_timm_parity("convnextv2_tiny.fcmae_ft_in22k_in1k", num_classes=num_classes, img_size=(64, 64),
                            batch=1))


@pytest.mark.parametrize("name,out_indices", [("convnextv2_atto.fcmae_ft_in1k", None), ("convnextv2_nano.fcmae", (0, -1))])
def test_features_only_matches_timm(zoo_hf_cache, name, out_indices):
    """``features_only`` through zoo-convnext's model: the stage outputs (GRN blocks, conv_mlp sizes)
    at timm's out_indices equal timm's ``features_only`` model's maps on the same weights, with the
    same feature_info; for the classifier-free FCMAE encoder too."""
    from zoo_core.testing.features_parity import check_features_parity

    print(check_features_parity(name, zoo_hf_cache, out_indices=out_indices, img_size=(64, 96)))


@pytest.mark.parametrize("name,arch", [("convnextv2_atto.fcmae_ft_in1k", {}),
                                       ("convnextv2_tiny.fcmae_ft_in1k", dict(depths=(1, 1, 2, 1)))])
def test_forward_intermediates_matches_timm(tmp_path, name, arch):
    """zoo-convnext's forward_intermediates on V2's GRN blocks (atto: 1×1-conv MLP; tiny: Linear, depths
    reduced on both sides), through zoo_core.features.forward_intermediates: the stage maps of timm's
    forward_intermediates(intermediates_only=True), all of them, a subset with norm=True (a no-op: V2
    has no norm_pre) and two with stop_early, and the final features against timm's, at 1e-4."""
    from zoo_convnext.testing import check_intermediates_parity

    print(check_intermediates_parity(name, tmp_path, ((None, False, False), ([3, 1], True, False), ([0, 1], False, True)), **arch))
