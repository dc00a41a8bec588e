"""Foreign ViT checkpoints loaded through ``create_pretrained(checkpoint_path=...)``: Google's
``.npz`` (vision_transformer, big_vision, SigLIP's ``params/img/`` with its MAP head) and OpenCLIP's
state dicts (its own ``VisionTransformer``, or a timm trunk). For each layout: the transform hook's
answer on a synthetic checkpoint without torch; timm's own reader (``_load_weights``,
``checkpoint_filter_fn``) taking the file written here to the weights it was written from; and
outputs against timm loading the same file."""

import attrs
import numpy as np
import pytest

import zoo_core
from zoo_core.testing.checkpoints import check_checkpoint_transform, random_state_dict

from zoo_vit.archs import ARCHS
from zoo_vit.plugin import zoo_transform_checkpoint

NAME = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
NUM_HEADS = 3  # ViT-Ti: 192 = 3 heads × 64
CLIP = "vit_base_patch16_clip_224.openai"
SIGLIP = "vit_base_patch16_siglip_224.webli"
SIGLIP_GAP = "vit_base_patch16_siglip_gap_224.webli"
# the reduced models the forward tests build on both sides (timm's create_model takes the same overrides)
REDUCED = dict(depth=2, embed_dim=64, num_heads=2, img_size=32)
TINY_REDUCED = dict(depth=2, img_size=64)  # ViT-Ti's own width and heads (NUM_HEADS), two blocks, 4x4 patches


def vit_variant(arch: str) -> zoo_core.Variant:
    """A ViT variant with ``arch``'s model args: all the hook looks at (the family and the pooling)."""
    return attrs.evolve(zoo_core.get_variant(NAME), arch_kwargs=ARCHS[arch])


# ---- timm's state dict (numpy) written in each foreign layout -------------------------------------

def _attention_to_flax(sd, timm: str, num_heads: int, fused: dict[str, tuple[str, ...]]) -> dict:
    """timm's attention linears at ``timm`` (``qkv`` fused, or ``q`` and ``kv``) and ``proj`` as a
    Flax ``MultiHeadDotProductAttention``'s kernels (D, H, d), biases (H, d) and ``out`` (H, d, D)."""
    out = {}
    for linear, parts in fused.items():
        weights, biases = np.split(sd[f"{timm}.{linear}.weight"], len(parts)), np.split(sd[f"{timm}.{linear}.bias"],
                                                                                       len(parts))
        for name, w, b in zip(parts, weights, biases):
            out[f"{name}/kernel"] = w.T.reshape(w.shape[1], num_heads, -1)
            out[f"{name}/bias"] = b.reshape(num_heads, -1)
    proj = sd[f"{timm}.proj.weight"]
    out["out/kernel"] = proj.T.reshape(num_heads, -1, proj.shape[0])
    out["out/bias"] = sd[f"{timm}.proj.bias"]
    return out


def _norm_and_mlp_to_flax(sd, timm_norm: str, flax_norm: str, timm_mlp: str, flax_mlp: str) -> dict:
    out = {f"{flax_norm}/scale": sd[f"{timm_norm}.weight"], f"{flax_norm}/bias": sd[f"{timm_norm}.bias"]}
    for r in (0, 1):
        out[f"{flax_mlp}/Dense_{r}/kernel"] = sd[f"{timm_mlp}.fc{r + 1}.weight"].T
        out[f"{flax_mlp}/Dense_{r}/bias"] = sd[f"{timm_mlp}.fc{r + 1}.bias"]
    return out


