"""Checkpointing zoo trees with Orbax (``pip install "zoo-core[orbax]"``).

zoo's ``params`` and ``state`` are plain nested dicts of arrays, which Orbax saves as they are,
empty dicts and sharded ``jax.Array`` leaves included. This module adds what zoo knows: the
target structure of a model's trees, computed from the model alone (no weights downloaded, no
init run), with the shardings to restore into.

``save(path, params, state, opt_state=...)`` and ``restore(path, model, ...)`` checkpoint one
training state; for a checkpoint every N steps use Orbax's ``CheckpointManager`` with the item
``{"params": ..., "state": ..., "opt_state": ...}`` and ``abstract_item(...)`` as the restore
target (docs/frameworks.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import orbax.checkpoint as ocp

Sharding = jax.sharding.Sharding | Callable[[tuple, jax.ShapeDtypeStruct], jax.sharding.Sharding] | None


def shardings(tree: Any, sharding: Sharding = None) -> Any:
    """A ``jax.sharding.Sharding`` per leaf of ``tree`` (arrays or shape structs), for
    ``jax.device_put`` or a restore target: ``sharding`` is one ``Sharding`` for every leaf, a
    function ``(key path, ShapeDtypeStruct) -> Sharding`` (e.g. kernels split over a mesh axis,
    the rest replicated), or None (the first device)."""
    if sharding is None:
        sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    if isinstance(sharding, jax.sharding.Sharding):
        return jax.tree.map(lambda _: sharding, tree)
    return jax.tree_util.tree_map_with_path(
        lambda path, x: sharding(path, jax.ShapeDtypeStruct(x.shape, x.dtype)), tree)


def _abstract(tree: Any, sharding: Sharding) -> Any:
    """Each leaf as a ``jax.ShapeDtypeStruct`` carrying its sharding (see ``shardings``)."""
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree,
                        shardings(tree, sharding))


def abstract_trees(model: Any, *, sharding: Sharding = None) -> tuple[dict, dict]:
    """``(params, state)`` of ``model`` (a zoo ``Model``: ``create_model``'s or
    ``create_pretrained``'s) as ``jax.ShapeDtypeStruct`` trees carrying ``sharding``: the target
    to restore into. Nothing is downloaded or computed."""
    from zoo_core.nn.module import abstract_init

    return _abstract(abstract_init(model), sharding)


def abstract_item(model: Any, *, opt_state: Any = None, sharding: Sharding = None) -> dict:
    """The restore target of the item ``save`` writes: ``{"params", "state"}`` of ``model`` and,
    given, ``"opt_state"`` (any tree of arrays or shape structs, e.g.
    ``jax.eval_shape(optimizer.init, params)``), every leaf with ``sharding``."""
    params, state = abstract_trees(model, sharding=sharding)
    item = {"params": params, "state": state}
    if opt_state is not None:
        item["opt_state"] = _abstract(opt_state, sharding)
    return item


def save(path: str | os.PathLike, params: dict, state: dict, *, opt_state: Any = None, force: bool = False) -> None:
    """Write ``{"params", "state"[, "opt_state"]}`` to the directory ``path`` (absolute or not;
    ``force`` replaces an existing one) and wait until it is on disk. Sharded arrays are written
    shard by shard, as Orbax does."""
    item = {"params": params, "state": state}
    if opt_state is not None:
        item["opt_state"] = opt_state
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(os.path.abspath(path), item, force=force)
        checkpointer.wait_until_finished()


def restore(path: str | os.PathLike, model: Any, *, opt_state: Any = None, sharding: Sharding = None):
    """``(params, state)`` — or ``(params, state, opt_state)`` when ``opt_state`` (its abstract
    tree) is given — read from ``path`` into the structure of ``model``'s trees, each array placed
    with ``sharding``. A checkpoint of another architecture or head size fails in Orbax with the
    mismatching key named."""
    target = abstract_item(model, opt_state=opt_state, sharding=sharding)
    args = ocp.args.PyTreeRestore(item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
                                  partial_restore=True)   # an opt_state saved but not asked for stays on disk
    with ocp.Checkpointer(ocp.PyTreeCheckpointHandler()) as checkpointer:
        item = checkpointer.restore(os.path.abspath(path), args=args)
    if opt_state is None:
        return item["params"], item["state"]
    return item["params"], item["state"], item["opt_state"]


__all__ = ["abstract_item", "abstract_trees", "restore", "save", "shardings"]
