"""Which distribution provides an architecture that is not installed: zoo's first-party catalog.

zoo-core names no family in its code (families arrive through entry points), yet a person who asks
for ``convnext_tiny`` with only ``zoo-core`` installed should be told to ``pip install
zoo-convnext``. That knowledge is data: ``known_architectures.json`` beside this module maps every
architecture of the families developed with zoo-core (``plugins/*`` in its repository) to the
distribution that provides it. It is written from the installed families' own registries by

    python -m zoo_core.catalog --write

and a test (``tests/test_catalog.py``) fails when it disagrees with them, so it cannot go stale
silently. Third-party families are not listed: an unknown name among theirs gets the usual
"closest matches" message.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

CATALOG_PATH = Path(__file__).with_name("known_architectures.json")


@functools.lru_cache(maxsize=1)
def known_architectures() -> dict[str, str]:
    """``{architecture: distribution}`` for zoo's first-party families (empty when the data file
    is missing or unreadable: the hint is a courtesy, never an error of its own)."""
    try:
        data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {arch: dist for dist, archs in data.get("distributions", {}).items() for arch in archs}


def provider_hint(arch: str, registered: Iterable[str]) -> str | None:
    """A sentence naming the distribution that provides ``arch``, or ``None`` when the catalog
    does not know it. ``registered`` are the distributions whose families are registered now."""
    from importlib.metadata import PackageNotFoundError, version

    from zoo_core.plugin_selection import normalize_name  # light: no JAX, no entry-point scan

    dist = known_architectures().get(arch)
    if dist is None:
        return None
    if normalize_name(dist) in {normalize_name(d) for d in registered if d}:
        return (f"{arch} belongs to {dist}, whose installed release does not register it: it is older or newer "
                f"than this zoo-core's catalog (pip install -U {dist} zoo-core)")
    try:
        installed = version(dist)
    except PackageNotFoundError:
        return f"{arch} is provided by the distribution {dist}, which is not installed: pip install {dist}"
    return f"{arch} is provided by {dist} {installed}, which is installed but did not load (`zoo plugins` says why)"


def catalog_of(families: Iterable, distributions: Iterable[str]) -> dict[str, list[str]]:
    """``{distribution: [architectures in registry order]}`` for the registered ``families`` whose
    distribution is one of ``distributions``."""
    from zoo_core.plugin_selection import normalize_name

    wanted = {normalize_name(d): d for d in distributions}
    out: dict[str, list[str]] = {d: [] for d in sorted(wanted.values())}
    for family in families:
        dist = wanted.get(normalize_name(family.distribution or ""))
        if dist is None:
            continue
        for variant in family.variants:
            if variant.arch not in out[dist]:
                out[dist].append(variant.arch)
    return out


def render(catalog: Mapping[str, list[str]]) -> str:
    """The data file's text: stable, one architecture per line, so diffs read well."""
    data = {"about": "Architectures of zoo's first-party families and the distribution providing each; "
                     "written by `python -m zoo_core.catalog --write`, checked by tests/test_catalog.py.",
            "distributions": dict(catalog)}
    return json.dumps(data, indent=1) + "\n"


def first_party_distributions(repo_root: Path) -> list[str]:
    """The distribution names of ``plugins/*/pyproject.toml`` in zoo's repository."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    names = []
    for pyproject in sorted(repo_root.glob("plugins/*/pyproject.toml")):
        with open(pyproject, "rb") as f:
            names.append(tomllib.load(f)["project"]["name"])
    return names


def current_catalog(repo_root: Path) -> dict[str, list[str]]:
    """The catalog the installed first-party families give now."""
    from zoo_core.plugins import plugin_host

    return catalog_of(plugin_host().registry().families.values(), first_party_distributions(repo_root))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo_core.catalog", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite known_architectures.json from the installed families")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1],
                        help="zoo's repository root (holds plugins/*)")
    args = parser.parse_args(argv)
    text = render(current_catalog(args.repo))
    if args.write:
        CATALOG_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {CATALOG_PATH}")
        return 0
    same = CATALOG_PATH.exists() and CATALOG_PATH.read_text(encoding="utf-8") == text
    print("up to date" if same else f"{CATALOG_PATH} is stale: run python -m zoo_core.catalog --write")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
