"""A streamed inference pipeline: image paths in, model outputs out, decoding overlapped with compute.

::

    paths ──► decode pool (``workers`` threads, at most ``prefetch`` batches ahead)
          ──► fixed-size batches (the last one padded) ──► model on every local device (async dispatch)
          ──► ``sink(rows)`` in input order, one call per batch

Memory is bounded: the pipeline holds at most ``prefetch`` batches decoded (or decoding) ahead and
the one being dispatched (``Stats.peak_held`` ≤ ``prefetch + 1``; once dispatched, a batch's images
are dropped), whatever the number of images; paths are read from their iterator only as batches
are formed. A file that cannot be read or transformed is a ``Skipped``
entry of its batch (``on_error="skip"``, the dataset commands) or an ``InputError``
(``on_error="raise"``, the one-shot ``embed`` / ``predict``). Batches all have the same shape, so
the model is compiled once. ``data_parallel`` splits each batch over ``jax.local_devices()``; the
batch size is rounded up to a multiple of their number.
"""

from __future__ import annotations

import collections
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import attrs
import numpy as np

from zoo_core.errors import InputError
from zoo_core.validate import check_choice, check_int

ON_ERROR = ("skip", "raise")


@attrs.frozen
class Skipped:
    """An input left out: its ``path`` and the ``reason`` (the error's message)."""

    path: str
    reason: str


@attrs.define
class Batch:
    """``size`` consecutive inputs starting at input ``start``: ``paths`` of those that decoded, their
    arrays stacked in ``x`` (padded with zeros to the batch size; ``None`` if none decoded) and the
    ``skipped`` ones. ``inputs`` are all of them, in order. ``outputs`` (filled by ``run``) has one
    row per path."""

    start: int
    inputs: list[str]
    paths: list[str]
    x: np.ndarray | None
    skipped: list[Skipped]
    outputs: Any = None

    @property
    def size(self) -> int:
        return len(self.inputs)


@attrs.define
class Stats:
    """What a run did: ``paths_read`` from the iterator, ``batches`` formed, ``model_calls``,
    ``images`` computed, ``skipped``, and ``peak_held``, the most batches decoded or decoding at
    one time (at most ``prefetch`` + 1)."""

    paths_read: int = 0
    batches: int = 0
    model_calls: int = 0
    images: int = 0
    skipped: int = 0
    held: int = 0
    peak_held: int = 0


def _decode_one(transform: Callable, path: str):
    from zoo_core.data import load_image

    try:
        return transform(load_image(path))
    except Exception as e:  # noqa: BLE001 (any unreadable file is reported, not fatal)
        return Skipped(path, str(e) if isinstance(e, InputError) else f"cannot read image {path}: "
                       f"{type(e).__name__}: {e}")


def _assemble(start: int, futures: list[tuple[str, Future]], batch_size: int, on_error: str) -> Batch:
    paths, arrays, skipped = [], [], []
    for path, future in futures:
        value = future.result()
        if isinstance(value, Skipped):
            if on_error == "raise":
                raise InputError(value.reason)
            skipped.append(value)
        else:
            paths.append(path)
            arrays.append(value)
    x = None
    if arrays:
        x = np.zeros((batch_size, *arrays[0].shape), np.float32)
        x[:len(arrays)] = np.stack(arrays)
    return Batch(start, [p for p, _ in futures], paths, x, skipped)


def decode_batches(paths: Iterable[str], config, *, batch_size: int, workers: int | None = None,
                   prefetch: int = 2, on_error: str = "skip", start: int = 0,
                   stats: Stats | None = None) -> Iterator[Batch]:
    """``Batch``es of ``batch_size`` inputs from ``paths``, decoded and transformed by
    ``eval_transform(config)`` on ``workers`` threads (default: the CPU count, at most 8) while the
    consumer works; at most ``prefetch`` batches are decoded ahead of the one yielded."""
    from zoo_core.data import eval_transform

    check_int("decode_batches", "batch_size", batch_size, min=1)
    check_int("decode_batches", "prefetch", prefetch, min=1)
    check_choice("decode_batches", "on_error", on_error, ON_ERROR)
    stats = stats if stats is not None else Stats()
    transform = eval_transform(config)
    source = iter(paths)
    workers = workers or min(8, os.cpu_count() or 1)
    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="zoo-decode") as pool:
        def submit() -> bool:
            chunk = list(itertools.islice(source, batch_size))
            if not chunk:
                return False
            stats.paths_read += len(chunk)
            stats.held += 1
            stats.peak_held = max(stats.peak_held, stats.held)
            pending.append([(p, pool.submit(_decode_one, transform, os.fspath(p))) for p in chunk])
            return True

        position = start
        while len(pending) < prefetch and submit():
            pass
        try:
            while pending:
                batch = _assemble(position, pending.popleft(), batch_size, on_error)
                position += batch.size
                stats.batches += 1
                stats.skipped += len(batch.skipped)
                yield batch
                stats.held -= 1
                submit()
        finally:
            for futures in pending:
                for _, f in futures:
                    f.cancel()


def run(apply: Callable, params, state, batches: Iterable[Batch], *, stats: Stats | None = None,
        on_batch: Callable[[Batch], None] | None = None) -> Iterator[Batch]:
    """Each batch with its ``outputs`` (the rows of its decoded images, as numpy), in order. Batch
    ``i + 1`` is dispatched before batch ``i``'s outputs are read back, so the devices stay busy
    while the host hands results on. ``apply(params, state, x)`` returns an array or a dict of
    arrays whose first axis is the batch; ``on_batch`` is called before each model call (tests
    count calls with it)."""
    stats = stats if stats is not None else Stats()
    previous = None
    for batch in batches:
        result = None
        if batch.x is not None:
            if on_batch is not None:
                on_batch(batch)
            stats.model_calls += 1
            result = apply(params, state, batch.x)
            batch.x = None  # dispatched: the devices hold their copy
        if previous is not None:
            yield _finish(*previous, stats)
        previous = (batch, result)
    if previous is not None:
        yield _finish(*previous, stats)


def _finish(batch: Batch, result, stats: Stats) -> Batch:
    import jax

    n = len(batch.paths)
    if result is not None:
        batch.outputs = jax.tree.map(lambda a: np.asarray(a)[:n], result)
    stats.images += n
    return batch


def device_batch_size(batch_size: int) -> int:
    """``batch_size`` rounded up to a multiple of the local device count."""
    import jax

    n = jax.local_device_count()
    return -(-batch_size // n) * n


def device_apply(fn: Callable, batch_size: int) -> tuple[Callable, int]:
    """``fn(params, state, x)`` split over every local device (``data_parallel``) and the batch
    size rounded up to a multiple of their number."""
    from zoo_core.parallel import data_parallel

    return data_parallel(fn), device_batch_size(batch_size)


class Progress:
    """A tqdm bar on stderr counting inputs, with rate and ETA once the total is known: a
    background thread counts the inputs (names only) and sets it. Shown when stderr is a terminal,
    or always with ``show=True``; never with ``show=False``."""

    def __init__(self, count: Callable[[], int | None] | None, *, show: bool | None, desc: str, initial: int = 0):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=None, initial=initial, desc=desc, unit="img", dynamic_ncols=True,
                        disable=None if show is None else not show)
        if count is not None and not self.bar.disable:
            threading.Thread(target=self._count, args=(count,), daemon=True).start()

    def _count(self, count: Callable[[], int | None]) -> None:
        try:
            total = count()
        except Exception:  # noqa: BLE001 (the count only serves the ETA)
            return
        if total is not None:
            self.bar.total = total
            self.bar.refresh()

    def update(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()
