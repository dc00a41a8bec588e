"""Local checkpoint files: what a file is, judged by its bytes, and PyTorch checkpoints read safely.

``checkpoint_format`` recognises a file by its content, never its name: safetensors (an 8-byte
little-endian header length, then the JSON header's ``{``), a PyTorch checkpoint (a zip archive
holding ``<name>/data.pkl``, or a legacy pickle, whose first byte is 0x80) and a numpy ``.npz`` (a
zip archive of ``.npy`` members). A directory, a missing or unreadable file, an HTML page or a
git-lfs pointer saved in a checkpoint's place, a single ``.npy`` array: each is a
``CheckpointFormatError`` that names the file and says what it is.

PyTorch checkpoints are read with ``torch.load(weights_only=True)``, which refuses any pickled
object other than tensors and plain containers. The common wrappers (``{"state_dict": ...}``,
``{"model_state_dict": ...}``, ``{"model": ...}``, ``{"state_dict_ema": ...}``) are unwrapped,
DataParallel's ``module.`` prefix and any prefixes given are stripped, and anything that is not a
tensor is refused with a list. torch is optional: ``pip install "zoo-core[torch]"``.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.errors import CheckpointFormatError, ZooError

WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".npz")  # only to suggest files of a folder
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive
FORMAT_NAMES = {"safetensors": "safetensors file", "torch": "PyTorch checkpoint", "npz": "numpy .npz archive"}
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "state_dict_ema", "model_ema", "params")


def _torch():
    try:
        import torch
    except ImportError:
        raise ZooError('reading PyTorch checkpoints needs torch: pip install "zoo-core[torch]"') from None
    return torch


def _is_tensor_dict(obj: Any, torch) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap(obj: Any, source: str, key: str | None = None) -> Mapping[str, Any]:
    """The state dict inside a checkpoint object: ``obj[key]`` when ``key`` is given (I-JEPA's
    ``encoder``), then the object itself or the first wrapper key (``state_dict``,
    ``model_state_dict``, ``model``, ...) whose value is a dict, recursively."""
    torch = _torch()
    seen = []
    if key is not None:
        if not isinstance(obj, Mapping) or not isinstance(obj.get(key), Mapping):
            found = ", ".join(repr(k) for k in list(obj)[:20]) if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointFormatError(f"{source}: has no dict under {key!r} (its top level: {found})")
        seen.append(key)
        obj = obj[key]
    while isinstance(obj, Mapping) and not _is_tensor_dict(obj, torch):
        key = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if key is None:
            break
        seen.append(key)
        obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CheckpointFormatError(f"{source}: holds a {type(obj).__name__}, not a state dict")
    bad = {k: type(v).__name__ for k, v in obj.items() if not isinstance(v, torch.Tensor)}
    if bad:
        listed = ", ".join(f"{k!r} ({t})" for k, t in list(bad.items())[:10])
        nested = [k for k, v in obj.items() if isinstance(v, Mapping)]
        raise CheckpointFormatError(
            f"{source}{' [' + ']['.join(seen) + ']' if seen else ''}: {len(bad)} entries are not tensors: {listed}"
            f"{' ...' if len(bad) > 10 else ''}"
            + (f"; if the weights are under {nested[0]!r}, pick them with --key {nested[0]}" if nested else ""))
    return obj


def strip_prefixes(state_dict: Mapping[str, Any], prefixes: Iterable[str] = ()) -> dict[str, Any]:
    """Remove DataParallel's ``module.`` (when every key has it), then each of ``prefixes`` from
    the keys that start with it."""
    out = dict(state_dict)
    if out and all(k.startswith("module.") for k in out):
        out = {k[len("module."):]: v for k, v in out.items()}
    for prefix in prefixes:
        out = {(k[len(prefix):] if prefix and k.startswith(prefix) else k): v for k, v in out.items()}
    return out


def load_torch_state_dict(path: str | os.PathLike, *, prefixes: Iterable[str] = (), key: str | None = None
                          ) -> dict[str, Any]:
    """Read a PyTorch checkpoint safely and return its normalized state dict of torch tensors (the
    one under ``key`` where given); a file that is something else (``checkpoint_format``) is a
    ``CheckpointFormatError`` saying what."""
    source = os.fspath(path)
    kind = checkpoint_format(source)
    if kind != "torch":
        raise CheckpointFormatError(f"{source}: is a {FORMAT_NAMES[kind]}, not a PyTorch checkpoint"
                                    + (" (zoo loads it as it is)" if kind == "safetensors" else ""))
    torch = _torch()
    try:
        with open(source, "rb") as f:  # a file object: torch.load judges a path by its name (.safetensors)
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError ...
        raise CheckpointFormatError(
            f"{source}: torch.load(weights_only=True) refused it ({type(e).__name__}: {str(e).splitlines()[0][:300]}); "
            "zoo never unpickles arbitrary objects") from e
    return strip_prefixes(unwrap(obj, source, key), prefixes)


def to_numpy_state_dict(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Torch tensors as float32 (floating) or as-stored (integer) numpy arrays."""
    out = {}
    for k, v in state_dict.items():
        v = v.detach().cpu()
        out[k] = (v.float() if v.is_floating_point() else v).contiguous().numpy()
    return out


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, prefixes: Iterable[str] = (), key: str | None = None
            ) -> dict[str, Any]:
    """Write ``src`` (a PyTorch checkpoint; the state dict under ``key`` where given) as
    safetensors at ``dst`` plus ``dst.json``, a sidecar of every tensor's shape and dtype. Returns
    the sidecar's content."""
    state_dict = load_torch_state_dict(src, prefixes=prefixes, key=key)  # says what src is first, torch or not
    from safetensors.torch import save_file  # imports torch, which reading a PyTorch checkpoint needs anyway

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}  # no shared storage
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt", "converted_from": Path(src).name})
    os.replace(tmp, dst)
    sidecar = {"source": os.fspath(src), "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                                                      for k, v in tensors.items()}}
    Path(f"{dst}.json").write_text(json.dumps(sidecar, indent=2))
    return sidecar


def checkpoint_format(path: str | os.PathLike, label: str | None = None) -> str:
    """``"safetensors"``, ``"torch"`` or ``"npz"``, judged by the file's first bytes (and a zip
    archive's member names), never by its name. Anything else raises a ``CheckpointFormatError``
    naming ``label`` (default: the path) and saying what the file is: a directory (with the weights
    files inside it), missing, unreadable, empty, an HTML page, a git-lfs pointer, a single ``.npy``.
    A file that starts as safetensors but is damaged further on is ``"safetensors"``: its reader
    says what is wrong (truncated, a bad header)."""
    path = os.fspath(path)
    label = label or path
    prefix = _first_bytes(path, label)
    if prefix.startswith(ZIP_MAGIC):
        return _zip_format(path, label)
    # safetensors before pickle: its first byte is the header length's lowest, 0x80 in 1 file of 256
    if len(prefix) > 8 and prefix[8:9] == b"{" and struct.unpack("<Q", prefix[:8])[0] >= 2:
        return "safetensors"
    if prefix[:1] == b"\x80":  # pickle protocol 2+: torch.save's legacy format
        return "torch"
    raise CheckpointFormatError(f"{label}: {_what_else(prefix)}")


def _first_bytes(path: str, label: str, n: int = 4096) -> bytes:
    """The file's first ``n`` bytes; a path that is not a readable regular file raises."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        broken = f" (a broken link to {os.readlink(path)})" if os.path.islink(path) else ""
        raise CheckpointFormatError(f"{label}: no such file{broken}") from None
    except OSError as e:
        raise CheckpointFormatError(f"{label}: cannot be read ({e.strerror or e})") from e
    if stat.S_ISDIR(mode):
        raise CheckpointFormatError(f"{label}: is a directory, not a weights file; {_weights_files_in(path)}")
    if not stat.S_ISREG(mode):
        raise CheckpointFormatError(f"{label}: is not a regular file (a device, socket or pipe), not a weights file")
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise CheckpointFormatError(f"{label}: cannot be read ({e.strerror or e})") from e


def _weights_files_in(folder: str) -> str:
    """What to pass instead of ``folder``: the weights-like files directly inside it."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(WEIGHTS_SUFFIXES))
    except OSError:
        names = []
    if not names:
        return f"it holds no {', '.join(WEIGHTS_SUFFIXES)} file"
    shown = ", ".join(os.path.join(folder, n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
    return f"pass one of the files in it: {shown}"


def _zip_format(path: str, label: str) -> str:
    """``"torch"`` for a zip archive holding ``*/data.pkl``, ``"npz"`` for one of ``.npy`` members."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointFormatError(f"{label}: starts as a zip archive but cannot be read as one ({e}): "
                                    "truncated or damaged") from e
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "torch"
    if all(n.endswith(".npy") for n in names):
        return "npz"
    listed = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    raise CheckpointFormatError(f"{label}: is a zip archive, but neither a PyTorch checkpoint (no */data.pkl) nor "
                                f"a numpy .npz (not every member is a .npy): {listed}")


def _what_else(prefix: bytes) -> str:
    """What a file that is no checkpoint format is, from its first bytes."""
    from zoo_core.interop.safetensors_io import sniff_foreign

    if not prefix:
        return "is empty (0 bytes): truncated download?"
    sniffed = sniff_foreign(prefix)
    if sniffed:
        return f"is {sniffed}"
    if prefix.startswith(b"\x93NUMPY"):
        return "is a single numpy .npy array, not a state dict (save a dict of arrays with numpy.savez)"
    if len(prefix) < 9:
        return f"is {len(prefix)} bytes long: too short for any weights format (truncated?)"
    return (f"is not a safetensors file, a PyTorch checkpoint or a numpy .npz (it starts with {prefix[:16]!r}); "
            "zoo recognises a file by its content, whatever its name")


def read_npz(path: str | os.PathLike, label: str | None = None) -> dict[str, np.ndarray]:
    """Every array of a numpy ``.npz``, read with ``allow_pickle=False``: an array of Python
    objects, or a member that cannot be read, is a ``CheckpointFormatError`` naming the array."""
    path = os.fspath(path)
    label = label or path
    out = {}
    try:
        with np.load(path, allow_pickle=False) as f:
            for key in f.files:
                out[key] = _npz_member(f, key, label)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise CheckpointFormatError(f"{label}: cannot be read as a numpy .npz ({e})") from e
    return out


def _npz_member(f, key: str, label: str) -> np.ndarray:
    try:
        return f[key]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise CheckpointFormatError(f"{label}: array {key!r} holds Python objects (dtype object), which zoo "
                                        "never unpickles; save numeric arrays only") from e
        raise CheckpointFormatError(f"{label}: array {key!r} cannot be read ({e})") from e
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointFormatError(f"{label}: array {key!r} cannot be read ({e}): truncated or damaged") from e
