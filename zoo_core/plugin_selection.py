"""Which entry points load, and under which name: ``ZOO_LOAD_PLUGINS``, ``ZOO_DISABLE_PLUGINS``.

Both variables hold comma-separated names: an entry point's, its distribution's, or
``distribution:entry-point``. Names are compared as pip compares distribution names (PEP 503:
case does not matter, each run of ``-``, ``_`` and ``.`` is one ``-``), whitespace around a name
is ignored. ``ZOO_LOAD_PLUGINS`` unset loads every plugin, empty loads none; a name in it that
matches no entry point is reported (``PluginSelection.error``), not silently ignored.

A plugin's registration name is its entry-point name, or ``distribution:entry-point`` when
several distributions have an entry point of that name: pluggy's names are unique, and neither
plugin hides the other.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from importlib import metadata

import attrs

from zoo_core.errors import PluginError


def normalize_name(name: str) -> str:
    """A plugin name as pip compares distribution names (PEP 503): surrounding whitespace dropped,
    lowercase, each run of ``-``, ``_`` and ``.`` one ``-`` (``Zoo_ConvNeXt`` -> ``zoo-convnext``)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def distribution_of(ep: metadata.EntryPoint) -> str:
    """The name of the distribution that declares ``ep`` (``""`` when it has none)."""
    return ep.dist.name if ep.dist is not None else ""


def _requested(var: str) -> tuple[str, ...] | None:
    """The comma-separated names in environment variable ``var`` as written (``None`` when it is unset)."""
    raw = os.environ.get(var)
    return None if raw is None else tuple(n.strip() for n in raw.split(",") if n.strip())


def _identities(ep: metadata.EntryPoint) -> set[str]:
    """The normalized names that select ``ep``: its own, its distribution's, ``distribution:entry-point``."""
    dist = distribution_of(ep)
    names = {ep.name, dist, f"{dist}:{ep.name}"} if dist else {ep.name}
    return {normalize_name(n) for n in names}


@attrs.frozen
class PluginSelection:
    """How ``ZOO_LOAD_PLUGINS`` and ``ZOO_DISABLE_PLUGINS`` applied to the entry points found.

    ``requested``: the names ``ZOO_LOAD_PLUGINS`` gives, as written (``None``: unset, load every
    plugin; empty: load none); ``missing``: those that match no entry point found; ``installed``:
    every entry point found, as ``name (distribution)``; ``skipped``: those the two variables kept
    from loading, the same way.
    """

    requested: tuple[str, ...] | None = None
    missing: tuple[str, ...] = ()
    installed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    def error(self) -> PluginError | None:
        """A ``PluginError`` naming the requested plugins that are not installed, or ``None``."""
        if not self.missing:
            return None
        return PluginError(
            f"ZOO_LOAD_PLUGINS names {', '.join(map(repr, self.missing))}, which no installed plugin matches "
            f"(entry-point or distribution names, compared as pip does); installed: "
            f"{', '.join(self.installed) or 'none'}")


def select(found: list[metadata.EntryPoint]) -> tuple[list[metadata.EntryPoint], PluginSelection]:
    """The entry points of ``found`` that the environment lets load, in order, and the selection's report."""
    load, disable = _requested("ZOO_LOAD_PLUGINS"), _requested("ZOO_DISABLE_PLUGINS") or ()
    wanted = None if load is None else {normalize_name(n) for n in load}
    skipped = {normalize_name(n) for n in disable}
    identities = [_identities(ep) for ep in found]
    selected = [ep for ep, ids in zip(found, identities, strict=True)
                if (wanted is None or ids & wanted) and not ids & skipped]
    known = set().union(*identities)
    missing = tuple(n for n in load or () if normalize_name(n) not in known)
    def label(ep: metadata.EntryPoint) -> str:
        return f"{ep.name} ({distribution_of(ep) or '?'})"

    chosen = {id(ep) for ep in selected}
    skipped = tuple(label(ep) for ep in found if id(ep) not in chosen)
    return selected, PluginSelection(load, missing, tuple(map(label, found)), skipped)


def registration_names(eps: list[metadata.EntryPoint]) -> list[tuple[str, metadata.EntryPoint]]:
    """Each entry point with its plugin name: the entry point's own, or ``distribution:name`` when
    another of ``eps`` has that entry-point name."""
    counts = Counter(ep.name for ep in eps)
    return [(ep.name if counts[ep.name] == 1 else f"{distribution_of(ep) or '?'}:{ep.name}", ep) for ep in eps]
