"""The output directory of a dataset job (``zoo embed/predict ... --out DIR``), written as the job
runs and resumable: a rerun with the same job skips every input a finished shard covers.

Layout (``docs/datasets.md``)::

    DIR/manifest.json          the job, the finished shards, the committed sizes of the files below
    DIR/shard-00000.npy        embed: (rows, D) float32, rows in input order, bad images left out
    DIR/shard-00000.txt        embed: the file of each row, one a line
    DIR/predictions.jsonl      predict: one JSON object a line (or predictions.csv with --format csv)
    DIR/errors.jsonl           {"path", "reason"} of each image skipped

A shard is committed by writing its files (array and names through a temporary name and a
rename; lines appended and flushed to disk), then the manifest (also replaced atomically). What a
crash leaves beyond the manifest (an uncommitted shard, lines past a committed size) is discarded
by the rerun, which starts at the first input not covered.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator

import numpy as np

from zoo_core.errors import OutputPathError, ZooError

MANIFEST = "manifest.json"
ERRORS = "errors.jsonl"
VERSION = 1


def _digest(paths: list[str]) -> str:
    return hashlib.sha256("\n".join(paths).encode("utf-8", "surrogateescape")).hexdigest()


def _replace(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class OutputDir:
    """A job's directory: ``job`` (a JSON-able dict: what must be equal for a rerun to resume),
    shards of about ``shard_size`` inputs. Subclasses write the rows (``_write_shard``)."""

    files: tuple[str, ...] = (ERRORS,)

    def __init__(self, path: str | os.PathLike, job: dict, *, shard_size: int, overwrite: bool = False):
        self.path = os.fspath(path)
        self.job = json.loads(json.dumps(job))
        self.shard_size = shard_size
        self.manifest = self._open(overwrite)
        self._pending: list = []

    # --- opening and resuming ---------------------------------------------------------------------
    def _open(self, overwrite: bool) -> dict:
        manifest_path = os.path.join(self.path, MANIFEST)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise OutputPathError(f"--out {self.path!r} is a file; give a directory (it is created)")
        os.makedirs(self.path, exist_ok=True)
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise OutputPathError(f"--out {self.path!r} is not writable")
        old = None
        if os.path.exists(manifest_path) and not overwrite:
            with open(manifest_path, encoding="utf-8") as f:
                old = json.load(f)
            if old.get("job") != self.job:
                diff = sorted(k for k in set(old.get("job", {})) | set(self.job)
                              if old.get("job", {}).get(k) != self.job.get(k))
                raise ZooError(f"--out {self.path!r} holds another job's output (it differs in {', '.join(diff)}): "
                               "give another directory, or --overwrite to start it again")
        elif not overwrite and any(n != MANIFEST for n in os.listdir(self.path)):
            raise OutputPathError(f"--out {self.path!r} is not empty and holds no {MANIFEST}: give a new or "
                                  "empty directory")
        if old is None:
            self._remove_outputs()
            old = {"zoo_dataset": VERSION, "job": self.job, "inputs_done": 0, "rows": 0, "skipped": 0,
                   "shards": [], "sizes": {name: 0 for name in self.files}, "complete": False}
            self.manifest = old
            self._start_files()
        for name, size in old["sizes"].items():  # drop what was written after the last commit
            file = os.path.join(self.path, name)
            if not os.path.exists(file) or os.path.getsize(file) < size:
                raise ZooError(f"--out {self.path!r}: {name} is shorter than its manifest says (edited or "
                               "removed): --overwrite to start again")
            os.truncate(file, size)
        self._write_manifest(old)
        return old

    def _remove_outputs(self) -> None:
        for name in os.listdir(self.path):
            if name.startswith("shard-") or name in (*self.files, MANIFEST):
                os.remove(os.path.join(self.path, name))

    def _start_files(self) -> None:
        for name in self.files:
            open(os.path.join(self.path, name), "wb").close()

    @property
    def inputs_done(self) -> int:
        return self.manifest["inputs_done"]

    @property
    def complete(self) -> bool:
        return self.manifest["complete"]

    def resume(self, paths: Iterator[str]) -> Iterator[str]:
        """``paths`` past the inputs the finished shards cover, checking that those are the same
        files, in the same order, as the run that wrote them."""
        paths = iter(paths)
        for shard in self.manifest["shards"]:
            names = [os.fspath(p) for _, p in zip(range(shard["inputs"]), paths)]
            if len(names) != shard["inputs"] or _digest(names) != shard["inputs_sha256"]:
                raise ZooError(f"--out {self.path!r}: the inputs are not those of the run that wrote shard "
                               f"{shard['index']} (files added, removed or renamed): give another directory, or "
                               "--overwrite to start again")
        return paths

    # --- writing ----------------------------------------------------------------------------------
    def add(self, batch) -> None:
        """Take a computed batch; commit a shard once it holds ``shard_size`` inputs or more."""
        self._pending.append(batch)
        if sum(b.size for b in self._pending) >= self.shard_size:
            self.commit()

    def commit(self) -> None:
        batches, self._pending = self._pending, []
        if not batches:
            return
        m = self.manifest
        index = len(m["shards"])
        inputs = sum(b.size for b in batches)
        ordered = self._ordered_inputs(batches)
        rows = self._write_shard(index, batches)
        errors = "".join(json.dumps({"path": s.path, "reason": s.reason}) + "\n" for b in batches for s in b.skipped)
        self._append(ERRORS, errors)
        m["shards"].append({"index": index, "inputs": inputs, "rows": rows, "inputs_sha256": _digest(ordered),
                            **self._shard_files(index)})
        m["inputs_done"] += inputs
        m["rows"] += rows
        m["skipped"] += sum(len(b.skipped) for b in batches)
        self._write_manifest(m)

    @staticmethod
    def _ordered_inputs(batches) -> list[str]:
        """Every input of the batches in input order (decoded and skipped ones interleaved as read)."""
        return [p for b in batches for p in b.inputs]

    def finish(self) -> None:
        self.commit()
        self.manifest["complete"] = True
        self._write_manifest(self.manifest)

    def _append(self, name: str, text: str) -> None:
        if not text:
            return
        with open(os.path.join(self.path, name), "ab") as f:
            f.write(text.encode("utf-8", "surrogateescape"))
            f.flush()
            os.fsync(f.fileno())
            self.manifest["sizes"][name] = f.tell()

    def _write_manifest(self, manifest: dict) -> None:
        _replace(os.path.join(self.path, MANIFEST), (json.dumps(manifest, indent=1) + "\n").encode())

    def _shard_files(self, index: int) -> dict:
        return {}

    def _write_shard(self, index: int, batches) -> int:
        raise NotImplementedError


class EmbedShards(OutputDir):
    """``shard-NNNNN.npy`` (rows, D) float32 and ``shard-NNNNN.txt``, the file of each row."""

    def _shard_files(self, index: int) -> dict:
        return {"array": f"shard-{index:05d}.npy", "paths": f"shard-{index:05d}.txt"}

    def _write_shard(self, index: int, batches) -> int:
        files = self._shard_files(index)
        rows = [b.outputs for b in batches if b.outputs is not None]
        array = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, self.job["dim"]), np.float32)
        buf = io.BytesIO()
        np.save(buf, array)
        _replace(os.path.join(self.path, files["array"]), buf.getvalue())
        names = "".join(f"{p}\n" for b in batches for p in b.paths)
        _replace(os.path.join(self.path, files["paths"]), names.encode("utf-8", "surrogateescape"))
        return len(array)


class PredictionRows(OutputDir):
    """``predictions.jsonl`` (``{"image", "top": [{"index", "label", "probability"}, ...]}`` a line) or
    ``predictions.csv`` (``image``, then ``index_i``, ``label_i``, ``probability_i`` for each rank i)."""

    def __init__(self, path, job: dict, *, shard_size: int, overwrite: bool = False,
                 labels: Callable[[int], str]):
        self.rows_file = f"predictions.{job['format']}"
        self.files = (self.rows_file, ERRORS)
        self.labels = labels
        super().__init__(path, job, shard_size=shard_size, overwrite=overwrite)

    def _start_files(self) -> None:
        super()._start_files()
        if self.job["format"] == "csv":
            header = ["image"] + [f"{k}_{i}" for i in range(1, self.job["top_k"] + 1)
                                  for k in ("index", "label", "probability")]
            self._append(self.rows_file, self._csv(header))

    @staticmethod
    def _csv(row: list) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(row)
        return out.getvalue()

    def _write_shard(self, index: int, batches) -> int:
        lines = []
        for b in batches:
            if b.outputs is None:
                continue
            for path, probs, idx in zip(b.paths, b.outputs["probability"], b.outputs["index"]):
                top = [(int(i), self.labels(int(i)), float(p)) for i, p in zip(idx, probs)]
                if self.job["format"] == "csv":
                    lines.append(self._csv([path, *(v for t in top for v in t)]))
                else:
                    lines.append(json.dumps({"image": path, "top": [{"index": i, "label": lab, "probability": p}
                                                                    for i, lab, p in top]}) + "\n")
        self._append(self.rows_file, "".join(lines))
        return len(lines)


def read_embeddings(path: str | os.PathLike, *, mmap: bool = False) -> tuple[list[str], np.ndarray]:
    """The file names and the (N, D) array of an ``embed`` output directory, its shards in order
    (``mmap=True`` maps each shard instead of reading it; the concatenation still copies)."""
    path = os.fspath(path)
    with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
        manifest = json.load(f)
    names, arrays = [], []
    for shard in manifest["shards"]:
        arrays.append(np.load(os.path.join(path, shard["array"]), mmap_mode="r" if mmap else None))
        with open(os.path.join(path, shard["paths"]), encoding="utf-8", errors="surrogateescape") as f:
            names.extend(line.rstrip("\n") for line in f)
    dim = manifest["job"]["dim"]
    return names, np.concatenate(arrays) if arrays else np.zeros((0, dim), np.float32)
