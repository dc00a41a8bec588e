"""A family's model under ``jax.grad``: the check every family's fast tests make, in one place."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def check_cross_entropy_grads(model, params, state, x, labels, *, train: bool = True) -> Any:
    """``jax.grad`` of the mean cross-entropy of ``model.apply(params, state, x, train=train)``
    (logits (N, num_classes), integer ``labels`` (N,)) with respect to ``params``, jitted.

    Asserts that the gradients have the params' tree structure and are finite everywhere; returns
    them, for the family's own checks (the stem and the head reached, say)."""

    def loss(p):
        logits, new_state = model.apply(p, state, x, train=train)
        picked = jax.nn.log_softmax(logits)[jnp.arange(logits.shape[0]), labels]
        return -jnp.mean(picked), new_state

    grads, _ = jax.jit(jax.grad(loss, has_aux=True))(params)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads)), "non-finite gradients"
    return grads
