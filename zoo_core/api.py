"""``create_model`` / ``create_pretrained`` and the registry queries: the front door of zoo."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from zoo_core.errors import ArgumentError, UnknownVariantError
from zoo_core.plugins import after_load, get_registry, hooks, unavailable_plugins
from zoo_core.registry import Family, Variant
from zoo_core.validate import check_bool, check_int, check_keys, check_keywords, check_path, check_str, refuse, show


class _OwnChannels:
    """``in_chans``'s default: the channel count of the variant's weights (3; a ``hf-hub:``
    repository's own, from its config). Not ``None``, which stays an invalid ``in_chans``."""

    def __repr__(self) -> str:
        return "OWN_CHANNELS"


OWN_CHANNELS: Any = _OwnChannels()


class HeadSkippedWarning(UserWarning):
    """``num_classes`` differs from the released head, which is left out of the loaded weights."""


def get_variant(name: str, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                local_files_only: bool = False, token: str | bool | None = None) -> Variant:
    """The ``Variant`` record for ``name`` (``arch.tag``, or ``arch`` for its default tag). An
    unknown name's error also names the installed plugins that did not load (broken, or kept out
    by ``ZOO_LOAD_PLUGINS``/``ZOO_DISABLE_PLUGINS``): one of them may provide it.

    ``hf-hub:org/name[@revision]`` is a timm repository of the Hub: its ``config.json`` (read once
    per process through huggingface_hub's cache, with ``revision``, ``cache_dir``,
    ``local_files_only`` and ``token``, which only such names use) becomes a
    ``zoo_core.hub_repo.HubVariant`` of the installed family providing its architecture."""
    name = check_str("get_variant", "name", name)
    from zoo_core.hub_repo import hub_variant, is_hub_name  # light: no JAX, no network until used

    if is_hub_name(name):
        return hub_variant(name, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                           token=token)
    try:
        return get_registry().get(name)
    except UnknownVariantError as e:
        unavailable = unavailable_plugins()
        if not unavailable:
            raise
        raise UnknownVariantError(f"{e}; installed plugins that may provide it — {unavailable}") from None


def get_family(name: str) -> Family:
    """The ``Family`` that registers the variant ``name`` (for ``hf-hub:`` names: its architecture's)."""
    return get_registry().families[get_variant(name).family]


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


def create_model(name: str, *, in_chans: int = OWN_CHANNELS, num_classes: int | None = None,
                 features_only: bool = False, out_indices=None, dtype: Any = None, **family_kwargs: Any):
    """The architecture of ``name`` with random initialisation (``timm.create_model(name)``).

    ``in_chans`` defaults to the variant's own channels (3; a ``hf-hub:`` repository's, from its
    config). ``num_classes=None`` gives the released head size, ``0`` a model whose ``apply`` returns
    pooled features. ``features_only=True`` gives a backbone whose ``apply`` returns the list of
    feature maps at ``out_indices`` (timm's semantics: 0-based, negative from the end; default
    timm's for the family: every point, ViT the last 3 blocks), with ``feature_info()``. ``family_kwargs`` go to the family's builder (``img_size`` for
    ViT, ...). Returns a ``Model``; ``model.init(key)`` makes ``(params, state)``.
    A ``hf-hub:`` repository's ``model_args`` (``img_size``, ``global_pool``, ...) are family
    keywords too, under the ones given here.
    ``dtype`` (``jnp.bfloat16``, ``"bfloat16"``, ``"float16"``) is the compute dtype: params stay
    float32, each call casts them and the input to ``dtype`` and returns float32 outputs
    (``zoo_core.precision``; errors against timm in docs/precision.md).
    Every argument, the family's keywords included, is checked before anything is built: a wrong
    type or range raises ``ArgumentError`` naming the variant, the argument and the value.
    """
    variant = get_variant(name)
    builder, in_chans, num_classes, family_kwargs = _checked_model_arguments(
        variant, in_chans, num_classes, features_only, out_indices, dtype, family_kwargs)
    from zoo_core.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    if num_classes is None:
        num_classes = variant.num_classes
    model = builder(variant, in_chans=in_chans, num_classes=0 if features_only else num_classes, **family_kwargs)
    if features_only:
        from zoo_core.features import features_model

        model = features_model(model, variant.name, out_indices)
    if dtype is not None:
        from zoo_core.precision import with_compute_dtype

        model = with_compute_dtype(model, variant.name, dtype)
    return model


def _checked_model_arguments(variant: Variant, in_chans: Any, num_classes: Any, features_only: Any, out_indices: Any,
                             dtype: Any, family_kwargs: Mapping[str, Any]):
    """``create_model``'s arguments checked before anything is built: ``in_chans`` an int ≥ 1,
    ``num_classes`` None or an int ≥ 0, ``features_only`` a bool, ``out_indices`` only with
    ``features_only``, ``dtype`` a compute dtype, ``family_kwargs`` keywords the family's builder
    takes (its own checks of their values run when it builds), under them a ``hf-hub:``
    repository's ``model_args``; ``OWN_CHANNELS`` is the variant's own channel count. Returns
    ``(builder, in_chans, num_classes, family_kwargs)``; raises ``ArgumentError`` naming the
    variant, the argument and the value."""
    in_chans = variant.input_size[0] if in_chans is OWN_CHANNELS else in_chans
    in_chans = check_int(variant.name, "in_chans", in_chans, min=1)
    num_classes = check_int(variant.name, "num_classes", num_classes, min=0, allow_none=True)
    if not check_bool(variant.name, "features_only", features_only) and out_indices is not None:
        raise refuse(variant.name, "out_indices", out_indices, "None: out_indices needs features_only=True")
    if dtype is not None:
        from zoo_core.precision import resolve_dtype

        resolve_dtype(variant.name, dtype)
    builder = get_registry().families[variant.family].build()
    check_keywords(variant.name, builder, family_kwargs, positional=1, taken=("in_chans", "num_classes"),
                   taker=f"the {variant.family} family")
    from zoo_core.hub_repo import HubVariant
    from zoo_core.hub_repo import family_kwargs as repo_kwargs

    if isinstance(variant, HubVariant):
        family_kwargs = {**repo_kwargs(variant, builder), **family_kwargs}
    return builder, in_chans, num_classes, dict(family_kwargs)


def create_pretrained(
    name: str,
    *,
    in_chans: int = OWN_CHANNELS,
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
    ``in_chans`` other than the weights' own (3, or a ``hf-hub:`` repository's) adapts the stem kernel
    as timm's ``adapt_input_conv``. Nothing is downloaded until ``load`` is called (a ``hf-hub:``
    name's ``config.json`` and card are read at once, with the same ``revision``, ``cache_dir``,
    ``local_files_only`` and ``token``; ``hf-hub:org/name@rev`` is ``revision="rev"``).
    ``checkpoint_path`` loads a local file instead of the released weights — safetensors, a
    PyTorch checkpoint read with ``torch.load(weights_only=True)``, or a
    ``.npz`` read with ``numpy.load(allow_pickle=False)``; a foreign key layout is turned into
    timm's by the families' ``zoo_transform_checkpoint`` hooks — and, with ``num_classes=None``,
    takes the head size from the file. Weights load as stored, NaN and Inf included; ``check_finite=True``
    raises a ``WeightsError`` naming every key that holds one.
    ``dtype`` is the compute dtype as in ``create_model``; the loaded params stay float32.
    Every argument is checked before any file is opened (``ArgumentError``, as ``create_model``).
    """
    from zoo_core.hub_repo import HubVariant
    from zoo_core.loading import HubWeights, LocalFile

    load_args = (revision, cache_dir, prefix, local_files_only, token, checkpoint_path, check_finite)
    variant = _variant_to_load(name, load_args)
    _, in_chans, num_classes, _ = _checked_model_arguments(variant, in_chans, num_classes, features_only,
                                                           out_indices, dtype, family_kwargs)
    prefix, local_files_only, check_finite = _checked_load_arguments(variant.name, *load_args)
    if isinstance(variant, HubVariant):
        revision = variant.revision
    if checkpoint_path is not None:
        source = LocalFile(checkpoint_path)
        head_classes = source.open(variant).head_classes(variant)
    else:
        source = HubWeights(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        head_classes = variant.num_classes
    if num_classes is None and head_classes != variant.num_classes:
        num_classes = head_classes  # a fine-tuned file's own head
    options = dict(in_chans=in_chans, num_classes=num_classes, revision=revision, cache_dir=cache_dir,
                   prefix=prefix, local_files_only=local_files_only, checkpoint_path=checkpoint_path)
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
    loader = Loader(model, variant, source, prefix, in_chans=in_chans, head_classes=head_classes,
                    check_finite=check_finite)
    return model, loader


def _variant_to_load(name: Any, load_args: tuple) -> Variant:
    """``create_pretrained``'s variant: a ``hf-hub:`` repository's read again with the download
    options, which are checked first (a HEAD request when cached: the repository may have moved on)."""
    from zoo_core.hub_repo import hub_variant, is_hub_name

    if not is_hub_name(name):
        return get_variant(name)
    _checked_load_arguments(name, *load_args)
    revision, cache_dir, _, local_files_only, token, _, _ = load_args
    return hub_variant(name, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token,
                       refresh=True)


def _checked_load_arguments(where: str, revision: Any, cache_dir: Any, prefix: Any, local_files_only: Any, token: Any,
                            checkpoint_path: Any, check_finite: Any) -> tuple[tuple[str, ...], bool, bool]:
    """``create_pretrained``'s own arguments checked before any file is opened: ``revision`` a
    non-empty str, ``cache_dir`` and ``checkpoint_path`` None or a path, ``prefix`` a tuple or list
    of str keys, ``local_files_only`` and ``check_finite`` bools, ``token`` None, a str or a bool.
    Returns ``(prefix as a tuple, local_files_only, check_finite)``; raises ``ArgumentError``."""
    check_str(where, "revision", revision)
    check_path(where, "cache_dir", cache_dir, allow_none=True)
    check_path(where, "checkpoint_path", checkpoint_path, allow_none=True)
    if not (token is None or isinstance(token, bool) or (isinstance(token, str) and token)):
        raise refuse(where, "token", token, "None, True/False or a non-empty str (a Hub token)")
    return (check_keys(where, "prefix", prefix), check_bool(where, "local_files_only", local_files_only),
            check_bool(where, "check_finite", check_finite))


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

        _check_trees(self.variant.name, params, state)
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


def _check_trees(where: str, params: Any, state: Any) -> None:
    """``load``'s arguments: ``params`` and ``state`` both mappings (the trees of ``model.init``,
    or larger trees holding them under ``prefix``) or both None; else an ``ArgumentError``."""
    both_none = params is None and state is None
    if not both_none and not (isinstance(params, Mapping) and isinstance(state, Mapping)):
        raise ArgumentError(f"{where}: load(params={_kind(params)}, state={_kind(state)}) is not allowed: "
                            "load() takes params and state both as mappings (the trees of model.init), or neither")


def _kind(value: Any) -> str:
    """``None``, ``a dict`` …, or the short repr of a value that is not a mapping."""
    return f"a {type(value).__name__}" if isinstance(value, Mapping) else show(value)


def __getattr__(name: str):
    """``weights_file`` and ``load_weights`` live in ``zoo_core.loading``; still reachable here."""
    if name in ("weights_file", "load_weights"):
        from zoo_core import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'zoo_core.api' has no attribute {name!r}")


__all__ = ["HeadSkippedWarning", "Loader", "create_model", "create_pretrained", "default_num_classes", "get_family",
           "get_variant", "list_variants"]
