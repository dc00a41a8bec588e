"""A zoo model as an Equinox module (``pip install "zoo-core[equinox]"``).

``ZooModel`` holds a zoo ``Model`` (a static field), its ``params`` tree as an ordinary field,
and its ``state`` tree (BatchNorm running statistics) behind an ``eqx.nn.StateIndex``, as
``eqx.nn.BatchNorm`` keeps its statistics:

| zoo | Equinox |
| --- | --- |
| ``params`` | the field ``params`` (nested dicts of arrays: ``eqx.partition`` and ``eqx.filter_grad`` see them) |
| ``state`` | ``state.get(module.state_index)`` of the ``eqx.nn.State`` made by ``eqx.nn.make_with_state`` |
| ``apply(params, state, x, train=...)`` | ``module(x, state) -> (y, state)``; ``train = not inference`` |

As with Equinox's own layers, a module starts in training mode (``inference=False``) and
``eqx.nn.inference_mode(model)`` switches it (and every other layer of a model) to inference.
Inputs are batched NHWC arrays (N, H, W, C), as ``model.apply`` takes them: BatchNorm computes
its statistics over the batch itself, so no ``jax.vmap`` / ``axis_name`` is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax

from zoo_core.frameworks._trees import initial_trees, load_into


class ZooModel(eqx.Module):
    """A zoo ``Model`` as an Equinox module. ``ZooModel(model, key=key)`` initialises the trees
    (``model.init(key)``); ``ZooModel(model, params=..., state=...)`` takes given trees. Build it
    through ``eqx.nn.make_with_state`` (of this class, or of your model holding it) to get the
    ``eqx.nn.State`` its calls take."""

    model: Any = eqx.field(static=True)
    params: dict
    state_index: eqx.nn.StateIndex
    inference: bool = False

    def __init__(self, model: Any, *, params: dict | None = None, state: dict | None = None,
                 key: jax.Array | None = None, inference: bool = False):
        if (params is None) != (state is None):
            raise TypeError("ZooModel: give params and state together, or neither (then key)")
        if params is None:
            if key is None:
                raise TypeError("ZooModel: give key= to initialise, or params= and state=")
            params, state = initial_trees(model, key)
        self.model = model
        self.params = params
        self.state_index = eqx.nn.StateIndex(state)
        self.inference = inference

    @classmethod
    def from_pretrained(cls, name: str, *, key: jax.Array | None = None, **pretrained_kwargs: Any) -> ZooModel:
        """``zoo_core.create_pretrained(name, **pretrained_kwargs)`` as a module holding the
        released weights. A new head (``num_classes`` other than the released one) is initialised
        from ``key`` when given, else from ``jax.random.key(0)`` as ``load()`` does."""
        import zoo_core

        model, load = zoo_core.create_pretrained(name, **pretrained_kwargs)
        params, state = load() if key is None else load_into(load, *initial_trees(model, key))
        return cls(model, params=params, state=state)

    def trees(self, state: eqx.nn.State) -> tuple[dict, dict]:
        """``(params, state)`` as zoo's plain dict trees."""
        return self.params, state.get(self.state_index)

    def _run(self, method, x, state, inference, **kwargs):
        inference = self.inference if inference is None else inference
        y, new_state = method(self.params, state.get(self.state_index), x, train=not inference, **kwargs)
        if not inference:
            state = state.set(self.state_index, new_state)
        return y, state

    def __call__(self, x: jax.Array, state: eqx.nn.State, *, key: jax.Array | None = None,
                 inference: bool | None = None) -> tuple[jax.Array, eqx.nn.State]:
        """``model.apply``: ``(logits or pooled features, state)``; in training mode the state
        holds the updated running statistics. ``key`` is unused (zoo models draw no randomness)."""
        del key
        return self._run(self.model.apply, x, state, inference)

    def forward_features(self, x: jax.Array, state: eqx.nn.State, *, inference: bool | None = None):
        """``(model.forward_features output, state)``: the unpooled map (ViT: tokens)."""
        return self._run(self.model.forward_features, x, state, inference)

    def forward_head(self, features: jax.Array, *, pre_logits: bool = False) -> jax.Array:
        """``model.forward_head`` on the output of ``forward_features``."""
        return self.model.forward_head(self.params, features, pre_logits=pre_logits)

    def forward_intermediates(self, x: jax.Array, state: eqx.nn.State, indices: Sequence[int] | int | None = None,
                              *, inference: bool | None = None, **kwargs: Any):
        """``(result, state)``, ``result`` as ``zoo_core.features.forward_intermediates`` gives it."""
        from zoo_core.features import forward_intermediates

        def method(params, state, x, *, train):
            return forward_intermediates(self.model, params, state, x, indices, train=train, **kwargs)

        return self._run(method, x, state, inference)


def load_pretrained(model: Any, state: eqx.nn.State, loader: Any,
                    where: Callable[[Any], ZooModel] = lambda m: m) -> tuple[Any, eqx.nn.State]:
    """``(model, state)`` with the weights of ``loader`` (``create_pretrained``'s ``load``, any
    ``prefix``) in the ``ZooModel`` that ``where(model)`` selects (default: ``model`` itself); a
    fresh head keeps its current values. Equinox modules are immutable: use what it returns."""
    module = where(model)
    params, zoo_state = load_into(loader, *module.trees(state))
    model = eqx.tree_at(lambda m: where(m).params, model, params)
    return model, state.set(module.state_index, zoo_state)


__all__ = ["ZooModel", "load_pretrained"]
