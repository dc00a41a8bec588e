"""``features_only``: a backbone returning a list of feature maps, with timm's ``out_indices``.

A family opts in by giving its ``Model`` two methods:

- ``feature_info() -> list[FeatureInfo]``: every point timm's ``features_only`` can return, in
  timm's order (ResNet: ``act1``, ``layer1`` … ``layer4``; ConvNeXt: ``stages.0`` … ``stages.3``;
  ViT: ``blocks.0`` … ``blocks.{depth-1}``);
- ``forward_intermediates(params, state, x, indices, *, norm=False, final=False, train=False,
  **family_opts) -> (maps, state)``: the maps at ``indices`` (resolved ints into ``feature_info()``,
  in that order), NHWC (N, H, W, C); ``norm=True`` with the meaning timm's
  ``forward_intermediates(norm=True)`` has for the family; with ``final=True`` it returns
  ``((maps, features), state)``, ``features`` being what ``forward_features`` returns (every
  block run; with ``stop_early=True`` too, that of the network cut after the last index, as timm's
  final output then is), and without it no block past the last index needs to run.
  A family method may take only ``(params, state, x, indices, *, train=False)``: ``features_only``
  and ``forward_intermediates(..., intermediates_only=True)`` with the defaults need no more.

A model may set ``default_out_indices`` (timm's ``feature_cfg`` ``out_indices`` where that is
not every point: ViT's last 3 blocks), what ``features_only`` takes when ``out_indices`` is None.

``forward_intermediates(model, params, state, x, indices, ...)`` below is timm's
``model.forward_intermediates(x, indices, ...)`` with zoo's trees.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

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

    def forward_intermediates(self, params, state, x, indices, *, train=False, **kwargs):
        """The backbone's ``forward_intermediates`` (``indices`` into its whole ``feature_info``)."""
        return self.model.forward_intermediates(params, state, x, indices, train=train, **kwargs)


def features_model(model: Model, name: str, out_indices) -> FeaturesModel:
    """``model`` as a ``features_only`` backbone; ``out_indices=None`` takes the model's
    ``default_out_indices`` (timm's default for the family) or else every point."""
    if not hasattr(model, "feature_info") or not hasattr(model, "forward_intermediates"):
        raise NotImplementedError(f"{name}: its family does not support features_only yet")
    if out_indices is None:
        out_indices = getattr(model, "default_out_indices", None)
    return FeaturesModel(model, resolve_out_indices(name, len(model.feature_info()), out_indices))


def take_indices(name: str, available: int, indices: Sequence[int] | int | None) -> tuple[int, ...]:
    """timm's ``feature_take_indices`` as ``forward_intermediates`` uses it: ``None`` → every
    point, an int ``n`` → the last ``n``, a sequence → its indices (negative from the end). timm
    collects the points in network order, each once, so the result is sorted and unique. Out of
    range or malformed: ``ArgumentError`` naming ``name``."""
    if indices is None or is_int(indices):
        return resolve_out_indices(name, available, indices)
    if isinstance(indices, Sequence) and not isinstance(indices, str) and indices:
        indices = tuple(dict.fromkeys(int(i) % available if is_int(i) and -available <= i < available else i
                                      for i in indices))
    return tuple(sorted(resolve_out_indices(name, available, indices)))


def _accepts(method, keyword: str) -> bool:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == keyword or p.kind is p.VAR_KEYWORD for p in parameters)


def forward_intermediates(model: Model, params, state, x, indices: Sequence[int] | int | None = None, *,
                          norm: bool = False, intermediates_only: bool = False, stop_early: bool = False,
                          train: bool = False, **family_opts: Any):
    """timm's ``model.forward_intermediates(x, indices, norm=..., stop_early=...,
    intermediates_only=...)`` on zoo's trees: returns ``(result, state)``.

    ``result`` is the list of NHWC maps (N, H, W, C) at ``indices`` (``None``: every point of
    ``feature_info()``; an int ``n``: the last ``n``; negatives from the end; in network order, as
    timm collects them) with ``intermediates_only=True``, else ``(final_features, maps)``,
    ``final_features`` being ``forward_features``'s output (with ``stop_early``: that of the
    network cut after the last index, as timm's). ``norm=True`` applies the family's final norm as
    timm's does. ``family_opts`` go to the family's method (ViT: ``output_fmt="NHWC"``/``"NLC"``,
    ``return_prefix_tokens``).
    """
    arch = model.architecture
    name = type(arch).__name__
    indices = take_indices(name, len(arch.feature_info()), indices)
    kwargs = dict(family_opts)
    if norm:
        kwargs["norm"] = True
    if not intermediates_only:
        kwargs["final"] = True
        if stop_early:
            kwargs["stop_early"] = True
    for keyword in kwargs:
        if not _accepts(arch.forward_intermediates, keyword):
            raise ArgumentError(f"{name}: its family's forward_intermediates takes no {keyword}="
                                f"{kwargs[keyword]!r} (needed for the arguments given)")
    result, state = model.forward_intermediates(params, state, x, indices, train=train, **kwargs)
    if intermediates_only:
        return result, state
    maps, features = result
    return (features, maps), state
