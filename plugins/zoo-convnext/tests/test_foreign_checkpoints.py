"""Foreign ConvNeXt checkpoints loaded through ``create_pretrained(checkpoint_path=...)``: original
Facebook ConvNeXt files (facebookresearch/ConvNeXt key layout) and OpenCLIP's ConvNeXt towers
(``visual.trunk.*``, ``visual.head.*``). The transform hook's answer without torch, and outputs
against timm loading the same file through its own ``checkpoint_filter_fn``."""

import numpy as np
import pytest

import zoo_core
from zoo_core.testing.checkpoints import check_checkpoint_transform, random_state_dict

from zoo_convnext.checkpoint import to_facebook
from zoo_convnext.openclip import to_openclip
from zoo_convnext.plugin import zoo_transform_checkpoint

NAME = "convnext_tiny.fb_in1k"


def test_transform_renames_a_facebook_dict_into_a_new_one_and_passes_on_timms():
    """timm's layout: None. Facebook's: a new mapping in timm's keys with the same arrays; the
    given dict is left as it was."""
    timm_layout = random_state_dict(NAME)
    check_checkpoint_transform(zoo_transform_checkpoint, zoo_core.get_variant(NAME), timm_layout,
                               to_facebook(timm_layout), foreign_path="x.pth")


def test_transform_leaves_other_families_alone():
    """A ConvNeXt-V2 variant is zoo-convnextv2's to convert: zoo-convnext answers None."""
    foreign = to_facebook(random_state_dict(NAME))
    assert zoo_transform_checkpoint(variant=zoo_core.get_variant("convnextv2_tiny"), state_dict=foreign,
                                    path="x.pth") is None


def _facebook_reference(name, *, num_classes=None, seed=0):
    """A randomized timm model, its weights in Facebook's layout, and a second timm model that
    loaded those through timm's own checkpoint_filter_fn (strict)."""
    import timm
    import torch
    from timm.models.convnext import checkpoint_filter_fn

    from zoo_core.testing.parity import randomize_torch_module, state_dict_to_numpy

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    ref = timm.create_model(name, pretrained=False, **kwargs)
    randomize_torch_module(ref, seed)
    foreign = to_facebook(state_dict_to_numpy(ref.state_dict()))
    reference = timm.create_model(name, pretrained=False, **kwargs).eval()
    reference.load_state_dict(checkpoint_filter_fn({k: torch.from_numpy(v) for k, v in foreign.items()}, reference))
    for key, value in ref.state_dict().items():  # the file is what timm reads back as these weights
        torch.testing.assert_close(reference.state_dict()[key], value, rtol=0, atol=0, msg=key)
    return foreign, reference


@pytest.mark.parity
def test_facebook_safetensors_matches_timm(tmp_path):
    """A Facebook-layout safetensors file: features, pre-logits and logits equal timm's, 1e-4."""
    pytest.importorskip("timm")
    from zoo_core.interop import save_safetensors
    from zoo_core.testing.parity import check_checkpoint_file_parity

    foreign, reference = _facebook_reference(NAME)
    path = tmp_path / "convnext_tiny_1k_224.safetensors"
    save_safetensors(path, foreign)
    print(check_checkpoint_file_parity(NAME, path, reference, img_size=(64, 64)))


