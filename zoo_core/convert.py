"""Bringing PyTorch checkpoints in: ``.pt`` / ``.pth`` / ``.bin`` → safetensors, never unpickling code.

Files are read with ``torch.load(weights_only=True)``, which refuses any pickled object other than
tensors and plain containers. The common wrappers (``{"state_dict": ...}``, ``{"model_state_dict":
...}``, ``{"model": ...}``, ``{"state_dict_ema": ...}``) are unwrapped, DataParallel's ``module.``
prefix and any prefixes given are stripped, and anything that is not a tensor is refused with a list.
torch is optional: ``pip install "zoo-core[torch]"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.errors import CheckpointFormatError, ZooError

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "state_dict_ema", "model_ema", "params")


def _torch():
    try:
        import torch
    except ImportError:
        raise ZooError('reading PyTorch checkpoints needs torch: pip install "zoo-core[torch]"') from None
    return torch


def _is_tensor_dict(obj: Any, torch) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap(obj: Any, source: str) -> Mapping[str, Any]:
    """The state dict inside a checkpoint object: the object itself, or the first wrapper key
    (``state_dict``, ``model_state_dict``, ``model``, ...) whose value is a dict, recursively."""
    torch = _torch()
    seen = []
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
        raise CheckpointFormatError(
            f"{source}{' [' + ']['.join(seen) + ']' if seen else ''}: {len(bad)} entries are not tensors: {listed}"
            f"{' ...' if len(bad) > 10 else ''}")
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


def load_torch_state_dict(path: str | os.PathLike, *, prefixes: Iterable[str] = ()) -> dict[str, Any]:
    """Read a PyTorch checkpoint safely and return its normalized state dict of torch tensors."""
    torch = _torch()
    source = os.fspath(path)
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise CheckpointFormatError(f"{source}: no such file") from e
    except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError ...
        raise CheckpointFormatError(
            f"{source}: torch.load(weights_only=True) refused it ({type(e).__name__}: {str(e).splitlines()[0][:300]}); "
            "zoo never unpickles arbitrary objects") from e
    return strip_prefixes(unwrap(obj, source), prefixes)


def to_numpy_state_dict(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Torch tensors as float32 (floating) or as-stored (integer) numpy arrays."""
    out = {}
    for k, v in state_dict.items():
        v = v.detach().cpu()
        out[k] = (v.float() if v.is_floating_point() else v).contiguous().numpy()
    return out


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, prefixes: Iterable[str] = ()) -> dict[str, Any]:
    """Write ``src`` (a PyTorch checkpoint) as safetensors at ``dst`` plus ``dst.json``, a sidecar
    of every tensor's shape and dtype. Returns the sidecar's content."""
    from safetensors.torch import save_file

    state_dict = load_torch_state_dict(src, prefixes=prefixes)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}  # no shared storage
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt", "converted_from": Path(src).name})
    os.replace(tmp, dst)
    sidecar = {"source": os.fspath(src), "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                                                      for k, v in tensors.items()}}
    Path(f"{dst}.json").write_text(json.dumps(sidecar, indent=2))
    return sidecar


def is_torch_checkpoint(path: str | os.PathLike) -> bool:
    return os.fspath(path).endswith(TORCH_SUFFIXES)
