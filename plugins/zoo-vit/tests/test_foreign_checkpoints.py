"""Google's own ViT checkpoints (``.npz`` in the google-research/vision_transformer and big_vision
layouts) loaded through ``create_pretrained(checkpoint_path="….npz")``: the transform hook's answer
without torch, and outputs against timm loading the same file with its own ``_load_weights``."""

import numpy as np
import pytest

import zoo_core
from zoo_core.testing.checkpoints import check_checkpoint_transform, random_state_dict

from zoo_vit.plugin import zoo_transform_checkpoint

NAME = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
NUM_HEADS = 3  # ViT-Ti: 192 = 3 heads × 64


def to_google_npz(sd, *, num_heads: int, prefix: str = "", big_vision: bool = False) -> dict[str, np.ndarray]:
    """timm's ViT state dict (numpy) in Google's names and Flax layouts: the vision_transformer
    layout (``Transformer/encoderblock_i/``, ``MultiHeadDotProductAttention_1``, ``MlpBlock_3``,
    ``posembed_input``), or big_vision's (blocks scanned into one stack under
    ``Transformer/encoderblock/``, sub-modules ``_0``/``_0``/``LayerNorm_1``, top-level
    ``pos_embedding``)."""
    out = {
        "embedding/kernel": sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0),  # OIHW → HWIO
        "embedding/bias": sd["patch_embed.proj.bias"],
        "cls": sd["cls_token"],
        ("pos_embedding" if big_vision else "Transformer/posembed_input/pos_embedding"): sd["pos_embed"],
        "Transformer/encoder_norm/scale": sd["norm.weight"],
        "Transformer/encoder_norm/bias": sd["norm.bias"],
        "head/kernel": sd["head.weight"].T,
        "head/bias": sd["head.bias"],
    }
    mha, mlp, ln2 = ("MultiHeadDotProductAttention_0", "MlpBlock_0", "LayerNorm_1") if big_vision else (
        "MultiHeadDotProductAttention_1", "MlpBlock_3", "LayerNorm_2")
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    blocks = []
    for i in range(depth):
        b = f"blocks.{i}."
        dim = sd[f"{b}norm1.weight"].shape[0]
        q, k, v = np.split(sd[f"{b}attn.qkv.weight"], 3)          # (H·d, D) each
        qb, kb, vb = np.split(sd[f"{b}attn.qkv.bias"], 3)
        block = {"LayerNorm_0/scale": sd[f"{b}norm1.weight"], "LayerNorm_0/bias": sd[f"{b}norm1.bias"],
                 f"{ln2}/scale": sd[f"{b}norm2.weight"], f"{ln2}/bias": sd[f"{b}norm2.bias"],
                 f"{mha}/out/kernel": sd[f"{b}attn.proj.weight"].T.reshape(num_heads, -1, dim),
                 f"{mha}/out/bias": sd[f"{b}attn.proj.bias"]}
        for name, w, bias in (("query", q, qb), ("key", k, kb), ("value", v, vb)):
            block[f"{mha}/{name}/kernel"] = w.T.reshape(dim, num_heads, -1)
            block[f"{mha}/{name}/bias"] = bias.reshape(num_heads, -1)
        for r in (0, 1):
            block[f"{mlp}/Dense_{r}/kernel"] = sd[f"{b}mlp.fc{r + 1}.weight"].T
            block[f"{mlp}/Dense_{r}/bias"] = sd[f"{b}mlp.fc{r + 1}.bias"]
        blocks.append(block)
    if big_vision:
        out.update({f"Transformer/encoderblock/{n}": np.stack([blk[n] for blk in blocks]) for n in blocks[0]})
    else:
        out.update({f"Transformer/encoderblock_{i}/{n}": a for i, blk in enumerate(blocks) for n, a in blk.items()})
    return {f"{prefix}{k}": np.ascontiguousarray(v) for k, v in out.items()}


@pytest.mark.parametrize("prefix,big_vision", [("", False), ("opt/target/", False), ("params/", True)])
def test_transform_turns_a_google_dict_into_a_new_one_and_passes_on_timms(prefix, big_vision):
    """timm's layout: None. Google's (each layout and prefix): a new mapping in timm's keys and
    PyTorch layouts (q/k/v fused) with the same values; the given dict is left as it was, and the
    optimizer state beside ``opt/target/`` is dropped."""
    timm_layout = random_state_dict(NAME)
    foreign = to_google_npz(timm_layout, num_heads=NUM_HEADS, prefix=prefix, big_vision=big_vision)
    if prefix == "opt/target/":
        foreign["opt/state/step"] = np.array(10)  # a Flax optimizer's state beside its target
    check_checkpoint_transform(zoo_transform_checkpoint, zoo_core.get_variant(NAME), timm_layout, foreign,
                               foreign_path="x.npz")


def test_unknown_keys_under_the_prefix_are_reported_by_the_loader(tmp_path):
    """A key the conversion does not know stays under its own name, and loading names it as unused."""
    foreign = to_google_npz(random_state_dict(NAME), num_heads=NUM_HEADS)
    foreign["MAPHead_0/probe"] = np.zeros((1, 1, 192), np.float32)
    path = tmp_path / "vit.npz"
    np.savez(path, **foreign)
    _, load = zoo_core.create_pretrained(NAME, checkpoint_path=path)
    with pytest.raises(zoo_core.ZooError, match="MAPHead_0/probe"):
        load()


def _google_reference(tmp_path, *, num_classes=None, seed=0, **layout):
    """A randomized timm ViT-Ti saved as a Google ``.npz``, and a second timm model that loaded
    the file with timm's ``_load_weights``."""
    import timm
    import torch

    from zoo_core.testing.parity import randomize_torch_module, state_dict_to_numpy

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    ref = timm.create_model(NAME, pretrained=False, **kwargs)
    randomize_torch_module(ref, seed)
    path = tmp_path / "ViT-Ti_16.npz"
    np.savez(path, **to_google_npz(state_dict_to_numpy(ref.state_dict()), num_heads=NUM_HEADS, **layout))
    reference = timm.create_model(NAME, pretrained=False, **kwargs).eval()
    reference.load_pretrained(str(path))
    for key, value in ref.state_dict().items():  # the file is what timm reads back as these weights
        torch.testing.assert_close(reference.state_dict()[key], value, rtol=0, atol=0, msg=key)
    return path, reference


@pytest.mark.parity
@pytest.mark.parametrize("prefix,big_vision", [("", False), ("params/", True)])
def test_google_npz_matches_timm(tmp_path, prefix, big_vision):
    """vision_transformer's layout and big_vision's (scanned blocks, ``params/``): tokens,
    pre-logits and logits equal timm's at 1e-4."""
    pytest.importorskip("timm")
    from zoo_core.testing.parity import check_checkpoint_file_parity

    path, reference = _google_reference(tmp_path, prefix=prefix, big_vision=big_vision)
    print(check_checkpoint_file_parity(NAME, path, reference))


@pytest.mark.parity
def test_google_npz_fine_tuned_head_sets_num_classes(tmp_path):
    """An ``opt/target/`` file with a 10-way ``head/kernel`` (192, 10): the model is built with 10
    classes and matches timm at 1e-4."""
    pytest.importorskip("timm")
    from zoo_core.testing.parity import check_checkpoint_file_parity

    path, reference = _google_reference(tmp_path, num_classes=10, seed=1, prefix="opt/target/")
    model, _ = zoo_core.create_pretrained(NAME, checkpoint_path=path)
    assert model.num_classes == 10
    print(check_checkpoint_file_parity(NAME, path, reference, seed=1))
