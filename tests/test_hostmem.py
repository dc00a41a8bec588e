"""glibc's huge-page tunable (zoo_core.hostmem): reading and writing GLIBC_TUNABLES, and ``zoo predict`` /
``zoo embed`` starting themselves again with it while other commands and programmatic calls do not."""

import os
import sys

import pytest

from zoo_core import cli, hostmem


@pytest.mark.parametrize(("value", "requested"), [
    ("", False), ("glibc.malloc.hugetlb=1", True), ("glibc.malloc.hugetlb=2", True),
    ("glibc.malloc.hugetlb=0", False), ("glibc.malloc.arena_max=1:glibc.malloc.hugetlb=1", True),
    ("glibc.malloc.hugetlb_x=1", False), ("glibc.malloc.arena_max=1", False),
])
def test_hugepages_requested_reads_the_tunables(value, requested):
    assert hostmem.hugepages_requested({"GLIBC_TUNABLES": value}) is requested


def test_with_hugepages_keeps_other_tunables_and_replaces_an_earlier_value():
    env = hostmem.with_hugepages({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0", "A": "b"})
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    assert env["A"] == "b"
    assert hostmem.with_hugepages({})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"


def test_should_restart_respects_the_opt_out_and_an_existing_setting():
    assert not hostmem.should_restart({"ZOO_HUGEPAGES": "0"})
    assert not hostmem.should_restart({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"})


def test_status_names_the_reason(monkeypatch):
    monkeypatch.setattr(hostmem, "transparent_hugepages", lambda: "never")
    assert "kernel" in hostmem.hugepages_status({})
    monkeypatch.setattr(hostmem, "transparent_hugepages", lambda: "madvise")
    monkeypatch.setattr(hostmem, "glibc_supports_tunable", lambda: True)
    assert hostmem.hugepages_status({}).startswith("off (set GLIBC_TUNABLES=glibc.malloc.hugetlb=1")
    assert hostmem.hugepages_status({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}).startswith("on")


def test_restart_execs_the_cli_module_with_the_tunable_and_the_opt_out(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, args, env: calls.append((path, args, env)))
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    hostmem.restart_with_hugepages(["embed", "images/", "-o", "out"])
    ((path, args, env),) = calls
    assert path == sys.executable
    assert args == [sys.executable, "-m", "zoo_core.cli", "embed", "images/", "-o", "out"]
    assert hostmem.hugepages_requested(env) and env["ZOO_HUGEPAGES"] == "0"


@pytest.mark.parametrize(("argv", "restarts"), [
    (["predict", "resnet18", "a.jpg"], True), (["--debug", "embed", "x"], True),
    (["list"], False), (["info", "resnet18"], False), ([], False), (["--help"], False),
])
def test_only_model_commands_restart(monkeypatch, argv, restarts):
    calls = []
    monkeypatch.setattr(hostmem, "should_restart", lambda: True)
    monkeypatch.setattr(hostmem, "restart_with_hugepages", calls.append)
    cli._restart_for_models(argv)
    assert calls == ([argv] if restarts else [])


def test_programmatic_main_never_restarts(monkeypatch, capsys):
    monkeypatch.setattr(hostmem, "should_restart", lambda: True)
    monkeypatch.setattr(hostmem, "restart_with_hugepages", lambda argv: pytest.fail("restarted"))
    assert cli.main(["predict", "--help"]) == 0
    assert "predict" in capsys.readouterr().out


def test_the_zoo_program_still_runs_a_model_command_after_restarting():
    """``python -m zoo_core.cli predict --help`` as a user runs it: where this machine would restart
    (Linux, THP, glibc 2.35+), the restarted process prints the help and exits 0."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "ZOO_HUGEPAGES")}
    done = subprocess.run([sys.executable, "-m", "zoo_core.cli", "predict", "--help"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: zoo predict" in done.stdout
