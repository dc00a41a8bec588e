"""Faults from the network, the disk and strangers' plugins: clear errors, nothing lost (issue 8)."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo_core
from zoo_core import CheckpointFormatError, DownloadError, WeightsError
from zoo_core.cache import CacheRepairedWarning, ChecksumError, verify
from zoo_core.cli import main
from zoo_core.interop import SafetensorsFile
from zoo_core.testing.hf_cache import safetensors_bytes

from tinynet_weights import tinynet_bytes, tinynet_state_dict

NAME, REPO, FILE = "tinynet_s.zoo_in1k", "zoo-test/tinynet_s.zoo_in1k", "model.safetensors"


def no_retry_sleep(monkeypatch):
    import huggingface_hub.utils._http as http

    monkeypatch.setattr(http.time, "sleep", lambda s: None)


def test_a_truncated_download_in_the_cache_names_repo_file_and_commit(hub, hf_cache):
    data = tinynet_bytes()
    hub.add_file(REPO, FILE, data)
    path = zoo_core.create_pretrained(NAME)[1] and zoo_core.api.weights_file(zoo_core.get_variant(NAME))
    blob = os.path.realpath(path)
    with open(blob, "r+b") as f:
        f.truncate(len(data) - 100)
    with pytest.raises(CheckpointFormatError, match=rf"{REPO}/{FILE} \(commit [0-9a-f]{{12}}.*truncated \({len(data) - 100} of {len(data)} bytes\)"):
        zoo_core.create_pretrained(NAME, local_files_only=True)[1]()


def test_a_blob_whose_sha256_differs_from_its_etag_is_refused_and_removed(hub, hf_cache):
    good = tinynet_bytes()
    hub.add_file(REPO, FILE, tinynet_bytes(seed=9), etag=__import__("hashlib").sha256(good).hexdigest())
    with pytest.raises(ChecksumError, match="sha256 .* differs from the Hub's etag"):
        zoo_core.create_pretrained(NAME)[1]()
    assert verify([zoo_core.get_variant(NAME)]) == []  # nothing corrupt was left behind


def test_cache_verify_finds_a_corrupted_blob_and_repair_downloads_it_again(hub, capsys):
    hub.add_file(REPO, FILE, tinynet_bytes())
    assert main(["download", NAME]) == 0
    blob = os.path.realpath(zoo_core.api.weights_file(zoo_core.get_variant(NAME)))
    with open(blob, "r+b") as f:
        f.seek(200)
        f.write(b"\xff" * 8)
    capsys.readouterr()
    assert main(["cache", "verify", NAME]) == 8
    out, err = capsys.readouterr()
    assert "corrupt" in out and f"zoo cache repair {NAME}" in err
    assert main(["cache", "repair", NAME]) == 0
    assert main(["cache", "verify", NAME]) == 0
    assert "ok" in capsys.readouterr()[0]


def test_nan_and_inf_load_as_stored_unless_check_finite(hub):
    sd = tinynet_state_dict()
    sd["fc.bias"][1] = np.nan
    sd["stem.bn.weight"][0] = np.inf
    hub.add_file(REPO, FILE, safetensors_bytes(sd))
    params, _ = zoo_core.create_pretrained(NAME)[1]()
    assert np.isnan(params["fc"]["bias"][1])
    with pytest.raises(WeightsError, match=r"non-finite weights in 2 tensor\(s\): .*'stem.bn.weight': 0 NaN, 1 Inf"):
        zoo_core.create_pretrained(NAME, check_finite=True)[1]()


def test_a_plugin_raising_inside_a_hook_is_reported_and_loading_goes_on(hub):
    import types

    from zoo_core import plugins

    hub.add_file(REPO, FILE, tinynet_bytes())
    mod = types.ModuleType("flaky")
    mod.zoo_weights_file = zoo_core.hookimpl(lambda variant: 1 / 0)
    plugins.register_plugin(mod, "flaky")
    try:
        with pytest.warns(plugins.PluginHookWarning, match="zoo_weights_file raised ZeroDivisionError"):
            zoo_core.create_pretrained(NAME)[1]()
        assert "ZeroDivisionError" in {p.name: p for p in plugins.plugin_infos()}["flaky"].error
    finally:
        plugins.unregister_plugin("flaky")


def _python(code: str, env=None, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=120, **kw)


def test_many_processes_downloading_into_a_cold_cache_all_succeed_with_one_blob(hub, hf_cache):
    hub.add_file(REPO, FILE, tinynet_bytes())
    code = f"""
        from zoo_core.interop import hf_hub_download
        print(hf_hub_download({REPO!r}, {FILE!r}, progress=False))
    """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True)
             for _ in range(6)]
    paths = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(paths) == 1
    blobs = os.listdir(os.path.join(hf_cache, "models--zoo-test--tinynet_s.zoo_in1k", "blobs"))
    assert len(blobs) == 1 and not any(b.endswith(".incomplete") for b in blobs)


def test_an_interrupted_download_says_the_rerun_starts_over_and_the_old_revision_still_loads(hub, hf_cache, monkeypatch):
    """huggingface_hub resumes a broken transfer only within the call; when it gives up it deletes
    the partial file, so the message says a rerun starts from the first byte (before: "run again to
    resume it")."""
    no_retry_sleep(monkeypatch)
    old = hub.add_file(REPO, FILE, tinynet_bytes(seed=1))
    params_old, _ = zoo_core.create_pretrained(NAME)[1]()
    new = tinynet_bytes(seed=2)
    hub.add_file(REPO, FILE, new, cut_at=len(new) // 2)
    with pytest.raises(DownloadError, match="the partial file was deleted, so running again downloads it from the "
                                            "start") as info:
        zoo_core.create_pretrained(NAME)[1]()
    assert "resume" not in str(info.value)
    blobs = os.listdir(os.path.join(hf_cache, "models--zoo-test--tinynet_s.zoo_in1k", "blobs"))
    assert not any(b.endswith(".incomplete") for b in blobs)  # as the message says
    # meanwhile the cached revision still loads, offline or pinned
    params, _ = zoo_core.create_pretrained(NAME, revision=old.commit, local_files_only=True)[1]()
    np.testing.assert_array_equal(params["fc"]["bias"], params_old["fc"]["bias"])
    hub.add_file(REPO, FILE, new)
    params_new, _ = zoo_core.create_pretrained(NAME)[1]()
    np.testing.assert_array_equal(params_new["fc"]["bias"], tinynet_state_dict(seed=2)["fc.bias"])
    blobs = os.listdir(os.path.join(hf_cache, "models--zoo-test--tinynet_s.zoo_in1k", "blobs"))
    assert not any(b.endswith(".incomplete") for b in blobs)


def test_a_download_killed_with_sigkill_is_completed_by_a_rerun_and_its_orphan_found_by_verify(hub, hf_cache, capsys):
    """The rerun downloads the file from the start; the killed one's partial file stays behind
    (nothing resumes or removes it): `zoo cache verify` reports it, `zoo cache repair` removes it."""
    data = tinynet_bytes() + b""
    hub.add_file(REPO, FILE, data, cut_at=len(data) // 3)  # the transfer breaks off; kill the client as it retries
    code = f"""
        import os, signal, threading
        from zoo_core.interop import hf_hub_download
        threading.Timer(2.5, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
        hf_hub_download({REPO!r}, {FILE!r}, progress=False)
    """
    _python(code)
    blobs = os.path.join(hf_cache, "models--zoo-test--tinynet_s.zoo_in1k", "blobs")
    orphans = [b for b in os.listdir(blobs) if b.endswith(".incomplete")]
    assert len(orphans) == 1
    hub.add_file(REPO, FILE, data)
    r = _python(f"from zoo_core.interop import hf_hub_download; print(hf_hub_download({REPO!r}, {FILE!r}, progress=False))")
    assert r.returncode == 0, r.stderr
    assert open(r.stdout.strip(), "rb").read() == data
    assert [b for b in os.listdir(blobs) if b.endswith(".incomplete")] == orphans
    assert main(["cache", "verify", NAME]) == 8 and orphans[0] in capsys.readouterr().out
    assert main(["cache", "repair", NAME]) == 0
    assert not [b for b in os.listdir(blobs) if b.endswith(".incomplete")]


def _downloaded_blob(hub, data: bytes) -> str:
    hub.add_file(REPO, FILE, data)
    assert main(["download", NAME]) == 0
    return os.path.realpath(zoo_core.api.weights_file(zoo_core.get_variant(NAME), local_files_only=True))


def test_cache_verify_reports_an_orphan_partial_download_and_repair_removes_only_it(hub, capsys):
    """Before: verify called the cache ok with a partial file beside the blob."""
    blob = _downloaded_blob(hub, tinynet_bytes())
    orphan = __import__("pathlib").Path(f"{blob}.0badc0de.incomplete")
    orphan.write_bytes(b"x" * 100)
    capsys.readouterr()
    assert main(["cache", "verify", NAME]) == 8
    out, err = capsys.readouterr()
    row = next(line for line in out.splitlines() if orphan.name in line)
    assert row.split()[:2] == [NAME, "partial"] and "100 bytes left by an interrupted download" in row, out
    assert "1 partial" in err and f"zoo cache repair {NAME}" in err
    gets = hub.count("GET")
    assert main(["cache", "repair", NAME]) == 0
    assert f"removed {orphan}" in capsys.readouterr().out
    assert not orphan.exists() and os.path.exists(blob) and hub.count("GET") == gets  # nothing downloaded again
    assert main(["cache", "verify", NAME]) == 0


def test_a_partial_file_that_a_running_download_writes_is_left_alone(hub, hf_cache, capsys):
    """Its lock is held: verify says "downloading" and succeeds, repair does not touch it."""
    from filelock import FileLock

    blob = _downloaded_blob(hub, tinynet_bytes())
    writing = __import__("pathlib").Path(f"{blob}.1234abcd.incomplete")
    writing.write_bytes(b"x" * 10)
    lock = FileLock(os.path.join(hf_cache, ".locks", "models--zoo-test--tinynet_s.zoo_in1k",
                                 f"{os.path.basename(blob)}.lock"))
    with lock:
        assert [e.status for e in verify([zoo_core.get_variant(NAME)])] == ["ok", "downloading"]
        assert main(["cache", "verify", NAME]) == 0
        assert main(["cache", "repair", NAME]) == 0
        assert writing.exists()


@pytest.mark.parametrize("change", ["truncate", "extend"])
def test_download_replaces_a_cached_blob_whose_size_differs_from_the_hubs(hub, capsys, change):
    """Before: `zoo download` returned the cut blob as downloaded. The size comes from the metadata
    request a download makes anyway (X-Linked-Size)."""
    data = tinynet_bytes()
    blob = _downloaded_blob(hub, data)
    size = len(data) - 100 if change == "truncate" else len(data) + 7
    for attempt in ("api", "cli"):
        with open(blob, "r+b") as f:
            f.truncate(size)
        if attempt == "api":
            with pytest.warns(CacheRepairedWarning, match=rf"{REPO}/{FILE} \(revision 'main'\): the cached blob "
                                                          rf"{blob} holds {size} bytes where the Hub's file has "
                                                          rf"{len(data)}; it was removed and is downloaded again"):
                zoo_core.api.weights_file(zoo_core.get_variant(NAME))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CacheRepairedWarning)
                assert main(["download", NAME]) == 0
        assert open(blob, "rb").read() == data, attempt


def test_offline_a_cached_blob_is_returned_without_a_request(hub, monkeypatch):
    """Offline nothing is asked of the Hub: the size check is for online calls."""
    blob = _downloaded_blob(hub, tinynet_bytes())
    before = hub.count()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert os.path.realpath(zoo_core.api.weights_file(zoo_core.get_variant(NAME))) == blob
    assert hub.count() == before


def test_a_warm_cache_loads_when_the_hub_goes_away(hub, monkeypatch):
    no_retry_sleep(monkeypatch)
    blob = _downloaded_blob(hub, tinynet_bytes())
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # connection refused: the cached file serves
    assert os.path.realpath(zoo_core.api.weights_file(zoo_core.get_variant(NAME))) == blob


def test_cache_verify_says_when_a_blob_could_not_be_checked_against_its_name(hf_cache):
    """A blob named by a git sha1 (a file outside LFS) has no sha256 to compare: "unchecked", not "ok"."""
    from zoo_core.testing.hf_cache import write_cached_file

    snapshot = write_cached_file(hf_cache, REPO, FILE, tinynet_bytes())
    blob = os.path.realpath(snapshot)
    sha1_named = os.path.join(os.path.dirname(blob), "0" * 40)
    os.replace(blob, sha1_named)
    snapshot.unlink()
    snapshot.symlink_to(os.path.relpath(sha1_named, snapshot.parent))
    (entry,) = verify([zoo_core.get_variant(NAME)])
    assert entry.status == "unchecked" and not entry.problem and "only its structure was checked" in entry.detail


READ_ONLY_CHECK = f"""
import zoo_core
from zoo_core import DownloadError
zoo_core.create_pretrained({NAME!r})[1]()
print("present: loaded")
try:
    zoo_core.create_pretrained("tinynet_m")[1]()
except DownloadError as e:
    print("absent:", e)
"""


def _make_read_only(tree: str, *, writable: bool = False) -> None:
    for root, dirs, files in os.walk(tree):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755 if writable else 0o555)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644 if writable else 0o444)
    os.chmod(tree, 0o755 if writable else 0o555)


