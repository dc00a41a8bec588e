"""Data parallelism with ``jax.sharding``: params replicated, batch split along a 1-D ``"data"`` mesh.

Inference on one host::

    model, load = zoo_core.create_pretrained("resnet50.a1_in1k")
    params, state = load()
    apply = data_parallel(model.apply)          # every local device
    logits, _ = apply(params, state, images)    # any batch size: padded to a multiple, then trimmed

Many hosts (``zoo_core.distributed.initialize()`` first on every process): inference needs no
traffic between processes, so each process runs ``data_parallel`` on its own share of the inputs
and local devices (what ``zoo_core.datasets`` does). Training does: ``data_parallel_train_step``
takes one step over the devices of every process (``global_mesh``), params replicated
(``replicate``), each process giving its rows of the global batch (``shard_batch``); the gradient
is the mean over the global batch, as if one process had run it all (``docs/training.md``).
"""

from __future__ import annotations

import functools
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


def global_mesh() -> Mesh:
    """A 1-D ``"data"`` mesh over every process's devices (``jax.devices()``: process 0's first)."""
    return device_mesh(jax.devices())


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Every leaf of ``tree`` (host or local values, equal on every process) as a global array
    replicated on each device of ``mesh``."""
    sharding = replicated(mesh)

    def put(leaf):
        value = np.asarray(leaf)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    return jax.tree.map(put, tree)


def shard_batch(tree: Any, mesh: Mesh) -> Any:
    """Each process's rows of a global batch (every leaf: this process's ``(rows, ...)`` array)
    as global arrays split along ``"data"``: process 0's rows first. Every process gives as many
    rows, a multiple of its devices in ``mesh``."""
    from zoo_core.validate import refuse

    sharding = data_sharding(mesh)
    local = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)

    def put(leaf):
        value = np.asarray(leaf)
        if value.ndim == 0 or value.shape[0] % local:
            raise refuse("zoo_core.parallel.shard_batch", "tree", value.shape,
                         f"arrays whose first axis is a multiple of this process's {local} device(s)")
        return jax.make_array_from_process_local_data(sharding, value)

    return jax.tree.map(put, tree)


def data_parallel_train_step(loss_fn: Callable, optimizer: Any, *, mesh: Mesh | None = None) -> Callable:
    """A jitted ``step(params, state, opt_state, *batch) -> (params, state, opt_state, loss)`` over
    ``mesh`` (default: ``global_mesh()``, every process's devices). ``loss_fn(params, state,
    *batch) -> (loss, new state)`` averages over its batch, which here is the global one: XLA
    reduces the gradient (and BatchNorm's batch statistics) across devices and processes.
    ``optimizer`` is an optax ``GradientTransformation`` (or anything with its ``update``); give
    ``params``, ``state`` and ``opt_state`` through ``replicate``, the batch through ``shard_batch``.
    Outputs come back replicated on every device."""
    mesh = mesh if mesh is not None else global_mesh()

    @functools.partial(jax.jit, out_shardings=replicated(mesh))
    def step(params, state, opt_state, *batch):
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = jax.tree.map(lambda p, u: jnp.asarray(p + u).astype(jnp.result_type(p)), params, updates)
        return params, state, opt_state, loss

    step.mesh = mesh
    return step
