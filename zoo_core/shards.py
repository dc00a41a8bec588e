"""The output directory of a dataset job (``zoo embed/predict ... --out DIR``), written as the job
runs and resumable: a rerun with the same job skips every input a finished shard covers.

Layout (``docs/datasets.md``)::

    DIR/manifest.json          the job, the finished shards, the committed sizes of the files below
    DIR/shard-00000.npy        embed: (rows, D) float32, rows in input order, bad images left out
    DIR/shard-00000.txt        embed: the file of each row, one a line
    DIR/predictions.jsonl      predict: one JSON object a line (or predictions.csv with --format csv)
    DIR/errors.jsonl           {"path", "reason"} of each image skipped

On N processes (``jax.distributed``), process i writes the same layout for its contiguous share of
the inputs into ``DIR/process-0000i-of-0000N/``; once every part is complete, process 0 writes
``DIR/manifest.json`` (its shards point into the parts, in input order), ``DIR/errors.jsonl`` and
``DIR/predictions.*`` (the parts' rows, concatenated): read back, the directory is the one a single
process writes.

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
import re
import shutil
from collections.abc import Callable, Iterator

import numpy as np

from zoo_core.errors import OutputPathError, ZooError

MANIFEST = "manifest.json"
ERRORS = "errors.jsonl"
VERSION = 1
_PART = re.compile(r"process-(\d{5,})-of-(\d{5,})")


def part_name(index: int, count: int) -> str:
    """The directory of process ``index``'s part of a job on ``count`` processes."""
    return f"process-{index:05d}-of-{count:05d}"


def _digest(paths: list[str]) -> str:
    return hashlib.sha256("\n".join(paths).encode("utf-8", "surrogateescape")).hexdigest()


