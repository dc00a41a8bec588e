"""Reduced-precision compute: ``create_model(name, dtype=jnp.bfloat16)``.

A ``Precision`` wraps any ``Model``. Its params stay as ``init`` and ``load()`` make them (float32),
so optimizers and checkpoints never see low-precision copies; inside each call it casts the
floating params and the input to the compute dtype, runs the wrapped model, and returns its
floating outputs as float32. The state (BatchNorm running statistics) is passed through in its
stored dtype: it is a handful of statistics, bfloat16's 8-bit mantissa would lose the small
momentum updates, and ``nn.BatchNorm`` already mixes float32 statistics with low-precision
activations. The shared layers compute their statistics in float32 and return the input's dtype
(LayerNorm, GroupNorm, BatchNorm, GRN, weight standardization, the attention softmax), as mixed
precision training does.

Gradients with respect to the float32 params come back float32 (``astype`` is differentiable).
"""

from __future__ import annotations

from typing import Any

import attrs
import jax
import jax.numpy as jnp

from zoo_core.errors import ArgumentError
from zoo_core.models import Model
from zoo_core.nn.module import Params, State
from zoo_core.validate import show

#: The compute dtypes ``create_model(dtype=...)`` accepts, by name.
COMPUTE_DTYPES = ("bfloat16", "float16", "float32")

#: What a ``Precision`` model returns its floating outputs as.
OUTPUT_DTYPE = jnp.float32


def resolve_dtype(name: str, dtype: Any) -> jnp.dtype | None:
    """``dtype`` (``None``, a name such as ``"bfloat16"``, or ``jnp.bfloat16``) as a numpy dtype.

    ``None`` means "as stored" and gives ``None``. Anything that is not one of
    ``COMPUTE_DTYPES`` raises an ``ArgumentError`` (a ``ValueError``) naming the variant ``name``
    and the dtype.
    """
    if dtype is None:
        return None
    try:
        resolved = None if isinstance(dtype, bool) else jnp.dtype(dtype)
    except (TypeError, ValueError):
        resolved = None
    if resolved is None or resolved.name not in COMPUTE_DTYPES:
        raise ArgumentError(f"{name}: dtype={show(dtype)} is not a supported compute dtype; "
                            f"use one of {', '.join(COMPUTE_DTYPES)} (or None for the stored float32)")
    return resolved


def cast_floating(tree: Any, dtype: Any) -> Any:
    """``tree`` with every floating array cast to ``dtype``; integer and other leaves unchanged."""
    def cast(leaf):
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.dtype != dtype:
            return leaf.astype(dtype)
        return leaf

    return jax.tree_util.tree_map(cast, tree)


@attrs.frozen
class Precision(Model):
    """``inner`` computed in ``dtype``: same ``init``, params, state and output shapes.

    ``apply(params, state, x)`` → (y, state) with ``y`` float32 of the inner model's shape
    ((N, num_classes) logits, or for a features_only model the list of (N, H, W, C) maps);
    ``forward_features`` → float32 (N, H', W', num_features) (ViT: (N, T, D) tokens);
    ``forward_head`` → float32 (N, num_classes) or (N, num_features). Every other attribute
    (``num_classes``, ``feature_info``, the architecture's fields) is the inner model's.
    """

    inner: Model
    dtype: Any

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("inner", "dtype"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def in_chans(self) -> int:
        return self.inner.in_chans

    @property
    def num_classes(self) -> int:
        return self.inner.num_classes

    @property
    def num_features(self) -> int:
        return self.inner.num_features

    @property
    def architecture(self) -> Model:
        """The wrapped model's architecture (a wrapped features_only model's backbone)."""
        return self.inner.architecture

    def init(self, key: jax.Array) -> tuple[Params, State]:
        """The inner model's ``(params, state)``, in their stored (float32) dtype."""
        return self.inner.init(key)

    def _in(self, tree: Any) -> Any:
        return cast_floating(tree, self.dtype)

    def apply(self, params: Params, state: State, x: jax.Array, *, train: bool = False) -> tuple[Any, State]:
        """The inner ``apply`` in ``dtype``; floating outputs float32, state in its stored dtype."""
        y, new_state = self.inner.apply(self._in(params), state, self._in(x), train=train)
        return cast_floating(y, OUTPUT_DTYPE), _like(new_state, state)

    def forward_features(self, params: Params, state: State, x: jax.Array, *, train: bool = False
                         ) -> tuple[jax.Array, State]:
        """The inner ``forward_features`` in ``dtype``; its (N, H', W', C) map returned float32."""
        y, new_state = self.inner.forward_features(self._in(params), state, self._in(x), train=train)
        return cast_floating(y, OUTPUT_DTYPE), _like(new_state, state)

    def forward_head(self, params: Params, x: jax.Array, *, pre_logits: bool = False) -> jax.Array:
        """The inner ``forward_head`` in ``dtype``: (N, num_classes) or (N, num_features), float32."""
        y = self.inner.forward_head(self._in(params), self._in(x), pre_logits=pre_logits)
        return cast_floating(y, OUTPUT_DTYPE)

    def forward_intermediates(self, params: Params, state: State, x: jax.Array, indices, *, train: bool = False,
                              **kwargs: Any):
        """The inner ``forward_intermediates`` in ``dtype`` (``norm``, ``final`` and the family's
        options passed on); each map, and the final features with ``final``, float32."""
        out, new_state = self.inner.forward_intermediates(self._in(params), state, self._in(x), indices,
                                                          train=train, **kwargs)
        return cast_floating(out, OUTPUT_DTYPE), _like(new_state, state)


def _like(new_state: State, state: State) -> State:
    """``new_state`` with each leaf in the dtype of the matching leaf of ``state``, so the state
    returned with ``train=True`` goes back in as it came."""
    return jax.tree_util.tree_map(lambda new, old: new.astype(old.dtype) if hasattr(old, "dtype") else new,
                                  new_state, state)


def with_compute_dtype(model: Model, name: str, dtype: Any) -> Model:
    """``model`` computing in ``dtype`` (see ``resolve_dtype``); ``None`` and float32 return it as is."""
    resolved = resolve_dtype(name, dtype)
    if resolved is None or resolved == jnp.float32:
        return model
    return Precision(model, resolved)


__all__ = ["COMPUTE_DTYPES", "Precision", "cast_floating", "resolve_dtype", "with_compute_dtype"]
