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
    """Delete a snapshot link and the blob behind it, so the next download starts clean."""
    blob = Path(os.path.realpath(snapshot))
    for path in (Path(snapshot), blob):
        if path.is_symlink() or path.exists():
            path.unlink()


def snapshots_of(variant: Variant, cache_dir: str | None = None) -> list[Path]:
    """Every cached snapshot of ``variant``'s weights file, across revisions."""
    from zoo_core.interop.hub import hf_hub_cache_dir

    if variant.hf_hub_id is None:
        return []
    folder = Path(cache_dir or hf_hub_cache_dir()) / f"models--{variant.hf_hub_id.replace('/', '--')}" / "snapshots"
    if not folder.is_dir():
        return []
    return sorted(p / variant.filename for p in folder.iterdir() if (p / variant.filename).is_symlink()
                  or (p / variant.filename).exists())


def verify(variants: list[Variant], cache_dir: str | None = None) -> list[CacheEntry]:
    out = []
    for v in variants:
        for snap in snapshots_of(v, cache_dir):
            problem = check_blob(snap)
            status = "ok" if not problem else ("missing" if "missing" in problem else "corrupt")
            out.append(CacheEntry(v.name, str(snap), os.path.realpath(snap), status, problem))
    return out
