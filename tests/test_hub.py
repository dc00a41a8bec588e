"""Downloads through huggingface_hub from a loopback Hub, into the cache timm shares, then offline."""

import os

import pytest
from huggingface_hub import try_to_load_from_cache

from zoo_core import DownloadError
from zoo_core.interop import hf_hub_cache_dir, hf_hub_download

REPO, FILE = "zoo-test/tinynet_s.zoo_in1k", "model.safetensors"


def test_cache_dir_follows_huggingface_hub_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hf_hub_cache_dir() == str(tmp_path / "a")
    monkeypatch.delenv("HF_HUB_CACHE")
    assert hf_hub_cache_dir() == str(tmp_path / "home" / "hub")
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert hf_hub_cache_dir() == str(tmp_path / ".cache" / "huggingface" / "hub")


def test_download_lands_in_the_shared_cache_layout_and_is_found_by_huggingface_hub(hub, hf_cache):
    f = hub.add_file(REPO, FILE, b"weights-bytes")
    path = hf_hub_download(REPO, FILE, progress=False)
    assert path == os.path.join(hf_cache, "models--zoo-test--tinynet_s.zoo_in1k", "snapshots", f.commit, FILE)
    assert os.path.realpath(path).endswith(os.path.join("blobs", f.sha256))
    assert open(path, "rb").read() == b"weights-bytes"
    assert try_to_load_from_cache(REPO, FILE, cache_dir=hf_cache) == path
    assert not [p for p in os.listdir(os.path.dirname(os.path.realpath(path))) if p.endswith(".incomplete")]


def test_offline_with_a_warm_cache_makes_no_request(hub, monkeypatch):
    hub.add_file(REPO, FILE, b"abc")
    first = hf_hub_download(REPO, FILE, progress=False)
    before = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hf_hub_download(REPO, FILE, progress=False) == first
    assert hf_hub_download(REPO, FILE, local_files_only=True, progress=False) == first
    assert len(hub.requests) == before


def test_offline_with_a_cold_cache_names_repo_file_and_remedy(monkeypatch, hf_cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match=rf"{REPO}/{FILE} \(revision 'main'\): offline .* not in the cache {hf_cache}"):
        hf_hub_download(REPO, FILE)


def test_unreachable_hub_with_a_cold_cache_names_repo_file_and_remedy(monkeypatch):
    import huggingface_hub.utils._http as http

    monkeypatch.setattr(http.time, "sleep", lambda s: None)  # huggingface_hub retries 5 times with backoff
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(DownloadError, match=rf"{REPO}/{FILE} .*the Hub could not be reached.*HF_ENDPOINT"):
        hf_hub_download(REPO, FILE)


def test_hub_falls_back_to_the_cached_snapshot_when_it_goes_away(hub, monkeypatch):
    import huggingface_hub.utils._http as http

    monkeypatch.setattr(http.time, "sleep", lambda s: None)
    hub.add_file(REPO, FILE, b"abc")
    path = hf_hub_download(REPO, FILE, progress=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert hf_hub_download(REPO, FILE, progress=False) == path


@pytest.mark.parametrize("status, pattern", [(401, "not found or not accessible"), (404, "not found or not accessible"),
                                             (403, "gated")])
def test_hub_refusals_become_one_clear_error(hub, status, pattern):
    hub.add_file(REPO, FILE, b"abc", status=status, message="nope")
    with pytest.raises(DownloadError, match=pattern):
        hf_hub_download(REPO, FILE)
    assert hub.count() <= 3  # no retry loop


def test_a_missing_file_in_an_existing_repo(hub):
    hub.add_file(REPO, "other.bin", b"abc")
    with pytest.raises(DownloadError, match=f"{REPO}/{FILE}"):
        hf_hub_download(REPO, FILE)


def test_revision_pins_a_commit(hub):
    old = hub.add_file(REPO, FILE, b"old", revision="v1")
    hub.add_file(REPO, FILE, b"new")
    path = hf_hub_download(REPO, FILE, revision=old.commit, progress=False)
    assert open(path, "rb").read() == b"old"
