"""Parity fixtures: one safetensors file holding a model's input, its state dict and its outputs.

Keys: ``input``; ``output`` (one output) or ``output/<name>`` (several); ``state_dict/<key>``.
Arrays are stored in PyTorch's layout, as the reference produced them (images NCHW).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs
import numpy as np

from zoo_core.interop.safetensors_io import load_safetensors_state_dict, save_safetensors


@attrs.frozen
class Parity:
    input: np.ndarray
    state_dict: dict[str, np.ndarray]
    output: np.ndarray | dict[str, np.ndarray]


def write_parity(path: str | os.PathLike, input: np.ndarray, state_dict: Mapping[str, np.ndarray],
                 output: np.ndarray | Mapping[str, np.ndarray]) -> None:
    tensors = {"input": np.asarray(input)}
    if isinstance(output, Mapping):
        tensors.update({f"output/{k}": np.asarray(v) for k, v in output.items()})
    else:
        tensors["output"] = np.asarray(output)
    tensors.update({f"state_dict/{k}": np.asarray(v) for k, v in state_dict.items()})
    save_safetensors(path, tensors)


def read_parity(path: str | os.PathLike) -> Parity:
    """Read a fixture written by ``write_parity``: ``Parity(input, state_dict, output)``;
    ``output`` is an array, or a dict when the fixture holds ``output/<name>`` entries."""
    data = load_safetensors_state_dict(path, dtype=None)
    state_dict = {k[len("state_dict/"):]: v for k, v in data.items() if k.startswith("state_dict/")}
    outputs = {k[len("output/"):]: v for k, v in data.items() if k.startswith("output/")}
    output = data["output"] if "output" in data else outputs
    return Parity(input=data["input"], state_dict=state_dict, output=output)
