"""The ``Model`` base every family's architecture derives from.

A model is an ``nn.Module`` with timm's forward split: ``forward_features`` (the unpooled map,
NHWC; for ViT the tokens), ``forward_head`` (pooling, pre-logits, classifier) and ``apply`` (both,
after checking the input).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from zoo_core.errors import InputError
from zoo_core.nn.module import Module, Params, State


class Model(Module):
    """Base of family models. Subclasses are attrs records with at least ``in_chans``,
    ``num_classes`` (0: no classifier, ``apply`` returns pooled features) and ``num_features``
    fields, and implement ``forward_features`` and ``forward_head``."""

    in_chans: int
    num_classes: int
    num_features: int

    @property
    def architecture(self) -> Model:
        """The family's own model that this one computes with, whose trees the family's weight
        mapping describes: the model itself; a wrapper (``features_only``, a compute ``dtype``)
        returns the architecture it wraps."""
        return self

    def check_input(self, x: Any) -> None:
        """Raise ``InputError`` unless ``x`` is a float (N, H, W, in_chans) array."""
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", None)
        expected = f"a float array (N, H, W, {self.in_chans}) in NHWC layout"
        if shape is None or dtype is None:
            raise InputError(f"{type(self).__name__}: input must be {expected}, got {type(x).__name__}")
        if len(shape) != 4:
            hint = " (add a batch axis: x[None])" if len(shape) == 3 else ""
            raise InputError(f"{type(self).__name__}: input must be {expected}, got shape {tuple(shape)}{hint}")
        if not jnp.issubdtype(dtype, jnp.floating):
            raise InputError(f"{type(self).__name__}: input must be {expected}, got dtype {dtype} "
                             "(convert images with zoo_core.data or x.astype(jnp.float32))")
        if shape[-1] != self.in_chans:
            hint = " (NCHW input? transpose with x.transpose(0, 2, 3, 1))" if shape[1] == self.in_chans else ""
            raise InputError(f"{type(self).__name__}: input must be {expected}, got shape {tuple(shape)} "
                             f"with {shape[-1]} channels last{hint}")

    def forward_features(self, params: Params, state: State, x: jax.Array, *, train: bool = False
                         ) -> tuple[jax.Array, State]:
        """Backbone output before pooling: (N, H', W', num_features) (ViT: (N, T, D) tokens)."""
        raise NotImplementedError

    def forward_head(self, params: Params, x: jax.Array, *, pre_logits: bool = False) -> jax.Array:
        """Pool and classify the output of ``forward_features``: (N, num_classes), or with
        ``pre_logits=True`` (or ``num_classes == 0``) the (N, num_features) vector before the
        classifier."""
        raise NotImplementedError

    def apply(self, params: Params, state: State, x: jax.Array, *, train: bool = False
              ) -> tuple[jax.Array, State]:
        """Logits (N, num_classes), or pooled features (N, num_features) when ``num_classes == 0``."""
        self.check_input(x)
        features, state = self.forward_features(params, state, x, train=train)
        return self.forward_head(params, features), state
