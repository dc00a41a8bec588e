"""Host memory on Linux: glibc's huge-page tunable for the buffers XLA's CPU runtime allocates per call.

XLA's CPU runtime allocates each call's temporaries as one buffer (ResNet-50 at batch 8: 139 MB) and
frees it when the call ends; glibc serves an allocation that large with a fresh ``mmap``, so every
call page-faults the whole buffer in again, 4 KB at a time. On a virtual machine a fault costs a few
microseconds (3.2 µs on the 2-core AMD EPYC VM of docs/performance.md), which adds 25-50% to a
convolutional model's time there. With ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc 2.35 or
later), glibc asks for transparent huge pages on such buffers and faults come 2 MB at a time.

glibc reads its tunables once, when the process starts, so a running program cannot turn this on
for itself. The ``zoo predict`` and ``zoo embed`` commands start themselves again with the tunable
set (``ZOO_HUGEPAGES=0`` keeps them as they are); a program of your own sets it in its environment.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence

TUNABLE = "glibc.malloc.hugetlb"
THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"
#: Set to "0" to keep ``zoo predict`` / ``zoo embed`` from restarting themselves with the tunable.
OPT_OUT = "ZOO_HUGEPAGES"


def transparent_hugepages() -> str | None:
    """The kernel's transparent-huge-page mode (``always``, ``madvise`` or ``never``), or ``None``
    where the kernel has none (not Linux, or THP compiled out)."""
    try:
        with open(THP_SETTING) as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def glibc_supports_tunable() -> bool:
    """Whether this Python runs on glibc 2.35 or later, the first with ``glibc.malloc.hugetlb``."""
    name, version = platform.libc_ver()
    if name != "glibc":
        return False
    try:
        major, minor = (int(v) for v in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 35)


def hugepages_requested(env: Mapping[str, str] = os.environ) -> bool:
    """Whether ``env``'s ``GLIBC_TUNABLES`` asks glibc for huge pages (``glibc.malloc.hugetlb`` 1 or 2)."""
    for item in env.get("GLIBC_TUNABLES", "").split(":"):
        key, _, value = item.partition("=")
        if key.strip() == TUNABLE and value.strip() in ("1", "2"):
            return True
    return False


def with_hugepages(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` whose ``GLIBC_TUNABLES`` also sets ``glibc.malloc.hugetlb=1`` (any other
    tunable kept; an earlier ``hugetlb`` value replaced)."""
    items = [item for item in env.get("GLIBC_TUNABLES", "").split(":")
             if item and item.partition("=")[0].strip() != TUNABLE]
    return {**env, "GLIBC_TUNABLES": ":".join([*items, f"{TUNABLE}=1"])}


def hugepages_status(env: Mapping[str, str] = os.environ) -> str:
    """One line saying whether this process's allocations can use transparent huge pages, and why not."""
    mode = transparent_hugepages()
    if mode is None or mode == "never":
        return "off (the kernel has transparent huge pages off)"
    if not glibc_supports_tunable():
        return "off (needs glibc 2.35 or later)"
    if hugepages_requested(env):
        return f"on (GLIBC_TUNABLES {TUNABLE}=1, kernel THP {mode})"
    return f"off (set GLIBC_TUNABLES={TUNABLE}=1; kernel THP {mode})"


def should_restart(env: Mapping[str, str] = os.environ) -> bool:
    """Whether a command about to run models should start itself again with the tunable: Linux with
    THP available, glibc 2.35+, not already set, and not turned off with ``ZOO_HUGEPAGES=0``."""
    return (sys.platform.startswith("linux") and env.get(OPT_OUT, "1") != "0"
            and transparent_hugepages() in ("always", "madvise") and glibc_supports_tunable()
            and not hugepages_requested(env))


def restart_with_hugepages(argv: Sequence[str]) -> None:
    """Replace this process by ``python -m zoo_core.cli *argv`` with the tunable set (does not return
    unless ``execve`` fails, which is ignored: the command then runs as it is)."""
    env = with_hugepages(os.environ)
    env[OPT_OUT] = "0"  # never loop, whatever glibc makes of the tunable
    try:
        os.execve(sys.executable, [sys.executable, "-m", "zoo_core.cli", *argv], env)
    except OSError:
        return
