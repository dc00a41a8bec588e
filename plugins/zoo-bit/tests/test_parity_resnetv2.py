"""timm's own ResNetV2 trainings against timm on randomized weights: one test per architecture
feature (BatchNorm pre-activation bottleneck, basic block, deep stem with average-pool shortcuts,
GroupNorm with plain convs, EvoNorm-S0), train-mode steps where BatchNorm keeps statistics, and
``features_only`` / ``forward_intermediates`` against timm's.

The models are small enough (11-45M parameters) to be proven whole, at reduced image sizes. Where a
tag is not run here its architecture shares every layer with one that is: ``resnetv2_34`` /
``34d`` are ``resnetv2_18`` / ``18d`` with more basic blocks, ``resnetv2_101`` is ``resnetv2_50``
with more bottlenecks; each of their tags has its row and mapping proven in ``test_parity.py``.
"""

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import zoo_core  # noqa: E402
from zoo_core.testing.features_parity import check_features_parity  # noqa: E402
from zoo_core.testing.parity import (  # noqa: E402
    assert_close,
    check_timm_parity,
    randomize_torch_module,
    save_state_dict_to_hf_cache,
    to_nhwc,
)

pytestmark = pytest.mark.parity

# (50, 58): odd sizes after the stem (25 × 29 → 13 × 15 after the pool), so the deep stem's strided
# 3×3 conv and the ceil-mode average-pool shortcut both meet an odd edge.
ODD = (50, 58)


@pytest.mark.parametrize("name", [
    "resnetv2_18.ra4_e3600_r224_in1k",    # basic block, BatchNorm, 7×7 stem + max-pool
    "resnetv2_18d.ra4_e3600_r224_in1k",   # basic block, deep stem, average-pool shortcuts
    "resnetv2_50.a1h_in1k",               # BatchNorm bottleneck, plain convs
])
def test_batchnorm_models_match_timm_in_eval_and_train_mode(name):
    """Logits, pre-logits and features in eval mode; then one train-mode forward: outputs with batch
    statistics and every updated running mean / variance."""
    print(check_timm_parity(name, img_size=ODD, batch=2, train_step=True))


@pytest.mark.parametrize("name", [
    "resnetv2_50d_gn.ah_in1k",     # GroupNorm + ReLU, plain convs, deep stem, average-pool shortcuts
    "resnetv2_50d_evos.ah_in1k",   # EvoNorm-S0, plain convs, deep stem, average-pool shortcuts
])
def test_batch_free_norm_models_match_timm(name):
    """Logits, pre-logits and features; their norms keep no statistics, so train mode is eval mode."""
    print(check_timm_parity(name, img_size=ODD, batch=2))


def test_deep_stem_adapts_in_chans_as_timm():
    """``first_conv`` is ``stem.conv1``: a 1-channel model sums its kernel as timm's adapt_input_conv."""
    print(check_timm_parity("resnetv2_18d.ra4_e3600_r224_in1k", in_chans=1, num_classes=10, img_size=(48, 48),
                            batch=1))


@pytest.mark.parametrize("name,out_indices", [("resnetv2_18d.ra4_e3600_r224_in1k", None),
                                              ("resnetv2_50.a1h_in1k", (0, 2, -1))])
def test_features_only_matches_timm(zoo_hf_cache, name, out_indices):
    """``features_only``: the stem feature (``stem.conv3`` of the deep stem, ``stem.conv`` otherwise,
    before the max-pool) and the stage outputs equal timm's maps, with the same feature_info."""
    print(check_features_parity(name, zoo_hf_cache, out_indices=out_indices, img_size=(64, 96)))


def _timm_randomized(name, cache, seed):
    ref = timm.create_model(name, pretrained=False)
    randomize_torch_module(ref, seed)
    save_state_dict_to_hf_cache(ref.state_dict(), cache, zoo_core.get_variant(name).hf_hub_id)
    return ref.eval()


@pytest.mark.parametrize("name,indices,norm,stop_early", [
    ("resnetv2_18d.ra4_e3600_r224_in1k", None, True, False),    # every point; BatchNorm final norm on the last
    ("resnetv2_50d_evos.ah_in1k", (1, 2), False, True),         # features cut after stages.1, no norm
    ("resnetv2_50x1_bit.goog_in21k_ft_in1k", (0, -1), True, False),  # GroupNorm final norm on the last
])
def test_forward_intermediates_matches_timm(zoo_hf_cache, name, indices, norm, stop_early):
    """``zoo_core.features.forward_intermediates(model, …, indices, norm=..., stop_early=...)`` equals
    timm's ``model.forward_intermediates(x, indices, norm=..., stop_early=...)``: the final features
    (after the norm, as forward_features, or the cut network's with ``stop_early``) and the maps,
    which also equal timm's ``intermediates_only=True`` maps. That ``intermediates_only`` gives the
    same maps while stopping after the last index is checked without torch in ``test_resnetv2.py``."""
    from zoo_core.features import forward_intermediates

    ref = _timm_randomized(name, zoo_hf_cache, seed=3)
    x = np.random.default_rng(3).standard_normal((2, 3, 48, 64), dtype=np.float32)
    timm_indices = None if indices is None else list(indices)
    with torch.no_grad():
        t_only = ref.forward_intermediates(torch.from_numpy(x), indices=timm_indices, norm=norm,
                                           intermediates_only=True)
        t_final, t_maps = ref.forward_intermediates(torch.from_numpy(x), indices=timm_indices, norm=norm,
                                                    stop_early=stop_early)
    model, load = zoo_core.create_pretrained(name, local_files_only=True)
    params, state = load()
    (features, maps), _ = jax.jit(lambda p, s, x: forward_intermediates(
        model, p, s, x, indices, norm=norm, stop_early=stop_early))(params, state, to_nhwc(x))
    assert len(maps) == len(t_maps) == len(t_only)
    for i, (ours, theirs, only) in enumerate(zip(maps, t_maps, t_only)):
        np.testing.assert_array_equal(theirs.numpy(), only.numpy())
        # The un-normalized pre-activation residual stream grows with depth on randomized weights
        # (BiT's stages.3 reaches max |x| ~120): measured errors stay under 1e-5 of each map's scale.
        scale = float(np.abs(theirs.numpy()).max())
        print(i, scale, assert_close(ours, to_nhwc(theirs), rtol=1e-4, atol=max(1e-4, 3e-5 * scale),
                                     name=f"{name} map {i}"))
    scale = float(np.abs(t_final.numpy()).max())
    print(assert_close(features, to_nhwc(t_final), rtol=1e-4, atol=max(1e-4, 3e-5 * scale),
                       name=f"{name} final features"))
