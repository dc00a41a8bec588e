"""``embed`` and ``predict`` over a dataset of any size (``zoo embed/predict ... --out DIR``):
inputs streamed from files, directories, globs and list files (``zoo_core.inputs``), decoded on a
thread pool while the model runs on every local device (``zoo_core.pipeline``), written shard by
shard into a resumable directory (``zoo_core.shards``). See ``docs/datasets.md``.

Under ``jax.distributed`` (``zoo_core.distributed.initialize``) the same call on every process
splits the inputs: each process takes its contiguous share, runs it on its own local devices
(inference needs no traffic between processes) into its part of ``out``, and process 0 merges the
parts once every process has finished its own.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import attrs

from zoo_core.errors import InputError, ZooError
from zoo_core.pipeline import Stats

if TYPE_CHECKING:
    from zoo_core.shards import OutputDir

DEFAULT_SHARD_SIZE = 1024


@attrs.frozen
class DatasetResult:
    """What a dataset job left in ``out``: ``inputs`` covered, ``rows`` written, ``skipped`` images
    (reasons in ``errors.jsonl``), ``computed`` in this run (0 when it was already complete),
    ``seconds`` this run took, and the run's pipeline ``stats``. On many processes: ``inputs``,
    ``rows`` and ``skipped`` of the whole job, ``computed`` and ``stats`` this process's."""

    out: str
    inputs: int
    rows: int
    skipped: int
    computed: int
    seconds: float
    stats: Stats


def _job(kind: str, variant, inputs, lists, config, checkpoint, **extra) -> dict:
    return {"kind": kind, "variant": variant.name, **extra, "inputs": [os.fspath(i) for i in inputs],
            "lists": list(lists), "data_config": config.to_dict(),
            "checkpoint": os.fspath(checkpoint) if checkpoint else None}


@attrs.frozen
class _Plan:
    """Where this process writes (``sink``: the directory, or its part of it on many processes;
    ``None`` when ``out`` already holds the finished job, ``finished`` its manifest), the inputs it
    reads (``paths()``, ``count()``) and the process ``index`` of ``processes``."""

    sink: OutputDir | None
    finished: dict | None
    paths: Callable[[], Iterator[str]]
    count: Callable[[], int | None]
    index: int = 0
    processes: int = 1


def _plan(make_sink: Callable, out, job: dict, inputs: list, lists: list, *, overwrite: bool) -> _Plan:
    """One process: ``out`` itself. Under ``jax.distributed`` with N processes: process i's
    contiguous share of the inputs, into ``out/process-0000i-of-0000N`` (``zoo_core.shards``)."""
    import jax

    from zoo_core.distributed import process_range
    from zoo_core.inputs import count_images, iter_images
    from zoo_core.shards import open_parts, part_name

    n = jax.process_count()
    if n == 1:
        sink = make_sink(out, job, overwrite)
        return _Plan(sink, None, lambda: iter_images(inputs, lists), lambda: count_images(inputs, lists))
    i = jax.process_index()
    finished = open_parts(out, job, n, overwrite=overwrite, first=i == 0)
    if finished is not None:
        return _Plan(None, finished, lambda: iter(()), lambda: 0, i, n)
    total = count_images(inputs, lists)
    if total is None:
        raise InputError("a list read from standard input (--list -) cannot be split over processes: give it as "
                         "a file that every process reads")
    start, stop = process_range(total, i, n)
    part_job = {**job, "part": {"index": i, "processes": n, "start": start, "stop": stop}}
    sink = make_sink(os.path.join(os.fspath(out), part_name(i, n)), part_job, overwrite)
    return _Plan(sink, None, lambda: itertools.islice(iter_images(inputs, lists), start, stop), lambda: stop - start,
                 i, n)


def _stream(plan: _Plan, apply, params, state, config, *, batch_size: int, workers, prefetch: int,
            progress, on_batch, desc: str) -> Stats:
    """Run the pipeline from the first input the sink has not covered, committing as it goes."""
    from zoo_core.pipeline import Progress, decode_batches, run

    stats, sink = Stats(), plan.sink
    if plan.processes > 1:
        desc = f"{desc} [process {plan.index}/{plan.processes}]"
    bar = Progress(plan.count, show=progress, desc=desc, initial=sink.inputs_done)
    try:
        paths = sink.resume(plan.paths())
        batches = decode_batches(paths, config, batch_size=batch_size, workers=workers, prefetch=prefetch,
                                 start=sink.inputs_done, stats=stats)
        for batch in run(apply, params, state, batches, stats=stats, on_batch=on_batch):
            sink.add(batch)
            bar.update(batch.size)
        sink.finish()
    finally:
        bar.close()
    return stats


def _result(plan: _Plan, out, job: dict, inputs: list, lists: list, stats: Stats, t0: float) -> DatasetResult:
    """The job's result once this process's share is written; on many processes, after every part
    is complete and process 0 has merged them (``zoo_core.shards.merge_parts``)."""
    from zoo_core.distributed import barrier
    from zoo_core.shards import merge_parts

    m = plan.finished or plan.sink.manifest
    if plan.sink is not None and plan.processes > 1:
        barrier("zoo dataset: every part written")
        if plan.index == 0:
            merge_parts(plan.sink, out, job, plan.processes)
        barrier("zoo dataset: parts merged")
        with open(os.path.join(os.fspath(out), "manifest.json"), encoding="utf-8") as f:
            m = json.load(f)
    if m["inputs_done"] == 0:
        raise InputError(f"no image found in {', '.join(map(str, [*inputs, *lists]))}")
    return DatasetResult(os.fspath(out), m["inputs_done"], m["rows"], m["skipped"], stats.images,
                         time.perf_counter() - t0, stats)


