"""A family against timm's tables: the structural proof of every tag, without weights or a forward pass.

Three checks that every family's parity tests call:

- ``check_table(family, archs)``: the family lists exactly the pretrained tags timm registers for
  ``archs``, in timm's order, and ``arch`` alone resolves to timm's default tag;
- ``check_row(name, licenses)``: one variant's row equals timm's pretrained config (head, data
  config, Hub repository, stem and classifier names, license) and its ``num_features`` equals
  timm's model's, built on the meta device;
- ``check_mapping_structure(name)``: the family's mapping consumes exactly the keys and shapes of
  timm's ``state_dict()`` for that variant and writes every leaf.

Needs torch and timm (test-only dependencies); import this module only from parity tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=1)
def _timm_pretrained() -> frozenset[str]:
    """Every ``arch.tag`` timm has weights for (listed once: ``list_pretrained`` scans them all)."""
    import timm

    return frozenset(timm.list_pretrained())


def timm_pretrained_names(arch: str, select: Callable[[str], bool] | None = None) -> list[str]:
    """``arch.tag`` for every tag timm registers for ``arch`` with weights, in timm's
    ``default_cfgs`` order (the first is timm's default), keeping those ``select(tag)`` accepts."""
    from timm.models._registry import _model_default_cfgs

    released = _timm_pretrained()
    names = [f"{arch}.{tag}" for tag in _model_default_cfgs[arch].tags]
    return [n for n in names if n in released and (select is None or select(n.split(".", 1)[1]))]


def check_table(family: str, archs: Iterable[str] | None = None, *, select: Callable[[str], bool] | None = None
                ) -> list[str]:
    """Assert that ``family`` lists, for each of ``archs`` (default: every architecture it lists),
    exactly timm's pretrained tags (those ``select(tag)`` accepts), in timm's order, and that the
    architecture's name alone resolves to timm's default. Returns the names checked."""
    import zoo_core

    rows = [v.name for v in zoo_core.get_family(zoo_core.list_variants(family=family)[0]).variants]
    archs = list(dict.fromkeys(n.split(".", 1)[0] for n in rows)) if archs is None else list(archs)
    checked = []
    for arch in archs:
        expected = timm_pretrained_names(arch, select)
        ours = [n for n in rows if n.split(".", 1)[0] == arch]
        assert ours == expected, f"{family} rows of {arch}: {ours}; timm's pretrained tags in order: {expected}"
        assert zoo_core.get_variant(arch).name == expected[0], f"{arch}: default tag differs from timm's"
        checked += ours
    return checked


def _tuple_or_none(value: Any) -> tuple | None:
    return tuple(value) if value else None


def check_row(name: str, licenses: Mapping[str, str | None]) -> None:
    """Assert that the row of ``name`` equals timm's pretrained config: head size, input and test
    input size, pool size, crop, interpolation, mean/std, Hub repository, stem and classifier
    names, and the license (``licenses`` maps zoo's license ids to timm's ``license`` field);
    and that ``num_features`` equals timm's model's and ours (both built without weights)."""
    import timm
    import torch

    import zoo_core

    cfg = timm.models.get_pretrained_cfg(name).to_dict()
    v = zoo_core.get_variant(name)
    assert v.name == name
    assert (v.hf_hub_id, v.num_classes) == (cfg.get("hf_hub_id"), cfg["num_classes"]), name
    assert v.input_size == tuple(cfg["input_size"]), name
    assert v.pool_size == _tuple_or_none(cfg.get("pool_size")), name
    assert v.test_input_size == _tuple_or_none(cfg.get("test_input_size")), name
    assert (v.crop_pct, v.test_crop_pct, v.crop_mode) == (cfg["crop_pct"], cfg.get("test_crop_pct"),
                                                          cfg["crop_mode"]), name
    assert v.interpolation == cfg["interpolation"], name
    assert (v.mean, v.std) == (tuple(cfg["mean"]), tuple(cfg["std"])), name
    assert (v.first_conv, v.classifier) == (cfg["first_conv"], cfg["classifier"]), name
    assert v.license.id in licenses, f"{name}: license {v.license.id!r} is not one the test knows"
    assert licenses[v.license.id] == cfg.get("license"), f"{name}: {v.license.id} against timm's {cfg.get('license')}"
    with torch.device("meta"):
        assert v.num_features == timm.create_model(name).num_features == zoo_core.create_model(name).num_features


class _ZeroTensors(Mapping):
    """A state dict of zero-stride stand-ins with the given shapes: no memory, no weights."""

    def __init__(self, shapes: Mapping[str, tuple[int, ...]]):
        self._shapes = dict(shapes)

    def __getitem__(self, key: str) -> np.ndarray:
        shape = self._shapes[key]
        return np.lib.stride_tricks.as_strided(np.zeros((), np.float32), shape=shape, strides=(0,) * len(shape))

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[key]

    def __iter__(self):
        return iter(self._shapes)

    def __len__(self) -> int:
        return len(self._shapes)


def check_mapping_structure(name: str, **zoo_kwargs: Any) -> int:
    """Assert that ``name``'s mapping consumes exactly the keys and shapes of timm's
    ``state_dict()`` for that variant (timm built on the meta device: no memory, no weights) and
    writes every leaf of ours (``zoo_kwargs`` go to ``create_model``). Returns the key count."""
    import jax
    import timm
    import torch

    from zoo_core.api import create_model, get_family, get_variant
    from zoo_core.interop.state_dict import apply_state_dict
    from zoo_core.nn import abstract_init

    variant = get_variant(name)
    with torch.device("meta"):
        ref = timm.create_model(variant.name, pretrained=False)
    shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    del ref
    model = create_model(variant.name, **zoo_kwargs)
    params, state = abstract_init(model)
    mapping = get_family(variant.name).mapping()(variant, model, params, state)
    apply_state_dict({"params": params, "state": state}, _ZeroTensors(shapes), mapping,
                     source=f"timm {variant.name} state_dict",
                     convert=lambda a, target: jax.ShapeDtypeStruct(a.shape, target.dtype))
    return len(shapes)


__all__ = ["check_mapping_structure", "check_row", "check_table", "timm_pretrained_names"]
