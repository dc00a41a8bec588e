"""Many processes, one job, through JAX's own distributed runtime (``jax.distributed``).

Every process runs the same program and calls ``initialize`` first, before any other JAX call::

    from zoo_core import distributed
    distributed.initialize()                  # SLURM, Open MPI, TPU, Kubernetes: found on their own
    distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)   # elsewhere: said

``process_shard`` then gives each process its contiguous share of a list that every process builds
the same way, ``barrier`` waits for all of them. The dataset jobs (``zoo_core.datasets``) shard
their inputs this way on their own once the runtime is up; ``zoo_core.parallel`` has the
data-parallel training step over every process's devices. See ``docs/datasets.md#many-hosts``.

On the CPU, cross-process collectives go through gloo (JAX's default in recent releases; selected
here on those whose default is none); a process then sees its own CPU device(s) in ``jax.local_devices()`` and every
process's in ``jax.devices()``.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from zoo_core.errors import ZooError
from zoo_core.validate import check_int, check_str, refuse

T = TypeVar("T")

DEFAULT_BARRIER_TIMEOUT = 24 * 3600.0
_barriers = itertools.count()


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, local_device_ids: int | Sequence[int] | None = None,
               initialization_timeout: int = 300, **kwargs: Any) -> tuple[int, int]:
    """Start ``jax.distributed`` once in this process and return ``(process_id, num_processes)``.

    The arguments are ``jax.distributed.initialize``'s, under the same names (``kwargs`` go through
    as they are: ``cluster_detection_method``, ``heartbeat_timeout_seconds``, ...). Left out, JAX
    finds them itself: from SLURM (``srun``), Open MPI (``mpirun``), Cloud TPU or Kubernetes, and
    the coordinator from ``JAX_COORDINATOR_ADDRESS``. A second call is a no-op that checks the
    running runtime against the arguments it gives. Must come before any other JAX computation."""
    import jax

    where = "zoo_core.distributed.initialize"
    check_str(where, "coordinator_address", coordinator_address, allow_none=True)
    check_int(where, "num_processes", num_processes, min=1, allow_none=True)
    check_int(where, "process_id", process_id, min=0, allow_none=True)
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise refuse(where, "process_id", process_id, f"an int < num_processes={num_processes}")
    if jax.distributed.is_initialized():
        running = (jax.process_index(), jax.process_count())
        if (process_id is not None and process_id != running[0]) or \
                (num_processes is not None and num_processes != running[1]):
            raise ZooError(f"{where}: jax.distributed already runs as process {running[0]} of {running[1]}, "
                           f"not {process_id} of {num_processes}")
        return running
    if getattr(jax.config, "jax_cpu_collectives_implementation", "gloo") is None:  # older jax: none by default
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator_address, num_processes, process_id, local_device_ids=local_device_ids,
                                   initialization_timeout=initialization_timeout, **kwargs)
    except (ValueError, RuntimeError) as e:
        raise ZooError(f"{where}: jax.distributed could not start: {e}. Outside SLURM, Open MPI, Cloud TPU and "
                       "Kubernetes give coordinator_address (HOST:PORT of process 0), num_processes and "
                       "process_id; call it before any other JAX computation") from e
    return jax.process_index(), jax.process_count()


def is_initialized() -> bool:
    """Whether ``jax.distributed`` runs in this process (started here or by the caller)."""
    import jax

    return jax.distributed.is_initialized()


def process_range(n: int, process_id: int | None = None, num_processes: int | None = None) -> tuple[int, int]:
    """``(start, stop)`` of this process's contiguous share of ``n`` items: ``n // num_processes``
    each, the first ``n % num_processes`` processes one more; every process computes the same
    split. Defaults: ``jax.process_index()`` and ``jax.process_count()``."""
    import jax

    where = "zoo_core.distributed.process_range"
    check_int(where, "n", n, min=0)
    num_processes = check_int(where, "num_processes", num_processes, min=1, allow_none=True) or jax.process_count()
    process_id = jax.process_index() if process_id is None else check_int(where, "process_id", process_id, min=0)
    if process_id >= num_processes:
        raise refuse(where, "process_id", process_id, f"an int < num_processes={num_processes}")
    q, r = divmod(n, num_processes)
    start = process_id * q + min(process_id, r)
    return start, start + q + (process_id < r)


def process_shard(items: Sequence[T] | Iterable[T], process_id: int | None = None,
                  num_processes: int | None = None) -> Sequence[T]:
    """This process's contiguous share of ``items`` (``process_range``): a slice of a sequence or
    an array (its first axis), a list of another iterable. Concatenated in process order, the
    shares are ``items`` again."""
    if not (hasattr(items, "__len__") and hasattr(items, "__getitem__")) or isinstance(items, dict):
        items = list(items)
    start, stop = process_range(len(items), process_id, num_processes)
    return items[start:stop]


def barrier(name: str, *, timeout: float = DEFAULT_BARRIER_TIMEOUT) -> None:
    """Wait until every process has reached the barrier of this ``name`` (every process calls its
    barriers in the same order). Through the coordination service of ``jax.distributed``, so it
    needs no device and fails after ``timeout`` seconds (or when a process dies) instead of
    hanging; ``jax.experimental.multihost_utils.sync_global_devices`` where that service is not
    reachable. A no-op in a single process."""
    import jax

    if jax.process_count() == 1:
        return
    label = f"zoo:{check_str('zoo_core.distributed.barrier', 'name', name)}:{next(_barriers)}"
    client = _client()
    if client is None:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(label)
        return
    try:
        client.wait_at_barrier(label, int(timeout * 1000))
    except Exception as e:  # noqa: BLE001 (jaxlib's runtime error type moved between releases)
        raise ZooError(f"process {jax.process_index()} of {jax.process_count()}: the barrier {name!r} failed "
                       f"(a process died, or did not reach it within {timeout:g} s): {e}") from e


def _client():
    """The ``jax.distributed`` coordination client, or ``None`` where this JAX hides it."""
    try:
        from jax._src import distributed as _distributed

        client = _distributed.global_state.client
    except (ImportError, AttributeError):
        return None
    return client if hasattr(client, "wait_at_barrier") else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--distributed``, ``--coordinator-address``, ``--num-processes`` and ``--process-id``: the
    command line's names for ``initialize``'s arguments (``zoo embed/predict ... --out DIR``)."""
    from zoo_core.cli import non_empty, positive_int

    g = parser.add_argument_group("many processes", "one --out directory written by N processes of a "
                                  "jax.distributed job, each its share of the images (docs/datasets.md#many-hosts)")
    g.add_argument("--distributed", action="store_true",
                   help="run as one process of a jax.distributed job; alone: JAX finds the job itself (SLURM srun, "
                        "Open MPI, Cloud TPU, Kubernetes; the coordinator from JAX_COORDINATOR_ADDRESS)")
    g.add_argument("--coordinator-address", default=None, type=non_empty, metavar="HOST:PORT",
                   help="process 0's host and a free port, the same for every process (implies --distributed)")
    g.add_argument("--num-processes", default=None, type=positive_int, metavar="N",
                   help="how many processes (implies --distributed)")
    g.add_argument("--process-id", default=None, type=_process_id, metavar="I",
                   help="this process's id, 0 to N-1 (implies --distributed)")


def _process_id(text: str) -> int:
    """argparse type: an integer ≥ 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an integer 0 or more, got {text!r}")
    return int(text)


def requested(args: argparse.Namespace) -> bool:
    """Whether the command line asked for ``jax.distributed`` (``add_arguments``' options)."""
    return bool(args.distributed) or any(v is not None for v in (args.coordinator_address, args.num_processes,
                                                                 args.process_id))
