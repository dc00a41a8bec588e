"""Hugging Face Hub access through huggingface_hub itself.

Downloads land in huggingface_hub's cache (``models--org--name/{blobs,snapshots,refs}``), so
``timm``, ``huggingface_hub`` and zoo see each other's files. Revision, token, offline mode
(``HF_HUB_OFFLINE`` / ``local_files_only``) and the fall-back to a cached snapshot when the Hub
cannot be reached are huggingface_hub's; zoo only turns its exceptions into ``DownloadError``
messages that name the repository and file and say what to do.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from zoo_core.errors import DownloadError

if TYPE_CHECKING:
    from huggingface_hub import DryRunFileInfo


def hf_hub_cache_dir() -> str:
    """The cache root huggingface_hub uses: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
    ``~/.cache/huggingface/hub`` (read from the environment at each call)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return os.path.expanduser(os.environ["HUGGINGFACE_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = os.path.expanduser(xdg) if xdg else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "huggingface", "hub")


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (read from the environment at each call)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hf_hub_download(
    repo_id: str,
    filename: str,
    *,
    revision: str = "main",
    cache_dir: str | os.PathLike | None = None,
    repo_type: str = "model",
    local_files_only: bool = False,
    token: str | bool | None = None,
    progress: bool = True,
    dry_run: bool = False,
) -> str | DryRunFileInfo:
    """Return the local snapshot path of ``repo_id/filename`` at ``revision``, downloading it
    into the shared cache only if it is not there. Errors are ``DownloadError``.

    ``dry_run=True`` downloads nothing and returns huggingface_hub's ``DryRunFileInfo`` (the Hub's
    ``file_size``, the ``local_path`` the file has or would have), from the one metadata request a
    download makes; offline, or with the Hub unreachable, it describes the cached file.

    A transfer that breaks off is resumed by huggingface_hub within this call (it retries from the
    bytes it has); if it gives up, the partial file is deleted and the next call starts over."""
    import huggingface_hub

    cache_dir = str(cache_dir) if cache_dir is not None else hf_hub_cache_dir()
    local_only = local_files_only or offline()
    where = f"{repo_id}/{filename} (revision {revision!r})"
    kwargs = dict(repo_type=repo_type, revision=revision, cache_dir=cache_dir, local_files_only=local_only,
                  token=token, library_name="zoo")
    if os.environ.get("HF_ENDPOINT"):  # read per call: huggingface_hub reads it once, at import
        kwargs["endpoint"] = os.environ["HF_ENDPOINT"].rstrip("/")
    if not progress:
        kwargs["tqdm_class"] = _SilentTqdm
    if dry_run:
        kwargs["dry_run"] = True
    try:
        return huggingface_hub.hf_hub_download(repo_id, filename, **kwargs)
    except Exception as e:  # noqa: BLE001 - each is turned into one DownloadError that says what to do
        raise DownloadError(f"{where}: {_what_went_wrong(e, repo_id, filename, revision, token, cache_dir, local_only)}"
                            ) from e


def _what_went_wrong(e: Exception, repo_id: str, filename: str, revision: str, token, cache_dir: str,
                     local_only: bool) -> str:
    """A download's failure in words, with what to do: the Hub's refusals (gated, not found, no such
    revision or file), offline or unreachable with a cold cache, the cache not writable, the disk
    full (the bytes needed named), or a transfer that broke off."""
    from huggingface_hub import errors as hf_errors

    if isinstance(e, hf_errors.GatedRepoError):
        return ("the repository is gated; accept its terms on the Hub and log in (`hf auth login` or HF_TOKEN). "
                f"Hub said: {_first_line(e)}")
    if isinstance(e, hf_errors.RepositoryNotFoundError):
        return f"repository not found or not accessible (401/404). Hub said: {_first_line(e)}"
    if isinstance(e, hf_errors.RevisionNotFoundError):
        return f"revision not found. Hub said: {_first_line(e)}"
    if isinstance(e, hf_errors.LocalEntryNotFoundError):  # before EntryNotFoundError, its base
        if local_only:
            return (f"offline (HF_HUB_OFFLINE or local_files_only) and the file is not in the cache {cache_dir}; "
                    "run `zoo download` with network access, or point HF_HUB_CACHE at a cache that has it")
        return (f"the Hub could not be reached and the file is not in the cache {cache_dir}; "
                "check the network or HF_ENDPOINT, or set HF_HUB_CACHE to a cache that has it")
    if isinstance(e, hf_errors.EntryNotFoundError):
        return "file not found in the repository"
    if isinstance(e, hf_errors.HfHubHTTPError):
        return _first_line(e)
    if isinstance(e, OSError) and "Consistency check failed" not in str(e):  # that one: fewer bytes than announced
        if isinstance(e, PermissionError) or e.errno == errno.EROFS:  # a read-only mount too
            return f"cache directory {cache_dir} is not writable ({e.strerror}); set HF_HUB_CACHE to a writable directory"
        if e.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
            return (f"no space left to write it under {cache_dir} ({e.strerror}); it needs "
                    f"{_size_text(repo_id, filename, revision, token)}: free space or set HF_HUB_CACHE to a larger disk")
        return str(e)
    return _broken_off(e)  # transport errors of huggingface_hub's HTTP client


def _broken_off(e: Exception) -> str:
    """What happened to a transfer that huggingface_hub gave up on, as it is: its retries resumed
    from the bytes they had, then its partial file was deleted; a rerun starts from the first byte."""
    return (f"the transfer broke off ({type(e).__name__}: {_first_line(e)}) and huggingface_hub's retries "
            "did not complete it; the partial file was deleted, so running again downloads it from the start")


def cached_file(repo_id: str, filename: str, *, revision: str = "main",
                cache_dir: str | os.PathLike | None = None) -> str | None:
    """The cached snapshot path of ``repo_id/filename`` if present, else ``None`` (no network)."""
    from huggingface_hub import try_to_load_from_cache

    cache_dir = str(cache_dir) if cache_dir is not None else hf_hub_cache_dir()
    found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
    return found if isinstance(found, str) and Path(found).exists() else None


def cached_commit(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> str | None:
    """The commit of the cached snapshot file ``path``, as huggingface_hub's ``scan_cache_dir``
    reports it; ``None`` for a file that is not a snapshot of that cache. Scans the whole cache:
    for messages, not for every load."""
    from huggingface_hub import CacheNotFound, scan_cache_dir

    try:
        scan = scan_cache_dir(str(cache_dir) if cache_dir is not None else hf_hub_cache_dir())
    except CacheNotFound:
        return None
    target = Path(os.path.abspath(path))
    for repo in scan.repos:
        for revision in repo.revisions:
            if any(Path(os.path.abspath(f.file_path)) == target for f in revision.files):
                return revision.commit_hash
    return None


def _size_text(repo_id: str, filename: str, revision: str, token) -> str:
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(repo_id, filename, revision=revision)
        if os.environ.get("HF_ENDPOINT"):
            url = url.replace("https://huggingface.co", os.environ["HF_ENDPOINT"].rstrip("/"), 1)
        size = get_hf_file_metadata(url, token=token).size
        return f"{size} bytes" if size else "an unknown number of bytes"
    except Exception:  # noqa: BLE001 - the size is a courtesy in an error message
        return "an unknown number of bytes"


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


class _SilentTqdm:
    def __init__(self, *args, **kwargs):
        self.n = 0

    def update(self, n=1):
        self.n += n

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
