"""Deriving a family's mapping from its trees: timm's module names are our tree's keys.

A mapping is a list of ``(timm_key, path, transform)`` triples (``zoo_core.interop.state_dict``
applies it). For trees that mirror timm's module names, ``tree_mapping`` derives every triple by
the leaf-name convention, with a few regex rules for what the convention does not cover.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from zoo_core.interop.state_dict import Triple, tree_leaves_with_paths
from zoo_core.interop.transforms import Transform, as_transform, conv_to_hwio, identity, linear_to_dense

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
    (``re.Match.expand``), ``None`` skips the leaf, and a ``None`` transform means the default
    (a plain function is wrapped by ``as_transform``).
    """
    compiled = [(re.compile(pattern), repl, None if transform is None else as_transform(transform))
                for pattern, repl, transform in rules]
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
