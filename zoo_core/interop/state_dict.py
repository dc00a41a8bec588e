"""Applying a PyTorch state dict to our parameter trees, and deriving the mapping that does it.

A mapping is a list of ``(pytorch_key, path, transform)`` triples: ``pytorch_key`` as written by
``model.state_dict()``, ``path`` a tuple of keys into the tree (or a ``"a/b/c"`` string), and
``transform`` a ``numpy -> numpy`` function applied before the shape check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from zoo_core.errors import StateDictMismatchError
from zoo_core.interop.transforms import Transform, conv_to_hwio, identity, linear_to_dense

Path = tuple[str, ...]
Triple = tuple[str, Path, Transform]

IGNORED_SUFFIXES = (".num_batches_tracked",)


def as_path(path: str | Sequence[str]) -> Path:
    if isinstance(path, str):
        return tuple(p for p in path.split("/") if p)
    return tuple(str(p) for p in path)


def tree_leaves_with_paths(tree: Mapping[str, Any], prefix: Path = ()) -> Iterable[tuple[Path, Any]]:
    """``(path, leaf)`` for every non-dict leaf of a nested dict, in insertion order."""
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from tree_leaves_with_paths(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def get_path(tree: Mapping[str, Any], path: Path) -> Any:
    node: Any = tree
    for key in path:
        node = node[key]
    return node


def set_paths(tree: Mapping[str, Any], values: Mapping[Path, Any]) -> dict[str, Any]:
    """A copy of ``tree`` with the leaves at ``values``' paths replaced; untouched subtrees are shared."""
    by_head: dict[str, dict[Path, Any]] = {}
    out = dict(tree)
    for path, value in values.items():
        if len(path) == 1:
            out[path[0]] = value
        else:
            by_head.setdefault(path[0], {})[path[1:]] = value
    for head, sub in by_head.items():
        out[head] = set_paths(tree[head], sub)
    return out


def _shape(leaf: Any) -> tuple[int, ...]:
    return tuple(leaf.shape)


def _fmt(path: Path) -> str:
    return "/".join(path)


