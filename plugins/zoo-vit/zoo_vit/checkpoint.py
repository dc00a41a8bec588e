"""Google's own ViT checkpoints (``.npz`` of google-research/vision_transformer and big_vision)
turned into timm's keys and PyTorch layouts, so the family's mapping applies unchanged.

The rules are those of timm's ``_load_weights`` (``timm/models/vision_transformer.py``). The file's
keys sit under a prefix: none, ``opt/target/`` (a Flax optimizer's target), ``params/``, or
``params/img/`` / ``img/`` (the image tower of a big_vision two-tower model: SigLIP, whose text
tower ``params/txt/…`` and scalars ``params/t``, ``params/b`` are dropped with everything else
outside the prefix). Two layouts exist; big_vision's is recognised by a ``params/`` or ``img/``
prefix, a top-level ``pos_embedding`` or scanned blocks (``Transformer/encoderblock/…`` with the
depth as leading axis):

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
| ``MAPHead_0/probe`` (1, 1, D) | ``attn_pool.latent`` | as is |
| ``MAPHead_0/MultiHeadDotProductAttention_0/query/kernel`` (D, H, d), ``/bias`` (H, d) | ``attn_pool.q.weight`` (H·d, D), ``.bias`` | transposed |
| ``…/{key,value}/kernel``, ``/bias`` | ``attn_pool.kv.weight`` (2·H·d, D), ``.bias`` | fused, transposed |
| ``…/out/kernel`` (H, d, D), ``…/out/bias`` | ``attn_pool.proj.weight`` (D, H·d), ``.bias`` | transposed |
| ``MAPHead_0/LayerNorm_0``, ``MAPHead_0/MlpBlock_0/Dense_{0,1}`` | ``attn_pool.norm``, ``attn_pool.mlp.fc{1,2}`` | as the blocks' |

``pre_logits/*`` (the representation layer of the first in21k releases) is dropped, as timm drops
it, and so is the MAP head (``MAPHead_0/*``) for a variant whose architecture does not pool with it
(``global_pool`` other than ``"map"``: the ``*_siglip_gap_*`` ones; timm's ``_load_weights`` reads it
only into an ``attn_pool``); keys outside the prefix (optimizer state, a text tower) are dropped;
any other key under the prefix is kept under its own name, so the loader reports it as unused. No
JAX is imported and no array is read here: each timm tensor is computed when the loader reads it,
and its shape is known before from the source's shapes (fused and scanned ones included).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

from zoo_core.interop.derived import DerivedStateDict, take
from zoo_core.interop.state_dict import stored_shape
from zoo_core.interop.transforms import conv_to_hwio, linear_to_dense

PREFIXES = ("", "opt/target/", "params/", "params/img/", "img/")
DROPPED = ("pre_logits/",)
MAP_HEAD = "MAPHead_0/"


def npz_prefix(state_dict: Mapping) -> str | None:
    """The prefix under which ``state_dict`` holds a Google ViT checkpoint, else ``None``."""
    return next((p for p in PREFIXES if f"{p}embedding/kernel" in state_dict), None)


HWIO_TO_OIHW = conv_to_hwio.inverse()  # a Flax conv kernel (kh, kw, in, out) in PyTorch's layout
DENSE_TO_LINEAR = linear_to_dense.inverse()  # a Flax Dense kernel (in, out) as a PyTorch Linear's (out, in)


def _as_batch_of_one(a: np.ndarray) -> np.ndarray:
    return a[None] if a.ndim == 2 else a


def _as_is(a: np.ndarray) -> np.ndarray:
    return a


def _fused_kernel(*kernels: np.ndarray) -> np.ndarray:
    """Flax attention kernels (D, H, d), one per projection, as one PyTorch Linear weight (n·H·d, D)."""
    return np.concatenate([a.reshape(a.shape[0], -1).T for a in kernels])


def _fused_bias(*biases: np.ndarray) -> np.ndarray:
    return np.concatenate([a.reshape(-1) for a in biases])


def _out_kernel(a: np.ndarray) -> np.ndarray:
    """The attention output kernel (H, d, D) as a PyTorch Linear weight (D, H·d)."""
    return np.ascontiguousarray(a.reshape(-1, a.shape[-1]).T)


class _Combined:
    """A timm tensor computed from npz arrays (row ``index`` of each, for scanned blocks): read when
    called; its ``shape()`` from the sources' stored shapes, on zero-stride stand-ins (nothing read)."""

    def __init__(self, state_dict: Mapping, keys: list[str], combine: Callable, index: int | None):
        self.state_dict, self.keys, self.combine, self.index = state_dict, keys, combine, index

    def _row(self, a):
        return a if self.index is None else a[self.index]

    def __call__(self) -> np.ndarray:
        return self.combine(*(self._row(np.asarray(self.state_dict[k])) for k in self.keys))

    def shape(self) -> tuple[int, ...]:
        stand_ins = [self._row(np.broadcast_to(np.zeros((), np.float32), stored_shape(self.state_dict, k)))
                     for k in self.keys]
        return tuple(np.shape(self.combine(*stand_ins)))