def to_google_npz(sd, *, num_heads: int, prefix: str = "", big_vision: bool = False) -> dict[str, np.ndarray]:
    """timm's ViT state dict (numpy) in Google's names and Flax layouts: the vision_transformer
    layout (``Transformer/encoderblock_i/``, ``MultiHeadDotProductAttention_1``, ``MlpBlock_3``,
    ``posembed_input``), or big_vision's (blocks scanned into one stack under
    ``Transformer/encoderblock/``, sub-modules ``_0``/``_0``/``LayerNorm_1``, top-level
    ``pos_embedding``, an ``attn_pool`` as ``MAPHead_0``). The class token, patch bias and head are
    written where ``sd`` has them."""
    out = {
        "embedding/kernel": sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0),  # OIHW → HWIO
        ("pos_embedding" if big_vision else "Transformer/posembed_input/pos_embedding"): sd["pos_embed"],
        "Transformer/encoder_norm/scale": sd["norm.weight"],
        "Transformer/encoder_norm/bias": sd["norm.bias"],
    }
    for timm_key, key, transpose in (("patch_embed.proj.bias", "embedding/bias", False), ("cls_token", "cls", False),
                                     ("head.weight", "head/kernel", True), ("head.bias", "head/bias", False)):
        if timm_key in sd:
            out[key] = sd[timm_key].T if transpose else sd[timm_key]
    if "attn_pool.latent" in sd:
        out["MAPHead_0/probe"] = sd["attn_pool.latent"]
        out.update({f"MAPHead_0/MultiHeadDotProductAttention_0/{k}": v for k, v in _attention_to_flax(
            sd, "attn_pool", num_heads, {"q": ("query",), "kv": ("key", "value")}).items()})
        out.update({f"MAPHead_0/{k}": v for k, v in _norm_and_mlp_to_flax(
            sd, "attn_pool.norm", "LayerNorm_0", "attn_pool.mlp", "MlpBlock_0").items()})
    mha, mlp, ln2 = ("MultiHeadDotProductAttention_0", "MlpBlock_0", "LayerNorm_1") if big_vision else (
        "MultiHeadDotProductAttention_1", "MlpBlock_3", "LayerNorm_2")
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    blocks = []
    for i in range(depth):
        b = f"blocks.{i}."
        block = {f"{mha}/{k}": v for k, v in _attention_to_flax(sd, f"{b}attn", num_heads,
                                                                 {"qkv": ("query", "key", "value")}).items()}
        block.update(_norm_and_mlp_to_flax(sd, f"{b}norm1", "LayerNorm_0", f"{b}mlp", mlp))
        block.update({f"{ln2}/scale": sd[f"{b}norm2.weight"], f"{ln2}/bias": sd[f"{b}norm2.bias"]})
        blocks.append(block)
    if big_vision:
        out.update({f"Transformer/encoderblock/{n}": np.stack([blk[n] for blk in blocks]) for n in blocks[0]})
    else:
        out.update({f"Transformer/encoderblock_{i}/{n}": a for i, blk in enumerate(blocks) for n, a in blk.items()})
    return {f"{prefix}{k}": np.ascontiguousarray(v) for k, v in out.items()}


TEXT_TOWER = {  # what an image-text checkpoint holds beside its image tower: dropped on load
    "positional_embedding": (7, 8), "token_embedding.weight": (11, 8), "ln_final.weight": (8,),
    "transformer.resblocks.0.ln_1.weight": (8,), "text_projection": (8, 6), "logit_scale": (),
}


def text_tower(prefix: str = "") -> dict[str, np.ndarray]:
    return {f"{prefix}{k}": np.ones(shape, np.float32) for k, shape in TEXT_TOWER.items()}


def to_openclip(sd, *, root: str = "visual.") -> dict[str, np.ndarray]:
    """timm's CLIP ViT state dict in OpenCLIP's ``VisionTransformer`` names (``conv1``, ``ln_pre``,
    ``transformer.resblocks.i.{ln_1, attn.in_proj_*, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}``,
    ``ln_post``, ``proj`` (D, E) without a bias), under ``root``, beside a text tower."""
    names = {"patch_embed.proj.weight": "conv1.weight", "norm_pre.weight": "ln_pre.weight",
             "norm_pre.bias": "ln_pre.bias", "norm.weight": "ln_post.weight", "norm.bias": "ln_post.bias"}
    out = {"class_embedding": sd["cls_token"].reshape(-1), "positional_embedding": sd["pos_embed"][0],
           "proj": sd["head.weight"].T}
    for key, value in sd.items():
        if key in names:
            out[names[key]] = value
        elif key.startswith("blocks."):
            _, i, rest = key.split(".", 2)
            rest = rest.replace("norm", "ln_").replace("attn.qkv.", "attn.in_proj_").replace("attn.proj", "attn.out_proj")
            out[f"transformer.resblocks.{i}.{rest.replace('mlp.fc1', 'mlp.c_fc').replace('mlp.fc2', 'mlp.c_proj')}"] = value
    return {**{f"{root}{k}": np.ascontiguousarray(v) for k, v in out.items()}, **text_tower()}


