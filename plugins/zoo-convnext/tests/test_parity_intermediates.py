"""``forward_intermediates`` and ``features_only`` of zoo-convnext against timm on randomized
weights, through ``zoo_core.features.forward_intermediates`` (timm's signature): maps at the indices
asked, ``norm=True`` (the ``_hnf`` model's ``norm_pre`` on
the last stage; a no-op elsewhere, as in timm) and the final features, at rtol/atol 1e-4."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from zoo_convnext.testing import check_intermediates_parity  # noqa: E402

pytestmark = pytest.mark.parity

#: (indices, norm, stop_early) as timm's forward_intermediates takes them: every stage; a subset given out of
#: order with the last stage and norm; the first two with stop_early (final features cut after stage 1)
CASES = ((None, False, False), ([3, 1], True, False), (2, True, True), ([0, 1], False, True))


@pytest.mark.parametrize("name,arch", [
    ("convnext_tiny_hnf.a2h_in1k", dict(depths=(1, 1, 2, 1))),  # norm_pre: norm=True changes the last map
    ("convnext_zepto_rms_ols.ra4_e3600_r224_in1k", {}),  # overlap_act stem, SimpleNorm
    ("convnext_tiny.fb_in1k", dict(depths=(1, 1, 2, 1))),  # patch stem, LayerScale, Linear MLP
])
def test_forward_intermediates_matches_timm(tmp_path, name, arch):
    """The stage maps timm's forward_intermediates returns (intermediates_only=True), and its final
    features, for every (indices, norm, stop_early) case; depths reduced on both sides where noted."""
    print(check_intermediates_parity(name, tmp_path, CASES, **arch))


@pytest.mark.parametrize("name,out_indices", [("convnext_tiny_hnf.a2h_in1k", (0, 3)),
                                              ("convnext_atto_ols.a2_in1k", 2)])
def test_features_only_matches_timm(zoo_hf_cache, name, out_indices):
    """features_only: timm's feature_info (hnf's norm_pre is not a feature point) and maps."""
    from zoo_core.testing.features_parity import check_features_parity

    print(check_features_parity(name, zoo_hf_cache, out_indices=out_indices, img_size=(64, 64), seed=1))
