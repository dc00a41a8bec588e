"""Original Facebook ConvNeXt-V2 checkpoints (facebookresearch/ConvNeXt-V2 key layout: Linear
``pwconv``, (1, 1, 1, C) GRN parameters) loaded through ``create_pretrained(checkpoint_path=...)``:
the transform hook's answer without torch, and outputs against timm loading the same weights
through its own ``checkpoint_filter_fn``."""

import numpy as np
import pytest

import zoo_core
from zoo_core.testing.checkpoints import check_checkpoint_transform, random_state_dict

from zoo_convnext.checkpoint import to_facebook
from zoo_convnextv2.plugin import zoo_transform_checkpoint

NAME = "convnextv2_atto.fcmae_ft_in1k"  # atto: timm's MLP is 1×1 convs, Facebook's is Linear


@pytest.mark.parametrize("name", [NAME, "convnextv2_tiny.fcmae_ft_in22k_in1k"])
def test_transform_reshapes_a_facebook_dict_into_a_new_one_and_passes_on_timms(name):
    """timm's layout: None. Facebook's (GRN (1, 1, 1, C), Linear pwconv): a new mapping with timm's
    keys and shapes ((C,) GRN; (out, in, 1, 1) MLP for atto, (out, in) for tiny) and the same
    values; the given dict is left as it was."""
    timm_layout = random_state_dict(name)
    foreign = to_facebook(timm_layout)
    assert foreign["stages.0.0.grn.gamma"].shape[:3] == (1, 1, 1) and foreign["stages.0.0.pwconv1.weight"].ndim == 2
    check_checkpoint_transform(zoo_transform_checkpoint, zoo_core.get_variant(name), timm_layout, foreign,
                               foreign_path="x.pth")


def test_facebook_fcmae_encoder_without_final_norm_gets_the_identity_norm():
    """An FCMAE encoder in Facebook's layout without ``norm.*``: renamed and completed with timm's
    initial head.norm (ones, zeros) in one answer."""
    name = "convnextv2_atto.fcmae"
    foreign = {k: v for k, v in to_facebook(random_state_dict(name)).items() if not k.startswith("norm.")}
    converted = zoo_transform_checkpoint(variant=zoo_core.get_variant(name), state_dict=foreign, path="x.pth")
    np.testing.assert_array_equal(converted["head.norm.weight"], np.ones(320, np.float32))
    np.testing.assert_array_equal(converted["head.norm.bias"], np.zeros(320, np.float32))
    assert "stages.0.blocks.0.mlp.grn.weight" in converted


def _facebook_reference(name, *, seed=0, drop_final_norm=False):
    """A randomized timm model, its weights in Facebook's layout, and a second timm model that
    loaded those through timm's own checkpoint_filter_fn (strict unless the final norm is dropped,
    where timm keeps its initial head.norm as it does for FCMAE)."""
    import timm
    import torch
    from timm.models.convnext import checkpoint_filter_fn

    from zoo_core.testing.parity import randomize_torch_module, state_dict_to_numpy

    ref = timm.create_model(name, pretrained=False)
    randomize_torch_module(ref, seed)
    foreign = to_facebook(state_dict_to_numpy(ref.state_dict()))
    if drop_final_norm:
        foreign = {k: v for k, v in foreign.items() if not k.startswith("norm.")}
    reference = timm.create_model(name, pretrained=False).eval()
    reference.load_state_dict(checkpoint_filter_fn({k: torch.from_numpy(v) for k, v in foreign.items()}, reference),
                              strict=not drop_final_norm)
    for key, value in ref.state_dict().items():  # the file is what timm reads back as these weights
        if not (drop_final_norm and key.startswith("head.norm.")):
            torch.testing.assert_close(reference.state_dict()[key], value, rtol=0, atol=0, msg=key)
    return foreign, reference


@pytest.mark.parity
def test_facebook_pth_matches_timm(tmp_path):
    """A released-style ``.pth`` (``{"model": state_dict}``) of atto: features, pre-logits and
    logits equal timm's at 1e-4."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("timm")
    from zoo_core.testing.parity import check_checkpoint_file_parity

    foreign, reference = _facebook_reference(NAME)
    path = tmp_path / "convnextv2_atto_1k_224_ema.pt"
    torch.save({"model": {k: torch.from_numpy(v) for k, v in foreign.items()}}, path)
    print(check_checkpoint_file_parity(NAME, path, reference, img_size=(64, 64)))


@pytest.mark.parity
def test_facebook_fcmae_encoder_safetensors_matches_timm(tmp_path):
    """An FCMAE encoder in Facebook's layout without the final norm, as safetensors: 0 classes, and
    the pooled features equal timm's (its head.norm at init) at 1e-4."""
    pytest.importorskip("timm")
    from zoo_core.interop import save_safetensors
    from zoo_core.testing.parity import check_checkpoint_file_parity

    name = "convnextv2_atto.fcmae"
    foreign, reference = _facebook_reference(name, seed=2, drop_final_norm=True)
    path = tmp_path / "convnextv2_atto_fcmae.safetensors"
    save_safetensors(path, foreign)
    print(check_checkpoint_file_parity(name, path, reference, img_size=(64, 64), seed=2))
