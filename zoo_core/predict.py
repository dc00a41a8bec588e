"""Classify images and extract pooled features with a released variant (``zoo predict`` / ``zoo embed``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import attrs
import numpy as np

from zoo_core.errors import ZooError


@attrs.frozen
class Prediction:
    image: str
    top: tuple[tuple[int, str, float], ...]  # (class index, label, probability)


def _labels(variant) -> Sequence[str] | None:
    from zoo_core.data import label_names

    name = variant.resolved_label_names
    try:
        return label_names(name) if name else None
    except KeyError:
        return None


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _run(model, params, state, paths, config, batch_size: int) -> np.ndarray:
    """Outputs for every image, in batches split over all local devices, with a progress bar
    (shown on a terminal when there is more than one batch)."""
    import jax
    from tqdm.auto import tqdm

    from zoo_core.data import preprocess
    from zoo_core.parallel import data_parallel

    apply = data_parallel(lambda p, s, x: model.apply(p, s, x)[0])
    batch_size = max(batch_size, jax.local_device_count())
    batches = list(_batches(len(paths), batch_size))
    outs = []
    for sl in tqdm(batches, desc=f"{len(paths)} images", unit="batch", disable=None if len(batches) > 1 else True):
        outs.append(np.asarray(apply(params, state, preprocess(paths[sl], config))))
    return np.concatenate(outs)


def predict(name: str, images: Sequence[str | os.PathLike], *, top_k: int = 5, batch_size: int = 8,
            checkpoint_path: str | None = None, **pretrained_kwargs) -> list[Prediction]:
    """Top-``top_k`` classes of each image, with label names where the head's label set is known."""
    import jax

    from zoo_core.api import create_pretrained, get_variant
    from zoo_core.data import resolve_data_config

    variant = get_variant(name)
    if variant.num_classes == 0 and checkpoint_path is None:
        raise ZooError(f"{variant.name} is an encoder without a classifier (num_classes 0): "
                       f"use `zoo embed {variant.name} IMAGE... --out features.npy` for its features")
    model, load = create_pretrained(variant.name, checkpoint_path=checkpoint_path, **pretrained_kwargs)
    params, state = load()
    paths = [os.fspath(p) for p in images]
    logits = _run(model, params, state, paths, resolve_data_config(variant), batch_size)
    probs = np.asarray(jax.nn.softmax(logits, axis=-1))
    labels = _labels(variant) if model.num_classes == variant.num_classes else None
    results = []
    for path, p in zip(paths, probs):
        order = np.argsort(-p)[:top_k]
        results.append(Prediction(path, tuple((int(i), labels[i] if labels else f"class {i}", float(p[i]))
                                              for i in order)))
    return results


def embed(name: str, images: Sequence[str | os.PathLike], *, batch_size: int = 8, **pretrained_kwargs) -> np.ndarray:
    """Pooled pre-logits features, (N, num_features) float32, of each image."""
    from zoo_core.api import create_pretrained, get_variant
    from zoo_core.data import resolve_data_config

    variant = get_variant(name)
    model, load = create_pretrained(variant.name, num_classes=0, **pretrained_kwargs)
    params, state = load()
    return _run(model, params, state, [os.fspath(p) for p in images], resolve_data_config(variant), batch_size)
