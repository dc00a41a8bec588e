"""Shared fixtures for zoo-core's tests: isolated HF caches, a loopback Hub, a clean plugin state."""

from __future__ import annotations

import os

import pytest

from zoo_core import plugins

try:  # property-based tests: the same examples on every CI run, so a red CI is a reproducible one
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI"):
        settings.load_profile("ci")
except ImportError:  # hypothesis is a test extra; the property tests import it themselves
    pass


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Every test gets its own empty HF cache and no inherited Hub/plugin settings."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for var in ("HF_ENDPOINT", "HF_HUB_OFFLINE", "ZOO_LOAD_PLUGINS", "ZOO_DISABLE_PLUGINS", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def hf_cache() -> str:
    return os.environ["HF_HUB_CACHE"]


@pytest.fixture
def hub(zoo_hub):
    """The pytest plugin's loopback Hub (``HF_ENDPOINT`` points at it)."""
    return zoo_hub
