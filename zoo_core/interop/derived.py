"""A state dict computed from another one on access: what a checkpoint-transform hook returns.

A foreign checkpoint (an original Facebook ConvNeXt, a big_vision ViT) becomes timm's keys by
renaming, reshaping and fusing its tensors. Done eagerly, that reads every tensor of a lazily read
safetensors file at once, next to the model it is loaded into; a ``DerivedStateDict`` computes each
entry only when the loader asks for it, and never touches the source it reads from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from zoo_core.interop.state_dict import stored_shape, transformed_shape
from zoo_core.interop.transforms import Transform, as_transform

Thunk = Callable[[], np.ndarray]


class DerivedStateDict(Mapping):
    """``key → entries[key]()``: each value computed on access, nothing cached (``entries`` are
    zero-argument callables returning arrays)."""

    def __init__(self, entries: Mapping[str, Thunk]):
        self._entries = dict(entries)

    def __getitem__(self, key: str) -> np.ndarray:
        return self._entries[key]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def shape(self, key: str) -> tuple[int, ...]:
        """The entry's shape: from its source's header where the entry can tell (``take``), else by
        computing it."""
        entry = self._entries[key]
        shape_of = getattr(entry, "shape", None)
        return tuple(shape_of()) if callable(shape_of) else tuple(np.shape(entry()))


def take(state_dict: Mapping[str, Any], key: str,
         transform: Transform | Callable[[np.ndarray], np.ndarray] | None = None) -> Thunk:
    """A thunk reading ``state_dict[key]`` as a numpy array, passed through ``transform`` if given
    (a ``Transform``, or a plain function wrapped by ``as_transform``); its ``shape()`` comes from
    the source's shape without reading the tensor."""
    return _Take(state_dict, key, None if transform is None else as_transform(transform))


class _Take:
    def __init__(self, state_dict: Mapping[str, Any], key: str, transform):
        self.state_dict, self.key, self.transform = state_dict, key, transform

    def __call__(self) -> np.ndarray:
        a = np.asarray(self.state_dict[self.key])
        return a if self.transform is None else self.transform(a)

    def shape(self) -> tuple[int, ...]:
        shape = stored_shape(self.state_dict, self.key)
        if self.transform is None:
            return shape
        return transformed_shape(self.transform, shape, lambda: self.state_dict[self.key])
