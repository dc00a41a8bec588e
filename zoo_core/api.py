"""``create_model`` / ``create_pretrained`` and the registry queries: the front door of zoo."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from zoo_core.errors import WeightsError
from zoo_core.plugins import call_hook, chain_after_load, get_registry
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


def _classifier_prefixes(variant: Variant) -> tuple[str, ...]:
    return tuple(f"{c.strip()}." for c in variant.classifier.split(",") if c.strip())


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
    variant = get_variant(name)
    family = get_registry().families[variant.family]
    local = _LocalCheckpoint(checkpoint_path, variant) if checkpoint_path is not None else None
    head_classes = variant.num_classes if local is None else local.head_classes()
    if num_classes is None and head_classes != variant.num_classes:
        num_classes = head_classes  # a fine-tuned file's own head
    options = dict(in_chans=in_chans, num_classes=num_classes, revision=revision, cache_dir=cache_dir,
                   prefix=tuple(prefix), local_files_only=local_files_only, checkpoint_path=checkpoint_path)
    call_hook("zoo_before_load", variant=variant, options=options)
    model = create_model(variant.name, in_chans=in_chans, num_classes=0 if features_only else num_classes,
                         features_only=features_only, out_indices=out_indices, dtype=dtype, **family_kwargs)
    head_released = head_classes
    fresh_head = model.num_classes not in (0, head_released)
    if fresh_head:
        warnings.warn(
            f"{variant.name}: num_classes={model.num_classes} differs from the released head ({head_released}); "
            "the released classifier is skipped and the new head keeps its initial values",
            HeadSkippedWarning,
            stacklevel=2,
        )
    prefix = tuple(prefix)

    def load(params: Mapping[str, Any] | None = None, state: Mapping[str, Any] | None = None):
        if (params is None) != (state is None):
            raise TypeError("load() takes both params and state, or neither")
        if local is not None:
            source = local.source()
        else:
            source = weights_file(variant, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                                  token=token)
        base_params, base_state = _base_trees(model, params, state, prefix, need_values=fresh_head)
        new_params, new_state = load_weights(model, variant, family, source, base_params, base_state,
                                             in_chans=in_chans, check_finite=check_finite, head_classes=head_classes)
        new_params, new_state = chain_after_load(variant, new_params, new_state)
        if params is None:
            return _nest(prefix, new_params), _nest(prefix, new_state)
        return _replace_at(params, prefix, new_params), _replace_at(state, prefix, new_state)

    load.__doc__ = f"Load the released weights of {variant.name} into (params, state)."
    return model, load


class _LocalCheckpoint:
    """A user's own weights file: safetensors, a PyTorch checkpoint read safely through
    ``zoo_core.convert``, or a numpy ``.npz`` (``allow_pickle=False``); read once, and its head
    size taken from the file's classifier in timm's keys (after ``zoo_transform_checkpoint``)."""

    def __init__(self, path, variant: Variant):
        from zoo_core.convert import is_torch_checkpoint

        self.path = os.fspath(path)
        self.variant = variant
        self._torch = is_torch_checkpoint(self.path)
        self._npz = self.path.endswith(".npz")
        self._state_dict = None

    def state_dict(self):
        if self._state_dict is None and self._npz:
            import numpy as np

            with np.load(self.path, allow_pickle=False) as f:
                self._state_dict = {k: f[k] for k in f.files}
        elif self._state_dict is None:
            from zoo_core.convert import load_torch_state_dict, to_numpy_state_dict

            self._state_dict = to_numpy_state_dict(load_torch_state_dict(self.path))
        return self._state_dict

    def head_classes(self) -> int:
        from zoo_core.interop.safetensors_io import SafetensorsFile
        from zoo_core.interop.state_dict import stored_shape

        raw = self.state_dict() if self._torch or self._npz else _Float32View(SafetensorsFile(self.path))
        converted = call_hook("zoo_transform_checkpoint", firstresult=True, variant=self.variant, state_dict=raw,
                              path=self.path)
        keys = raw if converted is None else converted
        for prefix in _classifier_prefixes(self.variant):
            for leaf in ("bias", "weight"):
                if f"{prefix}{leaf}" in keys:  # its shape, from the header where the view can tell
                    return int(stored_shape(keys, f"{prefix}{leaf}")[0])
        return 0 if keys and not any(k.startswith(_classifier_prefixes(self.variant)) for k in keys) \
            else self.variant.num_classes

    def source(self):
        return (self.path, self.state_dict()) if self._torch or self._npz else self.path


def weights_file(variant: Variant, *, revision: str = "main", cache_dir=None, local_files_only: bool = False,
                 token=None) -> str:
    """The local path of ``variant``'s weights, from the first plugin that answers (the Hub by default)."""
    if not variant.pretrained:
        raise WeightsError(f"{variant.name}: no released weights (the variant has no Hub repository)")
    path = call_hook("zoo_weights_file", firstresult=True, variant=variant, revision=revision, cache_dir=cache_dir,
                     local_files_only=local_files_only, token=token)
    if path is None:
        raise WeightsError(f"{variant.name}: no plugin could provide the weights file {variant.filename}")
    return os.fspath(path)


