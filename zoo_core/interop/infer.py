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


@attrs.define
class _Pairing:
    """What inference has paired so far, and what is left on each side."""

    free_keys: dict[str, tuple[int, ...]]
    free_leaves: dict[Path, tuple[int, ...]]
    triples: list[tuple[str, Path, Transform]] = attrs.field(factory=list)
    how: dict[str, str] = attrs.field(factory=dict)
    ambiguous: list[str] = attrs.field(factory=list)

    def fit(self, key: str, path: Path) -> Transform | None:
        return _transform_for(path[-1], self.free_keys[key], self.free_leaves[path])

    def pair(self, key: str, path: Path, transform: Transform, method: str) -> None:
        self.triples.append((key, path, transform))
        self.how[key] = method
        self.free_keys.pop(key)
        self.free_leaves.pop(path)

    def by_hints(self, hints: Sequence[tuple[str, str]]) -> None:
        """The leaves and keys each ``(our_path_regex, checkpoint_key_regex)`` matches, in order."""
        for ours_re, theirs_re in hints:
            ours = [p for p in self.free_leaves if re.search(ours_re, "/".join(p[1:]))]
            theirs = [k for k in self.free_keys if re.search(theirs_re, k)]
            if len(ours) != len(theirs):
                self.ambiguous.append(f"hint ({ours_re!r}, {theirs_re!r}) matches {len(ours)} leaves but "
                                      f"{len(theirs)} keys")
                continue
            for p, k in zip(ours, theirs):
                t = self.fit(k, p)
                if t is None:
                    self.ambiguous.append(f"hint pairs {k} {self.free_keys[k]} with {'/'.join(p)} "
                                          f"{self.free_leaves[p]}: no layout fits")
                    continue
                self.pair(k, p, t, "hint")

    def by_name(self) -> None:
        """Each leaf with the key timm's naming convention gives it, where the shapes fit."""
        for p in list(self.free_leaves):
            k = _convention_key(p)
            if k in self.free_keys and (t := self.fit(k, p)) is not None:
                self.pair(k, p, t, "name")

    def by_similar_name(self) -> None:
        """Each leaf with the one fitting key whose name is clearly the closest (ratio ≥ 0.75)."""
        for p in list(self.free_leaves):
            fitting = [k for k in self.free_keys if self.fit(k, p)]
            if not fitting:
                continue
            target = _tokens(_convention_key(p))
            scored = sorted(((difflib.SequenceMatcher(None, target, _tokens(k)).ratio(), k) for k in fitting),
                            reverse=True)
            best, key = scored[0]
            if best >= 0.75 and (len(scored) == 1 or scored[1][0] < best - 0.05):
                self.pair(key, p, self.fit(key, p), "similar name")

    def by_order(self) -> None:
        """Leaves of one name and shape against as many fitting keys: paired in order."""
        groups: dict[tuple, tuple[list[Path], list[str]]] = {}
        for p, shape in self.free_leaves.items():
            groups.setdefault((p[0], p[-1], shape), ([], []))[0].append(p)
        for k in self.free_keys:
            for (_root, leaf, shape), (_paths, ks) in groups.items():
                if _transform_for(leaf, self.free_keys[k], shape) is not None:
                    ks.append(k)
                    break
        for (_root, leaf, shape), (paths, ks) in groups.items():
            if paths and len(paths) == len(ks):
                for p, k in zip(paths, ks):
                    self.pair(k, p, self.fit(k, p), "order")
            elif paths and ks:
                self.ambiguous.append(f"{len(paths)} leaves {leaf} {shape} against {len(ks)} checkpoint keys: "
                                      "add a hint")


def infer_mapping(state_dict: Mapping[str, Any], params: Mapping[str, Any], state: Mapping[str, Any] | None = None,
                  *, hints: Sequence[tuple[str, str]] = ()) -> MappingProposal:
    """Propose ``(key, path, transform)`` triples mapping ``state_dict`` (arrays, or anything with
    ``.shape``; or a ``{key: shape}`` dict) onto ``params``/``state`` (arrays or ShapeDtypeStructs).

    Four passes, each on what the ones before left: ``hints`` — ``(our_path_regex,
    checkpoint_key_regex)`` pairs whose leaves and keys are paired in order, which settles what
    names and shapes cannot —, timm's naming convention, a clearly closest name, and the order of
    leaves and keys of one name and shape.
    """
    def shape_of(v):
        return tuple(v) if isinstance(v, tuple) else tuple(np.shape(v))

    keys = {k: shape_of(v) for k, v in state_dict.items() if not k.endswith(IGNORED_SUFFIXES)}
    leaves: dict[Path, tuple[int, ...]] = {}
    for root, tree in (("params", params), ("state", state or {})):
        for path, leaf in tree_leaves_with_paths(tree):
            leaves[(root, *path)] = tuple(leaf.shape)
    pairing = _Pairing(dict(keys), dict(leaves))
    pairing.by_hints(hints)
    pairing.by_name()
    pairing.by_similar_name()
    pairing.by_order()
    order = {p: i for i, p in enumerate(leaves)}
    triples = sorted(pairing.triples, key=lambda t: order[t[1]])
    return MappingProposal(tuple(triples), pairing.how, tuple(pairing.free_keys), tuple(pairing.free_leaves),
                           tuple(pairing.ambiguous), leaves)
