"""Writing files into a Hugging Face cache exactly as huggingface_hub lays it out.

``<cache>/models--org--name/blobs/<sha256>``, ``snapshots/<commit>/<filename>`` (a relative
symlink to the blob) and ``refs/<revision>`` (the commit), so ``huggingface_hub`` and timm find
the file offline, and so does zoo.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def repo_folder(cache_dir: str | os.PathLike, repo_id: str, repo_type: str = "model") -> Path:
    return Path(cache_dir) / f"{repo_type}s--{repo_id.replace('/', '--')}"


def write_cached_file(cache_dir: str | os.PathLike, repo_id: str, filename: str, data: bytes, *,
                      revision: str = "main", commit: str | None = None) -> Path:
    """Put ``data`` into the cache as ``repo_id/filename`` at ``revision``; returns the snapshot path."""
    sha = hashlib.sha256(data).hexdigest()
    commit = commit or hashlib.sha1(f"{repo_id}/{revision}/{sha}".encode()).hexdigest()
    folder = repo_folder(cache_dir, repo_id)
    blob = folder / "blobs" / sha
    snapshot = folder / "snapshots" / commit / filename
    blob.parent.mkdir(parents=True, exist_ok=True)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        tmp = blob.with_suffix(".incomplete")
        tmp.write_bytes(data)
        os.replace(tmp, blob)
    if snapshot.is_symlink() or snapshot.exists():
        snapshot.unlink()
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    (folder / "refs" / revision).write_text(commit)
    return snapshot


def safetensors_bytes(tensors) -> bytes:
    """Serialize ``{key: numpy array}`` to safetensors bytes."""
    import numpy as np
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v) for k, v in tensors.items()})


def write_cached_repo(cache_dir: str | os.PathLike, repo_id: str, files: dict[str, bytes], *, revision: str = "main",
                      commit: str | None = None) -> Path:
    """Put several files of ``repo_id`` into the cache as one snapshot (one commit), as a
    download of each would leave them: what ``hf-hub:`` names read offline (``config.json``,
    ``README.md``, ``model.safetensors``). Returns the snapshot directory."""
    digest = hashlib.sha1(f"{repo_id}/{revision}".encode())
    for name in sorted(files):
        digest.update(name.encode() + hashlib.sha256(files[name]).digest())
    commit = commit or digest.hexdigest()
    for name, data in files.items():
        write_cached_file(cache_dir, repo_id, name, data, revision=revision, commit=commit)
    return repo_folder(cache_dir, repo_id) / "snapshots" / commit


def saved_repo_files(directory: str | os.PathLike) -> dict[str, bytes]:
    """``{file name: bytes}`` of a directory written by ``zoo_core.save_pretrained`` (or timm's ``save_for_hf``)."""
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if p.is_file()}