def apply_state_dict(
    tree: Mapping[str, Any],
    state_dict: Mapping[str, Any],
    mapping: Iterable[tuple[str, str | Sequence[str], Transform]],
    *,
    ignore_keys: Iterable[str] = (),
    keep_paths: Iterable[str | Sequence[str]] = (),
    source: str = "state dict",
    convert: Callable[[np.ndarray, Any], Any] | None = None,
) -> dict[str, Any]:
    """Return a copy of ``tree`` with each mapped leaf replaced by ``transform(state_dict[key])``.

    Nothing is written unless the whole mapping fits: every key present, every path a leaf of
    ``tree``, every transformed shape equal to the leaf's, each path written once, every key of
    ``state_dict`` used (``*.num_batches_tracked`` and ``ignore_keys`` excepted) and every leaf of
    ``tree`` written (subtrees under ``keep_paths`` excepted). Otherwise one
    ``StateDictMismatchError`` lists every fault. ``tree`` and ``state_dict`` are never mutated.

    Leaves of ``tree`` may be arrays or ``jax.ShapeDtypeStruct``; new leaves take the target
    leaf's dtype (``convert(array, target_leaf)`` overrides how the value is made, by default
    ``jnp.asarray(array, dtype=target.dtype)``).
    """
    ignore = set(ignore_keys)
    keep = [as_path(p) for p in keep_paths]
    errors: list[str] = []
    planned: list[tuple[str, Path, Transform]] = []
    used: set[str] = set()
    writers: dict[Path, str] = {}
    leaves = dict(tree_leaves_with_paths(tree))
    # First pass: shapes only, so a file that does not fit is refused before a tensor is read
    # (a lazy state dict, such as a safetensors file's, answers shapes from its header).
    for key, path, transform in mapping:
        path = as_path(path)
        transform = transform or identity
        if key not in state_dict:
            errors.append(f"missing key {key!r} (for {_fmt(path)})")
            continue
        used.add(key)
        if path not in leaves:
            errors.append(f"key {key!r} maps to {_fmt(path)}, which is not a leaf of the model's tree")
            continue
        if path in writers:
            errors.append(f"{_fmt(path)} is written twice: by {writers[path]!r} and by {key!r}")
            continue
        writers[path] = key
        raw_shape = stored_shape(state_dict, key)
        try:
            shape = transformed_shape(transform, raw_shape, lambda key=key: state_dict[key])
        except Exception as e:  # noqa: BLE001 - every transform fault goes into the one report
            errors.append(f"key {key!r} {raw_shape}: transform {getattr(transform, '__name__', transform)} failed: {e}")
            continue
        want = _shape(leaves[path])
        if shape != want:
            name = getattr(transform, "__name__", "transform")
            errors.append(
                f"shape mismatch for {key!r} → {_fmt(path)}: checkpoint {raw_shape}"
                f"{'' if transform is identity else f' ({name}: {shape})'}, model {want}"
            )
            continue
        planned.append((key, path, transform))
    for key in state_dict:
        if key not in used and key not in ignore and not key.endswith(IGNORED_SUFFIXES):
            errors.append(f"unused key {key!r} {stored_shape(state_dict, key)}")
    for path in leaves:
        if path not in writers and not any(path[: len(k)] == k for k in keep):
            errors.append(f"{_fmt(path)} {_shape(leaves[path])} is not written by any key")
    if errors:
        head = f"{source} does not fit the model: {len(errors)} problem{'s' if len(errors) > 1 else ''}"
        raise StateDictMismatchError(head + "\n  " + "\n  ".join(errors))
    owned_convert = convert is None
    if convert is None:
        convert = _to_device
    # Second pass: one tensor at a time, never a second full copy of the model. Worker threads
    # read the next tensors while this one hands the current to JAX; file reads and numpy copies
    # release the GIL. Where the state dict can read a tensor straight into its new layout
    # (``read_permuted``) and the transform is a pure permutation, that array is the only copy and
    # JAX adopts it in place. ``convert`` stays in the calling thread, where JAX's thread-local
    # configuration (``jax.enable_x64``, the default device) is the caller's.
    read_permuted = getattr(state_dict, "read_permuted", None)

    def read_one(key: str, path: Path, transform: Transform) -> tuple[np.ndarray, bool]:
        axes = getattr(transform, "axes", False)
        target_dtype = getattr(leaves[path], "dtype", None)
        if read_permuted is not None and axes is not False and target_dtype is not None:
            array = read_permuted(key, axes, np.dtype(target_dtype))
            squeeze = getattr(transform, "squeeze_axes", ())
            return (np.squeeze(array, tuple(squeeze)) if squeeze else array), True  # a view: still adopted
        array = transform(np.asarray(state_dict[key]))
        if tuple(array.shape) != _shape(leaves[path]):  # a transform whose shape depends on values
            raise StateDictMismatchError(f"{source}: {key!r} became {tuple(array.shape)} through "
                                         f"{getattr(transform, '__name__', transform)}, model {_shape(leaves[path])}")
        return array, False

    import os
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    workers = max(1, min(4, os.cpu_count() or 1))
    values = {}
    # Largest first, so that no worker is left alone with a big classifier at the end. Tensors are
    # taken as they finish, not in order, so that one big tensor does not hold the other workers
    # idle; at most ``workers + 1`` are read ahead of the one being handed over.
    todo = iter(sorted(planned, key=lambda item: -math.prod(_shape(leaves[item[1]]))))
    in_flight: dict[Any, Path] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoo-read") as reader:

        def read_next() -> None:
            item = next(todo, None)
            if item is not None:
                in_flight[reader.submit(read_one, *item)] = item[1]

        try:
            for _ in range(workers + 1):
                read_next()
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    path = in_flight.pop(future)
                    array, owned = future.result()
                    read_next()
                    values[path] = _adopt(array, leaves[path]) if owned and owned_convert else convert(array, leaves[path])
                    del array
        finally:
            for future in in_flight:
                future.cancel()
    return set_paths(tree, values)


