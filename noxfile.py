"""Sessions: lint, tests (fast, offline, no torch), parity (against timm), install_one (one family
alone from wheels), docs (mkdocs --strict), bench (not by default).

The README's test command runs ``nox`` with its default sessions; CI (``.ci/run``) runs exactly that.
"""

from __future__ import annotations

import glob
import os
import re

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests", "parity", "install_one", "docs"]
nox.options.reuse_existing_virtualenvs = False

PLUGINS = sorted(glob.glob("plugins/zoo-*"))
EXAMPLE_PLUGINS = sorted(glob.glob("examples/zoo-*"))
TEST_PLUGINS = ["tests/plugins/zoo-tinynet"]
# Optional compiled kernels (a C++ compiler builds them at install); the families' tests and parity
# run with them, the install_one sessions without them (the pure-JAX path).
KERNELS = sorted(glob.glob("kernels/zoo-*"))
TEST_PATHS = ["tests", *(f"{p}/tests" for p in PLUGINS + EXAMPLE_PLUGINS + KERNELS if os.path.isdir(f"{p}/tests"))]
# torch and timm are test-only. These pins install from this project's machines' local wheels;
# on another machine any recent release works: ZOO_TORCH="torch torchvision" nox -s parity.
TORCH = os.environ.get("ZOO_TORCH", "torch==2.14.1 torchvision==0.29.1").split()


def install_zoo(session: nox.Session, *extra: str) -> None:
    session.install(".[test,image]", *PLUGINS, *EXAMPLE_PLUGINS, *TEST_PLUGINS, *KERNELS, *extra)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Core and plugin tests: offline, CPU, no torch (parity tests are skipped here)."""
    install_zoo(session, "optax", ".[flax,equinox,orbax]")
    session.run("pytest", *TEST_PATHS, "-m", "not parity and not torch", "-q", *session.posargs,
                env={"JAX_PLATFORMS": "cpu"})


@nox.session
def parity(session: nox.Session) -> None:
    """Every ``@pytest.mark.parity`` test (zoo against timm on randomized weights) and every test
    that needs torch, but the ``largest`` variants' parity (``parity_largest``)."""
    install_zoo(session, *TORCH, "timm")
    session.run("pytest", *TEST_PATHS, "-m", "(parity or torch) and not largest", "-q", "--durations=15",
                *session.posargs, env={"JAX_PLATFORMS": "cpu"})


@nox.session(default=False)
def parity_largest(session: nox.Session) -> None:
    """Parity of the largest variants (BiT-101x3 and 152x4, ConvNeXt-V2-huge, ViT-huge): 40–105 s
    and up to ~10 GB each, so not in CI. The same code as their smaller siblings, with the
    variant's own widths and depths; run it when a family's architecture or mapping changes."""
    install_zoo(session, *TORCH, "timm")
    session.run("pytest", *TEST_PATHS, "-m", "largest", "-q", "--durations=15", *session.posargs,
                env={"JAX_PLATFORMS": "cpu"})


def _pyproject(plugin: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10: nox itself depends on tomli there
        import tomli as tomllib

    with open(f"{plugin}/pyproject.toml", "rb") as f:
        return tomllib.load(f)


# Each in-repo family names its own small variant for the single-install check, in its pyproject's
# [tool.zoo] install-check; a family without one gets no install_one session.
INSTALL_CHECKS = {p.removeprefix("plugins/zoo-"): check for p in PLUGINS
                  if (check := _pyproject(p).get("tool", {}).get("zoo", {}).get("install-check"))}


def _plugin_dependencies(family: str) -> list[str]:
    """The in-repo families that ``plugins/zoo-<family>`` depends on (zoo-convnextv2 builds on
    zoo-convnext's architecture), read from its pyproject.toml, transitively."""
    requires = _pyproject(f"plugins/zoo-{family}")["project"].get("dependencies", [])
    names = [re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in requires]
    deps = [n.removeprefix("zoo-") for n in names if n.startswith("zoo-") and n != "zoo-core"]
    return [d for dep in deps for d in (*_plugin_dependencies(dep), dep)]


@nox.session
@nox.parametrize("family", list(INSTALL_CHECKS))
def install_one(session: nox.Session, family: str) -> None:
    """Wheels of zoo-core and one family (plus the in-repo families it declares as dependencies),
    alone in a fresh environment: listed, downloaded, offline."""
    wheels = session.create_tmp()
    needed = [*dict.fromkeys(_plugin_dependencies(family)), family]
    session.run("python", "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, ".",
                *(f"plugins/zoo-{f}" for f in needed))
    session.install(*glob.glob(os.path.join(wheels, "*.whl")))
    session.run("python", "tests/install_check.py", family, INSTALL_CHECKS[family], *needed[:-1],
                env={"JAX_PLATFORMS": "cpu"})


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built with mkdocs in strict mode (broken links fail)."""
    session.install("mkdocs")
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp() + "/site")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Throughput tables: ours next to timm eager, every figure from the same run."""
    install_zoo(session, *TORCH, "timm")
    for script in sorted(glob.glob("benchmarks/bench_*.py")):
        session.run("python", script, *session.posargs)
    # Again with glibc's huge pages (zoo_core.hostmem: what `zoo predict`/`zoo embed` run with on Linux).
    session.run("python", "benchmarks/bench_families.py", *session.posargs,
                env={"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"})
