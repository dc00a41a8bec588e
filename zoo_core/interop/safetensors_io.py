"""Reading and writing safetensors files, with errors that say what is wrong.

The reader parses the format itself (8-byte little-endian header length, JSON header, raw data)
and reads tensors with ``file.read`` rather than a memory map, so a file truncated while it is
being read raises instead of killing the process with SIGBUS. Every structural fault (truncated,
an HTML page or a git-lfs pointer saved in its place, overlapping offsets, unknown dtypes) is a
``CheckpointFormatError`` naming the file and, where it applies, the tensor.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import ml_dtypes
import numpy as np

from zoo_core.errors import CheckpointFormatError
from zoo_core.kernels import cpu_kernels

DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}
MAX_HEADER = 100 * 1024 * 1024
ALIGNMENT = 64  # what XLA's CPU client needs to use a host buffer in place
BLOCK_BYTES = 1 << 20  # a block read for a layout copy: fits L2, so the copy reads it from cache
TRANSPOSE_BLOCK_BYTES = 2 << 20  # the same for the compiled transpose, fastest at 2 MiB (docs/performance.md)
_scratch = threading.local()
_PRIVATE = hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS")  # POSIX; Windows maps pagefile memory


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on a 64-byte boundary, so that
    ``jax.device_put(a, may_alias=True)`` can adopt it on CPU instead of copying it.

    From 1 MiB up it is its own private anonymous memory map (page-aligned, unmapped when the
    array goes). Not numpy's allocator: numpy asks for transparent huge pages above 4 MiB, and on
    the virtual machines measured (docs/performance.md) faulting those in ran at 0.5–6 GB/s from
    one run to the next, against a steady 2 GB/s (3.3 GB/s from two threads) for ordinary pages.
    Private, not Python's default shared mapping: shared anonymous memory is shmem, slower to
    fault in (BiT-152x2 loaded in a median 1.38 s against 1.20 s).
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes >= 1 << 20:
        m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) if _PRIVATE else mmap.mmap(-1, nbytes)
        return np.frombuffer(m, dtype).reshape(shape)
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _leading_axis_last(shape, axes) -> bool:
    """Whether permuting ``shape`` by ``axes`` moves the leading axis last and keeps the order of
    the other axes (size-1 axes aside): a 2-D transpose of (shape[0], rest)."""
    if len(axes) < 2 or axes[-1] != 0:
        return False
    kept = [a for a in axes[:-1] if shape[a] != 1]
    return kept == sorted(kept)


def _scratch_buffer(nbytes: int) -> memoryview:
    buf = getattr(_scratch, "buf", None)
    if buf is None or len(buf) < nbytes:
        buf = _scratch.buf = memoryview(bytearray(max(nbytes, BLOCK_BYTES)))
    return buf[:nbytes]


def sniff_foreign(prefix: bytes) -> str | None:
    """What a file starting with ``prefix`` is when it is a known stand-in saved in a weights
    file's place (a git-lfs pointer, an HTML page, a JSON error response), else ``None``."""
    head = prefix.lstrip()[:64].lower()
    if head.startswith(b"version https://git-lfs"):
        return "a git-lfs pointer file, not the weights it points to (fetch the LFS object)"
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        return "an HTML page, not a safetensors file (a proxy or login page saved in its place?)"
    if head.startswith(b"{") and b'"error"' in prefix[:4096]:
        return "a JSON error response, not a safetensors file"
    return None