def _replace(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _check_job(path: str, manifest: dict, job: dict) -> None:
    """Refuse a directory whose manifest holds another job."""
    old = manifest.get("job", {})
    if old != job:
        diff = sorted(k for k in set(old) | set(job) if old.get(k) != job.get(k))
        raise ZooError(f"--out {path!r} holds another job's output (it differs in {', '.join(diff)}): "
                       "give another directory, or --overwrite to start it again")


def _parts_in(path: str) -> set[int]:
    """The process counts of the parts directories in ``path``."""
    return {int(m.group(2)) for n in os.listdir(path) if (m := _PART.fullmatch(n))}


def _refuse_unmanaged(path: str, count: int = 1) -> None:
    """Refuse a directory without a manifest that holds anything but the parts of a run on ``count``."""
    names = [n for n in os.listdir(path) if n != MANIFEST]
    others = sorted(_parts_in(path) - {count})
    if others:
        runs = " or ".join(str(c) for c in others)
        raise OutputPathError(f"--out {path!r} holds the parts of an unfinished run on {runs} processes: run the "
                              "same command on as many to resume it, or --overwrite to start again")
    if count == 1 and names or any(not _merge_leftover(n) and ((m := _PART.fullmatch(n)) is None
                                                              or int(m.group(2)) != count) for n in names):
        raise OutputPathError(f"--out {path!r} is not empty and holds no {MANIFEST}: give a new or empty directory")


def _merge_leftover(name: str) -> bool:
    """A file ``merge_parts`` writes before the manifest (what a crash while merging leaves)."""
    name = name.removesuffix(".tmp")
    return name in (MANIFEST, ERRORS, "predictions.jsonl", "predictions.csv")


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
            _check_job(self.path, old, self.job)
        elif not overwrite and any(n != MANIFEST for n in os.listdir(self.path)):
            _refuse_unmanaged(self.path)
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
            elif _PART.fullmatch(name):
                shutil.rmtree(os.path.join(self.path, name))

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

    def _header(self, name: str) -> int:
        """How many lines at the top of file ``name`` every part repeats (kept once when merged)."""
        return 0

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

    def _header(self, name: str) -> int:
        return int(name == self.rows_file and self.job["format"] == "csv")

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


def open_parts(path: str | os.PathLike, job: dict, count: int, *, overwrite: bool, first: bool) -> dict | None:
    """Check ``path`` for a job on ``count`` processes, each writing its part below it: the
    finished manifest when it already holds this job complete (on any number of processes), else
    ``None``. ``overwrite``: the ``first`` process removes the merged files and other runs' parts
    (each process starts its own part again)."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputPathError(f"--out {path!r} is a file; give a directory (it is created)")
    os.makedirs(path, exist_ok=True)
    job = json.loads(json.dumps(job))
    manifest_path = os.path.join(path, MANIFEST)
    if overwrite:
        if first:
            for name in os.listdir(path):
                full = os.path.join(path, name)
                if (m := _PART.fullmatch(name)) and int(m.group(2)) != count:
                    shutil.rmtree(full)
                elif name.startswith("shard-") or _merge_leftover(name):
                    os.remove(full)
        return None
    if os.path.exists(manifest_path):
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        _check_job(path, manifest, job)
        if not manifest["complete"]:
            raise OutputPathError(f"--out {path!r} holds an unfinished run on one process: run it again on one "
                                  "process to resume it, or --overwrite to start again")
        return manifest
    _refuse_unmanaged(path, count)
    return None


def merge_parts(sink: OutputDir, path: str | os.PathLike, job: dict, count: int) -> dict:
    """Write ``path``'s manifest and files from its ``count`` complete parts (``sink`` is one of
    them, for its file names): shards pointing into the parts, in input order; ``errors.jsonl``
    and the rows files concatenated. Files first, the manifest last, each replaced atomically."""
    path = os.fspath(path)
    parts = []
    for index in range(count):
        with open(os.path.join(path, part_name(index, count), MANIFEST), encoding="utf-8") as f:
            parts.append(json.load(f))
        if not parts[-1]["complete"]:
            raise ZooError(f"--out {path!r}: part {part_name(index, count)} is not complete")
    shards = [{**shard, "index": n, "part": i, **{k: f"{part_name(i, count)}/{shard[k]}" for k in ("array", "paths")
                                                  if k in shard}}
              for n, (i, shard) in enumerate((i, s) for i, part in enumerate(parts) for s in part["shards"])]
    sizes = {name: _concat(path, name, count, [p["sizes"][name] for p in parts], sink._header(name))
             for name in sink.files}
    manifest = {"zoo_dataset": VERSION, "job": json.loads(json.dumps(job)), "processes": count,
                "parts": [{"dir": part_name(i, count), "inputs": p["inputs_done"], "rows": p["rows"]}
                          for i, p in enumerate(parts)],
                "inputs_done": sum(p["inputs_done"] for p in parts), "rows": sum(p["rows"] for p in parts),
                "skipped": sum(p["skipped"] for p in parts), "shards": shards, "sizes": sizes, "complete": True}
    _replace(os.path.join(path, MANIFEST), (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


def _concat(path: str, name: str, count: int, sizes: list[int], header: int) -> int:
    """``path/name`` from the parts' committed bytes of ``name``, their first ``header`` lines
    kept once; its size."""
    target = os.path.join(path, name)
    with open(f"{target}.tmp", "wb") as out:
        for index, size in enumerate(sizes):
            with open(os.path.join(path, part_name(index, count), name), "rb") as f:
                remaining = size - sum(len(f.readline()) for _ in range(header if index else 0))
                while remaining > 0 and (chunk := f.read(min(remaining, 1 << 20))):
                    out.write(chunk)
                    remaining -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
        total = out.tell()
    os.replace(f"{target}.tmp", target)
    return total


def _manifest(path: str) -> dict:
    file = os.path.join(path, MANIFEST)
    if not os.path.exists(file) and os.path.isdir(path) and _parts_in(path):
        raise ZooError(f"{path!r} holds the parts of a run on {' or '.join(map(str, sorted(_parts_in(path))))} "
                       "processes that has not finished: run the same command again to complete it")
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def read_embeddings(path: str | os.PathLike, *, mmap: bool = False) -> tuple[list[str], np.ndarray]:
    """The file names and the (N, D) array of an ``embed`` output directory, its shards in order
    (``mmap=True`` maps each shard instead of reading it; the concatenation still copies)."""
    path = os.fspath(path)
    manifest = _manifest(path)
    names, arrays = [], []
    for shard in manifest["shards"]:
        arrays.append(np.load(os.path.join(path, shard["array"]), mmap_mode="r" if mmap else None))
        with open(os.path.join(path, shard["paths"]), encoding="utf-8", errors="surrogateescape") as f:
            names.extend(line.rstrip("\n") for line in f)
    dim = manifest["job"]["dim"]
    return names, np.concatenate(arrays) if arrays else np.zeros((0, dim), np.float32)


def read_predictions(path: str | os.PathLike) -> list[dict]:
    """The rows of a ``predict`` output directory, in input order: ``{"image": PATH, "top":
    [{"index", "label", "probability"}, ...]}`` each, from ``predictions.jsonl`` or ``.csv``."""
    path = os.fspath(path)
    manifest = _manifest(path)
    fmt, k = manifest["job"]["format"], manifest["job"]["top_k"]
    with open(os.path.join(path, f"predictions.{fmt}"), "rb") as f:
        text = f.read(manifest["sizes"][f"predictions.{fmt}"]).decode("utf-8", "surrogateescape")
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    rows = list(csv.reader(io.StringIO(text)))[1:]
    return [{"image": r[0], "top": [{"index": int(r[1 + 3 * i]), "label": r[2 + 3 * i],
                                     "probability": float(r[3 + 3 * i])} for i in range(k)]} for r in rows]
