"""Original Facebook ConvNeXt (and ConvNeXt-V2) checkpoints renamed to timm's keys.

The checkpoints of facebookresearch/ConvNeXt and ConvNeXt-V2 name their modules as the papers'
code does; timm's ``checkpoint_filter_fn`` (``timm/models/convnext.py``) renames them on load, and
so does this, key for key:

| Facebook key | timm key | value |
| --- | --- | --- |
| ``downsample_layers.0.{0,1}.*`` (patchify conv, LayerNorm) | ``stem.{0,1}.*`` | as is |
| ``downsample_layers.i.{0,1}.*`` (i ≥ 1: LayerNorm, conv) | ``stages.i.downsample.{0,1}.*`` | as is |
| ``stages.i.j.dwconv.*``, ``….norm.*``, ``….gamma`` | ``stages.i.blocks.j.conv_dw.*``, ``….norm.*``, ``….gamma`` | as is |
| ``stages.i.j.pwconv1.*`` / ``pwconv2.*`` (Linear) | ``stages.i.blocks.j.mlp.fc1.*`` / ``fc2.*`` | (out, in) → (out, in, 1, 1) where timm builds 1×1 convs |
| ``stages.i.j.grn.gamma`` / ``grn.beta`` (V2, (1, 1, 1, C)) | ``….mlp.grn.weight`` / ``bias`` | → (C,) |
| ``norm.*`` | ``head.norm.*`` | as is |
| ``head.*`` | ``head.fc.*`` | as is |

EUPE's extra ``projectors.*`` and ``norms.*`` are dropped, as timm drops them. The ``{"model": …}``
wrapper of the released ``.pth`` files is removed when the core reads a PyTorch file. A file with
``head.norm.weight`` or ``norm_pre.weight`` is timm's own layout and is left alone. No JAX is
imported and no array is read here: the result computes each tensor when the loader reads it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from zoo_core.interop.derived import DerivedStateDict, take
from zoo_core.interop.transforms import Reshape

#: present in every original checkpoint (the stem's patchify conv), in no timm one
FACEBOOK_MARKER = "downsample_layers.0.0.weight"
TIMM_MARKERS = ("head.norm.weight", "norm_pre.weight")
DROPPED_PREFIXES = ("projectors.", "norms.")
_FC_WEIGHT = re.compile(r"stages\.\d+\.blocks\.\d+\.mlp\.fc[12]\.weight")


def is_facebook_layout(state_dict: Mapping) -> bool:
    """Whether ``state_dict``'s keys are the original Facebook ConvNeXt (V1 or V2) layout."""
    return FACEBOOK_MARKER in state_dict and not any(k in state_dict for k in TIMM_MARKERS)


def timm_key(key: str) -> str:
    """The timm name of an original Facebook ConvNeXt key (timm's ``checkpoint_filter_fn`` rules)."""
    key = key.replace("downsample_layers.0.", "stem.")
    key = re.sub(r"stages\.(\d+)\.(\d+)\.", r"stages.\1.blocks.\2.", key)
    key = re.sub(r"downsample_layers\.(\d+)\.(\d+)\.", r"stages.\1.downsample.\2.", key)
    key = key.replace("dwconv", "conv_dw").replace("pwconv", "mlp.fc")
    key = key.replace("grn.beta", "mlp.grn.bias").replace("grn.gamma", "mlp.grn.weight")
    key = key.replace("head.", "head.fc.")
    return f"head.{key}" if key.startswith("norm.") else key


GRN_VECTOR = Reshape((-1,), source=(1, 1, 1, -1), name="grn_vector")  # Facebook's (1, 1, 1, C) GRN → timm's (C,)


def _linear_to_conv1x1(a: np.ndarray) -> np.ndarray:
    return a.reshape(*a.shape, 1, 1) if a.ndim == 2 else a


def from_facebook(state_dict: Mapping, *, conv_mlp: bool = False) -> DerivedStateDict | None:
    """``state_dict`` in timm's keys and shapes if it is an original Facebook ConvNeXt checkpoint,
    else ``None``. ``conv_mlp``: timm builds this architecture's MLP from 1×1 convs (V2 atto …
    nano), so the Linear ``pwconv`` weights become (out, in, 1, 1)."""
    if not is_facebook_layout(state_dict):
        return None
    entries = {}
    for key in state_dict:
        if key.startswith(DROPPED_PREFIXES):
            continue
        new = timm_key(key)
        if ".grn." in new:
            entries[new] = take(state_dict, key, GRN_VECTOR)
        elif conv_mlp and _FC_WEIGHT.fullmatch(new):
            entries[new] = take(state_dict, key, _linear_to_conv1x1)
        else:
            entries[new] = take(state_dict, key)
    return DerivedStateDict(entries)


def to_facebook(state_dict: Mapping) -> dict[str, np.ndarray]:
    """The inverse: a timm ConvNeXt (V1 or V2) state dict in the original Facebook keys and shapes
    (Linear ``pwconv`` weights, (1, 1, 1, C) GRN parameters), as the original code's
    ``model.load_state_dict`` takes it. Values are converted with ``numpy.asarray``."""
    out = {}
    for key, value in state_dict.items():
        a = np.asarray(value)
        key = key.replace("stem.", "downsample_layers.0.") if key.startswith("stem.") else key
        key = re.sub(r"stages\.(\d+)\.downsample\.(\d+)\.", r"downsample_layers.\1.\2.", key)
        key = re.sub(r"stages\.(\d+)\.blocks\.(\d+)\.", r"stages.\1.\2.", key)
        key = key.replace("conv_dw", "dwconv").replace("mlp.fc", "pwconv")
        if ".mlp.grn." in key:
            key = key.replace("mlp.grn.weight", "grn.gamma").replace("mlp.grn.bias", "grn.beta")
            a = a.reshape(1, 1, 1, -1)
        if re.search(r"\.pwconv[12]\.weight$", key) and a.ndim == 4:
            a = a.reshape(a.shape[:2])
        key = key.replace("head.fc.", "head.").replace("head.norm.", "norm.")
        out[key] = a
    return out
