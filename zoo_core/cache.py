"""Checking and repairing weights in huggingface_hub's cache.

The cache stores each LFS file as ``blobs/<sha256>``, so a blob can be checked against its own name.
huggingface_hub checks only a download's size; zoo checks the hash of what it downloads and
``zoo cache verify`` / ``zoo cache repair`` check and fix what is already there.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import attrs

from zoo_core.errors import CheckpointFormatError, WeightsError
from zoo_core.registry import Variant

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ChecksumError(WeightsError):
    """A downloaded blob's sha256 differs from the Hub's LFS etag."""


@attrs.frozen
class CacheEntry:
    variant: str
    snapshot: str
    blob: str
    status: str  # "ok", "corrupt" or "missing"
    detail: str = ""


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
    """Check every cached snapshot of ``variants``' weights: sha256 against the blob's name, and
    the safetensors structure; a repository huggingface_hub cannot read is reported as missing."""
    scan = _cache_scan(cache_dir)
    out = []
    for v in variants:
        for problem in _unreadable(v, scan):
            out.append(CacheEntry(v.name, "", "", "missing", problem))
        for snap in snapshots_of(v, cache_dir, scan=scan):
            problem = check_blob(snap)
            status = "ok" if not problem else ("missing" if "missing" in problem else "corrupt")
            out.append(CacheEntry(v.name, str(snap), os.path.realpath(snap), status, problem))
    return out
