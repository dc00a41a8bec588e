"""pytest plugin shipped with zoo-core (entry point ``pytest11: zoo``), for zoo and family authors.

Markers: ``parity`` (compares against timm; needs torch and timm) and ``slow``.
Fixtures: ``zoo_hf_cache`` (an empty Hugging Face cache, set as ``HF_HUB_CACHE``) and
``zoo_hub`` (a ``LoopbackHub`` with ``HF_ENDPOINT`` pointing at it and Xet disabled).
"""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "parity: compares against timm (needs torch and timm)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "largest: parity of a family's largest variants (opt-in)")


@pytest.fixture
def zoo_hf_cache(tmp_path, monkeypatch) -> str:
    """An empty Hugging Face cache directory, exported as ``HF_HUB_CACHE``."""
    cache = tmp_path / "zoo-hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return str(cache)


@pytest.fixture
def zoo_hub(monkeypatch):
    """A loopback Hub for the test's duration: ``zoo_hub.add_file(repo_id, filename, data)``."""
    from zoo_core.testing.hub_server import LoopbackHub

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    with LoopbackHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        yield hub