def embed_dataset(name: str, inputs: Iterable[str | os.PathLike], out: str | os.PathLike, *,
                  lists: Iterable[str] = (), projected: bool = False, batch_size: int = 8,
                  shard_size: int = DEFAULT_SHARD_SIZE, workers: int | None = None, prefetch: int = 2,
                  progress: bool | None = False, overwrite: bool = False, checkpoint_path: str | None = None,
                  on_batch: Callable | None = None, **pretrained_kwargs) -> DatasetResult:
    """``embed``'s vectors of every image ``inputs`` and ``lists`` name (``zoo_core.inputs``), as
    ``.npy`` shards in ``out`` (``zoo_core.shards``; read them back with ``read_embeddings``).
    A rerun with the same arguments continues where an interrupted one stopped; images that cannot
    be read are skipped and listed in ``out/errors.jsonl``. ``progress``: ``None`` shows a bar when
    stderr is a terminal, ``True`` always. ``on_batch(batch)`` is called before each model call.
    Under ``jax.distributed``, every process makes the same call and computes its share (above)."""
    from zoo_core.api import create_pretrained, get_variant
    from zoo_core.data import resolve_data_config
    from zoo_core.pipeline import device_apply, device_batch_size
    from zoo_core.predict import describe_embedding
    from zoo_core.shards import EmbedShards

    t0, inputs, lists = time.perf_counter(), list(inputs), list(lists)
    variant = get_variant(name)
    what = describe_embedding(variant.name, projected=projected)
    config = resolve_data_config(variant)
    job = _job("embed", variant, inputs, lists, config, checkpoint_path, output=what.output, dim=what.dim)
    batch_size = device_batch_size(batch_size)
    shard_size = -(-shard_size // batch_size) * batch_size
    plan = _plan(lambda path, job, overwrite: EmbedShards(path, job, shard_size=shard_size, overwrite=overwrite),
                 out, job, inputs, lists, overwrite=overwrite)
    stats = Stats()
    if plan.sink is not None and not plan.sink.complete:
        model, load = create_pretrained(variant.name, num_classes=None if projected else 0,
                                        checkpoint_path=checkpoint_path, **pretrained_kwargs)
        if projected and model.num_classes != variant.num_classes:
            raise ZooError(f"{variant.name}: the checkpoint's head has {model.num_classes} outputs, not the "
                           f"{variant.num_classes}-d image-text projection")
        apply, batch_size = device_apply(lambda p, s, x: model.apply(p, s, x)[0], batch_size)
        params, state = load()
        stats = _stream(plan, apply, params, state, config, batch_size=batch_size, workers=workers,
                        prefetch=prefetch, progress=progress, on_batch=on_batch, desc=f"embed {variant.name}")
    return _result(plan, out, job, inputs, lists, stats, t0)


def predict_dataset(name: str, inputs: Iterable[str | os.PathLike], out: str | os.PathLike, *,
                    lists: Iterable[str] = (), top_k: int = 5, format: str = "jsonl", batch_size: int = 8,
                    shard_size: int = DEFAULT_SHARD_SIZE, workers: int | None = None, prefetch: int = 2,
                    progress: bool | None = False, overwrite: bool = False, checkpoint_path: str | None = None,
                    on_batch: Callable | None = None, **pretrained_kwargs) -> DatasetResult:
    """``predict``'s top-``top_k`` classes of every image, as rows of ``out/predictions.jsonl`` (or
    ``.csv`` with ``format="csv"``) written shard by shard; resumable, bad images skipped, as
    ``embed_dataset``."""
    import jax

    from zoo_core.api import create_pretrained
    from zoo_core.data import resolve_data_config
    from zoo_core.pipeline import device_apply
    from zoo_core.predict import _labels, _variant, check_classifier
    from zoo_core.shards import PredictionRows
    from zoo_core.validate import check_choice

    check_choice("predict_dataset", "format", format, ("jsonl", "csv"))
    t0, inputs, lists = time.perf_counter(), list(inputs), list(lists)
    variant = _variant(name, pretrained_kwargs)
    check_classifier(variant, checkpoint_path)
    config = resolve_data_config(variant)
    model, load = create_pretrained(variant.name, checkpoint_path=checkpoint_path, **pretrained_kwargs)
    k = min(top_k, model.num_classes)
    job = _job("predict", variant, inputs, lists, config, checkpoint_path, top_k=k, format=format)
    labels = _labels(variant) if model.num_classes == variant.num_classes else None

    def top(p, s, x):
        probability, index = jax.lax.top_k(jax.nn.softmax(model.apply(p, s, x)[0], axis=-1), k)
        return {"probability": probability, "index": index}

    apply, batch_size = device_apply(top, batch_size)
    shard_size = -(-shard_size // batch_size) * batch_size
    plan = _plan(lambda path, job, overwrite: PredictionRows(path, job, shard_size=shard_size, overwrite=overwrite,
                                                             labels=lambda i: labels[i] if labels else f"class {i}"),
                 out, job, inputs, lists, overwrite=overwrite)
    stats = Stats()
    if plan.sink is not None and not plan.sink.complete:
        params, state = load()
        stats = _stream(plan, apply, params, state, config, batch_size=batch_size, workers=workers,
                        prefetch=prefetch, progress=progress, on_batch=on_batch, desc=f"predict {variant.name}")
    return _result(plan, out, job, inputs, lists, stats, t0)
