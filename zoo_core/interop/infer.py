"""Proposing a weight mapping from names, shapes and order (weightbridge's idea, for zoo trees).

``infer_mapping(state_dict, params, state)`` pairs each leaf of our trees with a checkpoint key in
four passes, most certain first: the author's ``hints``; the leaf-name convention of
``tree_mapping``; similar names among keys of a fitting shape; and, for what is left, order within
each group of same-shaped tensors. A pair needs a layout transform that turns the checkpoint's shape
into the leaf's. What cannot be paired, or is ambiguous, is reported rather than guessed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from zoo_core.interop.mapping import LEAF_TO_TORCH, default_transform
from zoo_core.interop.state_dict import IGNORED_SUFFIXES, tree_leaves_with_paths
from zoo_core.interop.transforms import Transform, conv1x1_to_dense, conv_to_hwio, identity, linear_to_dense

Path = tuple[str, ...]
CANDIDATE_TRANSFORMS: tuple[Transform, ...] = (conv_to_hwio, linear_to_dense, conv1x1_to_dense, identity)


def _fits(transform: Transform, theirs: tuple[int, ...], ours: tuple[int, ...]) -> bool:
    try:
        return transform(np.empty(theirs, np.float32)).shape == ours
    except ValueError:
        return False


def _transform_for(leaf: str, theirs: tuple[int, ...], ours: tuple[int, ...]) -> Transform | None:
    preferred = [conv_to_hwio] if leaf == "kernel" and len(ours) == 4 else []
    preferred += [linear_to_dense, conv1x1_to_dense] if leaf == "kernel" and len(ours) == 2 else []
    for t in (*preferred, identity, *CANDIDATE_TRANSFORMS):
        if (t is identity or leaf == "kernel") and _fits(t, theirs, ours):
            return t
    return None


def _convention_key(path: Path) -> str:
    return ".".join((*path[1:-1], LEAF_TO_TORCH.get(path[-1], path[-1])))


def _tokens(name: str) -> list[str]:
    return [LEAF_TO_TORCH.get(t, t) for t in re.split(r"[./_]", name.lower()) if t]


@attrs.frozen
class MappingProposal:
    triples: tuple[tuple[str, Path, Transform], ...]
    how: Mapping[str, str]                  # checkpoint key → "hint" | "name" | "similar name" | "order"
    unpaired_keys: tuple[str, ...]
    unpaired_paths: tuple[Path, ...]
    ambiguous: tuple[str, ...]
    leaf_shapes: Mapping[Path, tuple[int, ...]] = attrs.field(factory=dict, repr=False)

    def rules(self) -> list[tuple[str, str, str]]:
        """The pairs that ``tree_mapping``'s convention would not find, as ``(path regex, key
        template, transform name)`` rules to paste into a family's ``weights.py``; block indices
        are generalized to ``(\\d+)`` groups and identical rules merged."""
        out: list[tuple[str, str, str]] = []
        for key, path, transform in self.triples:
            if _convention_key(path) == key and transform == _default(path, self.leaf_shapes):
                continue
            parts, n = [], 0
            template = key
            for part in path[1:]:
                if part.isdigit():
                    n += 1
                    parts.append(r"(\d+)")
                    template = re.sub(rf"(?<![\w\\]){part}(?!\w)", rf"\\{n}", template, count=1)
                else:
                    parts.append(re.escape(part))
            rule = ("/".join(parts), template, transform.name)
            if rule not in out:
                out.append(rule)
        return out

    def report(self) -> str:
        lines = [f"{len(self.triples)} pairs: " + ", ".join(
            f"{sum(1 for v in self.how.values() if v == how)} by {how}" for how in ("hint", "name", "similar name", "order"))]
        rules = self.rules()
        if rules:
            lines.append("rules = [")
            lines += [f'    (r"{p}", "{k}", {t}),' for p, k, t in rules]
            lines.append("]")
        else:
            lines.append("rules = []  # tree_mapping's convention covers every pair")
        if self.unpaired_keys:
            lines.append(f"checkpoint keys left unpaired ({len(self.unpaired_keys)}): " + ", ".join(self.unpaired_keys))
        if self.unpaired_paths:
            lines.append(f"leaves left unpaired ({len(self.unpaired_paths)}): "
                         + ", ".join("/".join(p) for p in self.unpaired_paths))
        for note in self.ambiguous:
            lines.append(f"ambiguous: {note}")
        return "\n".join(lines)


def _default(path: Path, shapes: Mapping[Path, tuple[int, ...]]) -> Transform:
    return default_transform(path[-1], len(shapes.get(path, ())))


def infer_mapping(state_dict: Mapping[str, Any], params: Mapping[str, Any], state: Mapping[str, Any] | None = None,
                  *, hints: Sequence[tuple[str, str]] = ()) -> MappingProposal:
    """Propose ``(key, path, transform)`` triples mapping ``state_dict`` (arrays, or anything with
    ``.shape``; or a ``{key: shape}`` dict) onto ``params``/``state`` (arrays or ShapeDtypeStructs).

    ``hints`` are ``(our_path_regex, checkpoint_key_regex)`` pairs: the leaves and keys each pair
    matches are paired in order, before anything else, which settles what names and shapes cannot.
    """
    def shape_of(v):
        return tuple(v) if isinstance(v, tuple) else tuple(np.shape(v))

    keys = {k: shape_of(v) for k, v in state_dict.items() if not k.endswith(IGNORED_SUFFIXES)}
    leaves: dict[Path, tuple[int, ...]] = {}
    for root, tree in (("params", params), ("state", state or {})):
        for path, leaf in tree_leaves_with_paths(tree):
            leaves[(root, *path)] = tuple(leaf.shape)
    free_keys = dict(keys)
    free_leaves = dict(leaves)
    triples: list[tuple[str, Path, Transform]] = []
    how: dict[str, str] = {}
    ambiguous: list[str] = []

    def pair(key: str, path: Path, transform: Transform, method: str) -> None:
        triples.append((key, path, transform))
        how[key] = method
        free_keys.pop(key)
        free_leaves.pop(path)

    for ours_re, theirs_re in hints:
        ours = [p for p in free_leaves if re.search(ours_re, "/".join(p[1:]))]
        theirs = [k for k in free_keys if re.search(theirs_re, k)]
        if len(ours) != len(theirs):
            ambiguous.append(f"hint ({ours_re!r}, {theirs_re!r}) matches {len(ours)} leaves but {len(theirs)} keys")
            continue
        for p, k in zip(ours, theirs):
            t = _transform_for(p[-1], free_keys[k], free_leaves[p])
            if t is None:
                ambiguous.append(f"hint pairs {k} {free_keys[k]} with {'/'.join(p)} {free_leaves[p]}: no layout fits")
                continue
            pair(k, p, t, "hint")

    for p in list(free_leaves):
        k = _convention_key(p)
        if k in free_keys:
            t = _transform_for(p[-1], free_keys[k], free_leaves[p])
            if t is not None:
                pair(k, p, t, "name")

    for p in list(free_leaves):
        fitting = [k for k in free_keys if _transform_for(p[-1], free_keys[k], free_leaves[p])]
        if not fitting:
            continue
        target = _tokens(_convention_key(p))
        scored = sorted(((difflib.SequenceMatcher(None, target, _tokens(k)).ratio(), k) for k in fitting), reverse=True)
        best, key = scored[0]
        if best >= 0.75 and (len(scored) == 1 or scored[1][0] < best - 0.05):
            pair(key, p, _transform_for(p[-1], free_keys[key], free_leaves[p]), "similar name")

    groups: dict[tuple, tuple[list[Path], list[str]]] = {}
    for p, shape in free_leaves.items():
        groups.setdefault((p[0], p[-1], shape), ([], []))[0].append(p)
    for k in free_keys:
        for (_root, leaf, shape), (_paths, ks) in groups.items():
            if _transform_for(leaf, free_keys[k], shape) is not None:
                ks.append(k)
                break
    for (_root, leaf, shape), (paths, ks) in groups.items():
        if paths and len(paths) == len(ks):
            for p, k in zip(paths, ks):
                pair(k, p, _transform_for(p[-1], free_keys[k], free_leaves[p]), "order")
        elif paths and ks:
            ambiguous.append(f"{len(paths)} leaves {leaf} {shape} against {len(ks)} checkpoint keys: add a hint")

    order = {p: i for i, p in enumerate(leaves)}
    triples.sort(key=lambda t: order[t[1]])
    return MappingProposal(tuple(triples), how, tuple(free_keys), tuple(free_leaves), tuple(ambiguous), leaves)
