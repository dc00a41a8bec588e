"""Data-parallel inference across devices with ``jax.sharding``: params replicated, batch split.

One host::

    model, load = zoo_core.create_pretrained("resnet50.a1_in1k")
    params, state = load()
    apply = data_parallel(model.apply)          # every local device
    logits, _ = apply(params, state, images)    # any batch size: padded to a multiple, then trimmed

Many hosts: call ``jax.distributed.initialize()`` first on every host (coordinator address, process
count and id, or the cluster's environment), build ``data_parallel(model.apply, devices=jax.devices())``
on each, and pass each host's slice of the global batch as a global array made with
``jax.make_array_from_process_local_data(data_sharding(mesh), local_batch)``. Params are replicated
on every device; outputs come back sharded along the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "data"


def device_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every local device) with the axis ``"data"``."""
    devices = list(devices) if devices is not None else jax.local_devices()
    return Mesh(np.asarray(devices), (AXIS,))


def data_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def data_parallel(apply: Callable, *, devices: Sequence[Any] | None = None, **static_kwargs: Any) -> Callable:
    """Wrap ``apply(params, state, x, **static_kwargs)`` to run with ``x`` split over ``devices``
    along its first axis and ``params``/``state`` replicated. Batches that do not divide by the
    device count are padded with zeros and the outputs trimmed back; results equal one device's."""
    mesh = device_mesh(devices)
    n = mesh.devices.size
    batch = data_sharding(mesh)
    repl = replicated(mesh)

    @jax.jit
    def sharded(params, state, x):
        x = jax.lax.with_sharding_constraint(x, batch)
        return apply(params, state, x, **static_kwargs)

    def run(params, state, x):
        size = x.shape[0]
        pad = (-size) % n
        if pad:
            x = jnp.concatenate([jnp.asarray(x), jnp.zeros((pad, *x.shape[1:]), x.dtype)])
        params, state = jax.device_put((params, state), repl)
        out = sharded(params, state, jax.device_put(x, batch))
        if pad:
            y, new_state = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
            y = jax.tree.map(lambda a: a[:size] if a.ndim and a.shape[0] == size + pad else a, y)
            return (y, new_state) if new_state is not None else y
        return out

    run.mesh = mesh
    return run
