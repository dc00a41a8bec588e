"""``ConvNeXtConfig``: one ConvNeXt architecture, the typed view of an ``ARCHS`` row of
zoo_convnext's or zoo_convnextv2's ``variants.py``, with the builder's overrides checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from zoo_core.nn.activations import ACTIVATIONS
from zoo_core.validate import check_int, check_ints, check_real, is_int, refuse

from zoo_convnext.blocks import STEM_TYPES
from zoo_convnext.layers import NORM_LAYERS


def _four(value: Any) -> tuple[int, int, int, int]:
    return (value,) * 4 if isinstance(value, int) else tuple(value)


@attrs.frozen
class ConvNeXtConfig:
    """timm's ``ConvNeXt`` arguments as its ``convnext_*`` / ``convnextv2_*`` entry points set them.

    ``depths``/``dims``: blocks and channels per stage; ``kernel_sizes``: the depthwise kernel, one
    for all stages or one per stage; ``ls_init_value``: LayerScale init (``None``: no LayerScale,
    V2); ``use_grn``: GRN in the MLP (V2); ``conv_mlp``: timm builds the MLP from 1×1 convs, which
    only changes the checkpoint's weight layout; ``stem_type``: ``patch`` or an overlapping ``_ols``
    stem; ``head_norm_first``: norm before pooling (``_hnf``); ``head_hidden_size``: a pre-logits
    Linear + GELU in the head (``large_mlp``); ``norm_layer``/``norm_eps``: ``layernorm`` or
    ``simplenorm``, eps ``None`` for timm's 1e-6; ``act_layer``: the blocks' activation.
    """

    depths: tuple[int, int, int, int]
    dims: tuple[int, int, int, int]
    ls_init_value: float | None = 1e-6
    use_grn: bool = False
    conv_mlp: bool = False
    kernel_sizes: tuple[int, int, int, int] = attrs.field(default=7, converter=_four)
    patch_size: int = 4
    mlp_ratio: float = 4
    stem_type: str = attrs.field(default="patch", validator=attrs.validators.in_(STEM_TYPES))
    head_norm_first: bool = False
    head_hidden_size: int | None = None
    norm_layer: str = attrs.field(default="layernorm", validator=attrs.validators.in_(NORM_LAYERS))
    norm_eps: float | None = None
    act_layer: str = attrs.field(default="gelu", validator=attrs.validators.in_(tuple(ACTIVATIONS)))

    def __attrs_post_init__(self):
        if self.head_norm_first and self.head_hidden_size:
            raise ValueError("head_norm_first takes no head_hidden_size (timm asserts the same)")


def _check_kernel_sizes(name: str, value: Any) -> tuple[int, int, int, int]:
    sizes = (value,) * 4 if is_int(value) else value
    if not isinstance(sizes, (tuple, list)) or len(sizes) != 4 or not all(is_int(k) and k >= 1 and k % 2 for k in sizes):
        raise refuse(name, "kernel_sizes", value, "an odd int ≥ 1 or a tuple of 4 of them")
    return tuple(int(k) for k in sizes)


def checked_config(name: str, arch_kwargs: Mapping[str, Any], overrides: Mapping[str, Any]) -> ConvNeXtConfig:
    """The config of ``arch_kwargs`` with the builder's ``overrides`` (checked; a bad one raises
    ``ArgumentError`` naming the variant ``name``, the argument and the value)."""
    checked = {}
    for key, value in overrides.items():
        if key in ("depths", "dims"):
            checked[key] = check_ints(name, key, value, length=4, min=1)
        elif key == "kernel_sizes":
            checked[key] = _check_kernel_sizes(name, value)
        elif key in ("ls_init_value", "norm_eps"):
            checked[key] = check_real(name, key, value, above=0, allow_none=True)
        elif key == "head_hidden_size":
            checked[key] = check_int(name, key, value, min=1, allow_none=True)
            if checked[key] and arch_kwargs.get("head_norm_first"):
                raise refuse(name, key, value, "None: this architecture norms before pooling (head_norm_first), "
                             "with no hidden head layer")
        else:
            raise refuse(name, key, value, "no override of this argument")
    return ConvNeXtConfig(**{**arch_kwargs, **checked})
