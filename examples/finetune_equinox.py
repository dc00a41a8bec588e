"""Fine-tune a pretrained zoo backbone inside an Equinox model: a new linear head, AdamW.

    pip install "zoo-core[equinox]" optax
    python examples/finetune_equinox.py                    # resnet18.a1_in1k from the Hub
    python examples/finetune_equinox.py --freeze-backbone  # train the head only

The backbone is a ``zoo_core.frameworks.equinox.ZooModel`` (params as a field, BatchNorm running
statistics in ``eqx.nn.State``); the head is an ``eqx.nn.Linear``. The batch is a toy one
(random images and labels) that the model learns to fit, so the loss goes down within a few
steps: swap in your own data loader for real work.
"""

from __future__ import annotations

import argparse
from typing import Any

import equinox as eqx
import jax
import optax

from zoo_core.frameworks.equinox import ZooModel


class Classifier(eqx.Module):
    """A pretrained zoo backbone ((N, H, W, 3) → (N, num_features) pooled features) and a new
    ``eqx.nn.Linear`` head, applied per sample."""

    backbone: ZooModel
    head: eqx.nn.Linear

    def __init__(self, name: str, num_classes: int, *, key: jax.Array, **pretrained_kwargs: Any):
        self.backbone = ZooModel.from_pretrained(name, num_classes=0, **pretrained_kwargs)
        self.head = eqx.nn.Linear(self.backbone.model.num_features, num_classes, key=key)

    def __call__(self, images: jax.Array, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
        features, state = self.backbone(images, state)
        return jax.vmap(self.head)(features), state


def trainable(model: Classifier, freeze_backbone: bool):
    """The filter spec of what trains: every floating-point array, or the head's alone."""
    if not freeze_backbone:
        return eqx.is_inexact_array
    spec = jax.tree.map(lambda _: False, model)
    return eqx.tree_at(lambda m: m.head, spec, replace=jax.tree.map(eqx.is_inexact_array, model.head))


def loss_fn(diff_model, static_model, state, images, labels):
    model = eqx.combine(diff_model, static_model)
    logits, state = model(images, state)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), state


def make_train_step(optimizer: optax.GradientTransformation, spec):
    """A jitted ``step(model, state, opt_state, images, labels) -> (model, state, opt_state, loss)``:
    gradients and updates for the arrays ``spec`` selects; the loss is the one before the update."""

    @eqx.filter_jit
    def step(model, state, opt_state, images, labels):
        diff_model, static_model = eqx.partition(model, spec)
        grad_fn = eqx.filter_value_and_grad(loss_fn, has_aux=True)
        (loss, state), grads = grad_fn(diff_model, static_model, state, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, diff_model)
        return eqx.apply_updates(model, updates), state, opt_state, loss

    return step


def toy_batch(key: jax.Array, *, batch: int, image_size: int, num_classes: int):
    k_images, k_labels = jax.random.split(key)
    images = jax.random.normal(k_images, (batch, image_size, image_size, 3))
    return images, jax.random.randint(k_labels, (batch,), 0, num_classes)


def finetune(name: str, *, num_classes: int = 10, steps: int = 5, batch: int = 4, image_size: int = 64,
             learning_rate: float = 1e-3, freeze_backbone: bool = False, seed: int = 0, **pretrained_kwargs: Any):
    """``(model, state, losses)``: the model and state after ``steps`` steps and the loss before
    each step and after the last (measured in the mode the steps ran in)."""
    model, state = eqx.nn.make_with_state(Classifier)(name, num_classes, key=jax.random.key(seed),
                                                      **pretrained_kwargs)
    if freeze_backbone:   # a frozen backbone keeps its released BatchNorm statistics too
        model = eqx.tree_at(lambda m: m.backbone, model, eqx.nn.inference_mode(model.backbone))
    spec = trainable(model, freeze_backbone)
    optimizer = optax.adamw(learning_rate)
    opt_state = optimizer.init(eqx.filter(model, spec))
    step = make_train_step(optimizer, spec)
    images, labels = toy_batch(jax.random.key(seed + 1), batch=batch, image_size=image_size, num_classes=num_classes)
    losses = []
    for _ in range(steps):
        model, state, opt_state, loss = step(model, state, opt_state, images, labels)
        losses.append(float(loss))
    final_loss, _ = eqx.filter_jit(loss_fn)(*eqx.partition(model, spec), state, images, labels)
    losses.append(float(final_loss))
    return model, state, losses


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="resnet18.a1_in1k")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--freeze-backbone", action="store_true")
    args = parser.parse_args(argv)
    model, state, losses = finetune(args.variant, steps=args.steps, image_size=args.image_size,
                                    freeze_backbone=args.freeze_backbone)
    print(f"{args.variant}: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {args.steps} steps")
    return model, state, losses


if __name__ == "__main__":
    main()
