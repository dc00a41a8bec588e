"""Applying a PyTorch state dict to our parameter trees (the mapping itself: ``zoo_core.interop.mapping``).

A mapping is a list of ``(pytorch_key, path, transform)`` triples: ``pytorch_key`` as written by
``model.state_dict()``, ``path`` a tuple of keys into the tree (or a ``"a/b/c"`` string), and
``transform`` a layout ``Transform`` (``zoo_core.interop.transforms``) applied before the shape
check; a plain ``numpy -> numpy`` function is taken too, as a ``Custom`` transform.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from zoo_core.errors import StateDictMismatchError
from zoo_core.interop.transforms import Transform, as_transform, identity

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
    mapping: Iterable[tuple[str, str | Sequence[str], Transform | Callable[[np.ndarray], np.ndarray] | None]],
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
    ``tree`` written (subtrees under ``keep_paths`` excepted), and no integer or boolean tensor
    mapped to a floating-point leaf (refused, never converted). Otherwise one
    ``StateDictMismatchError`` lists every fault. ``tree`` and ``state_dict`` are never mutated.
    A transform is a ``Transform`` record, a plain function of an array (wrapped by
    ``as_transform``) or ``None`` (``identity``).

    Leaves of ``tree`` may be arrays or ``jax.ShapeDtypeStruct``; new leaves take the target
    leaf's dtype (``convert(array, target_leaf)`` overrides how the value is made, by default
    ``jnp.asarray(array, dtype=target.dtype)``).
    """
    leaves = dict(tree_leaves_with_paths(tree))
    steps = plan_reads(leaves, state_dict, mapping, ignore_keys=ignore_keys, keep_paths=keep_paths, source=source)
    return set_paths(tree, read_planned(steps, leaves, state_dict, source=source, convert=convert))


class ReadStep(NamedTuple):
    """One tensor to read: ``state_dict[key]`` through ``transform`` into the leaf at ``path``.
    ``axes``: the transform's permutation of the stored tensor, which a reader with
    ``read_permuted`` applies while reading; ``None`` when it is not a pure permutation."""

    key: str
    path: Path
    transform: Transform
    axes: tuple[int, ...] | None


def plan_reads(leaves: Mapping[Path, Any], state_dict: Mapping[str, Any], mapping, *, ignore_keys: Iterable[str] = (),
               keep_paths: Iterable[str | Sequence[str]] = (), source: str = "state dict") -> list[ReadStep]:
    """The steps that read ``mapping`` from ``state_dict`` into a tree of ``leaves`` (``{path:
    leaf}``), checked on shapes alone: no tensor is read where the state dict answers shapes (a
    safetensors file's header). Raises one ``StateDictMismatchError`` listing every fault (see
    ``apply_state_dict``)."""
    ignore = set(ignore_keys)
    keep = [as_path(p) for p in keep_paths]
    errors: list[str] = []
    steps: list[ReadStep] = []
    used: set[str] = set()
    writers: dict[Path, str] = {}
    for key, path, transform in mapping:
        path, transform = as_path(path), as_transform(transform)
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
        fault = (_shape_fault(key, path, transform, raw_shape, _shape(leaves[path]), lambda key=key: state_dict[key])
                 or _dtype_fault(key, path, stored_dtype(state_dict, key), leaves[path]))
        if fault:
            errors.append(fault)
            continue
        steps.append(ReadStep(key, path, transform, transform.permutation(len(raw_shape))))
    errors += [f"unused key {key!r} {stored_shape(state_dict, key)}" for key in state_dict
               if key not in used and key not in ignore and not key.endswith(IGNORED_SUFFIXES)]
    errors += [f"{_fmt(path)} {_shape(leaf)} is not written by any key" for path, leaf in leaves.items()
               if path not in writers and not any(path[: len(k)] == k for k in keep)]
    if errors:
        head = f"{source} does not fit the model: {len(errors)} problem{'s' if len(errors) > 1 else ''}"
        raise StateDictMismatchError(head + "\n  " + "\n  ".join(errors))
    return steps


def _shape_fault(key: str, path: Path, transform: Transform, raw_shape: tuple[int, ...], want: tuple[int, ...],
                 read: Callable[[], Any]) -> str | None:
    """Why ``transform`` does not take the stored ``raw_shape`` to the leaf's ``want``, or ``None``."""
    try:
        shape = transformed_shape(transform, raw_shape, read)
    except Exception as e:  # noqa: BLE001 - every transform fault goes into the one report
        return f"key {key!r} {raw_shape}: transform {transform} failed: {e}"
    if shape == want:
        return None
    through = "" if transform == identity else f" ({transform}: {shape})"
    return f"shape mismatch for {key!r} → {_fmt(path)}: checkpoint {raw_shape}{through}, model {want}"


