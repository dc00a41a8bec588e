"""Trees written back to timm's state dict: a family's mapping read the other way.

A mapping's triple ``(timm_key, path, transform)`` says how the checkpoint's tensor becomes the
leaf at ``path``; ``transform.inverse()`` takes the leaf back to the checkpoint's layout. This is
what a ``save_pretrained`` writes, and what the tests use to make a checkpoint of known values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from zoo_core.errors import StateDictMismatchError
from zoo_core.interop.state_dict import as_path, get_path
from zoo_core.interop.transforms import NotInvertibleError, Transform, as_transform

Trees = Mapping[str, Any] | tuple[Mapping[str, Any], Mapping[str, Any]]


def to_state_dict(
    trees: Trees,
    mapping: Iterable[tuple[str, str | Sequence[str], Transform | Callable[[np.ndarray], np.ndarray] | None]],
) -> dict[str, np.ndarray]:
    """``{timm_key: transform.inverse()(leaf)}`` for every triple of ``mapping``: each leaf as a
    C-contiguous numpy array of its own dtype in the checkpoint's layout (OIHW convs, (out, in)
    linears), in the mapping's order.

    ``trees`` is what the mapping's paths index: ``{"params": params, "state": state}``, or the
    ``(params, state)`` pair itself. Every fault is listed in one error: a path that is not a leaf
    of ``trees`` or a key written twice raises ``StateDictMismatchError``; otherwise a transform
    with no inverse (a plain function, ``adapt_input_conv``) raises ``NotInvertibleError``, each
    naming the key, the path and the transform.
    """
    if isinstance(trees, tuple):
        params, state = trees
        trees = {"params": params, "state": state}
    out: dict[str, np.ndarray] = {}
    faults: list[str] = []
    not_invertible: list[str] = []
    seen: set[str] = set()
    for key, path, transform in mapping:
        path, transform = as_path(path), as_transform(transform)
        where = f"{key!r} ← {'/'.join(path)}"
        leaf = _leaf(trees, path)
        if leaf is None or key in seen:
            faults.append(f"{where}: {'not a leaf of the trees' if leaf is None else 'key written twice'}")
            continue
        seen.add(key)
        try:
            inverse = transform.inverse()
        except NotInvertibleError as e:  # the error names the transform
            not_invertible.append(f"{where}: {e}")
            continue
        out[key] = np.ascontiguousarray(inverse(np.asarray(leaf)))
    if faults:
        raise StateDictMismatchError(_report("the trees do not fit the mapping", faults + not_invertible))
    if not_invertible:
        raise NotInvertibleError(_report("cannot write the trees in the checkpoint's layout", not_invertible))
    return out


def _leaf(trees: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The leaf at ``path``, or ``None`` where there is none (a missing key, a subtree)."""
    try:
        leaf = get_path(trees, path)
    except (KeyError, TypeError, IndexError):
        return None
    return None if isinstance(leaf, Mapping) else leaf


def _report(head: str, lines: list[str]) -> str:
    return f"{head}: {len(lines)} problem{'s' if len(lines) > 1 else ''}\n  " + "\n  ".join(lines)
