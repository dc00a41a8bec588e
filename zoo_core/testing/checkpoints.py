"""Checkpoints in timm's layout made without torch or timm: random weights shaped by a variant's
own mapping, for install checks, loading benchmarks and examples (no network, no download)."""

from __future__ import annotations

import numpy as np


def checkpoint_shapes(name: str, **model_kwargs) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{timm_key: (shape, leaf name)}`` of ``name``'s checkpoint in timm's layout, from its own
    mapping: each leaf's shape through its transform's inverse (as it is where there is none).
    No array is made, whatever the model's size."""
    from zoo_core.api import create_model, get_family, get_variant
    from zoo_core.interop.state_dict import as_path, get_path, transformed_shape
    from zoo_core.interop.transforms import NotInvertibleError, as_transform
    from zoo_core.nn import abstract_init

    variant = get_variant(name)
    model = create_model(variant.name, **model_kwargs)
    params, state = abstract_init(model)
    trees = {"params": params, "state": state}
    out = {}
    for key, path, transform in get_family(variant.name).mapping()(variant, model, params, state):
        path, transform = as_path(path), as_transform(transform)
        ours = tuple(get_path(trees, path).shape)
        try:
            shape = transformed_shape(transform.inverse(), ours, lambda ours=ours: np.zeros(ours, np.float32))
        except NotInvertibleError:
            shape = ours
        if transformed_shape(transform, shape, lambda shape=shape: np.zeros(shape, np.float32)) != ours:
            raise ValueError(f"{variant.name}: cannot infer the checkpoint shape of {key!r} through {transform}")
        out[key] = (shape, path[-1])
    return out


def random_state_dict(name: str, *, seed: int = 0, dtype=np.float32, **model_kwargs) -> dict[str, np.ndarray]:
    """A state dict in timm's keys and layouts for ``name``, with seeded values of sensible scale
    (N(0, 1/fan_in) weights, unit norm scales, positive variances)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, (shape, leaf_name) in checkpoint_shapes(name, **model_kwargs).items():
        if leaf_name == "var":
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf_name == "scale":
            value = 1 + 0.1 * rng.standard_normal(shape)
        elif len(shape) >= 2:
            value = rng.standard_normal(shape) / np.sqrt(max(np.prod(shape[1:]), 1))
        else:
            value = 0.1 * rng.standard_normal(shape)
        out[key] = value.astype(dtype)
    return out


def check_checkpoint_transform(hook, variant, timm_layout: dict, foreign: dict, *, foreign_path: str) -> dict:
    """Assert what a ``zoo_transform_checkpoint`` hook owes: ``None`` for a file already in timm's
    layout; for ``foreign``, a new mapping holding exactly ``timm_layout``'s keys and values, with
    ``foreign`` left as it was. Returns the converted mapping."""
    assert hook(variant=variant, state_dict=timm_layout, path="model.safetensors") is None
    before = {k: np.array(v, copy=True) for k, v in foreign.items()}
    converted = hook(variant=variant, state_dict=foreign, path=foreign_path)
    assert converted is not None and converted is not foreign
    assert foreign.keys() == before.keys() and all(np.array_equal(foreign[k], before[k]) for k in before)
    assert set(converted) == set(timm_layout)
    for key, value in timm_layout.items():
        np.testing.assert_array_equal(converted[key], value, err_msg=key)
    return converted


def timm_state_dict(name: str, model, params, state) -> dict[str, np.ndarray]:
    """``(params, state)`` of ``model`` (variant ``name``) written back in timm's keys and layouts
    through the family's own mapping (``zoo_core.interop.to_state_dict``)."""
    import zoo_core
    from zoo_core.interop.export import to_state_dict

    variant = zoo_core.get_variant(name)
    return to_state_dict((params, state), zoo_core.get_family(variant.name).mapping()(variant, model, params, state))
