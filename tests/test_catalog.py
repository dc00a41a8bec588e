"""The first-party catalog (zoo_core/known_architectures.json): an unknown variant that a zoo family
not installed would provide names that distribution — from data, checked here against the families
themselves, never from code that names them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import zoo_core
from zoo_core import catalog
from zoo_core.errors import UnknownVariantError
from zoo_core.registry import Registry

REPO = Path(__file__).resolve().parents[1]


def test_the_catalog_is_what_the_installed_first_party_families_register():
    """Every plugins/* distribution is in the data file with exactly the architectures its family
    registers, in its order; a family that gains or loses an architecture fails here until
    `python -m zoo_core.catalog --write` is run."""
    written = json.loads(catalog.CATALOG_PATH.read_text(encoding="utf-8"))["distributions"]
    assert sorted(written) == sorted(catalog.first_party_distributions(REPO))
    assert written == catalog.current_catalog(REPO), "stale: run python -m zoo_core.catalog --write"
    assert catalog.main(["--repo", str(REPO)]) == 0


def test_an_architecture_of_a_family_not_registered_names_its_distribution():
    """With no family registered (zoo-core alone), asking for a first-party architecture says which
    distribution to install; a name nobody knows gets no such hint."""
    arch, dist = next(iter(catalog.known_architectures().items()))
    empty = Registry()
    with pytest.raises(UnknownVariantError) as err:
        empty.get(f"{arch}.some_tag")
    assert f"{arch} is provided by" in str(err.value) and dist in str(err.value)
    with pytest.raises(UnknownVariantError) as plain:
        empty.get("no_such_arch_anywhere")
    assert "provided by" not in str(plain.value)


def test_not_installed_installed_but_not_loaded_and_stale_are_told_apart(monkeypatch):
    """The three reasons a catalogued architecture is missing get three different sentences."""
    from importlib import metadata

    monkeypatch.setattr(catalog, "known_architectures", lambda: {"fancynet_s": "zoo-fancynet", "resnet50": "zoo-resnet"})
    missing = catalog.provider_hint("fancynet_s", [])
    assert missing == "fancynet_s is provided by the distribution zoo-fancynet, which is not installed: pip install zoo-fancynet"
    assert "installed but did not load" in catalog.provider_hint("resnet50", [])  # zoo-resnet is installed here
    assert metadata.version("zoo-resnet")
    stale = catalog.provider_hint("resnet50", ["ZOO_RESNET"])  # registered under pip's other spelling
    assert "does not register it" in stale and "pip install -U zoo-resnet" in stale
    assert catalog.provider_hint("unknownnet", []) is None


def test_the_cli_and_the_api_name_the_distribution_of_a_disabled_first_party_family(monkeypatch, capsys):
    """End to end: zoo-resnet kept out by ZOO_DISABLE_PLUGINS behaves as not loaded, and both the API
    and `zoo info` say which distribution provides resnet50."""
    from zoo_core import plugins
    from zoo_core.cli import main

    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "zoo-resnet")
    plugins.reset()
    with pytest.raises(UnknownVariantError, match=r"resnet50 is provided by zoo-resnet .*installed but did not load"):
        zoo_core.get_variant("resnet50")
    assert main(["info", "resnet50"]) == UnknownVariantError.exit_code
    assert "zoo-resnet" in capsys.readouterr().err


def test_a_missing_or_broken_data_file_only_drops_the_hint(monkeypatch, tmp_path):
    """The hint is a courtesy: an unreadable catalog never turns into an error of its own."""
    bad = tmp_path / "known_architectures.json"
    bad.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(catalog, "CATALOG_PATH", bad)
    catalog.known_architectures.cache_clear()
    try:
        assert catalog.known_architectures() == {}
        with pytest.raises(UnknownVariantError):
            Registry().get("resnet50")
    finally:
        catalog.known_architectures.cache_clear()
