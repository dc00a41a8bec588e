"""OpenCLIP's ViT image towers (``open_clip_pytorch_model.bin`` / ``open_clip_model.safetensors``,
OpenAI's CLIP state dicts) turned into timm's keys, so the family's mapping applies unchanged.

Two layouts, as timm's ``checkpoint_filter_fn`` tells them apart (``timm/models/vision_transformer.py``),
each also under DataParallel's ``module.``:

**OpenCLIP's own ``VisionTransformer``** (recognised by ``visual.class_embedding``; timm's
``_convert_openai_clip``):

| OpenCLIP key (under ``visual.``; block ``i``: ``transformer.resblocks.i.``) | timm key | value |
| --- | --- | --- |
| ``conv1.weight`` (D, 3, p, p) | ``patch_embed.proj.weight`` | as is (no bias: CLIP's patch embedding has none) |
| ``class_embedding`` (D,) | ``cls_token`` (1, 1, D) | reshaped |
| ``positional_embedding`` (1 + gh·gw, D) | ``pos_embed`` (1, 1 + gh·gw, D) | reshaped |
| ``ln_pre``, ``ln_post`` ``.weight``, ``.bias`` | ``norm_pre``, ``norm`` | as is |
| ``ln_1``, ``ln_2`` | ``blocks.i.norm1``, ``norm2`` | as is |
| ``attn.in_proj_weight`` (3·D, D), ``attn.in_proj_bias`` | ``blocks.i.attn.qkv.weight``, ``.bias`` | as is |
| ``attn.out_proj.weight``, ``.bias`` | ``blocks.i.attn.proj.weight``, ``.bias`` | as is |
| ``mlp.c_fc``, ``mlp.c_proj`` ``.weight``, ``.bias`` | ``blocks.i.mlp.fc1``, ``fc2`` | as is |
| ``proj`` (D, E) | ``head.weight`` (E, D); ``head.bias`` zeros (E,) | transposed |

``proj`` is CLIP's projection into the image-text embedding space: timm's ``*_clip_*`` tags whose
``num_classes`` is that space's size (512, 640, 768, 1024, 1280) hold it as their ``head``. A model
built with another head size (``num_classes=0`` for the pooled features) leaves it unused.

**OpenCLIP's ``TimmModel``** (a timm trunk: ``visual.trunk.pos_embed`` or
``visual.trunk.blocks.0.norm1.weight``; SigLIP's OpenCLIP releases): the keys under
``visual.trunk.`` are timm's already; ``visual.head.proj.weight`` (E, D), OpenCLIP's linear
projection after the trunk, becomes ``head.weight`` (its ``bias`` where the file has one, else
zeros).

Keys outside ``visual.`` (the text tower, ``logit_scale``) are dropped, as timm drops them; any
other key under ``visual.`` is kept under its own name, so the loader reports it as unused (an MLP
projection head, say, which timm's ViT cannot hold). No JAX is imported and no array is read here:
each tensor is read, from a safetensors file lazily, when the loader asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from zoo_core.interop.derived import DerivedStateDict, take
from zoo_core.interop.state_dict import stored_shape
from zoo_core.interop.transforms import linear_to_dense

ROOTS = ("visual.", "module.visual.")

# OpenCLIP's names under ``visual.`` → timm's (``\1`` the block index)
RENAMES = (
    (r"conv1\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"ln_pre\.(weight|bias)", r"norm_pre.\1"),
    (r"ln_post\.(weight|bias)", r"norm.\1"),
    (r"transformer\.resblocks\.(\d+)\.ln_([12])\.(weight|bias)", r"blocks.\1.norm\2.\3"),
    (r"transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)", r"blocks.\1.attn.qkv.\2"),
    (r"transformer\.resblocks\.(\d+)\.attn\.out_proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"transformer\.resblocks\.(\d+)\.mlp\.c_fc\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (r"transformer\.resblocks\.(\d+)\.mlp\.c_proj\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
)
RESHAPES = {
    "class_embedding": ("cls_token", lambda a: a.reshape(1, 1, -1)),
    "positional_embedding": ("pos_embed", lambda a: a[None] if a.ndim == 2 else a),
    "proj": ("head.weight", linear_to_dense),  # (D, E) → (E, D): the same swap of the two axes
}


class ZerosLike:
    """A zero vector as long as axis ``axis`` of ``state_dict[key]``: timm's bias for a projection
    stored without one. Its shape comes from the source's header; nothing is read."""

    def __init__(self, state_dict: Mapping, key: str, axis: int):
        self.state_dict, self.key, self.axis = state_dict, key, axis

    def shape(self) -> tuple[int, ...]:
        return (stored_shape(self.state_dict, self.key)[self.axis],)

    def __call__(self) -> np.ndarray:
        return np.zeros(self.shape(), np.float32)


def openclip_root(state_dict: Mapping) -> tuple[str, bool] | None:
    """``(root, trunk)``: the prefix of an OpenCLIP ViT image tower in ``state_dict`` and whether it is
    a timm trunk; ``None`` for any other layout."""
    for root in ROOTS:
        if f"{root}class_embedding" in state_dict:
            return root, False
        if f"{root}trunk.pos_embed" in state_dict or f"{root}trunk.blocks.0.norm1.weight" in state_dict:
            return root, True
    return None


def _rename(name: str) -> str | None:
    for pattern, replacement in RENAMES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, replacement, name)
    return None


def _own_tower(state_dict: Mapping, root: str) -> dict:
    entries = {}
    for key in state_dict:
        if not key.startswith(root):
            continue
        name = key[len(root):]
        if name in RESHAPES:
            timm_key, transform = RESHAPES[name]
            entries[timm_key] = take(state_dict, key, transform)
        elif (timm_key := _rename(name)) is not None:
            entries[timm_key] = take(state_dict, key)
        else:
            entries[key] = take(state_dict, key)  # unknown: reported as unused under its own name
    if f"{root}proj" in state_dict:
        entries["head.bias"] = ZerosLike(state_dict, f"{root}proj", 1)
    return entries


def _timm_trunk(state_dict: Mapping, root: str) -> dict:
    trunk, proj = f"{root}trunk.", f"{root}head.proj."
    entries = {}
    for key in state_dict:
        if key.startswith(trunk):
            entries[key[len(trunk):]] = take(state_dict, key)
        elif key.startswith(proj) and key[len(proj):] in ("weight", "bias"):
            entries[f"head.{key[len(proj):]}"] = take(state_dict, key)
        elif key.startswith(root):
            entries[key] = take(state_dict, key)
    if f"{proj}weight" in state_dict and f"{proj}bias" not in state_dict:
        entries["head.bias"] = ZerosLike(state_dict, f"{proj}weight", 0)
    return entries


def from_openclip(state_dict: Mapping) -> DerivedStateDict | None:
    """``state_dict`` in timm's keys and layouts if it is an OpenCLIP (or OpenAI CLIP) ViT state
    dict, else ``None``."""
    found = openclip_root(state_dict)
    if found is None:
        return None
    root, trunk = found
    return DerivedStateDict((_timm_trunk if trunk else _own_tower)(state_dict, root))
