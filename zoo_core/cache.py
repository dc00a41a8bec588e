"""Checking and repairing weights in huggingface_hub's cache.

The cache stores each LFS file as ``blobs/<sha256>``, so a blob can be checked against its own name.
huggingface_hub checks only a download's size; zoo checks the hash of what it downloads, compares a
cached blob's size with the Hub's whenever it asks the Hub anyway (``fetch_checked``), and
``zoo cache verify`` / ``zoo cache repair`` check and fix what is already there, offline: blobs
against their names, and the partial downloads that a killed download leaves behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

import attrs

from zoo_core.errors import CheckpointFormatError, WeightsError
from zoo_core.registry import Variant

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ChecksumError(WeightsError):
    """A downloaded blob's sha256 differs from the Hub's LFS etag."""


class CacheRepairedWarning(UserWarning):
    """A cached blob whose size disagreed with the Hub's was removed and is downloaded again."""


PROBLEMS = ("corrupt", "missing", "partial")


@attrs.frozen
class CacheEntry:
    """One finding of ``verify``. ``status``: ``"ok"``; ``"unchecked"`` (a blob whose name is no
    sha256: only its structure was checked); ``"downloading"`` (a partial file a running download
    writes); or a problem: ``"corrupt"``, ``"missing"`` or ``"partial"`` (a partial download left
    behind, ``blob`` its path)."""

    variant: str
    snapshot: str
    blob: str
    status: str
    detail: str = ""

    @property
    def problem(self) -> bool:
        """Whether ``zoo cache repair`` has something to fix here."""
        return self.status in PROBLEMS


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_blob(snapshot: str | os.PathLike, *, parse: bool = True) -> str:
    """``""`` if the blob behind ``snapshot`` matches its sha256 name (and, with ``parse``, reads
    as a valid safetensors file), else what is wrong with it."""
    blob = Path(os.path.realpath(snapshot))
    if not blob.exists():
        return f"blob {blob} is missing"
    if _SHA256.match(blob.name):
        actual = sha256_file(blob)
        if actual != blob.name:
            return f"sha256 {actual[:12]}… differs from the Hub's etag {blob.name[:12]}…"
    if parse and str(snapshot).endswith(".safetensors"):
        from zoo_core.interop.safetensors_io import SafetensorsFile

        try:
            SafetensorsFile(blob)
        except CheckpointFormatError as e:
            return str(e).replace(f"{blob}: ", "")
    return ""


def remove_cached(snapshot: str | os.PathLike) -> None:
    """Delete a snapshot link and the blob behind it, so the next download starts clean (nothing
    for an entry without a snapshot: huggingface_hub downloads a missing blob again by itself)."""
    if not snapshot:
        return
    blob = Path(os.path.realpath(snapshot))
    for path in (Path(snapshot), blob):
        if path.is_symlink() or path.exists():
            path.unlink()


def _cache_scan(cache_dir: str | os.PathLike | None):
    """huggingface_hub's own scan of the cache (``None`` where there is no cache yet)."""
    from huggingface_hub import CacheNotFound, scan_cache_dir

    from zoo_core.interop.hub import hf_hub_cache_dir

    try:
        return scan_cache_dir(cache_dir or hf_hub_cache_dir())
    except CacheNotFound:
        return None


def snapshots_of(variant: Variant, cache_dir: str | os.PathLike | None = None, *, scan=None) -> list[Path]:
    """Every cached snapshot of ``variant``'s weights file, across revisions, as huggingface_hub's
    ``scan_cache_dir`` reports them."""
    scan = scan if scan is not None else _cache_scan(cache_dir)
    if variant.hf_hub_id is None or scan is None:
        return []
    return sorted(f.file_path for repo in scan.repos if repo.repo_type == "model" and repo.repo_id == variant.hf_hub_id
                  for rev in repo.revisions for f in rev.files if f.file_name == variant.filename)


def _unreadable(variant: Variant, scan) -> list[str]:
    """What huggingface_hub's scan could not read in ``variant``'s repository (a snapshot whose blob
    is gone makes it skip the whole repository, with a warning naming the file)."""
    from huggingface_hub.file_download import repo_folder_name

    if variant.hf_hub_id is None or scan is None:
        return []
    folder = repo_folder_name(repo_id=variant.hf_hub_id, repo_type="model")
    return [str(w) for w in scan.warnings if f"{os.sep}{folder}{os.sep}" in str(w)]


def verify(variants: list[Variant], cache_dir: str | os.PathLike | None = None) -> list[CacheEntry]:
    """Check, offline, what the cache holds of ``variants``' weights: every cached snapshot's blob
    against its name (the sha256 of an LFS file) and its safetensors structure; a repository
    huggingface_hub cannot read is ``"missing"``; every ``*.incomplete`` file in a repository's
    blobs folder is ``"partial"`` (left by a killed download: nothing resumes or removes it) or
    ``"downloading"`` (its lock is held). A blob's size against the Hub's needs the Hub:
    ``fetch_checked`` (``zoo download``) compares it."""
    from zoo_core.interop.hub import hf_hub_cache_dir

    scan = _cache_scan(cache_dir)
    root = Path(cache_dir or hf_hub_cache_dir())
    seen: set[str] = set()
    out = []
    for v in variants:
        for problem in _unreadable(v, scan):
            out.append(CacheEntry(v.name, "", "", "missing", problem))
        for snap in snapshots_of(v, cache_dir, scan=scan):
            out.append(_snapshot_entry(v, snap))
        out += _partial_entries(v, root, seen)
    return out


