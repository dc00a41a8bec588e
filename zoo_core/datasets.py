"""``embed`` and ``predict`` over a dataset of any size (``zoo embed/predict ... --out DIR``):
inputs streamed from files, directories, globs and list files (``zoo_core.inputs``), decoded on a
thread pool while the model runs on every local device (``zoo_core.pipeline``), written shard by
shard into a resumable directory (``zoo_core.shards``). See ``docs/datasets.md``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

import attrs

from zoo_core.errors import InputError, ZooError
from zoo_core.pipeline import Stats

DEFAULT_SHARD_SIZE = 1024


@attrs.frozen
class DatasetResult:
    """What a dataset job left in ``out``: ``inputs`` covered, ``rows`` written, ``skipped`` images
    (reasons in ``errors.jsonl``), ``computed`` in this run (0 when it was already complete),
    ``seconds`` this run took, and the run's pipeline ``stats``."""

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


def _stream(sink, apply, params, state, inputs, lists, config, *, batch_size: int, workers, prefetch: int,
            progress, on_batch, desc: str) -> DatasetResult:
    """Run the pipeline from the first input ``sink`` has not covered, committing as it goes."""
    from zoo_core.inputs import count_images, iter_images
    from zoo_core.pipeline import Progress, decode_batches, run

    t0, stats = time.perf_counter(), Stats()
    bar = Progress(lambda: count_images(inputs, lists), show=progress, desc=desc, initial=sink.inputs_done)
    try:
        paths = sink.resume(iter_images(inputs, lists))
        batches = decode_batches(paths, config, batch_size=batch_size, workers=workers, prefetch=prefetch,
                                 start=sink.inputs_done, stats=stats)
        for batch in run(apply, params, state, batches, stats=stats, on_batch=on_batch):
            sink.add(batch)
            bar.update(batch.size)
        sink.finish()
    finally:
        bar.close()
    m = sink.manifest
    if m["inputs_done"] == 0:
        raise InputError(f"no image found in {', '.join(map(str, [*inputs, *lists]))}")
    return DatasetResult(sink.path, m["inputs_done"], m["rows"], m["skipped"], stats.images,
                         time.perf_counter() - t0, stats)


def _done(sink) -> DatasetResult:
    m = sink.manifest
    return DatasetResult(sink.path, m["inputs_done"], m["rows"], m["skipped"], 0, 0.0, Stats())


def embed_dataset(name: str, inputs: Iterable[str | os.PathLike], out: str | os.PathLike, *,
                  lists: Iterable[str] = (), projected: bool = False, batch_size: int = 8,
                  shard_size: int = DEFAULT_SHARD_SIZE, workers: int | None = None, prefetch: int = 2,
                  progress: bool | None = False, overwrite: bool = False, checkpoint_path: str | None = None,
                  on_batch: Callable | None = None, **pretrained_kwargs) -> DatasetResult:
    """``embed``'s vectors of every image ``inputs`` and ``lists`` name (``zoo_core.inputs``), as
    ``.npy`` shards in ``out`` (``zoo_core.shards``; read them back with ``read_embeddings``).
    A rerun with the same arguments continues where an interrupted one stopped; images that cannot
    be read are skipped and listed in ``out/errors.jsonl``. ``progress``: ``None`` shows a bar when
    stderr is a terminal, ``True`` always. ``on_batch(batch)`` is called before each model call."""
    from zoo_core.api import create_pretrained, get_variant
    from zoo_core.data import resolve_data_config
    from zoo_core.pipeline import device_apply, device_batch_size
    from zoo_core.predict import describe_embedding
    from zoo_core.shards import EmbedShards

    inputs, lists = list(inputs), list(lists)
    variant = get_variant(name)
    what = describe_embedding(variant.name, projected=projected)
    config = resolve_data_config(variant)
    job = _job("embed", variant, inputs, lists, config, checkpoint_path, output=what.output, dim=what.dim)
    batch_size = device_batch_size(batch_size)
    sink = EmbedShards(out, job, shard_size=-(-shard_size // batch_size) * batch_size, overwrite=overwrite)
    if sink.complete:
        return _done(sink)
    model, load = create_pretrained(variant.name, num_classes=None if projected else 0,
                                    checkpoint_path=checkpoint_path, **pretrained_kwargs)
    if projected and model.num_classes != variant.num_classes:
        raise ZooError(f"{variant.name}: the checkpoint's head has {model.num_classes} outputs, not the "
                       f"{variant.num_classes}-d image-text projection")
    apply, batch_size = device_apply(lambda p, s, x: model.apply(p, s, x)[0], batch_size)
    params, state = load()
    return _stream(sink, apply, params, state, inputs, lists, config, batch_size=batch_size, workers=workers,
                   prefetch=prefetch, progress=progress, on_batch=on_batch, desc=f"embed {variant.name}")


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
    inputs, lists = list(inputs), list(lists)
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
    sink = PredictionRows(out, job, shard_size=-(-shard_size // batch_size) * batch_size, overwrite=overwrite,
                          labels=lambda i: labels[i] if labels else f"class {i}")
    if sink.complete:
        return _done(sink)
    params, state = load()
    return _stream(sink, apply, params, state, inputs, lists, config, batch_size=batch_size, workers=workers,
                   prefetch=prefetch, progress=progress, on_batch=on_batch, desc=f"predict {variant.name}")
