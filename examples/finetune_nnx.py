"""Fine-tune a pretrained zoo backbone inside a Flax NNX model: a new linear head, AdamW.

    pip install "zoo-core[flax]" optax
    python examples/finetune_nnx.py                       # resnet18.a1_in1k from the Hub
    python examples/finetune_nnx.py --freeze-backbone     # train the head only

The backbone is a ``zoo_core.frameworks.nnx.ZooModule`` (params as ``nnx.Param``, BatchNorm
running statistics as ``nnx.BatchStat``); the head is an ``nnx.Linear``. The batch is a toy one
(random images and labels) that the model learns to fit, so the loss goes down within a few
steps: swap in your own data loader for real work.
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import optax
from flax import nnx

from zoo_core.frameworks.nnx import ZooModule


class Classifier(nnx.Module):
    """A pretrained zoo backbone ((N, H, W, 3) → (N, num_features) pooled features) and a new
    ``nnx.Linear`` head."""

    def __init__(self, name: str, num_classes: int, *, rngs: nnx.Rngs, **pretrained_kwargs: Any):
        self.backbone = ZooModule.from_pretrained(name, num_classes=0, **pretrained_kwargs)
        self.head = nnx.Linear(self.backbone.model.num_features, num_classes, rngs=rngs)

    def __call__(self, images: jax.Array) -> jax.Array:
        return self.head(self.backbone(images))


def trainable(freeze_backbone: bool) -> nnx.filterlib.Filter:
    """What the optimizer updates: every ``nnx.Param``, or only the head's."""
    return nnx.All(nnx.Param, nnx.PathContains("head")) if freeze_backbone else nnx.Param


def loss_fn(model: Classifier, images: jax.Array, labels: jax.Array) -> jax.Array:
    logits = model(images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@nnx.jit
def train_step(model: Classifier, optimizer: nnx.Optimizer, images: jax.Array, labels: jax.Array) -> jax.Array:
    """One AdamW step on the optimizer's ``wrt`` parameters; returns the loss before the update.
    In train mode the backbone's BatchStat variables are updated in place, as nnx.BatchNorm's."""
    diff = nnx.DiffState(0, optimizer.wrt)
    loss, grads = nnx.value_and_grad(loss_fn, argnums=diff)(model, images, labels)
    optimizer.update(model, grads)
    return loss


def toy_batch(key: jax.Array, *, batch: int, image_size: int, num_classes: int):
    k_images, k_labels = jax.random.split(key)
    images = jax.random.normal(k_images, (batch, image_size, image_size, 3))
    return images, jax.random.randint(k_labels, (batch,), 0, num_classes)


def finetune(name: str, *, num_classes: int = 10, steps: int = 5, batch: int = 4, image_size: int = 64,
             learning_rate: float = 1e-3, freeze_backbone: bool = False, seed: int = 0, **pretrained_kwargs: Any):
    """``(model, losses)``: the model after ``steps`` steps and the loss before each step and
    after the last (measured in the mode the steps ran in)."""
    model = Classifier(name, num_classes, rngs=nnx.Rngs(seed), **pretrained_kwargs)
    model.train()
    if freeze_backbone:
        model.backbone.eval()   # a frozen backbone keeps its released BatchNorm statistics too
    optimizer = nnx.Optimizer(model, optax.adamw(learning_rate), wrt=trainable(freeze_backbone))
    images, labels = toy_batch(jax.random.key(seed + 1), batch=batch, image_size=image_size, num_classes=num_classes)
    losses = [float(train_step(model, optimizer, images, labels)) for _ in range(steps)]
    # the final loss in the same mode, on a clone: in train mode a call updates the BatchStat
    # variables, and measuring should not move the statistics of the model we return
    losses.append(float(nnx.jit(loss_fn)(nnx.clone(model), images, labels)))
    return model, losses


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="resnet18.a1_in1k")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--freeze-backbone", action="store_true")
    args = parser.parse_args(argv)
    model, losses = finetune(args.variant, steps=args.steps, image_size=args.image_size,
                             freeze_backbone=args.freeze_backbone)
    print(f"{args.variant}: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {args.steps} steps")
    return model, losses


if __name__ == "__main__":
    main()
