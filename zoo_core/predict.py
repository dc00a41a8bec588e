"""Classify images and extract pooled features with a released variant (``zoo predict`` / ``zoo embed``).

What ``embed`` returns, stated in ``zoo embed``'s output (``Embedding``):

- ``"pooled"`` (the default): the head's input, timm's ``forward_head(pre_logits=True)``, one
  ``num_features`` vector per image. For an image-text tower without a projection (SigLIP, whose
  attention-pool head is its last layer) this is the tower's image embedding; for CLIP it is the
  class token after the final norm, *before* the projection into the image-text space.
- ``"projected"``: the output of a head that projects into an image-text embedding space instead of
  classifying (CLIP's ``visual.proj``, timm's head of the ``*_clip_*`` tags whose ``num_classes`` is
  that space's size: 512, 768, ...). A variant marks such a head with
  ``label_names=IMAGE_TEXT``; ``zoo predict`` refuses it, as it has no classes.

Neither is L2-normalized: image-text similarities are cosines of normalized vectors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import attrs
import numpy as np

from zoo_core.errors import ZooError

IMAGE_TEXT = "image-text"
"""``Variant.label_names`` of a head that is an image tower's projection into an image-text
embedding space (CLIP's), not a classifier: its outputs name no classes."""


def head_is_projection(variant) -> bool:
    """Whether ``variant``'s released head projects into an image-text embedding space."""
    return variant.num_classes > 0 and variant.label_names == IMAGE_TEXT


@attrs.frozen
class Embedding:
    """What ``embed`` returns for a variant: ``output`` ``"pooled"`` or ``"projected"``, ``dim``
    the vectors' width, ``projection_dim`` the width of the variant's image-text projection head
    (0 if it has none) and ``text`` one line saying so."""

    output: str
    dim: int
    projection_dim: int
    text: str



@attrs.frozen
class Prediction:
    image: str
    top: tuple[tuple[int, str, float], ...]  # (class index, label, probability)


def _labels(variant) -> Sequence[str] | None:
    """The class names of the variant's head: a ``hf-hub:`` repository's own ``label_names``, else
    the label file its head size names (ImageNet's ...), else ``None``."""
    from zoo_core.data import label_names

    own = getattr(variant, "labels", None)
    if own is not None:
        return own
    name = variant.resolved_label_names
    try:
        return label_names(name) if name else None
    except KeyError:
        return None


def _variant(name: str, pretrained_kwargs):
    """The variant of ``name``; a ``hf-hub:`` one read with the download options given."""
    from zoo_core.api import get_variant

    fetch = {k: pretrained_kwargs[k] for k in ("revision", "cache_dir", "local_files_only", "token")
             if k in pretrained_kwargs}
    from zoo_core.hub_repo import is_hub_name

    return get_variant(name, **fetch) if is_hub_name(name) else get_variant(name)


def _run(model, params, state, paths, config, batch_size: int) -> np.ndarray:
    """Outputs for every image, through ``zoo_core.pipeline``: decoded on a thread pool while the
    model runs, in batches split over all local devices; an unreadable image is an ``InputError``."""
    from zoo_core.pipeline import decode_batches, device_apply, run

    apply, batch_size = device_apply(lambda p, s, x: model.apply(p, s, x)[0], batch_size)
    batches = decode_batches(paths, config, batch_size=batch_size, on_error="raise")
    return np.concatenate([b.outputs for b in run(apply, params, state, batches)])


def check_classifier(variant, checkpoint_path) -> None:
    """A ``ZooError`` saying what to use instead where ``variant``'s head classifies nothing (an
    encoder, an image-text projection) and no checkpoint of the user's brings one."""
    if variant.num_classes == 0 and checkpoint_path is None:
        raise ZooError(f"{variant.name} is an encoder without a classifier (num_classes 0): "
                       f"use `zoo embed {variant.name} IMAGE... --out features.npy` for its features")
    if head_is_projection(variant) and checkpoint_path is None:
        raise ZooError(f"{variant.name}'s head is its projection into a {variant.num_classes}-d image-text "
                       f"embedding, not a classifier: use `zoo embed {variant.name} IMAGE... --projected "
                       f"--out embeddings.npy`")


def predict(name: str, images: Sequence[str | os.PathLike], *, top_k: int = 5, batch_size: int = 8,
            checkpoint_path: str | None = None, **pretrained_kwargs) -> list[Prediction]:
    """Top-``top_k`` classes of each image, with label names where the head's label set is known
    (a ``hf-hub:`` repository's own, from its config). ``pretrained_kwargs`` go to
    ``create_pretrained`` (``revision``, ``cache_dir``, ``token`` ...)."""
    import jax

    from zoo_core.api import create_pretrained
    from zoo_core.data import resolve_data_config

    variant = _variant(name, pretrained_kwargs)
    check_classifier(variant, checkpoint_path)
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


def describe_embedding(name: str, *, projected: bool = False) -> Embedding:
    """What ``embed(name, projected=...)`` returns; a ``ZooError`` where ``projected`` is asked of a
    variant whose head is no image-text projection (a classifier, or none)."""
    from zoo_core.api import get_variant

    variant = get_variant(name)
    width = variant.num_classes if head_is_projection(variant) else 0
    if projected and not width:
        if variant.num_classes == 0:
            why = "it has no head (num_classes 0): its embedding is the pooled features, without --projected"
        else:
            labels = f", {variant.resolved_label_names}" if variant.resolved_label_names else ""
            why = (f"its head is a classifier ({variant.num_classes} classes{labels}): `zoo predict` gives its "
                   "classes, and without --projected the pooled features are its embedding")
        raise ZooError(f"{variant.name} has no image-text projection to apply: {why}")
    if projected:
        return Embedding("projected", width, width, f"image-text embeddings of {variant.name}: the pooled "
                         f"features ({variant.num_features}) through its projection head, not normalized")
    hint = f"; its head projects them into a {width}-d image-text embedding: --projected" if width else ""
    return Embedding("pooled", variant.num_features, width, f"pooled features of {variant.name}: the head's input "
                     f"(pre-logits), not normalized{hint}")


def embed(name: str, images: Sequence[str | os.PathLike], *, projected: bool = False, batch_size: int = 8,
          **pretrained_kwargs) -> np.ndarray:
    """One float32 vector per image, as ``describe_embedding`` states: the pooled pre-logits features
    (N, num_features), or with ``projected=True`` those passed through the variant's image-text
    projection head (N, embedding size; CLIP's towers). ``pretrained_kwargs`` go to
    ``create_pretrained`` (``checkpoint_path=`` a file of the user's: OpenCLIP's, a big_vision
    ``.npz``, ... where the family's checkpoint hook knows the layout)."""
    from zoo_core.api import create_pretrained, get_variant
    from zoo_core.data import resolve_data_config

    variant = get_variant(name)
    describe_embedding(variant.name, projected=projected)  # refuses a projection the variant lacks
    model, load = create_pretrained(variant.name, num_classes=None if projected else 0, **pretrained_kwargs)
    if projected and model.num_classes != variant.num_classes:
        raise ZooError(f"{variant.name}: the checkpoint's head has {model.num_classes} outputs, not the "
                       f"{variant.num_classes}-d image-text projection")
    params, state = load()
    return _run(model, params, state, [os.fspath(p) for p in images], resolve_data_config(variant), batch_size)