def stored_shape(state_dict: Mapping[str, Any], key: str) -> tuple[int, ...]:
    """The shape of ``state_dict[key]`` without reading it where the mapping can tell (a
    ``shape(key)`` method, as zoo's lazy safetensors view has), else from the value."""
    shape_of = getattr(state_dict, "shape", None)
    if callable(shape_of):
        return tuple(shape_of(key))
    return tuple(np.shape(state_dict[key]))


def transformed_shape(transform: Transform, shape: tuple[int, ...], read: Callable[[], Any]) -> tuple[int, ...]:
    """The shape ``transform`` gives an array of ``shape``, found on a zero-stride stand-in (no
    tensor is read or allocated); a transform that refuses the read-only stand-in gets the value."""
    if transform is identity:
        return shape
    stand_in = np.broadcast_to(np.zeros((), np.float32), shape)
    try:
        return tuple(transform(stand_in).shape)
    except (ValueError, TypeError):
        return tuple(transform(np.asarray(read())).shape)


def _to_device(array: np.ndarray, target: Any):
    import jax

    dtype = getattr(target, "dtype", None)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    return jax.device_put(array)


def _adopt(array: np.ndarray, target: Any):
    """``_to_device`` for an array the loader made itself (aligned, of the target's dtype): on CPU
    JAX uses its memory in place."""
    import jax

    return jax.device_put(array, may_alias=True)


LEAF_TO_TORCH = {"kernel": "weight", "scale": "weight", "mean": "running_mean", "var": "running_var"}


def default_transform(leaf_name: str, ndim: int) -> Transform:
    """The layout transform implied by a leaf: 4-D ``kernel`` → OIHW to HWIO, 2-D ``kernel`` →
    (out, in) to (in, out), anything else unchanged."""
    if leaf_name == "kernel" and ndim == 4:
        return conv_to_hwio
    if leaf_name == "kernel" and ndim == 2:
        return linear_to_dense
    return identity


Rule = tuple[str, str | None, Transform | None]


def tree_mapping(params: Mapping[str, Any], state: Mapping[str, Any] | None = None,
                 rules: Sequence[Rule] = ()) -> list[Triple]:
    """Derive the mapping for trees whose keys mirror timm's module names.

    Each leaf at ``params/a/b/kernel`` maps from ``a.b.weight`` by the leaf-name convention
    (``kernel``/``scale`` → ``weight``, ``mean`` → ``running_mean``, ``var`` → ``running_var``,
    other names unchanged) with ``default_transform``. ``rules`` are ``(regex, replacement,
    transform)`` tried first, in order, on the leaf's path without its root (``"a/b/kernel"``):
    the first ``re.fullmatch`` wins; ``replacement`` is expanded with the match's groups
    (``re.Match.expand``), ``None`` skips the leaf, and a ``None`` transform means the default.
    """
    compiled = [(re.compile(pattern), repl, transform) for pattern, repl, transform in rules]
    triples: list[Triple] = []
    roots = {"params": params, "state": state or {}}
    for root, tree in roots.items():
        for path, leaf in tree_leaves_with_paths(tree):
            joined = "/".join(path)
            ndim = len(leaf.shape)
            for pattern, repl, transform in compiled:
                m = pattern.fullmatch(joined)
                if m:
                    if repl is None:
                        break
                    triples.append((m.expand(repl), (root, *path), transform or default_transform(path[-1], ndim)))
                    break
            else:
                key = ".".join((*path[:-1], LEAF_TO_TORCH.get(path[-1], path[-1])))
                triples.append((key, (root, *path), default_transform(path[-1], ndim)))
    return triples