def to_openclip_trunk(sd, *, root: str = "visual.") -> dict[str, np.ndarray]:
    """timm's ViT state dict as OpenCLIP's ``TimmModel`` holds it: the trunk's own keys under
    ``visual.trunk.``, a linear projection after it as ``visual.head.proj.weight`` (no bias)."""
    out = {f"{root}trunk.{k}": v for k, v in sd.items() if not k.startswith("head.")}
    if "head.weight" in sd:
        out[f"{root}head.proj.weight"] = sd["head.weight"]
    return {**out, **text_tower()}


# ---- synthetic timm state dicts (no torch) --------------------------------------------------------

def synthetic_timm(*, depth=2, dim=8, heads=2, grid=4, patch=2, cls=True, patch_bias=True, norm_pre=False,
                   attn_pool=False, head=0, head_bias=True, seed=0) -> dict[str, np.ndarray]:
    """A timm ViT state dict of that shape with seeded values (zero head bias where ``head_bias``
    is False: what a CLIP projection converts to)."""
    shapes = {"patch_embed.proj.weight": (dim, 3, patch, patch), "pos_embed": (1, int(cls) + grid * grid, dim),
              "norm.weight": (dim,), "norm.bias": (dim,)}
    shapes.update({"cls_token": (1, 1, dim)} if cls else {})
    shapes.update({"patch_embed.proj.bias": (dim,)} if patch_bias else {})
    shapes.update({"norm_pre.weight": (dim,), "norm_pre.bias": (dim,)} if norm_pre else {})
    shapes.update({"head.weight": (head, dim), "head.bias": (head,)} if head else {})
    mlp = {"mlp.fc1.weight": (4 * dim, dim), "mlp.fc1.bias": (4 * dim,), "mlp.fc2.weight": (dim, 4 * dim),
           "mlp.fc2.bias": (dim,)}
    for i in range(depth):
        shapes.update({f"blocks.{i}.{k}": s for k, s in {
            "norm1.weight": (dim,), "norm1.bias": (dim,), "norm2.weight": (dim,), "norm2.bias": (dim,),
            "attn.qkv.weight": (3 * dim, dim), "attn.qkv.bias": (3 * dim,), "attn.proj.weight": (dim, dim),
            "attn.proj.bias": (dim,), **mlp}.items()})
    if attn_pool:
        shapes.update({f"attn_pool.{k}": s for k, s in {
            "latent": (1, 1, dim), "q.weight": (dim, dim), "q.bias": (dim,), "kv.weight": (2 * dim, dim),
            "kv.bias": (2 * dim,), "proj.weight": (dim, dim), "proj.bias": (dim,), "norm.weight": (dim,),
            "norm.bias": (dim,), **mlp}.items()})
    rng = np.random.default_rng(seed)
    sd = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    if head and not head_bias:
        sd["head.bias"] = np.zeros(head, np.float32)
    return sd


# ---- the hook's answer, without torch --------------------------------------------------------------

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


@pytest.mark.parametrize("prefix", ["params/img/", "img/"])
def test_siglip_npz_gives_timms_keys_with_the_map_head_only_where_the_model_pools_with_it(prefix):
    """A big_vision SigLIP file (image tower under ``params/img/`` or ``img/``, scanned blocks, no
    class token, ``MAPHead_0``; a text tower and the logit scale and bias beside it): exactly timm's
    keys and values, the MAP head as ``attn_pool.*`` (q and kv fused) for a ``map`` variant and
    dropped for a ``gap`` one, as timm's ``_load_weights`` reads it."""
    timm_layout = synthetic_timm(cls=False, attn_pool=True)
    foreign = to_google_npz(timm_layout, num_heads=2, prefix=prefix, big_vision=True)
    foreign.update({f"{prefix.replace('img/', 'txt/')}{k}": v for k, v in to_google_npz(
        synthetic_timm(seed=1), num_heads=2, big_vision=True).items()})
    foreign.update({f"{prefix[:-len('img/')]}{k}": np.ones(1, np.float32) for k in ("t", "b")})
    check_checkpoint_transform(zoo_transform_checkpoint, vit_variant("vit_base_patch16_siglip_224"), timm_layout,
                               foreign, foreign_path="siglip.npz")
    gap = {k: v for k, v in timm_layout.items() if not k.startswith("attn_pool.")}
    check_checkpoint_transform(zoo_transform_checkpoint, vit_variant("vit_base_patch16_siglip_gap_224"), gap,
                               foreign, foreign_path="siglip.npz")


