"""``features_only``: a backbone returning a list of feature maps, with timm's ``out_indices``.

A family opts in by giving its ``Model`` two methods:

- ``feature_info() -> list[FeatureInfo]``: every point timm's ``features_only`` can return, in
  timm's order (ResNet: ``act1``, ``layer1`` … ``layer4``; ConvNeXt: ``stages.0`` … ``stages.3``;
  ViT: ``blocks.0`` … ``blocks.{depth-1}``);
- ``forward_intermediates(params, state, x, indices, *, train=False) -> (list_of_maps, state)``:
  the maps at those positions, NHWC (N, H, W, C).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from zoo_core.errors import ArgumentError
from zoo_core.models import Model
from zoo_core.nn.module import Module
from zoo_core.validate import is_int, refuse


@attrs.frozen
class FeatureInfo:
    num_chs: int
    reduction: int
    module: str


def resolve_out_indices(name: str, available: int, out_indices: Sequence[int] | int | None) -> tuple[int, ...]:
    """timm's rules: ``None`` → every point; an int ``n`` → the last ``n``; negative indices count
    from the end. Each must be within ``[-available, available)``; duplicates are refused. Anything
    else (a bool, a float, a str, an empty sequence) raises an ``ArgumentError`` naming the
    variant ``name``."""
    if out_indices is None:
        return tuple(range(available))
    if is_int(out_indices):
        if not 0 < out_indices <= available:
            raise ArgumentError(f"{name}: out_indices={out_indices} asks for the last {out_indices} of {available} "
                                f"feature maps (allowed: 1..{available})")
        return tuple(range(available - out_indices, available))
    if not isinstance(out_indices, Sequence) or isinstance(out_indices, str) or not out_indices \
            or not all(is_int(i) for i in out_indices):
        raise refuse(name, "out_indices", out_indices, f"None, an int n (the last n of {available} feature maps) "
                     "or a non-empty tuple of int indices")
    resolved = []
    for i in out_indices:
        if not -available <= i < available:
            raise ArgumentError(f"{name}: out_indices {tuple(out_indices)} has {i}, outside the {available} feature "
                                f"maps (valid: 0..{available - 1} or -{available}..-1)")
        resolved.append(int(i) % available)
    if len(set(resolved)) != len(resolved):
        raise ArgumentError(f"{name}: out_indices {tuple(out_indices)} names a feature map twice")
    return tuple(resolved)


@attrs.frozen
class FeaturesModel(Module):
    """A backbone whose ``apply`` returns ``[maps at out_indices]``; its params are the wrapped
    model's (built with ``num_classes=0``), so the released weights load unchanged."""

    model: Model
    out_indices: tuple[int, ...]

    @property
    def architecture(self) -> Model:
        """The backbone's architecture: the released weights load into it unchanged."""
        return self.model.architecture

    @property
    def in_chans(self) -> int:
        return self.model.in_chans

    @property
    def num_classes(self) -> int:
        return 0

    def feature_info(self) -> list[FeatureInfo]:
        info = self.model.feature_info()
        return [info[i] for i in self.out_indices]

    def init(self, key):
        return self.model.init(key)

    def apply(self, params, state, x, *, train=False):
        self.model.check_input(x)
        return self.model.forward_intermediates(params, state, x, self.out_indices, train=train)


def features_model(model: Model, name: str, out_indices) -> FeaturesModel:
    if not hasattr(model, "feature_info") or not hasattr(model, "forward_intermediates"):
        raise NotImplementedError(f"{name}: its family does not support features_only yet")
    return FeaturesModel(model, resolve_out_indices(name, len(model.feature_info()), out_indices))
