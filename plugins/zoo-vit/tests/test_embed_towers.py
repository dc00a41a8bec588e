"""``zoo embed`` for the image towers of image-text models, on weights made here (no network): a
CLIP tower's pooled features and its projection into the image-text space (released weights from a
loopback Hub, and an OpenCLIP file through ``--checkpoint``), a SigLIP tower's attention-pool
output, and the refusals that say what a variant has instead."""

import json
from pathlib import Path

import attrs
import jax
import numpy as np
import pytest

import zoo_core
from zoo_core.cli import main
from zoo_core.data import preprocess, resolve_data_config
from zoo_core.plugins import get_registry
from zoo_core.predict import IMAGE_TEXT, describe_embedding, embed
from zoo_core.testing.checkpoints import random_state_dict
from zoo_core.testing.hf_cache import safetensors_bytes

CLIP = "vit_xsmall_patch16_clip_224.tinyclip_yfcc15m"  # the smallest CLIP tower: 256 wide, 10 blocks, 512-d space
SIGLIP = "vit_base_patch16_siglip_224.webli"
SIGLIP_REDUCED = dict(depth=2, embed_dim=64, num_heads=2)  # create_pretrained's overrides: a 2-block SigLIP
IMAGES = sorted(str(p) for p in (Path(__file__).parents[3] / "examples" / "images").glob("*.jpg"))[:2]


@pytest.fixture
def clip_marked(monkeypatch):
    """The CLIP row with its head marked as the image-text projection (``label_names=IMAGE_TEXT``),
    as the table marks its projection rows; a no-op where the row already is."""
    registry = get_registry()
    variant = registry.variants[CLIP]
    if variant.label_names != IMAGE_TEXT:
        monkeypatch.setitem(registry.variants, CLIP, attrs.evolve(variant, label_names=IMAGE_TEXT))
    return registry.variants[CLIP]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def to_openclip(sd: dict) -> dict:
    """timm's CLIP state dict in OpenCLIP's names (``visual.*``, ``proj`` (D, E) without a bias)."""
    out = {"visual.class_embedding": sd["cls_token"].reshape(-1), "visual.positional_embedding": sd["pos_embed"][0],
           "visual.proj": sd["head.weight"].T, "visual.conv1.weight": sd["patch_embed.proj.weight"],
           "logit_scale": np.ones((), np.float32)}
    for timm, ours in (("norm_pre", "ln_pre"), ("norm", "ln_post")):
        out.update({f"visual.{ours}.{leaf}": sd[f"{timm}.{leaf}"] for leaf in ("weight", "bias")})
    for key, value in sd.items():
        if key.startswith("blocks."):
            _, i, rest = key.split(".", 2)
            for a, b in (("norm", "ln_"), ("attn.qkv.", "attn.in_proj_"), ("attn.proj", "attn.out_proj"),
                         ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")):
                rest = rest.replace(a, b)
            out[f"visual.transformer.resblocks.{i}.{rest}"] = value
    return out


def test_clip_tower_embeds_pooled_or_projected_and_says_which(capsys, zoo_hub, tmp_path, clip_marked):
    """The released weights (timm's layout, from the Hub) give the pooled features (256-d, before
    the projection); an OpenCLIP file of the same weights with ``--projected`` gives the 512-d
    image-text embeddings, equal to the pooled features through the projection; each JSON says
    which it is; ``zoo predict`` refuses the projection head."""
    sd = random_state_dict(CLIP)
    sd["head.bias"] = np.zeros_like(sd["head.bias"])  # CLIP's projection has no bias
    zoo_hub.add_file(clip_marked.hf_hub_id, clip_marked.filename, safetensors_bytes(sd))
    code, out, _ = run(capsys, "embed", CLIP, *IMAGES, "--out", str(tmp_path / "pooled.npy"), "--json")
    pooled = json.loads(out)
    assert code == 0 and pooled["output"] == "pooled" and pooled["shape"] == [2, 256] and not pooled["normalized"]
    assert "512-d image-text embedding: --projected" in pooled["description"]
    openclip = tmp_path / "open_clip_model.safetensors"
    openclip.write_bytes(safetensors_bytes(to_openclip(sd)))
    code, out, _ = run(capsys, "embed", CLIP, *IMAGES, "--out", str(tmp_path / "projected.npy"), "--projected",
                       "--checkpoint", str(openclip))
    assert code == 0 and "2 × 512 float32 image-text embeddings of vit_xsmall_patch16_clip_224" in out
    features, projected = np.load(tmp_path / "pooled.npy"), np.load(tmp_path / "projected.npy")
    np.testing.assert_allclose(projected, features @ sd["head.weight"].T, rtol=1e-4, atol=1e-4)
    code, _, err = run(capsys, "predict", CLIP, IMAGES[0])
    assert code == 1 and "head is its projection into a 512-d image-text embedding" in err and "--projected" in err


def test_siglip_tower_embedding_is_its_attention_pool_output(zoo_hub):
    """SigLIP has no projection: its embedding is the attention-pool (``map``) output, which
    ``embed`` returns as the pooled features; ``--projected`` is refused before a model is made."""
    variant = zoo_core.get_variant(SIGLIP)
    sd = random_state_dict(SIGLIP, **SIGLIP_REDUCED)
    zoo_hub.add_file(variant.hf_hub_id, variant.filename, safetensors_bytes(sd))
    features = embed(SIGLIP, IMAGES, **SIGLIP_REDUCED)
    model, load = zoo_core.create_pretrained(SIGLIP, **SIGLIP_REDUCED)
    params, state = load()

    @jax.jit
    def attention_pool_output(params, x):
        return model.forward_head(params, model.forward_features(params, state, x)[0], pre_logits=True)

    assert model.num_classes == 0 and model.global_pool == "map" and features.shape == (2, 64)
    expected = attention_pool_output(params, preprocess(IMAGES, resolve_data_config(SIGLIP)))
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)
    what = describe_embedding(SIGLIP)
    assert (what.output, what.dim, what.projection_dim) == ("pooled", variant.num_features, 0)
    with pytest.raises(zoo_core.ZooError, match="has no image-text projection to apply: it has no head"):
        describe_embedding(SIGLIP, projected=True)