class SafetensorsFile(Mapping[str, np.ndarray]):
    """A safetensors file opened for reading; validated on open, tensors read on access.

    ``keys()`` in file order, ``shape(key)``, ``dtype(key)``, ``f[key]`` → ``np.ndarray``
    (as stored; bf16 via ml_dtypes).
    """

    def __init__(self, path: str | os.PathLike, *, label: str | None = None):
        self.path = Path(path)
        self.label = label or str(self.path)
        try:
            self.size = self.path.stat().st_size
        except OSError as e:
            raise CheckpointFormatError(f"cannot read weights file {self.label}: {e.strerror or e}") from e
        self.entries, self.data_start, self.metadata = self._parse()

    def _fail(self, what: str) -> CheckpointFormatError:
        return CheckpointFormatError(f"{self.label}: {what}")

    def _parse(self):
        """``(entries, data_start, metadata)``: every structural fault raises, naming the tensor."""
        raw = self._read_header()
        try:
            header = json.loads(raw.decode("utf-8"), object_pairs_hook=self._no_duplicates)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise self._fail(f"header is not valid JSON ({e})") from e
        except ValueError as e:
            raise self._fail(str(e)) from e
        if not isinstance(header, dict):
            raise self._fail("header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        entries = {key: self._entry(key, info) for key, info in header.items()}
        data_start = 8 + len(raw)
        self._check_spans(entries, data_start)
        return entries, data_start, metadata

    def _read_header(self) -> bytes:
        """The JSON header's bytes, after checking the file is not something else saved in its place."""
        with open(self.path, "rb") as f:
            prefix = f.read(4096)
            sniffed = sniff_foreign(prefix)
            if sniffed:
                raise self._fail(f"is {sniffed}")
            if self.size == 0:
                raise self._fail("is empty (0 bytes): truncated download?")
            if self.size < 8:
                raise self._fail(f"truncated ({self.size} of at least 8 bytes): not even a header length")
            (n,) = struct.unpack("<Q", prefix[:8])
            if n > MAX_HEADER:
                raise self._fail(f"header length {n} bytes is implausible: not a safetensors file")
            if 8 + n > self.size:
                raise self._fail(f"truncated ({self.size} of at least {8 + n} bytes): cut inside the header")
            f.seek(8)
            return f.read(n)

    def _entry(self, key: str, info) -> tuple[str, tuple[int, ...], int, int]:
        """``(dtype name, shape, begin, end)`` of one header entry, checked."""
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise self._fail(f"tensor {key!r}: header entry lacks dtype, shape or data_offsets")
        dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype_name not in DTYPES:
            raise self._fail(f"tensor {key!r}: unsupported dtype {dtype_name!r} (supported: {', '.join(DTYPES)})")
        if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)):
            raise self._fail(f"tensor {key!r}: malformed shape {shape!r} or data_offsets {offsets!r}")
        begin, end = offsets
        nbytes = math.prod(shape) * DTYPES[dtype_name].itemsize
        if end < begin or end - begin != nbytes:
            raise self._fail(
                f"tensor {key!r}: data_offsets {offsets} hold {end - begin} bytes but {dtype_name}{shape} needs {nbytes}"
            )
        return dtype_name, tuple(shape), begin, end

    def _check_spans(self, entries, data_start: int) -> None:
        """No two tensors overlap, and the file holds every tensor's bytes."""
        spans = sorted((begin, end, key) for key, (_, _, begin, end) in entries.items())
        for (b0, e0, k0), (b1, e1, k1) in zip(spans, spans[1:]):
            if b1 < e0:
                raise self._fail(f"tensors {k0!r} and {k1!r} overlap (bytes {b0}-{e0} and {b1}-{e1})")
        needed = max((e for _, e, _ in spans), default=0)
        if needed > self.size - data_start:
            last = max(spans, key=lambda s: s[1])[2]
            raise self._fail(
                f"truncated ({self.size} of {data_start + needed} bytes): tensor {last!r} and maybe others are cut off"
            )

    @staticmethod
    def _no_duplicates(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise ValueError(f"duplicate tensor name {k!r} in the header")
            seen[k] = v
        return seen

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key) -> bool:
        return key in self.entries

    def shape(self, key: str) -> tuple[int, ...]:
        return self.entries[key][1]

    def dtype(self, key: str) -> str:
        return self.entries[key][0]

    def __getitem__(self, key: str) -> np.ndarray:
        dtype_name, shape, begin, end = self.entries[key]
        out = np.empty(shape, dtype=DTYPES[dtype_name])
        with open(self.path, "rb", buffering=0) as f:  # straight into the array: one copy, no buffer
            f.seek(self.data_start + begin)
            self._read_exactly(f, key, memoryview(out.reshape(-1).view(np.uint8)), 0, end - begin)
        return out

    def _read_exactly(self, f, key: str, view: memoryview, done: int, total: int) -> None:
        """Fill ``view`` from ``f``: bytes ``done`` onward of the ``total`` of tensor ``key``."""
        got = 0
        while got < len(view):
            n = f.readinto(view[got:])
            if not n:
                raise self._fail(f"tensor {key!r}: file shrank while reading (got {done + got} of {total} "
                                 "bytes): truncated")
            got += n

    def read_permuted(self, key: str, axes: tuple[int, ...] | None = None, dtype=None) -> np.ndarray:
        """``np.transpose(self[key], axes).astype(dtype)`` as a new C-contiguous array aligned for
        ``jax.device_put(..., may_alias=True)``, with one pass over the tensor's bytes.

        The tensor is read in blocks of its leading axis (about 1 MiB each) into a reused buffer
        and each block is copied straight to its place in the result, so the layout copy reads from
        cache and no second full-size array is made. A tensor that needs neither a new layout nor
        a new dtype is read into the result directly.
        """
        dtype_name, shape, begin, end = self.entries[key]
        stored = DTYPES[dtype_name]
        dtype = stored if dtype is None else np.dtype(dtype)
        ndim = len(shape)
        axes = tuple(range(ndim)) if axes is None else tuple(int(a) for a in axes)
        if sorted(axes) != list(range(ndim)):
            raise ValueError(f"read_permuted({key!r}): {axes} is not a permutation of the {ndim} axes of {shape}")
        out = aligned_empty(tuple(shape[a] for a in axes), dtype)
        with open(self.path, "rb", buffering=0) as f:
            f.seek(self.data_start + begin)
            if out.size == 0:
                return out
            if dtype == stored and axes == tuple(sorted(axes)):
                self._read_exactly(f, key, memoryview(out.reshape(-1).view(np.uint8)), 0, end - begin)
                return out
            kernels = cpu_kernels() if dtype == stored and stored.itemsize == 4 else None
            if kernels is not None and _leading_axis_last(shape, axes):
                # (out, in) → (in, out), and 1×1 convs: a 2-D transpose, block by block into columns.
                self._read_transposed(f, key, out.reshape(-1, shape[0]), kernels.transpose_into)
                return out
            lead = axes.index(0)  # where the stored leading axis lands in the result
            row = math.prod(shape[1:]) * stored.itemsize
            rows = max(1, min(shape[0], BLOCK_BYTES // row))
            for first in range(0, shape[0], rows):
                n = min(rows, shape[0] - first)
                block = _scratch_buffer(n * row)
                self._read_exactly(f, key, block, first * row, end - begin)
                values = np.frombuffer(block, stored).reshape((n, *shape[1:]))
                out[(slice(None),) * lead + (slice(first, first + n),)] = np.transpose(values, axes)
        return out

    def _read_transposed(self, f, key: str, out: np.ndarray, transpose_into) -> None:
        """Fill ``out`` (M, O) with the transpose of tensor ``key`` read as (O, M), block by block
        of its rows (``f`` is at the tensor's start)."""
        dtype_name, shape, begin, end = self.entries[key]
        stored = DTYPES[dtype_name]
        count, width = out.shape[1], out.shape[0]
        row = width * stored.itemsize
        rows = max(1, min(count, TRANSPOSE_BLOCK_BYTES // row))
        for first in range(0, count, rows):
            n = min(rows, count - first)
            block = _scratch_buffer(n * row)
            self._read_exactly(f, key, block, first * row, end - begin)
            transpose_into(np.frombuffer(block, stored).reshape(n, width), out[:, first:first + n])

    def read_float32(self, key: str) -> np.ndarray:
        """The tensor as float32 (bf16 / fp16 / fp64 converted exactly where representable)."""
        dtype_name = self.entries[key][0]
        if dtype_name not in FLOAT_DTYPES:
            raise self._fail(f"tensor {key!r} has dtype {dtype_name}, expected a floating-point tensor")
        return self[key].astype(np.float32, copy=False)


class Float32View(Mapping[str, np.ndarray]):
    """A ``SafetensorsFile`` as the loader reads it: floating tensors come back as float32 numpy
    arrays on access, others (``num_batches_tracked``) as stored; ``shape(key)`` answers from the
    header and ``read_permuted`` reads straight into a new layout."""

    def __init__(self, f: SafetensorsFile):
        self._f = f

    def __getitem__(self, key: str) -> np.ndarray:
        return self._f.read_float32(key) if self._f.dtype(key) in FLOAT_DTYPES else self._f[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._f)

    def __len__(self) -> int:
        return len(self._f)

    def __contains__(self, key) -> bool:
        return key in self._f

    def shape(self, key: str) -> tuple[int, ...]:
        return self._f.shape(key)

    def stored_dtype(self, key: str) -> np.dtype:
        """The tensor's dtype in the file (from the header, nothing read): ``int64`` for an I64 tensor."""
        return DTYPES[self._f.dtype(key)]

    def read_permuted(self, key: str, axes: tuple[int, ...] | None = None, dtype=None) -> np.ndarray:
        """The tensor read straight into the layout ``axes`` and ``dtype`` (float32 by default for
        floating tensors): see ``SafetensorsFile.read_permuted``."""
        if dtype is None and self._f.dtype(key) in FLOAT_DTYPES:
            dtype = "float32"
        return self._f.read_permuted(key, axes, dtype)


def load_safetensors_state_dict(path: str | os.PathLike, *, dtype=np.float32, label: str | None = None
                                ) -> dict[str, np.ndarray]:
    """Read a safetensors file into ``{key: np.ndarray}`` in PyTorch's logical layout.

    Floating-point tensors come back as ``dtype`` (float32 by default; bf16 and fp16 convert
    exactly); integer and bool tensors as stored. ``dtype=None`` keeps every tensor as stored.
    """
    f = SafetensorsFile(path, label=label)
    out = {}
    for key in f:
        a = f[key]
        if dtype is not None and f.dtype(key) in FLOAT_DTYPES:
            a = a.astype(dtype)
        out[key] = a
    return out


def save_safetensors(path: str | os.PathLike, tensors: Mapping[str, np.ndarray],
                     metadata: Mapping[str, str] | None = None) -> None:
    """Write ``tensors`` as a safetensors file, atomically (temporary file, then rename)."""
    from safetensors.numpy import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    try:
        save_file(arrays, str(tmp), metadata=dict(metadata) if metadata else None)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