@pytest.mark.parametrize("root", ["visual.", "module.visual."])
def test_openclip_dict_gives_timms_keys_with_the_projection_as_head(root):
    """An OpenCLIP ViT (``visual.conv1``, ``class_embedding``, ``ln_pre``, ``resblocks``, ``ln_post``,
    ``proj`` (D, E)), DataParallel's ``module.`` or not: exactly timm's keys and values, the
    projection as ``head.weight`` (E, D) with a zero ``head.bias``; the text tower dropped."""
    timm_layout = synthetic_timm(patch_bias=False, norm_pre=True, head=6, head_bias=False)
    check_checkpoint_transform(zoo_transform_checkpoint, vit_variant("vit_base_patch16_clip_224"), timm_layout,
                               to_openclip(timm_layout, root=root), foreign_path="open_clip_model.safetensors")


@pytest.mark.parametrize("attn_pool,head", [(True, 0), (False, 6)])
def test_openclip_timm_trunk_gives_the_trunks_keys(attn_pool, head):
    """OpenCLIP's ``TimmModel`` (a SigLIP trunk with its MAP head and no projection; a trunk with a
    linear projection ``visual.head.proj.weight``): the trunk's keys as they are, the projection as
    ``head.weight`` with a zero bias; the text tower dropped."""
    timm_layout = synthetic_timm(cls=not attn_pool, attn_pool=attn_pool, head=head, head_bias=False)
    check_checkpoint_transform(zoo_transform_checkpoint, vit_variant("vit_base_patch16_siglip_224"), timm_layout,
                               to_openclip_trunk(timm_layout), foreign_path="open_clip_model.safetensors")


class CountingDict(dict):
    """A state dict that counts the values read from it and tells shapes without reading, as a
    lazily read file does from its header."""

    reads = 0

    def __getitem__(self, key):
        type(self).reads += 1
        return super().__getitem__(key)

    def shape(self, key):
        return dict.__getitem__(self, key).shape


@pytest.mark.parametrize("layout", ["openclip", "siglip"])
def test_renaming_reads_no_array_and_knows_every_shape_from_the_source(layout):
    """The hook renames without reading a tensor, and every converted shape (fused and scanned ones
    included) is timm's, from the source's shapes (a lazily read file's header), reading nothing."""
    if layout == "openclip":
        timm_layout, variant = synthetic_timm(patch_bias=False, norm_pre=True, head=6), "vit_base_patch16_clip_224"
        foreign = to_openclip(timm_layout)
    else:
        timm_layout, variant = synthetic_timm(cls=False, attn_pool=True), "vit_base_patch16_siglip_224"
        foreign = to_google_npz(timm_layout, num_heads=2, prefix="params/img/", big_vision=True)
    source = CountingDict(foreign)
    CountingDict.reads = 0
    converted = zoo_transform_checkpoint(variant=vit_variant(variant), state_dict=source, path="x")
    assert CountingDict.reads == 0
    assert {k: converted.shape(k) for k in converted} == {k: v.shape for k, v in timm_layout.items()}
    assert CountingDict.reads == 0


def test_unknown_keys_under_the_prefix_are_reported_by_the_loader(tmp_path):
    """A key the conversion does not know stays under its own name, and loading names it as unused."""
    foreign = to_google_npz(random_state_dict(NAME), num_heads=NUM_HEADS)
    foreign["Transformer/extra_norm/scale"] = np.zeros(192, np.float32)
    path = tmp_path / "vit.npz"
    np.savez(path, **foreign)
    _, load = zoo_core.create_pretrained(NAME, checkpoint_path=path)
    with pytest.raises(zoo_core.ZooError, match="Transformer/extra_norm/scale"):
        load()