def test_read_only_cache_loads_a_present_file_and_names_the_directory_when_absent(hub, tmp_path_factory):
    """A cache the user cannot write: the cached variant loads; an uncached one fails naming the
    directory and HF_HUB_CACHE. Root (as in CI) ignores file permissions, so there the cache is
    also bind-mounted read-only in a mount namespace of the child's own."""
    cache = str(tmp_path_factory.mktemp("read-only-cache"))
    home = str(tmp_path_factory.mktemp("home"))
    hub.add_file(REPO, FILE, tinynet_bytes())
    hub.add_file("zoo-test/tinynet_m.zoo_in1k", FILE, tinynet_bytes(widths=(12, 24), num_classes=5))
    env = {"HF_HUB_CACHE": cache, "HF_HOME": home, "HOME": home, "ZOO_COMPILATION_CACHE": "0"}
    filled = _python(f"import zoo_core; zoo_core.create_pretrained({NAME!r})[1]()", env=env)
    assert filled.returncode == 0, filled.stderr[-2000:]
    _make_read_only(cache)
    try:
        if os.geteuid() == 0:  # root ignores permissions but not a read-only mount
            command = ["unshare", "-m", "sh", "-c",
                       'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$1" -c "$2"',
                       cache, sys.executable, READ_ONLY_CHECK]
            probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
            if probe.returncode:
                pytest.skip(f"root, and no mount namespace for a read-only mount: {probe.stderr[-200:]!r}")
            r = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
        else:
            r = _python(READ_ONLY_CHECK, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "present: loaded" in r.stdout
        assert f"cache directory {cache}" in r.stdout and "HF_HUB_CACHE" in r.stdout, r.stdout
    finally:
        _make_read_only(cache, writable=True)


def test_read_only_cache_with_the_file_absent_names_directory_and_variable(hub, monkeypatch, hf_cache):
    hub.add_file("zoo-test/tinynet_m.zoo_in1k", FILE, tinynet_bytes(widths=(12, 24), num_classes=5))
    import huggingface_hub.file_download as fd

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", hf_cache)

    monkeypatch.setattr(fd, "_download_to_tmp_and_move", refuse)
    with pytest.raises(DownloadError, match=f"cache directory {hf_cache} is not writable.*HF_HUB_CACHE"):
        zoo_core.create_pretrained("tinynet_m")[1]()


def test_disk_full_during_download_names_the_bytes_needed(hub, hf_cache):
    data = tinynet_bytes()
    hub.add_file(REPO, FILE, data)
    code = f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))  # writes past 1 KiB fail with EFBIG
        from zoo_core.interop import hf_hub_download
        from zoo_core import DownloadError
        try:
            hf_hub_download({REPO!r}, {FILE!r}, progress=False)
        except DownloadError as e:
            print(e)
    """
    r = _python(code)
    assert f"no space left to write it under {hf_cache}" in r.stdout, r.stdout + r.stderr
    assert f"it needs {len(data)} bytes" in r.stdout
    snapshots = os.path.join(hf_cache, "models--zoo-test--tinynet_s.zoo_in1k", "snapshots")
    assert not [f for _, _, files in os.walk(snapshots) for f in files]  # no half file in a snapshot


def test_a_file_truncated_while_being_loaded_raises_and_never_sigbus(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes({"w": np.ones((512, 512), np.float32)}))
    code = f"""
        import os
        from zoo_core.interop import SafetensorsFile
        from zoo_core import CheckpointFormatError
        f = SafetensorsFile({str(path)!r})
        os.truncate({str(path)!r}, 4096)
        try:
            f["w"]
        except CheckpointFormatError as e:
            print("raised:", e)
    """
    r = _python(code)
    assert r.returncode == 0 and r.returncode != -signal.SIGBUS
    assert "raised:" in r.stdout and "truncated" in r.stdout


def test_eight_processes_load_the_same_variant_at_once(hub):
    hub.add_file(REPO, FILE, tinynet_bytes())
    code = f"""
        import numpy as np, zoo_core
        params, state = zoo_core.create_pretrained({NAME!r})[1]()
        print(float(np.asarray(params["fc"]["bias"]).sum()))
    """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    assert len({o[0].strip() for o in outs}) == 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=256),
    st.builds(lambda header, tail: len(header).to_bytes(8, "little") + header + tail,
              st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode),
                        st.dictionaries(st.text(max_size=4), st.fixed_dictionaries({
                            "dtype": st.sampled_from(["F32", "F16", "BF16", "I64", "X"]),
                            "shape": st.lists(st.integers(-1, 4), max_size=3),
                            "data_offsets": st.lists(st.integers(-2, 40), min_size=0, max_size=3)}), max_size=3)
                        .map(lambda d: __import__("json").dumps(d).encode())),
              st.binary(max_size=64)),
))
def test_fuzzed_files_only_ever_raise_our_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.safetensors"
    path.write_bytes(data)
    try:
        f = SafetensorsFile(path)
        for key in f:
            f[key]
    except CheckpointFormatError:
        pass


def test_unknown_dtype_error_reaches_the_user_through_create_pretrained(hub):
    import json
    import struct

    header = json.dumps({"fc.bias": {"dtype": "F8_E5M2", "shape": [10], "data_offsets": [0, 10]}}).encode()
    hub.add_file(REPO, FILE, struct.pack("<Q", len(header)) + header + bytes(10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CheckpointFormatError, match="tensor 'fc.bias': unsupported dtype 'F8_E5M2'"):
            zoo_core.create_pretrained(NAME)[1]()
