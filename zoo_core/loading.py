"""The loading pipeline behind ``create_pretrained``: a checkpoint source → a plan → the trees.

1. **Open.** A ``CheckpointSource`` opens a ``Checkpoint``: a state dict in timm's keys, read lazily
   where the format allows (safetensors: the header now, each tensor when the loader asks), with a
   label that every error names. ``HubWeights`` is a variant's released file, found by the
   ``zoo_weights_file`` hooks (the Hub through huggingface_hub's cache by default); ``LocalFile``
   a file of the user's (safetensors, a PyTorch checkpoint read safely, a ``.npz``); ``InMemory`` a
   state dict in hand. A foreign key layout (an original Facebook or big_vision checkpoint)
   becomes timm's through the families' ``zoo_transform_checkpoint`` hooks, whatever the source.
2. **Plan.** ``plan_load`` asks the family's mapping for the model as built and fits it to the
   call: a fresh head keeps its values, a released head of another size is ignored, the stem
   kernel is adapted to ``in_chans``.
3. **Read.** ``apply_state_dict`` checks every triple against the checkpoint's header (keys,
   leaves, shapes) before a tensor is read, then reads, lays out and places one tensor at a time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from zoo_core.errors import WeightsError
from zoo_core.plugins import hooks
from zoo_core.registry import Family, Variant

Triple = tuple[str, Any, Any]


@attrs.frozen
class Checkpoint:
    """An opened checkpoint: ``state_dict`` maps timm's keys to arrays (read on access where the
    format allows), ``label`` names it in errors and ``path`` is its file, if it has one."""

    state_dict: Mapping[str, Any]
    label: str
    path: str | None = None

    def head_classes(self, variant: Variant) -> int:
        """The size of the checkpoint's classifier (from the header, no tensor read): the first
        dimension of ``variant.classifier``'s bias or weight; 0 for a checkpoint without one; the
        variant's own size if the checkpoint names none of the classifier's keys but has others
        under it (an unusual layout: let the mapping report it)."""
        from zoo_core.interop.state_dict import stored_shape

        heads = classifier_prefixes(variant)
        for prefix in heads:
            for leaf in ("bias", "weight"):
                if f"{prefix}{leaf}" in self.state_dict:
                    return int(stored_shape(self.state_dict, f"{prefix}{leaf}")[0])
        if self.state_dict and not any(k.startswith(heads) for k in self.state_dict):
            return 0
        return variant.num_classes


class CheckpointSource(Protocol):
    """Where a model's weights come from: ``open(variant)`` returns the ``Checkpoint`` in timm's keys."""

    def open(self, variant: Variant) -> Checkpoint: ...


@attrs.frozen
class HubWeights:
    """A variant's released weights file, from the first ``zoo_weights_file`` hook that answers
    (zoo-core's own: ``variant.hf_hub_id`` through huggingface_hub's cache); opened lazily."""

    revision: str = "main"
    cache_dir: str | os.PathLike | None = None
    local_files_only: bool = False
    token: str | bool | None = None

    def path(self, variant: Variant) -> str:
        return _hub_weights_file(variant, revision=self.revision, cache_dir=self.cache_dir,
                            local_files_only=self.local_files_only, token=self.token)

    def open(self, variant: Variant) -> Checkpoint:
        path = self.path(variant)
        label = CachedFileLabel(path, variant.hf_hub_id or "", variant.filename, self.cache_dir)
        return _in_timm_layout(variant, _lazy_safetensors(path, label), label, path)


@attrs.frozen
class CachedFileLabel:
    """How errors name a file of huggingface_hub's cache: ``org/name/file (commit abc…, path)``, or
    the path for a file elsewhere (a mirror plugin's). The commit comes from huggingface_hub's scan
    of the cache, made only when a message is formatted."""

    path: str
    repo_id: str
    filename: str
    cache_dir: str | os.PathLike | None = None

    def __str__(self) -> str:
        from zoo_core.interop.hub import cached_commit

        commit = cached_commit(self.path, self.cache_dir)
        return self.path if commit is None else f"{self.repo_id}/{self.filename} (commit {commit[:12]}, {self.path})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


@attrs.define
class LocalFile:
    """A weights file of the user's, recognised by its content whatever its name
    (``zoo_core.convert.checkpoint_format``): safetensors (read lazily), a PyTorch checkpoint
    (``torch.load(weights_only=True)`` through ``zoo_core.convert``) or a numpy ``.npz``
    (``allow_pickle=False``). A directory, a missing or unreadable file, or one of no known format
    is a ``CheckpointFormatError`` naming the path. Opened once: the head size and the load share
    the reading."""

    path: str = attrs.field(converter=os.fspath)
    _opened: dict[str, Checkpoint] = attrs.field(factory=dict, init=False, repr=False)

    def open(self, variant: Variant) -> Checkpoint:
        if variant.name not in self._opened:
            self._opened[variant.name] = _in_timm_layout(variant, self._read(), self.path, self.path)
        return self._opened[variant.name]

    def _read(self) -> Mapping[str, Any]:
        from zoo_core.convert import checkpoint_format, load_torch_state_dict, read_npz, to_numpy_state_dict

        kind = checkpoint_format(self.path)
        if kind == "npz":
            return read_npz(self.path)
        if kind == "torch":
            return to_numpy_state_dict(load_torch_state_dict(self.path))
        return _lazy_safetensors(self.path, self.path)


@attrs.frozen
class InMemory:
    """A state dict in hand (timm's keys, or a layout a ``zoo_transform_checkpoint`` hook knows)."""

    state_dict: Mapping[str, Any]
    label: str = "state dict"

    def open(self, variant: Variant) -> Checkpoint:
        return _in_timm_layout(variant, self.state_dict, self.label, None)


def as_source(source: CheckpointSource | str | os.PathLike | tuple[str, Mapping[str, Any]]) -> CheckpointSource:
    """A ``CheckpointSource`` from a source, a file path, or a ``(label, state_dict)`` pair."""
    if isinstance(source, tuple):
        label, state_dict = source
        return InMemory(state_dict, label)
    if isinstance(source, (str, os.PathLike)):
        return LocalFile(source)
    return source


def _lazy_safetensors(path: str, label):
    from zoo_core.interop.safetensors_io import Float32View, SafetensorsFile

    return Float32View(SafetensorsFile(path, label=label))


def _in_timm_layout(variant: Variant, state_dict: Mapping[str, Any], label: str, path: str | None) -> Checkpoint:
    converted = hooks().zoo_transform_checkpoint(variant=variant, state_dict=state_dict, path=path)
    return Checkpoint(state_dict if converted is None else converted, label, path)


def weights_file(variant: Variant, *, revision: str = "main", cache_dir=None, local_files_only: bool = False,
                 token=None) -> str:
    """The local path of ``variant``'s weights, from the first plugin that answers (the Hub by default)."""
    if not variant.pretrained:
        raise WeightsError(f"{variant.name}: its weights are not on the Hugging Face Hub (the variant has no Hub "
                           "repository), so nothing can be downloaded; load a file you have with "
                           "create_pretrained(name, checkpoint_path=FILE)" + (f". Notes: {variant.notes}"
                                                                            if variant.notes else ""))
    path = hooks().zoo_weights_file(variant=variant, revision=revision, cache_dir=cache_dir,
                                    local_files_only=local_files_only, token=token)
    if path is None:
        raise WeightsError(f"{variant.name}: no plugin could provide the weights file {variant.filename}")
    return os.fspath(path)


def _hub_weights_file(variant: Variant, **fetch) -> str:
    """``weights_file``, where a ``hf-hub:`` repository without ``model.safetensors`` that holds a
    pickle gets an error saying how to convert it."""
    from zoo_core.errors import DownloadError
    from zoo_core.hub_repo import HubVariant, missing_weights_error

    try:
        return weights_file(variant, **fetch)
    except DownloadError as e:
        if not isinstance(variant, HubVariant):
            raise
        better = missing_weights_error(variant, e, revision=fetch.get("revision", "main"), token=fetch.get("token"))
        if better is e:
            raise
        raise better from e


def classifier_prefixes(variant: Variant) -> tuple[str, ...]:
    """The key prefixes of the released classifier (``"head.fc."``; several for a split head)."""
    return tuple(f"{c.strip()}." for c in variant.classifier.split(",") if c.strip())


@attrs.frozen
class LoadPlan:
    """What a load writes: ``triples`` (timm key, tree path, transform) to read, ``kept`` paths left
    as they are in the trees given (a fresh head) and checkpoint keys ``ignored`` (a released head
    of another size)."""

    triples: tuple[Triple, ...]
    kept: tuple[Any, ...] = ()
    ignored: frozenset[str] = frozenset()


def plan_load(model, variant: Variant, family: Family, checkpoint: Checkpoint, params, state, *,
              in_chans: int | None = None, head_classes: int | None = None) -> LoadPlan:
    """The family's mapping for ``model`` as built, on ``(params, state)`` (arrays or
    ``ShapeDtypeStruct`` trees), fitted to the call: ``head_classes`` is the checkpoint's head size
    (default: the variant's); a model head of another non-zero size is kept; the stem kernel
    (``variant.first_conv``) is adapted to ``in_chans`` as timm's ``adapt_input_conv`` when that
    differs from the weights' own channels (``variant.input_size[0]``: 3, or a ``hf-hub:``
    repository's; ``None`` means those)."""
    from zoo_core.interop.transforms import adapt_input_conv, compose
    from zoo_core.nn.module import shape_structs

    head_classes = variant.num_classes if head_classes is None else head_classes
    # the trees eval_shape would give, without its trace (0.04 s for ConvNeXt-L's 344 leaves)
    abstract_params, abstract_state = shape_structs(params), shape_structs(state)
    mapping = family.mapping()(variant, model.architecture, abstract_params, abstract_state)
    first_conv_key = f"{variant.first_conv}.weight"
    heads = classifier_prefixes(variant)
    keep_head = model.num_classes not in (0, head_classes)
    triples, kept = [], []
    for key, target, transform in mapping:
        if keep_head and key.startswith(heads):
            kept.append(target)
            continue
        if key == first_conv_key and in_chans not in (None, variant.input_size[0]):
            transform = compose(transform, adapt_input_conv(in_chans))
        triples.append((key, target, transform))
    ignored = frozenset(k for k in checkpoint.state_dict if k.startswith(heads)) \
        if model.num_classes != head_classes else frozenset()
    return LoadPlan(tuple(triples), tuple(kept), ignored)


def load_weights(model, variant: Variant, family: Family, source, params, state, *, in_chans: int | None = None,
                 check_finite: bool = False, head_classes: int | None = None):
    """Read ``source`` (a ``CheckpointSource``, an opened ``Checkpoint``, a file path or a
    ``(label, state_dict)`` pair) onto ``(params, state)`` (arrays or ``ShapeDtypeStruct`` trees)
    and return the new trees. ``head_classes`` is the checkpoint's head size (default: the
    variant's); ``check_finite`` raises a ``WeightsError`` naming every tensor with NaN or Inf."""
    from zoo_core.interop.state_dict import apply_state_dict

    checkpoint = source if isinstance(source, Checkpoint) else as_source(source).open(variant)
    plan = plan_load(model, variant, family, checkpoint, params, state, in_chans=in_chans, head_classes=head_classes)
    tree = apply_state_dict({"params": params, "state": state}, checkpoint.state_dict, plan.triples,
                            ignore_keys=plan.ignored, keep_paths=plan.kept, source=checkpoint.label)
    if check_finite:
        _check_finite(tree, plan.triples, checkpoint.label)
    return tree["params"], tree["state"]


def _check_finite(tree, triples: Sequence[Triple], label: str) -> None:
    import jax.numpy as jnp

    from zoo_core.interop.state_dict import as_path, get_path

    bad = []
    for key, path, _ in triples:
        leaf = get_path(tree, as_path(path))
        nan, inf = int(jnp.isnan(leaf).sum()), int(jnp.isinf(leaf).sum())
        if nan or inf:
            bad.append(f"{key!r}: {nan} NaN, {inf} Inf of {leaf.size}")
    if bad:
        raise WeightsError(f"{label}: non-finite weights in {len(bad)} tensor(s): " + "; ".join(bad))


# ---- the trees a load writes into, under a prefix -----------------------------------------------

def base_trees(model, params, state, prefix: tuple[str, ...], *, need_values: bool):
    """The model's own trees to load into: the subtrees at ``prefix`` of the ones given, else
    new ones — random (``need_values``: a fresh head keeps them) or abstract (nothing computed)."""
    import jax

    if params is not None:
        return get_at(params, prefix, "params"), get_at(state, prefix, "state")
    if need_values:
        return jax.jit(model.init)(jax.random.key(0))
    from zoo_core.nn import abstract_init

    return abstract_init(model)


def get_at(tree: Mapping[str, Any], prefix: tuple[str, ...], what: str):
    """The subtree of ``tree`` at ``prefix``; a ``KeyError`` names the missing key and its depth."""
    node = tree
    for i, key in enumerate(prefix):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"prefix {prefix!r}: {what} has no key {key!r} at depth {i}")
        node = node[key]
    return node


def nest(prefix: tuple[str, ...], tree):
    """``tree`` under ``prefix``: ``nest(("a", "b"), t) == {"a": {"b": t}}``."""
    for key in reversed(prefix):
        tree = {key: tree}
    return tree


def replace_at(tree: Mapping[str, Any], prefix: tuple[str, ...], value):
    """A copy of ``tree`` with the subtree at ``prefix`` replaced by ``value``; siblings shared."""
    if not prefix:
        return value
    out = dict(tree)
    out[prefix[0]] = replace_at(tree[prefix[0]], prefix[1:], value)
    return out


__all__ = ["Checkpoint", "CheckpointSource", "HubWeights", "InMemory", "LoadPlan", "LocalFile", "as_source",
           "classifier_prefixes", "load_weights", "plan_load", "weights_file"]
