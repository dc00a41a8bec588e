"""pytest plugin registered by zoo-core: the ``parity`` marker and shared fixtures."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "parity: compares against timm (needs torch and timm)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
