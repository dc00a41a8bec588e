"""zoo-mixer against timm on randomized weights (zoo's parity protocol): Mixer-B/16's tokens,
pre-logits and logits, the in_chans and num_classes options, the feature maps, the mapping of
every variant and the table's facts."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import jax  # noqa: E402

import zoo_core  # noqa: E402
from zoo_core.testing.parity import (  # noqa: E402
    assert_close,
    check_timm_parity,
    randomize_torch_module,
    save_state_dict_to_hf_cache,
    to_nhwc,
)
from zoo_core.testing.timm_table import check_mapping_structure, check_row, check_table  # noqa: E402

from zoo_mixer.variants import VARIANTS  # noqa: E402

pytestmark = pytest.mark.parity

B16 = "mixer_b16_224.goog_in21k_ft_in1k"


def test_mixer_b16_matches_timm():
    """Tokens, pre-logits and logits equal timm's for the same randomized weights, batch 2 at 224."""
    print(check_timm_parity(B16, batch=2))


@pytest.mark.parametrize("in_chans,num_classes", [(1, None), (3, 0)])
def test_in_chans_and_num_classes_match_timm(in_chans, num_classes):
    """The patch projection adapted as timm's adapt_input_conv; the head dropped (0) as timm does."""
    print(check_timm_parity(B16, in_chans=in_chans, num_classes=num_classes, batch=1))


@pytest.mark.parametrize("name", [v.name for v in VARIANTS])
def test_mapping_consumes_timm_state_dict(name):
    """Our mapping uses exactly the keys and shapes of timm's state_dict for every variant."""
    assert check_mapping_structure(name) > 0


@pytest.mark.parametrize("out_indices", [(0, 5, 11), 3])
def test_feature_maps_match_timm_forward_intermediates(zoo_hf_cache, out_indices):
    """features_only maps equal timm's forward_intermediates(intermediates_only=True), NCHW → NHWC;
    an int takes the last blocks on both sides."""
    ref = timm.create_model(B16, pretrained=False).eval()
    randomize_torch_module(ref, seed=1)
    variant = zoo_core.get_variant(B16)
    save_state_dict_to_hf_cache(ref.state_dict(), zoo_hf_cache, variant.hf_hub_id)
    model, load = zoo_core.create_pretrained(B16, features_only=True, out_indices=out_indices,
                                             local_files_only=True)
    params, state = load()
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        theirs = ref.forward_intermediates(torch.from_numpy(x), indices=out_indices, intermediates_only=True)
    ours, _ = jax.jit(model.apply)(params, state, to_nhwc(x))
    assert len(ours) == len(theirs) == (3 if out_indices == 3 else len(out_indices))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_close(a, to_nhwc(b), name=f"{B16} feature map {i}")


@pytest.mark.parametrize("options", [{"norm": True, "intermediates_only": True}, {}, {"stop_early": True, "norm": True}])
def test_forward_intermediates_forms_match_timm(zoo_hf_cache, options):
    """zoo_core.features.forward_intermediates (timm's signature) on the mixer: normed maps, and the
    final features with them (of the whole network, or cut after the last index with stop_early)."""
    from zoo_core.features import forward_intermediates

    ref = timm.create_model(B16, pretrained=False).eval()
    randomize_torch_module(ref, seed=2)
    save_state_dict_to_hf_cache(ref.state_dict(), zoo_hf_cache, zoo_core.get_variant(B16).hf_hub_id)
    model, load = zoo_core.create_pretrained(B16, local_files_only=True)
    params, state = load()
    x = np.random.default_rng(2).standard_normal((1, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        theirs = ref.forward_intermediates(torch.from_numpy(x), indices=[1, 4], **options)
    ours, _ = jax.jit(lambda p, s, x: forward_intermediates(model, p, s, x, [1, 4], **options))(params, state,
                                                                                                 to_nhwc(x))
    if not options.get("intermediates_only"):
        assert_close(ours[0], theirs[0].numpy(), name=f"{B16} final features {options}")
        ours, theirs = ours[1], theirs[1]
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a, to_nhwc(b), name=f"{B16} intermediates {options}")


def test_table_lists_timms_pretrained_tags_in_timms_order():
    """Every pretrained mixer_* tag timm registers is a row (and no other), in timm's order."""
    assert len(check_table("mixer")) == len(VARIANTS) == len(timm.list_pretrained("mixer_*"))


@pytest.mark.parametrize("name", [v.name for v in VARIANTS])
def test_row_matches_timms_pretrained_cfg(name):
    """Head size, data config, Hub repository, stem/classifier names and license as timm states them."""
    check_row(name, {"Apache-2.0": "apache-2.0"})
