"""Sessions: lint, tests (fast, offline, no torch), parity (against timm), bench, docs.

The README's test command is ``nox -s lint tests parity``; CI (``.ci/run``) runs exactly that.
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests", "parity"]
nox.options.reuse_existing_virtualenvs = False

PLUGINS = sorted(glob.glob("plugins/zoo-*"))
TEST_PLUGINS = ["tests/plugins/zoo-tinynet"]
TEST_PATHS = ["tests", *(f"{p}/tests" for p in PLUGINS if os.path.isdir(f"{p}/tests"))]
# torch and timm are test-only. These pins install from this project's machines' local wheels;
# on another machine any recent release works: ZOO_TORCH="torch torchvision" nox -s parity.
TORCH = os.environ.get("ZOO_TORCH", "torch==2.14.1 torchvision==0.29.1").split()


def install_zoo(session: nox.Session, *extra: str) -> None:
    session.install(".[test,image]", *PLUGINS, *TEST_PLUGINS, *extra)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Core and plugin tests: offline, CPU, no torch (parity tests are skipped here)."""
    install_zoo(session)
    session.run("pytest", *TEST_PATHS, "-m", "not parity", "-q", *session.posargs,
                env={"JAX_PLATFORMS": "cpu"})


@nox.session
def parity(session: nox.Session) -> None:
    """Every ``@pytest.mark.parity`` test: zoo against timm on randomized weights."""
    install_zoo(session, *TORCH, "timm")
    session.run("pytest", *TEST_PATHS, "-m", "parity", "-q", *session.posargs,
                env={"JAX_PLATFORMS": "cpu"})


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Throughput tables: ours next to timm eager, every figure from the same run."""
    install_zoo(session, *TORCH, "timm")
    for script in sorted(glob.glob("benchmarks/bench_*.py")):
        session.run("python", script, *session.posargs)