def _snapshot_entry(variant: Variant, snapshot: Path) -> CacheEntry:
    blob = os.path.realpath(snapshot)
    problem = check_blob(snapshot)
    if problem:
        return CacheEntry(variant.name, str(snapshot), blob, "missing" if "missing" in problem else "corrupt", problem)
    if not _SHA256.match(Path(blob).name):
        return CacheEntry(variant.name, str(snapshot), blob, "unchecked",
                          f"{snapshot}: its blob's name is no sha256 (not an LFS file), so only its structure was checked")
    return CacheEntry(variant.name, str(snapshot), blob, "ok")


def _partial_entries(variant: Variant, root: Path, seen: set[str]) -> list[CacheEntry]:
    """An entry for each ``*.incomplete`` file in the blobs folder of ``variant``'s repository
    (once per repository: ``seen`` holds the folders done)."""
    from huggingface_hub.file_download import repo_folder_name

    if variant.hf_hub_id is None:
        return []
    folder = repo_folder_name(repo_id=variant.hf_hub_id, repo_type="model")
    if folder in seen:
        return []
    seen.add(folder)
    out = []
    for path in sorted((root / folder / "blobs").glob("*.incomplete")):
        try:
            size = path.stat().st_size
        except OSError:  # finished or removed meanwhile
            continue
        if _being_written(path, root / ".locks" / folder):
            out.append(CacheEntry(variant.name, "", str(path), "downloading", f"{path.name}: a download in progress"))
        else:
            out.append(CacheEntry(variant.name, "", str(path), "partial",
                                  f"{path.name}: {size} bytes left by an interrupted download; nothing resumes it"))
    return out


def _being_written(partial: Path, locks: Path) -> bool:
    """Whether a running download holds the lock of ``partial``'s blob (huggingface_hub's
    ``.locks/<repo folder>/<etag>.lock``, held while it writes)."""
    from filelock import FileLock, Timeout

    lock_file = locks / f"{partial.name.split('.', 1)[0]}.lock"
    if not lock_file.exists():
        return False
    lock = FileLock(str(lock_file), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:  # a read-only cache: nobody downloads into it
        return False
    lock.release()
    return False


def remove_entry(entry: CacheEntry) -> str | None:
    """Delete what a problem entry names: a partial download's file, or a snapshot link and the
    blob behind it. Returns the path removed (``None`` where nothing was there to remove)."""
    if entry.status == "partial":
        Path(entry.blob).unlink(missing_ok=True)
        return entry.blob
    if not entry.snapshot:
        return None
    remove_cached(entry.snapshot)
    return entry.snapshot


def size_problem(snapshot: str | os.PathLike, expected: int | None) -> str:
    """``""`` if the blob behind ``snapshot`` holds ``expected`` bytes (or either is unknown), else
    what differs."""
    blob = os.path.realpath(snapshot)
    if expected is None or not os.path.exists(blob):
        return ""
    actual = os.path.getsize(blob)
    return "" if actual == expected else f"holds {actual} bytes where the Hub's file has {expected}"


def fetch_checked(repo_id: str, filename: str, *, revision: str = "main", cache_dir: str | os.PathLike | None = None,
                  local_files_only: bool = False, token: str | bool | None = None) -> str:
    """The snapshot path of ``repo_id/filename`` at ``revision`` in huggingface_hub's cache,
    downloaded if absent, and checked where that costs no extra read of the file:

    - online with the file cached, its blob's size is compared with the Hub's, from the one
      metadata request a download makes anyway; a blob of another size is removed, with a
      ``CacheRepairedWarning``, and downloaded again;
    - a fresh download's sha256 is compared with its name (the LFS etag): a mismatch removes it
      and raises ``ChecksumError``.

    Offline the cached file is returned as it is (a blob cut short is caught when it is read)."""
    from zoo_core.interop.hub import cached_file, hf_hub_download, offline

    where = f"{repo_id}/{filename} (revision {revision!r})"
    common = dict(revision=revision, cache_dir=cache_dir, token=token)
    was_cached = cached_file(repo_id, filename, revision=revision, cache_dir=cache_dir)
    if was_cached is not None and not (local_files_only or offline()):
        info = hf_hub_download(repo_id, filename, dry_run=True, **common)
        problem = size_problem(info.local_path, info.file_size)
        if problem:
            _remove_to_download_again(info.local_path, where, problem)
            was_cached = None  # what comes next is a fresh download: check it
        elif os.path.abspath(info.local_path) == os.path.abspath(was_cached):
            return was_cached
    path = hf_hub_download(repo_id, filename, local_files_only=local_files_only, **common)
    if path != was_cached:  # fresh from the Hub: check the transfer before anyone relies on it
        problem = check_blob(path, parse=False)
        if problem:
            remove_cached(path)
            raise ChecksumError(f"{where}: the download is corrupt ({problem}); it was removed from the cache, "
                                "try again")
    return path


def _remove_to_download_again(snapshot: str, where: str, problem: str) -> None:
    blob = os.path.realpath(snapshot)
    try:
        remove_cached(snapshot)
    except OSError as e:
        raise CheckpointFormatError(f"{where}: the cached blob {blob} {problem}, and it cannot be removed "
                                    f"({e.strerror or e}); delete it, or set HF_HUB_CACHE to a writable cache") from e
    warnings.warn(f"{where}: the cached blob {blob} {problem}; it was removed and is downloaded again",
                  CacheRepairedWarning, stacklevel=3)
