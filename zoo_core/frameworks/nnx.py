"""A zoo model as a Flax NNX module (``pip install "zoo-core[flax]"``).

``ZooModule`` holds a zoo ``Model`` (a static record) and its two trees as NNX variables:

| zoo | NNX | path in ``nnx.state(module)`` |
| --- | --- | --- |
| ``params`` leaves | ``nnx.Param`` | ``("params", "stem", "conv", "kernel")`` |
| ``state`` leaves (BatchNorm running statistics) | ``nnx.BatchStat`` | ``("batch_stats", "stem", "bn", "mean")`` |
| ``apply(..., train=...)`` | ``module.train()`` / ``module.eval()`` (``use_running_average``) | |

Calling the module runs ``model.apply`` on the variables' values; in train mode it writes the
updated running statistics back into the ``BatchStat`` variables, as ``nnx.BatchNorm`` does. It
is an ordinary NNX module: a submodule of yours, under ``nnx.jit``, ``nnx.grad``, ``nnx.split`` /
``nnx.merge``, ``nnx.Optimizer`` and state filters such as ``nnx.PathContains``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from flax import nnx

from zoo_core.frameworks._trees import initial_trees, load_into


def _is_variable(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def _values(variables: Any) -> Any:
    """The array tree of a tree of NNX variables (empty dicts kept)."""
    return jax.tree.map(lambda v: v[...], variables, is_leaf=_is_variable)


def _write(variables: Any, values: Any) -> None:
    """Set each variable of ``variables`` to the matching leaf of ``values`` (same structure)."""
    jax.tree.map(lambda v, x: v.set_value(x), variables, values, is_leaf=_is_variable)


class ZooModule(nnx.Module):
    """A zoo ``Model`` with its ``params`` as ``nnx.Param`` and its ``state`` as ``nnx.BatchStat``.

    ``ZooModule(model, rngs=nnx.Rngs(0))`` initialises the trees (``model.init`` with a key from
    ``rngs.params()``); ``ZooModule(model, params=..., state=...)`` takes given trees. It starts in
    eval mode (``use_running_average=True``: zoo's ``train=False`` default); ``module.train()``
    switches every zoo submodule of a model to batch statistics, ``module.eval()`` back.
    """

    def __init__(self, model: Any, *, params: dict | None = None, state: dict | None = None,
                 rngs: nnx.Rngs | None = None, use_running_average: bool = True):
        if (params is None) != (state is None):
            raise TypeError("ZooModule: give params and state together, or neither (then rngs)")
        if params is None:
            if rngs is None:
                raise TypeError("ZooModule: give rngs=nnx.Rngs(...) to initialise, or params= and state=")
            params, state = initial_trees(model, rngs.params())
        self.model = model
        self.params = nnx.data(jax.tree.map(nnx.Param, params))
        self.batch_stats = nnx.data(jax.tree.map(nnx.BatchStat, state))
        self.use_running_average = use_running_average

    @classmethod
    def from_pretrained(cls, name: str, *, rngs: nnx.Rngs | None = None, **pretrained_kwargs: Any) -> ZooModule:
        """``zoo_core.create_pretrained(name, **pretrained_kwargs)`` as a module with the released
        weights. A new head (``num_classes`` other than the released one) is initialised from
        ``rngs.params()`` when ``rngs`` is given, else from ``jax.random.key(0)`` as ``load()`` does."""
        import zoo_core

        model, load = zoo_core.create_pretrained(name, **pretrained_kwargs)
        if rngs is None:
            params, state = load()
        else:
            params, state = load_into(load, *initial_trees(model, rngs.params()))
        return cls(model, params=params, state=state)

    @property
    def train_mode(self) -> bool:
        """zoo's ``train`` flag: True after ``module.train()``, False after ``module.eval()``."""
        return not self.use_running_average

    def trees(self) -> tuple[dict, dict]:
        """``(params, state)``: the current values as zoo's plain dict trees."""
        return _values(self.params), _values(self.batch_stats)

    def set_trees(self, params: dict, state: dict) -> None:
        """Write zoo trees (the structure of ``model.init``'s) into the variables."""
        _write(self.params, params)
        _write(self.batch_stats, state)

    def load_pretrained(self, loader: Any) -> None:
        """Write the weights of ``loader`` (``create_pretrained``'s ``load``, any ``prefix``) into
        this module; a fresh head keeps the module's current values."""
        self.set_trees(*load_into(loader, *self.trees()))

    def _run(self, method, x, **kwargs):
        params, state = self.trees()
        y, new_state = method(params, state, x, train=self.train_mode, **kwargs)
        if self.train_mode:
            _write(self.batch_stats, new_state)
        return y

    def __call__(self, x: jax.Array) -> jax.Array:
        """``model.apply``: logits (N, num_classes), or pooled features when ``num_classes == 0``."""
        return self._run(self.model.apply, x)

    def forward_features(self, x: jax.Array) -> jax.Array:
        """``model.forward_features``: the unpooled map (N, H', W', C) (ViT: tokens)."""
        return self._run(self.model.forward_features, x)

    def forward_head(self, features: jax.Array, *, pre_logits: bool = False) -> jax.Array:
        """``model.forward_head`` on the output of ``forward_features``."""
        return self.model.forward_head(_values(self.params), features, pre_logits=pre_logits)

    def forward_intermediates(self, x: jax.Array, indices: Sequence[int] | int | None = None, **kwargs: Any):
        """``zoo_core.features.forward_intermediates`` (timm's signature and results: the list of
        NHWC maps with ``intermediates_only=True``, else ``(final_features, maps)``)."""
        from zoo_core.features import forward_intermediates

        def method(params, state, x, *, train):
            return forward_intermediates(self.model, params, state, x, indices, train=train, **kwargs)

        return self._run(method, x)


__all__ = ["ZooModule"]
