"""OpenCLIP's ConvNeXt image towers (``open_clip_pytorch_model.bin`` / ``open_clip_model.safetensors``
of LAION's ``CLIP-convnext_*`` releases) turned into timm's keys, as timm's ``checkpoint_filter_fn``
(``timm/models/convnext.py``) does, so the family's mapping applies unchanged.

OpenCLIP's ``TimmModel`` holds a timm ConvNeXt as ``visual.trunk`` (its classifier removed, its
``head.norm`` kept) and its projection into the image-text embedding space as ``visual.head``:

| OpenCLIP key | timm key | value |
| --- | --- | --- |
| ``visual.trunk.<key>`` | ``<key>`` | as is (``stem.*``, ``stages.*``, ``head.norm.*``) |
| ``visual.head.proj.weight`` (E, C) (``convnext_base_w``, ``xxlarge``) | ``head.fc.weight``; ``head.fc.bias`` zeros (E,) | as is |
| ``visual.head.mlp.fc1.weight`` / ``.bias`` (``convnext_large_d``) | ``head.pre_logits.fc.weight`` / ``.bias`` | as is |
| ``visual.head.mlp.fc2.weight`` (E, H) | ``head.fc.weight``; ``head.fc.bias`` zeros (E,) | as is |

The towers' projections have no bias; timm's ``clip_*`` tags whose ``num_classes`` is the
embedding size (640, 768, 1024) hold them as ``head.fc`` with a zero bias, and so does this. The
keys of the text tower, ``logit_scale`` and anything else outside ``visual.trunk.`` and the
projection are dropped, as timm drops them. DataParallel's ``module.`` prefix is accepted. No JAX
is imported and no array is read here: each tensor is read when the loader asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from zoo_core.interop.derived import DerivedStateDict, take
from zoo_core.interop.state_dict import stored_shape

MARKER = "visual.trunk.stem.0.weight"  # in every OpenCLIP ConvNeXt tower, in no timm checkpoint
PREFIXES = ("", "module.")
HEAD_KEYS = (("head.proj.weight", "head.fc.weight"), ("head.mlp.fc1.weight", "head.pre_logits.fc.weight"),
             ("head.mlp.fc1.bias", "head.pre_logits.fc.bias"), ("head.mlp.fc2.weight", "head.fc.weight"))


def openclip_prefix(state_dict: Mapping) -> str | None:
    """``"visual."`` or ``"module.visual."`` if ``state_dict`` is an OpenCLIP ConvNeXt tower, else ``None``."""
    for prefix in PREFIXES:
        if prefix + MARKER in state_dict:
            return prefix + "visual."
    return None


class _ZeroBias:
    """A thunk for ``head.fc.bias``: zeros as long as the projection ``key`` has rows."""

    def __init__(self, state_dict: Mapping, key: str):
        self.state_dict, self.key = state_dict, key

    def shape(self) -> tuple[int, ...]:
        return stored_shape(self.state_dict, self.key)[:1]

    def __call__(self) -> np.ndarray:
        return np.zeros(self.shape(), np.float32)


def from_openclip(state_dict: Mapping) -> DerivedStateDict | None:
    """``state_dict`` in timm's keys if it is an OpenCLIP ConvNeXt tower, else ``None``."""
    root = openclip_prefix(state_dict)
    if root is None:
        return None
    trunk = root + "trunk."
    entries = {key[len(trunk):]: take(state_dict, key) for key in state_dict if key.startswith(trunk)}
    for theirs, ours in HEAD_KEYS:
        if root + theirs in state_dict:
            entries[ours] = take(state_dict, root + theirs)
    if "head.fc.weight" in entries:
        projection = root + ("head.proj.weight" if root + "head.proj.weight" in state_dict else "head.mlp.fc2.weight")
        entries["head.fc.bias"] = _ZeroBias(state_dict, projection)
    return DerivedStateDict(entries)


def to_openclip(state_dict: Mapping, *, text_keys: Mapping | None = None) -> dict[str, np.ndarray]:
    """The inverse, for tests: a timm ConvNeXt state dict (a ``clip_*`` tower) as OpenCLIP stores it:
    the trunk under ``visual.trunk.``, ``head.fc`` as the bias-free ``visual.head.proj`` (or, with a
    ``head.pre_logits`` layer, ``visual.head.mlp.fc1``/``fc2``), plus ``text_keys`` (a text tower's
    stand-ins). ``head.fc.bias`` must be zero: the OpenCLIP layout has no place for it."""
    out = {f"visual.trunk.{k}": np.asarray(v) for k, v in state_dict.items() if not k.startswith(("head.fc.",
                                                                                                  "head.pre_logits."))}
    if np.any(np.asarray(state_dict["head.fc.bias"])):
        raise ValueError("head.fc.bias is not zero: OpenCLIP's projection has no bias")
    if "head.pre_logits.fc.weight" in state_dict:
        out["visual.head.mlp.fc1.weight"] = np.asarray(state_dict["head.pre_logits.fc.weight"])
        out["visual.head.mlp.fc1.bias"] = np.asarray(state_dict["head.pre_logits.fc.bias"])
        out["visual.head.mlp.fc2.weight"] = np.asarray(state_dict["head.fc.weight"])
    else:
        out["visual.head.proj.weight"] = np.asarray(state_dict["head.fc.weight"])
    out.update({k: np.asarray(v) for k, v in (text_keys or {}).items()})
    return out
