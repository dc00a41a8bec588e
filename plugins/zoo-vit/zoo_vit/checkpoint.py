"""Google's own ViT checkpoints (``.npz`` of google-research/vision_transformer and big_vision)
turned into timm's keys and PyTorch layouts, so the family's mapping applies unchanged.

The rules are those of timm's ``_load_weights`` (``timm/models/vision_transformer.py``). The file's
keys sit under a prefix: none, ``opt/target/`` (a Flax optimizer's target) or ``params/``. Two
layouts exist; big_vision's is recognised by the ``params/`` prefix, a top-level ``pos_embedding``
or scanned blocks (``Transformer/encoderblock/…`` with the depth as leading axis):

| npz key (block ``i``: ``Transformer/encoderblock_i/``) | timm key | value |
| --- | --- | --- |
| ``embedding/kernel`` (kh, kw, in, out), ``embedding/bias`` | ``patch_embed.proj.weight``, ``.bias`` | HWIO → OIHW |
| ``cls`` (1, 1, D) | ``cls_token`` | as is |
| ``Transformer/posembed_input/pos_embedding`` (big_vision: ``pos_embedding``) | ``pos_embed`` | as is |
| ``LayerNorm_0``, ``LayerNorm_2`` (big_vision ``_1``) ``/scale``, ``/bias`` | ``blocks.i.norm1``, ``norm2`` ``.weight``, ``.bias`` | as is |
| ``MultiHeadDotProductAttention_1`` (big_vision ``_0``) ``/{query,key,value}/kernel`` (D, H, d) | ``blocks.i.attn.qkv.weight`` (3·H·d, D) | fused, transposed |
| ``…/{query,key,value}/bias`` (H, d) | ``blocks.i.attn.qkv.bias`` | fused |
| ``…/out/kernel`` (H, d, D), ``…/out/bias`` | ``blocks.i.attn.proj.weight`` (D, H·d), ``.bias`` | transposed |
| ``MlpBlock_3`` (big_vision ``_0``) ``/Dense_{0,1}/kernel``, ``/bias`` | ``blocks.i.mlp.fc{1,2}.weight``, ``.bias`` | (in, out) → (out, in) |
| ``Transformer/encoder_norm/scale``, ``/bias`` | ``norm.weight``, ``norm.bias`` | as is |
| ``head/kernel`` (D, C), ``head/bias`` | ``head.weight``, ``head.bias`` | transposed |

``pre_logits/*`` (the representation layer of the first in21k releases) is dropped, as timm drops
it; keys outside the prefix (optimizer state) are dropped; any other key under the prefix is kept
under its own name, so the loader reports it as unused. No JAX is imported and no array is read
here: each timm tensor is computed when the loader reads it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from zoo_core.interop.derived import DerivedStateDict, take
from zoo_core.interop.transforms import conv_to_hwio, linear_to_dense

PREFIXES = ("", "opt/target/", "params/")
DROPPED = ("pre_logits/",)


def npz_prefix(state_dict: Mapping) -> str | None:
    """The prefix under which ``state_dict`` holds a Google ViT checkpoint, else ``None``."""
    return next((p for p in PREFIXES if f"{p}embedding/kernel" in state_dict), None)


HWIO_TO_OIHW = conv_to_hwio.inverse()  # a Flax conv kernel (kh, kw, in, out) in PyTorch's layout
DENSE_TO_LINEAR = linear_to_dense.inverse()  # a Flax Dense kernel (in, out) as a PyTorch Linear's (out, in)


def _as_batch_of_one(a: np.ndarray) -> np.ndarray:
    return a[None] if a.ndim == 2 else a


def _block_entries(state_dict, prefix: str, block: str, index: int | None, subs: tuple[int, int, int], i: int):
    """timm's entries of block ``i`` (row ``index`` of a scanned stack, or its own keys under
    ``block``) and the npz keys they read."""
    mha, mlp, ln2 = f"MultiHeadDotProductAttention_{subs[0]}/", f"MlpBlock_{subs[1]}/", f"LayerNorm_{subs[2]}/"
    entries, consumed = {}, set()

    def read(name: str) -> np.ndarray:
        a = np.asarray(state_dict[f"{prefix}{block}{name}"])
        return a if index is None else a[index]

    def add(timm_name: str, npz_names: list[str], combine) -> None:
        keys = [f"{prefix}{block}{n}" for n in npz_names]
        if all(k in state_dict for k in keys):
            entries[f"blocks.{i}.{timm_name}"] = lambda: combine(*(read(n) for n in npz_names))
            consumed.update(keys)

    def as_is(a):
        return a

    for leaf, npz_leaf in (("weight", "scale"), ("bias", "bias")):
        add(f"norm1.{leaf}", [f"LayerNorm_0/{npz_leaf}"], as_is)
        add(f"norm2.{leaf}", [f"{ln2}{npz_leaf}"], as_is)
    add("attn.qkv.weight", [f"{mha}{n}/kernel" for n in ("query", "key", "value")],
        lambda *w: np.concatenate([a.reshape(a.shape[0], -1).T for a in w]))  # (D, H, d) each → (3·H·d, D)
    add("attn.qkv.bias", [f"{mha}{n}/bias" for n in ("query", "key", "value")],
        lambda *b: np.concatenate([a.reshape(-1) for a in b]))
    add("attn.proj.weight", [f"{mha}out/kernel"], lambda a: np.ascontiguousarray(a.reshape(-1, a.shape[-1]).T))
    add("attn.proj.bias", [f"{mha}out/bias"], as_is)
    for r in (0, 1):
        add(f"mlp.fc{r + 1}.weight", [f"{mlp}Dense_{r}/kernel"], DENSE_TO_LINEAR)
        add(f"mlp.fc{r + 1}.bias", [f"{mlp}Dense_{r}/bias"], as_is)
    return entries, consumed


def from_big_vision(state_dict: Mapping) -> DerivedStateDict | None:
    """``state_dict`` (an ``.npz`` read as key → array) in timm's keys and layouts if it is a Google
    ViT checkpoint, else ``None``."""
    prefix = npz_prefix(state_dict)
    if prefix is None:
        return None
    scanned = f"{prefix}Transformer/encoderblock/LayerNorm_0/scale" in state_dict
    big_vision = prefix.startswith("params/") or f"{prefix}pos_embedding" in state_dict or scanned
    subs = (0, 0, 1) if big_vision else (1, 3, 2)
    entries, consumed = {}, set()

    def add(timm_key, npz_key, transform=None):
        if f"{prefix}{npz_key}" in state_dict:
            entries[timm_key] = take(state_dict, f"{prefix}{npz_key}", transform)
            consumed.add(f"{prefix}{npz_key}")

    add("patch_embed.proj.weight", "embedding/kernel", HWIO_TO_OIHW)
    add("patch_embed.proj.bias", "embedding/bias")
    add("cls_token", "cls")
    add("pos_embed", "pos_embedding" if big_vision else "Transformer/posembed_input/pos_embedding", _as_batch_of_one)
    add("norm.weight", "Transformer/encoder_norm/scale")
    add("norm.bias", "Transformer/encoder_norm/bias")
    add("head.weight", "head/kernel", DENSE_TO_LINEAR)
    add("head.bias", "head/bias")
    if scanned:
        depth = np.shape(state_dict[f"{prefix}Transformer/encoderblock/LayerNorm_0/scale"])[0]
        blocks = [("Transformer/encoderblock/", i, i) for i in range(depth)]
    else:
        block_key = re.compile(rf"{re.escape(prefix)}Transformer/encoderblock_(\d+)/")
        found = {int(m.group(1)) for m in map(block_key.match, state_dict) if m}
        blocks = [(f"Transformer/encoderblock_{i}/", None, i) for i in sorted(found)]
    for block, index, i in blocks:
        block_entries, block_consumed = _block_entries(state_dict, prefix, block, index, subs, i)
        entries.update(block_entries)
        consumed |= block_consumed
    for key in state_dict:  # left over: reported by the loader as unused keys, under their own names
        if key.startswith(prefix) and key not in consumed and not key[len(prefix):].startswith(DROPPED):
            entries[key] = take(state_dict, key)
    return DerivedStateDict(entries)
