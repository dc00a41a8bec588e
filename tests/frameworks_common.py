"""Shared by the framework adapter tests: tinynet weights on the loopback Hub, a reference
fine-tune written against ``model.apply``, tree comparisons."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tinynet_weights import tinynet_bytes

NAME, REPO = "tinynet_s.zoo_in1k", "zoo-test/tinynet_s.zoo_in1k"
X = jax.random.normal(jax.random.key(1), (2, 8, 8, 3))  # a batch for the adapters' equivalence tests
LABELS = jnp.array([1, 3])


def loss_of(logits):
    """Cross-entropy of ``logits`` against ``LABELS``."""
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(2), LABELS])


def serve_tinynet(hub) -> None:
    hub.add_file(REPO, "model.safetensors", tinynet_bytes())


def assert_trees_close(a, b, *, rtol=1e-6, atol=1e-6):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol,
                                   err_msg=jax.tree_util.keystr(path))


def reference_finetune(backbone, params, state, head, images, labels, *, steps, learning_rate, train, frozen):
    """The same fine-tune written against ``backbone.apply``: a linear head ``{kernel, bias}``,
    AdamW on everything (or the head alone with ``frozen``), BatchNorm state threaded.
    Returns ``(losses, params, state, head)``."""
    import optax

    def loss_fn(trainable, state):
        p, h = trainable
        features, state = backbone.apply(p, state, images, train=train)
        logits = features @ h["kernel"] + h["bias"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), state

    tx = optax.adamw(learning_rate)
    trainable = (params, head)
    if frozen:
        tx = optax.multi_transform({"head": tx, "backbone": optax.set_to_zero()}, ("backbone", "head"))
    opt_state = tx.init(trainable)

    @jax.jit
    def step(trainable, state, opt_state):
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, state)
        updates, opt_state = tx.update(grads, opt_state, trainable)
        return optax.apply_updates(trainable, updates), state, opt_state, loss

    losses = []
    for _ in range(steps):
        trainable, state, opt_state, loss = step(trainable, state, opt_state)
        losses.append(float(loss))
    losses.append(float(jax.jit(loss_fn)(trainable, state)[0]))
    return losses, trainable[0], state, trainable[1]