def test_unknown_openclip_keys_are_reported_by_the_loader(tmp_path):
    """An OpenCLIP image-tower key timm's ViT has no place for (an attention-pool head, say) is
    named as unused when loading, rather than silently dropped; the text tower is not."""
    from zoo_core.interop import save_safetensors

    foreign = to_openclip({**random_state_dict(NAME), "norm_pre.weight": np.ones(192, np.float32)})
    foreign = {k: v for k, v in foreign.items() if "ln_pre" not in k}
    foreign["visual.attn_pool.query"] = np.zeros((1, 192), np.float32)
    path = tmp_path / "open_clip_model.safetensors"
    save_safetensors(path, foreign)
    _, load = zoo_core.create_pretrained(NAME, checkpoint_path=path)
    with pytest.raises(zoo_core.ZooError, match="visual.attn_pool.query") as err:
        load()
    assert "token_embedding" not in str(err.value)


# ---- against timm: its own readers, then the forward pass ------------------------------------------

def _randomized_timm(name: str, seed: int = 0, **kwargs):
    import timm

    from zoo_core.testing.parity import randomize_torch_module

    ref = timm.create_model(name, pretrained=False, **kwargs)
    randomize_torch_module(ref, seed)
    return ref.eval()


def _google_reference(tmp_path, *, name=NAME, num_heads=NUM_HEADS, seed=0, timm_kwargs=None, **layout):
    """A randomized timm ViT saved as a Google ``.npz``, and a second timm model that loaded the
    file with timm's ``_load_weights``, holding exactly the first one's weights."""
    import torch

    from zoo_core.testing.parity import state_dict_to_numpy

    ref = _randomized_timm(name, seed, **(timm_kwargs or {}))
    path = tmp_path / "model.npz"
    np.savez(path, **to_google_npz(state_dict_to_numpy(ref.state_dict()), num_heads=num_heads, **layout))
    reference = _randomized_timm(name, seed + 1, **(timm_kwargs or {}))
    reference.load_pretrained(str(path))
    for key, value in ref.state_dict().items():  # the file is what timm reads back as these weights
        torch.testing.assert_close(reference.state_dict()[key], value, rtol=0, atol=0, msg=key)
    return path, reference


def _openclip_reference(tmp_path, name, *, trunk=False, seed=0, timm_kwargs=None):
    """A randomized timm ViT saved in an OpenCLIP layout, and a second timm model that loaded it
    through timm's ``checkpoint_filter_fn``, holding exactly the first one's weights."""
    import torch
    from timm.models.vision_transformer import checkpoint_filter_fn

    from zoo_core.interop import save_safetensors
    from zoo_core.testing.parity import state_dict_to_numpy

    ref = _randomized_timm(name, seed, **(timm_kwargs or {}))
    sd = state_dict_to_numpy(ref.state_dict())
    if "head.bias" in sd:
        sd["head.bias"] = np.zeros_like(sd["head.bias"])  # CLIP's projection has no bias
        ref.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    foreign = (to_openclip_trunk if trunk else to_openclip)(sd)
    path = tmp_path / "open_clip_model.safetensors"
    save_safetensors(path, foreign)
    reference = _randomized_timm(name, seed + 1, **(timm_kwargs or {}))
    reference.load_state_dict(checkpoint_filter_fn({k: torch.from_numpy(v) for k, v in foreign.items()}, reference))
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(reference.state_dict()[key], value, rtol=0, atol=0, msg=key)
    return path, reference


