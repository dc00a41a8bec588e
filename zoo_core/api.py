"""``create_model`` / ``create_pretrained`` and the registry queries: the front door of zoo."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from zoo_core.plugins import after_load, get_registry, hooks
from zoo_core.registry import Family, Variant


class HeadSkippedWarning(UserWarning):
    """``num_classes`` differs from the released head, which is left out of the loaded weights."""


def get_variant(name: str) -> Variant:
    """The ``Variant`` record for ``name`` (``arch.tag``, or ``arch`` for its default tag)."""
    return get_registry().get(name)


def get_family(name: str) -> Family:
    """The ``Family`` that registers the variant ``name``."""
    return get_registry().family_of(name)


def default_num_classes(name: str) -> int:
    """The head size the released weights of ``name`` ship with (0 for encoder-only weights)."""
    return get_variant(name).num_classes


def list_variants(pattern: str | Sequence[str] = "*", *, family: str | None = None, license: str | None = None,
                  pretrained: bool | None = None, commercial: str | None = None) -> list[str]:
    """Sorted variant names matching fnmatch ``pattern`` (on ``arch.tag`` or ``arch``), as
    ``timm.list_models``; filter by ``family``, ``license`` id (fnmatch, case-insensitive),
    ``pretrained`` and ``commercial`` (``"yes"``/``"no"``/``"conditions"``)."""
    return get_registry().list(pattern, family=family, license=license, pretrained=pretrained,
                               commercial=commercial)


def create_model(name: str, *, in_chans: int = 3, num_classes: int | None = None, features_only: bool = False,
                 out_indices=None, dtype: Any = None, **family_kwargs: Any):
    """The architecture of ``name`` with random initialisation (``timm.create_model(name)``).

    ``num_classes=None`` gives the released head size, ``0`` a model whose ``apply`` returns
    pooled features. ``features_only=True`` gives a backbone whose ``apply`` returns the list of
    feature maps at ``out_indices`` (timm's semantics: 0-based, negative from the end; default
    all), with ``feature_info()``. ``family_kwargs`` go to the family's builder (``img_size`` for
    ViT, ...). Returns a ``Model``; ``model.init(key)`` makes ``(params, state)``.
    ``dtype`` (``jnp.bfloat16``, ``"bfloat16"``, ``"float16"``) is the compute dtype: params stay
    float32, each call casts them and the input to ``dtype`` and returns float32 outputs
    (``zoo_core.precision``; errors against timm in docs/precision.md).
    """
    if dtype is not None:
        from zoo_core.precision import with_compute_dtype

        model = create_model(name, in_chans=in_chans, num_classes=num_classes, features_only=features_only,
                             out_indices=out_indices, **family_kwargs)
        return with_compute_dtype(model, get_variant(name).name, dtype)
    from zoo_core.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    if features_only:
        from zoo_core.features import features_model

        backbone = create_model(name, in_chans=in_chans, num_classes=0, **family_kwargs)
        return features_model(backbone, get_variant(name).name, out_indices)
    if out_indices is not None:
        raise TypeError(f"{name}: out_indices needs features_only=True")
    variant = get_variant(name)
    family = get_registry().families[variant.family]
    if num_classes is None:
        num_classes = variant.num_classes
    if in_chans < 1 or num_classes < 0:
        raise ValueError(f"{variant.name}: in_chans must be ≥ 1 and num_classes ≥ 0, got {in_chans} and {num_classes}")
    return family.build()(variant, in_chans=in_chans, num_classes=num_classes, **family_kwargs)


def create_pretrained(
    name: str,
    *,
    in_chans: int = 3,
    num_classes: int | None = None,
    revision: str = "main",
    cache_dir: str | os.PathLike | None = None,
    prefix: Sequence[str] = (),
    local_files_only: bool = False,
    token: str | bool | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    check_finite: bool = False,
    features_only: bool = False,
    out_indices=None,
    dtype: Any = None,
    **family_kwargs: Any,
):
    """The model of ``name`` and a loader for its released weights (``pretrained=True`` in timm).

    Returns ``(model, load)``. ``load(params, state)`` returns new trees with the weights written
    under ``prefix`` (a tuple of keys where the model's trees sit inside larger ones) and never
    mutates its inputs; ``load()`` builds the trees itself from abstract shapes, without a random
    init. ``num_classes=None`` keeps the released head, ``0`` drops it, any other value gives a
    fresh head (kept from the trees passed to ``load``) and a ``HeadSkippedWarning``.
    ``in_chans != 3`` adapts the stem kernel as timm's ``adapt_input_conv``. Nothing is downloaded
    until ``load`` is called. ``checkpoint_path`` loads a local file instead of the released
    weights — safetensors, a PyTorch checkpoint read with ``torch.load(weights_only=True)``, or a
    ``.npz`` read with ``numpy.load(allow_pickle=False)``; a foreign key layout is turned into
    timm's by the families' ``zoo_transform_checkpoint`` hooks — and, with ``num_classes=None``,
    takes the head size from the file. Weights load as stored, NaN and Inf included; ``check_finite=True``
    raises a ``WeightsError`` naming every key that holds one.
    ``dtype`` is the compute dtype as in ``create_model``; the loaded params stay float32.
    """
    from zoo_core.loading import HubWeights, LocalFile

    variant = get_variant(name)
    if checkpoint_path is not None:
        source = LocalFile(checkpoint_path)
        head_classes = source.open(variant).head_classes(variant)
    else:
        source = HubWeights(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        head_classes = variant.num_classes
    if num_classes is None and head_classes != variant.num_classes:
        num_classes = head_classes  # a fine-tuned file's own head
    options = dict(in_chans=in_chans, num_classes=num_classes, revision=revision, cache_dir=cache_dir,
                   prefix=tuple(prefix), local_files_only=local_files_only, checkpoint_path=checkpoint_path)
    hooks().zoo_before_load(variant=variant, options=options)
    model = create_model(variant.name, in_chans=in_chans, num_classes=0 if features_only else num_classes,
                         features_only=features_only, out_indices=out_indices, dtype=dtype, **family_kwargs)
    if model.num_classes not in (0, head_classes):
        warnings.warn(
            f"{variant.name}: num_classes={model.num_classes} differs from the released head ({head_classes}); "
            "the released classifier is skipped and the new head keeps its initial values",
            HeadSkippedWarning,
            stacklevel=2,
        )
    loader = Loader(model, variant, source, tuple(prefix), in_chans=in_chans, head_classes=head_classes,
                    check_finite=check_finite)
    return model, loader


@attrs.frozen
class Loader:
    """``create_pretrained``'s ``load``: ``load(params, state)`` returns new trees with the weights
    of ``source`` written under ``prefix``; ``load()`` builds the trees from abstract shapes."""

    model: Any
    variant: Variant
    source: Any
    prefix: tuple[str, ...] = ()
    in_chans: int = 3
    head_classes: int = 0
    check_finite: bool = False

    def __call__(self, params: Mapping[str, Any] | None = None, state: Mapping[str, Any] | None = None):
        from zoo_core.loading import base_trees, load_weights, nest, replace_at

        if (params is None) != (state is None):
            raise TypeError("load() takes both params and state, or neither")
        fresh_head = self.model.num_classes not in (0, self.head_classes)
        base_params, base_state = base_trees(self.model, params, state, self.prefix, need_values=fresh_head)
        new_params, new_state = load_weights(self.model, self.variant, get_family(self.variant.name),
                                             self.source.open(self.variant), base_params, base_state,
                                             in_chans=self.in_chans, check_finite=self.check_finite,
                                             head_classes=self.head_classes)
        new_params, new_state = after_load(self.variant, new_params, new_state)
        if params is None:
            return nest(self.prefix, new_params), nest(self.prefix, new_state)
        return replace_at(params, self.prefix, new_params), replace_at(state, self.prefix, new_state)


def __getattr__(name: str):
    """``weights_file`` and ``load_weights`` live in ``zoo_core.loading``; still reachable here."""
    if name in ("weights_file", "load_weights"):
        from zoo_core import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'zoo_core.api' has no attribute {name!r}")


__all__ = ["HeadSkippedWarning", "Loader", "create_model", "create_pretrained", "default_num_classes", "get_family",
           "get_variant", "list_variants"]