def _base_trees(model, params, state, prefix, *, need_values: bool):
    import jax

    if params is not None:
        return _get_at(params, prefix, "params"), _get_at(state, prefix, "state")
    if need_values:
        return jax.jit(model.init)(jax.random.key(0))
    from zoo_core.nn import abstract_init

    return abstract_init(model)


def load_weights(model, variant: Variant, family: Family, source: str | Mapping[str, Any], params, state, *,
                 in_chans: int = 3, check_finite: bool = False, head_classes: int | None = None):
    """Read ``source`` (a safetensors path, or a ``(label, state_dict)`` pair), transform it to
    timm's keys, map it onto ``(params, state)`` (arrays or ``ShapeDtypeStruct`` trees) and return
    the new trees. ``head_classes`` is the checkpoint's head size (default: the variant's)."""

    from zoo_core.interop.safetensors_io import SafetensorsFile
    from zoo_core.interop.state_dict import apply_state_dict
    from zoo_core.interop.transforms import adapt_input_conv, compose
    from zoo_core.nn.module import shape_structs

    if isinstance(source, tuple):
        label, state_dict = source
        path = label
    else:
        path = source
        label = _describe(path, variant)
        state_dict = _Float32View(SafetensorsFile(path, label=label))
    head_classes = variant.num_classes if head_classes is None else head_classes
    converted = call_hook("zoo_transform_checkpoint", firstresult=True, variant=variant, state_dict=state_dict,
                          path=path)
    if converted is not None:
        state_dict = converted
    # the trees eval_shape would give, without its trace (0.04 s for ConvNeXt-L's 344 leaves)
    abstract_params, abstract_state = shape_structs(params), shape_structs(state)
    mapped_model = getattr(model, "model", model)  # a FeaturesModel loads as its backbone
    mapping = family.mapping()(variant, mapped_model, abstract_params, abstract_state)
    first_conv_key = f"{variant.first_conv}.weight"
    heads = _classifier_prefixes(variant)
    keep_head = model.num_classes not in (0, head_classes)
    triples, kept, ignored = [], [], set()
    for key, target, transform in mapping:
        if keep_head and key.startswith(heads):
            kept.append(target)
            continue
        if key == first_conv_key and in_chans != 3:
            transform = compose(transform, adapt_input_conv(in_chans))
        triples.append((key, target, transform))
    if model.num_classes != head_classes:
        ignored = {k for k in state_dict if k.startswith(heads)}
    tree = apply_state_dict({"params": params, "state": state}, state_dict, triples, ignore_keys=ignored,
                            keep_paths=kept, source=label)
    if check_finite:
        _check_finite(tree, triples, label)
    return tree["params"], tree["state"]


def _check_finite(tree, triples, label: str) -> None:
    import jax.numpy as jnp

    from zoo_core.interop.state_dict import get_path

    bad = []
    for key, path, _ in triples:
        leaf = get_path(tree, tuple(path) if not isinstance(path, str) else tuple(path.split("/")))
        nan, inf = int(jnp.isnan(leaf).sum()), int(jnp.isinf(leaf).sum())
        if nan or inf:
            bad.append(f"{key!r}: {nan} NaN, {inf} Inf of {leaf.size}")
    if bad:
        raise WeightsError(f"{label}: non-finite weights in {len(bad)} tensor(s): " + "; ".join(bad))


class _Float32View(Mapping):
    """A lazily-read state dict: floating tensors come back as float32 numpy arrays on access,
    others (``num_batches_tracked``) as stored."""

    def __init__(self, f):
        self._f = f

    def __getitem__(self, key):
        from zoo_core.interop.safetensors_io import FLOAT_DTYPES

        return self._f.read_float32(key) if self._f.dtype(key) in FLOAT_DTYPES else self._f[key]

    def __iter__(self):
        return iter(self._f)

    def __len__(self):
        return len(self._f)

    def __contains__(self, key):
        return key in self._f

    def shape(self, key):
        return self._f.shape(key)

    def read_permuted(self, key, axes=None, dtype=None):
        """The tensor read straight into the layout ``axes`` and ``dtype`` (float32 by default for
        floating tensors): see ``SafetensorsFile.read_permuted``."""
        from zoo_core.interop.safetensors_io import FLOAT_DTYPES

        if dtype is None and self._f.dtype(key) in FLOAT_DTYPES:
            dtype = "float32"
        return self._f.read_permuted(key, axes, dtype)


def _describe(path: str, variant: Variant) -> str:
    parts = os.path.normpath(path).split(os.sep)
    if "snapshots" in parts:
        i = parts.index("snapshots")
        return f"{variant.hf_hub_id}/{variant.filename} (commit {parts[i + 1][:12]}, {path})"
    return path


def _get_at(tree, prefix, what):
    node = tree
    for i, key in enumerate(prefix):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"prefix {prefix!r}: {what} has no key {key!r} at depth {i}")
        node = node[key]
    return node


def _nest(prefix, tree):
    for key in reversed(prefix):
        tree = {key: tree}
    return tree


def _replace_at(tree, prefix, value):
    if not prefix:
        return value
    out = dict(tree)
    out[prefix[0]] = _replace_at(tree[prefix[0]], prefix[1:], value)
    return out


__all__ = ["create_model", "create_pretrained", "default_num_classes", "get_family", "get_variant",
           "list_variants", "weights_file", "load_weights", "HeadSkippedWarning"]

