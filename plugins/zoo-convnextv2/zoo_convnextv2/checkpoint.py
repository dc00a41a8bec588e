"""The FCMAE encoders' missing final norm, filled in as timm's loader leaves it.

timm creates ``convnextv2_*.fcmae`` with ``pretrained_strict=False`` because the FCMAE pretraining
checkpoints have no classifier and no final norm (``head.norm``): the model keeps its freshly
initialised ``head.norm`` (weight 1, bias 0, an affine-free LayerNorm). zoo's loader is strict, so
where a ``fcmae`` file lacks those two keys this supplies them with the same values. A file that
has them is used as it is. No JAX and no array is read here: the state dict stays lazy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

HEAD_NORM_KEYS = ("head.norm.weight", "head.norm.bias")


class WithIdentityHeadNorm(Mapping):
    """``state_dict`` plus ``head.norm.weight`` = ones and ``head.norm.bias`` = zeros, both (dim,)."""

    def __init__(self, state_dict: Mapping, dim: int):
        import numpy as np

        self._base = state_dict
        self._extra = {"head.norm.weight": np.ones((dim,), np.float32), "head.norm.bias": np.zeros((dim,), np.float32)}

    def __getitem__(self, key):
        return self._extra[key] if key in self._extra else self._base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        yield from self._extra

    def __len__(self) -> int:
        return len(self._base) + len(self._extra)

    def shape(self, key) -> tuple[int, ...]:
        from zoo_core.interop.state_dict import stored_shape

        return self._extra[key].shape if key in self._extra else stored_shape(self._base, key)


def complete_fcmae_checkpoint(variant, state_dict: Mapping) -> Mapping | None:
    """``state_dict`` with the identity ``head.norm`` added, for an FCMAE encoder file without it;
    ``None`` (nothing to do) for any other variant or file."""
    if variant.family != "convnextv2" or variant.tag != "fcmae":
        return None
    if any(key in state_dict for key in HEAD_NORM_KEYS):
        return None
    return WithIdentityHeadNorm(state_dict, variant.num_features)