class _Entries:
    """timm's entries computed from npz keys under ``prefix``, and the npz keys they read."""

    def __init__(self, state_dict: Mapping, prefix: str):
        self.state_dict, self.prefix = state_dict, prefix
        self.entries: dict[str, Callable[[], np.ndarray]] = {}
        self.consumed: set[str] = set()

    def add(self, timm_key: str, npz_names: list[str], combine, index: int | None = None) -> None:
        """``timm_key`` ← ``combine(*arrays)`` of the npz keys (row ``index`` of each, if given),
        where all of them exist."""
        keys = [f"{self.prefix}{n}" for n in npz_names]
        if not all(k in self.state_dict for k in keys):
            return
        if index is None and len(keys) == 1:  # a plain read: the transform's shape from the file's header
            self.entries[timm_key] = take(self.state_dict, keys[0], None if combine is _as_is else combine)
        else:
            self.entries[timm_key] = _Combined(self.state_dict, keys, combine, index)
        self.consumed.update(keys)

    def norm(self, timm: str, npz: str, index: int | None = None) -> None:
        self.add(f"{timm}.weight", [f"{npz}scale"], _as_is, index)
        self.add(f"{timm}.bias", [f"{npz}bias"], _as_is, index)

    def mlp(self, timm: str, npz: str, index: int | None = None) -> None:
        for r in (0, 1):
            self.add(f"{timm}.fc{r + 1}.weight", [f"{npz}Dense_{r}/kernel"], DENSE_TO_LINEAR, index)
            self.add(f"{timm}.fc{r + 1}.bias", [f"{npz}Dense_{r}/bias"], _as_is, index)

    def attention(self, timm: str, npz: str, fused: dict[str, tuple[str, ...]], index: int | None = None) -> None:
        """A Flax ``MultiHeadDotProductAttention`` at ``npz``: the projections named in ``fused``
        (timm's linear → Flax's query/key/value) and ``out`` as ``proj``."""
        for linear, parts in fused.items():
            self.add(f"{timm}.{linear}.weight", [f"{npz}{n}/kernel" for n in parts], _fused_kernel, index)
            self.add(f"{timm}.{linear}.bias", [f"{npz}{n}/bias" for n in parts], _fused_bias, index)
        self.add(f"{timm}.proj.weight", [f"{npz}out/kernel"], _out_kernel, index)
        self.add(f"{timm}.proj.bias", [f"{npz}out/bias"], _as_is, index)


def _block(e: _Entries, block: str, index: int | None, subs: tuple[int, int, int], i: int) -> None:
    """Block ``i``: its own keys under ``block``, or row ``index`` of the scanned stack there."""
    mha, mlp, ln2 = subs
    e.norm(f"blocks.{i}.norm1", f"{block}LayerNorm_0/", index)
    e.norm(f"blocks.{i}.norm2", f"{block}LayerNorm_{ln2}/", index)
    e.attention(f"blocks.{i}.attn", f"{block}MultiHeadDotProductAttention_{mha}/",
                {"qkv": ("query", "key", "value")}, index)
    e.mlp(f"blocks.{i}.mlp", f"{block}MlpBlock_{mlp}/", index)


def _map_head(e: _Entries) -> None:
    """big_vision's ``MAPHead`` (SigLIP's attention pool) as timm's ``attn_pool``."""
    e.add("attn_pool.latent", [f"{MAP_HEAD}probe"], _as_is)
    e.attention("attn_pool", f"{MAP_HEAD}MultiHeadDotProductAttention_0/", {"q": ("query",), "kv": ("key", "value")})
    e.norm("attn_pool.norm", f"{MAP_HEAD}LayerNorm_0/")
    e.mlp("attn_pool.mlp", f"{MAP_HEAD}MlpBlock_0/")


def _blocks(state_dict: Mapping, prefix: str, scanned: bool) -> list[tuple[str, int | None, int]]:
    """``(npz block path, scanned row or None, timm block index)`` of every block in the file."""
    if scanned:
        depth = stored_shape(state_dict, f"{prefix}Transformer/encoderblock/LayerNorm_0/scale")[0]
        return [("Transformer/encoderblock/", i, i) for i in range(depth)]
    block_key = re.compile(rf"{re.escape(prefix)}Transformer/encoderblock_(\d+)/")
    found = {int(m.group(1)) for m in map(block_key.match, state_dict) if m}
    return [(f"Transformer/encoderblock_{i}/", None, i) for i in sorted(found)]


def from_big_vision(state_dict: Mapping, *, attn_pool: bool = True) -> DerivedStateDict | None:
    """``state_dict`` (an ``.npz`` read as key → array) in timm's keys and layouts if it is a Google
    ViT checkpoint, else ``None``. ``attn_pool=False`` (a model that does not pool with a MAP head)
    drops the file's ``MAPHead_0``, as timm's ``_load_weights`` ignores it."""
    prefix = npz_prefix(state_dict)
    if prefix is None:
        return None
    scanned = f"{prefix}Transformer/encoderblock/LayerNorm_0/scale" in state_dict
    big_vision = prefix.startswith(("params/", "img/")) or f"{prefix}pos_embedding" in state_dict or scanned
    e = _Entries(state_dict, prefix)
    e.add("patch_embed.proj.weight", ["embedding/kernel"], HWIO_TO_OIHW)
    e.add("patch_embed.proj.bias", ["embedding/bias"], _as_is)
    e.add("cls_token", ["cls"], _as_is)
    e.add("pos_embed", ["pos_embedding" if big_vision else "Transformer/posembed_input/pos_embedding"],
          _as_batch_of_one)
    e.norm("norm", "Transformer/encoder_norm/")
    e.add("head.weight", ["head/kernel"], DENSE_TO_LINEAR)
    e.add("head.bias", ["head/bias"], _as_is)
    if attn_pool:
        _map_head(e)
    for block, index, i in _blocks(state_dict, prefix, scanned):
        _block(e, block, index, (0, 0, 1) if big_vision else (1, 3, 2), i)
    dropped = DROPPED if attn_pool else (*DROPPED, MAP_HEAD)
    for key in state_dict:  # left over: reported by the loader as unused keys, under their own names
        if key.startswith(prefix) and key not in e.consumed and not key[len(prefix):].startswith(dropped):
            e.entries[key] = take(state_dict, key)
    return DerivedStateDict(e.entries)