@pytest.mark.torch
@pytest.mark.parametrize("layout", ["openclip", "openclip_trunk", "siglip_npz"])
def test_conversion_gives_timms_own_state_dict(tmp_path, layout):
    """On timm's real (reduced) CLIP and SigLIP models: the file written here is what timm's own
    reader turns back into the model's weights, and the hook turns it into exactly timm's
    ``state_dict()``, key for key, value for value."""
    pytest.importorskip("timm")
    from zoo_core.convert import read_npz
    from zoo_core.interop.safetensors_io import SafetensorsFile
    from zoo_core.testing.parity import state_dict_to_numpy

    if layout == "siglip_npz":
        name, arch = SIGLIP, "vit_base_patch16_siglip_224"
        path, reference = _google_reference(tmp_path, name=name, num_heads=2, timm_kwargs=REDUCED,
                                            prefix="params/img/", big_vision=True)
        foreign = read_npz(path)
    else:
        name, arch = (SIGLIP, "vit_base_patch16_siglip_224") if layout == "openclip_trunk" else (
            CLIP, "vit_base_patch16_clip_224")
        path, reference = _openclip_reference(tmp_path, name, trunk=layout == "openclip_trunk", timm_kwargs=REDUCED)
        foreign = SafetensorsFile(str(path))
    converted = zoo_transform_checkpoint(variant=vit_variant(arch), state_dict=foreign, path=str(path))
    expected = state_dict_to_numpy(reference.state_dict())
    assert set(converted) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(np.asarray(converted[key]), value, err_msg=key)


@pytest.mark.parity
@pytest.mark.parametrize("prefix,big_vision", [("", False), ("params/", True)])
def test_google_npz_matches_timm(tmp_path, prefix, big_vision):
    """vision_transformer's layout and big_vision's (scanned blocks, ``params/``), on a two-block
    ViT-Ti at 64 px (both builders take the overrides): tokens, pre-logits and logits equal timm's
    at 1e-4."""
    pytest.importorskip("timm")
    from zoo_core.testing.parity import check_checkpoint_file_parity

    path, reference = _google_reference(tmp_path, timm_kwargs=TINY_REDUCED, prefix=prefix, big_vision=big_vision)
    print(check_checkpoint_file_parity(NAME, path, reference, img_size=64, zoo_kwargs=TINY_REDUCED))


@pytest.mark.parity
def test_google_npz_fine_tuned_head_sets_num_classes(tmp_path):
    """An ``opt/target/`` file with a 10-way ``head/kernel`` (192, 10): the model is built with 10
    classes and matches timm at 1e-4."""
    pytest.importorskip("timm")
    from zoo_core.testing.parity import check_checkpoint_file_parity

    path, reference = _google_reference(tmp_path, timm_kwargs={"num_classes": 10, **TINY_REDUCED}, seed=1,
                                        prefix="opt/target/")
    model, _ = zoo_core.create_pretrained(NAME, checkpoint_path=path, **TINY_REDUCED)
    assert model.num_classes == 10
    print(check_checkpoint_file_parity(NAME, path, reference, img_size=64, seed=1, zoo_kwargs=TINY_REDUCED))


@pytest.mark.parity
@pytest.mark.parametrize("name,layout", [(SIGLIP, "siglip_npz"), (SIGLIP_GAP, "siglip_npz"), (CLIP, "openclip"),
                                         (SIGLIP, "openclip_trunk")])
def test_foreign_file_matches_timm(tmp_path, name, layout):
    """A reduced SigLIP (depth 2, width 64, 32 px: timm's and zoo's builders take the same
    overrides) saved as big_vision's ``params/img/`` npz, loaded into the ``map`` variant and the
    ``gap`` one (whose model drops the MAP head, as timm's does); a reduced CLIP saved as OpenCLIP's
    ``visual.*`` (projection as the 512-wide head); a SigLIP as OpenCLIP's timm trunk: tokens,
    pre-logits and logits equal timm's loading the same file, at 1e-4."""
    pytest.importorskip("timm")
    from zoo_core.testing.parity import check_checkpoint_file_parity

    if layout == "siglip_npz":
        path, reference = _google_reference(tmp_path, name=name, num_heads=2, timm_kwargs=REDUCED,
                                            prefix="params/img/", big_vision=True)
    else:
        path, reference = _openclip_reference(tmp_path, name, trunk=layout == "openclip_trunk", timm_kwargs=REDUCED)
    print(check_checkpoint_file_parity(name, path, reference, img_size=REDUCED["img_size"], zoo_kwargs=REDUCED))
