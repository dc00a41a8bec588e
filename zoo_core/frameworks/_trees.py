"""What the framework adapters share: building a zoo model's trees and running a loader on them."""

from __future__ import annotations

from typing import Any

import jax


def initial_trees(model: Any, key: jax.Array) -> tuple[dict, dict]:
    """``model.init(key)``, jitted (an eager init dispatches every initializer one by one)."""
    return jax.jit(model.init)(key)


def nest(prefix: tuple[str, ...], tree: dict) -> dict:
    for name in reversed(prefix):
        tree = {name: tree}
    return tree


def take(prefix: tuple[str, ...], tree: dict) -> dict:
    for name in prefix:
        tree = tree[name]
    return tree


def load_into(loader: Any, params: dict, state: dict) -> tuple[dict, dict]:
    """``loader(params, state)`` for the trees of one model, whatever ``prefix`` the loader was
    made with (``create_pretrained(..., prefix=...)``): the trees are put under it and taken out."""
    prefix = tuple(getattr(loader, "prefix", ()))
    new_params, new_state = loader(nest(prefix, params), nest(prefix, state))
    return take(prefix, new_params), take(prefix, new_state)