@pytest.mark.parity
def test_facebook_pth_with_model_wrapper_and_fine_tuned_head_matches_timm(tmp_path):
    """A released-style ``.pth`` (``{"model": state_dict, "epoch": ...}``) fine-tuned to 10 classes:
    the model is built with the file's 10-way head and matches timm at 1e-4."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("timm")
    from zoo_core.testing.parity import check_checkpoint_file_parity

    foreign, reference = _facebook_reference(NAME, num_classes=10, seed=1)
    path = tmp_path / "checkpoint-best.pth"
    torch.save({"model": {k: torch.from_numpy(v) for k, v in foreign.items()}, "epoch": 7}, path)
    model, _ = zoo_core.create_pretrained(NAME, checkpoint_path=path)
    assert model.num_classes == 10
    print(check_checkpoint_file_parity(NAME, path, reference, img_size=(64, 64), seed=1))


#: one block per stage and narrow stages on both sides: the head and the key layout are what is tested
REDUCED = dict(depths=(1, 1, 1, 1), dims=(16, 24, 32, 48))
TEXT_KEYS = {"text.token_embedding.weight": np.zeros((8, 4), np.float32), "logit_scale": np.ones((), np.float32)}


@pytest.mark.parametrize("name", ["convnext_base.clip_laion2b", "convnext_large_mlp.clip_laion2b_augreg"])
def test_transform_renames_an_openclip_tower_and_drops_the_text_tower(name):
    """visual.trunk.* → timm's keys, visual.head.proj (base) or visual.head.mlp.fc1/fc2 (large_mlp)
    → head.fc / head.pre_logits.fc with head.fc's zero bias; the text tower and logit_scale dropped."""
    timm_layout = random_state_dict(name, **REDUCED)
    timm_layout["head.fc.bias"] = np.zeros_like(timm_layout["head.fc.bias"])
    foreign = to_openclip(timm_layout, text_keys=TEXT_KEYS)
    assert ("visual.head.mlp.fc1.weight" in foreign) == ("large_mlp" in name) and "logit_scale" in foreign
    converted = check_checkpoint_transform(zoo_transform_checkpoint, zoo_core.get_variant(name), timm_layout,
                                           foreign, foreign_path="open_clip_model.safetensors")
    assert converted.shape("head.fc.bias") == timm_layout["head.fc.bias"].shape
    dp = {f"module.{k}": v for k, v in foreign.items()}  # DataParallel's prefix
    assert set(zoo_transform_checkpoint(variant=zoo_core.get_variant(name), state_dict=dp, path="x.bin")) == set(
        timm_layout)


def _openclip_reference(name, *, seed=0):
    """A reduced, randomized timm ``clip_*`` tower with a zero head.fc bias (OpenCLIP's projection has
    none), written in OpenCLIP's layout, and a second timm model that loaded that file through timm's
    own checkpoint_filter_fn (strict)."""
    import timm
    import torch
    from timm.models.convnext import checkpoint_filter_fn

    from zoo_core.testing.parity import randomize_torch_module, state_dict_to_numpy

    ref = timm.create_model(name, pretrained=False, **REDUCED)
    randomize_torch_module(ref, seed)
    with torch.no_grad():
        ref.head.fc.bias.zero_()
    foreign = to_openclip(state_dict_to_numpy(ref.state_dict()), text_keys=TEXT_KEYS)
    reference = timm.create_model(name, pretrained=False, **REDUCED).eval()
    reference.load_state_dict(checkpoint_filter_fn({k: torch.from_numpy(v) for k, v in foreign.items()}, reference))
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(reference.state_dict()[key], value, rtol=0, atol=0, msg=key)
    return foreign, reference


@pytest.mark.parity
@pytest.mark.parametrize("name", ["convnext_base.clip_laion2b", "convnext_large_mlp.clip_laion2b_augreg"])
def test_openclip_tower_file_matches_timms_clip_tag(tmp_path, name):
    """An OpenCLIP-layout safetensors file from randomized timm weights (reduced on both sides, as
    REDUCED says): features, pre-logits and the CLIP embedding equal timm's clip_* model at 1e-4."""
    pytest.importorskip("timm")
    from zoo_core.interop import save_safetensors
    from zoo_core.testing.parity import check_checkpoint_file_parity

    foreign, reference = _openclip_reference(name)
    path = tmp_path / "open_clip_model.safetensors"
    save_safetensors(path, foreign)
    print(check_checkpoint_file_parity(name, path, reference, img_size=(64, 64), zoo_kwargs=REDUCED))