def read_planned(steps: Sequence[ReadStep], leaves: Mapping[Path, Any], state_dict: Mapping[str, Any], *,
                 source: str = "state dict", convert: Callable[[np.ndarray, Any], Any] | None = None
                 ) -> dict[Path, Any]:
    """``{path: new leaf}`` for every step, one tensor at a time: never a second full copy of the
    model. Worker threads read the next tensors while this one hands the current to JAX; file
    reads and numpy copies release the GIL. Where the state dict can read a tensor straight into
    its new layout (``read_permuted``) and the step's transform is a pure permutation, that array
    is the only copy and JAX adopts it in place. ``convert`` stays in the calling thread, where
    JAX's thread-local configuration (``jax.enable_x64``, the default device) is the caller's."""
    import os
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    owned_convert = convert is None
    convert = _to_device if convert is None else convert
    workers = max(1, min(4, os.cpu_count() or 1))
    values = {}
    # Largest first, so that no worker is left alone with a big classifier at the end. Tensors are
    # taken as they finish, not in order, so that one big tensor does not hold the other workers
    # idle; at most ``workers + 1`` are read ahead of the one being handed over.
    todo = iter(sorted(steps, key=lambda step: -math.prod(_shape(leaves[step.path]))))
    in_flight: dict[Any, Path] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoo-read") as reader:

        def read_next() -> None:
            step = next(todo, None)
            if step is not None:
                in_flight[reader.submit(_read_step, step, state_dict, leaves[step.path], source)] = step.path

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
    return values


def _read_step(step: ReadStep, state_dict: Mapping[str, Any], target: Any, source: str) -> tuple[np.ndarray, bool]:
    """The step's array in the leaf's layout, and whether the loader made it itself (aligned, of
    the target's dtype: JAX may adopt it) rather than the transform."""
    read_permuted = getattr(state_dict, "read_permuted", None)
    target_dtype = getattr(target, "dtype", None)
    if read_permuted is not None and step.axes is not None and target_dtype is not None:
        array = read_permuted(step.key, step.axes, np.dtype(target_dtype))
        squeeze = step.transform.squeeze_axes
        return (np.squeeze(array, squeeze) if squeeze else array), True  # a view: still adopted
    value = np.asarray(state_dict[step.key])
    fault = _dtype_fault(step.key, step.path, value.dtype, target)  # a lazy mapping that could not tell before
    if fault:
        raise StateDictMismatchError(f"{source}: {fault}")
    array = step.transform(value)
    if tuple(array.shape) != _shape(target):  # a transform whose shape depends on values
        raise StateDictMismatchError(f"{source}: {step.key!r} became {tuple(array.shape)} through "
                                     f"{step.transform}, model {_shape(target)}")
    return array, False


def stored_shape(state_dict: Mapping[str, Any], key: str) -> tuple[int, ...]:
    """The shape of ``state_dict[key]`` without reading it where the mapping can tell (a
    ``shape(key)`` method, as zoo's lazy safetensors view has), else from the value."""
    shape_of = getattr(state_dict, "shape", None)
    if callable(shape_of):
        return tuple(shape_of(key))
    return tuple(np.shape(state_dict[key]))


def stored_dtype(state_dict: Mapping[str, Any], key: str) -> np.dtype | None:
    """The dtype of ``state_dict[key]`` where it can be told without reading a tensor: from a
    ``stored_dtype(key)`` method (zoo's lazy safetensors view), else from the value of a mapping
    of arrays; ``None`` for a lazy mapping without the method (its values are checked as they are
    read) or a value of no numpy dtype (a torch tensor: checked as it is read)."""
    dtype_of = getattr(state_dict, "stored_dtype", None)
    if callable(dtype_of):
        return np.dtype(dtype_of(key))
    if callable(getattr(state_dict, "shape", None)):
        return None
    dtype = getattr(state_dict[key], "dtype", None)
    try:
        return None if dtype is None else np.dtype(dtype)
    except TypeError:
        return None


def is_floating(dtype) -> bool:
    """Whether ``dtype`` holds real floating-point values (bfloat16 and the other ml_dtypes
    floats included, complex excluded)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return dtype.kind == "f"
    if dtype.kind != "V":  # ml_dtypes' floats (bfloat16, float8_*) are kind "V"
        return False
    import ml_dtypes

    try:
        ml_dtypes.finfo(dtype)
    except (ValueError, TypeError):
        return False
    return True


def _dtype_fault(key: str, path: Path, dtype: np.dtype | None, target: Any) -> str | None:
    """Why a tensor of ``dtype`` cannot be written to ``target``'s floating-point leaf (an integer,
    boolean or other non-floating tensor), or ``None``; ``None`` too when either dtype is unknown."""
    want = getattr(target, "dtype", None)
    if dtype is None or want is None or not is_floating(want) or is_floating(dtype):
        return None
    return (f"key {key!r} holds {dtype} values, which cannot be weights: {_fmt(path)} is {np.dtype(want)} "
            "(integer and boolean tensors are refused, not converted)")


def transformed_shape(transform: Transform, shape: tuple[int, ...], read: Callable[[], Any]) -> tuple[int, ...]:
    """The shape ``transform`` gives an array of ``shape``, found on a zero-stride stand-in (no
    tensor is read or allocated); a transform that refuses the read-only stand-in gets the value.
    ``transform`` may be a plain function (``as_transform``)."""
    transform = as_transform(transform)
    if transform == identity:
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
