"""Fine-tune a pretrained model with optax: a new 10-way head, AdamW, one jitted train step.

The batch is a toy one (4 random images, 4 random labels) that the model learns to fit, so the
loss must go down within a few steps; swap in your own data loader for real work.

    python examples/finetune.py                     # resnet18 and vit_tiny_patch16_224 from the Hub
    python examples/finetune.py --freeze-backbone   # train the head only

``apply(..., train=True)`` makes BatchNorm normalise with the batch's statistics and return its
updated running statistics in ``state``, which the step threads to the next one (ResNet has
BatchNorm, ViT none: its ``state`` is empty dicts). With ``--freeze-backbone`` the optimizer
leaves every parameter outside the head unchanged (``optax.multi_transform``) and the model runs
in eval mode, so BatchNorm keeps its released running statistics too.
"""

from __future__ import annotations

import argparse
from typing import Any

import attrs
import jax
import optax

import zoo_core


@attrs.frozen
class FineTuneRun:
    """What ``finetune`` did: the trees before the first step and after the last, the loss on
    the batch before the first step (``losses[0]``) and after each step, and the top-level keys
    of the head."""

    model: zoo_core.Model
    initial: tuple[Any, Any]
    final: tuple[Any, Any]
    losses: list[float]
    head_keys: frozenset[str]


def head_keys(name: str) -> frozenset[str]:
    """The top-level keys of the classifier in the params of ``name``: timm's classifier module
    names (``fc``, ``head``; ``head.fc`` → ``head``)."""
    return frozenset(module.strip().split(".")[0] for module in zoo_core.get_variant(name).classifier.split(","))


def make_optimizer(params, head: frozenset[str], *, learning_rate: float, freeze_backbone: bool
                   ) -> optax.GradientTransformation:
    """AdamW on every parameter, or with ``freeze_backbone`` on the head alone (zero updates elsewhere)."""
    if not freeze_backbone:
        return optax.adamw(learning_rate)
    labels = jax.tree.map_with_path(lambda path, _: "head" if path[0].key in head else "backbone", params)
    return optax.multi_transform({"head": optax.adamw(learning_rate), "backbone": optax.set_to_zero()}, labels)


def make_loss_fn(model: zoo_core.Model, *, train: bool):
    """``loss(params, state, images, labels) -> (mean cross-entropy, new state)``."""

    def loss_fn(params, state, images, labels):
        logits, state = model.apply(params, state, images, train=train)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, state

    return loss_fn


def make_train_step(loss_fn, optimizer: optax.GradientTransformation):
    """A jitted ``step(params, state, opt_state, images, labels) -> (params, state, opt_state, loss)``:
    the loss is the one before this step's update, ``state`` the one ``apply`` returned."""

    @jax.jit
    def step(params, state, opt_state, images, labels):
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    return step


def toy_batch(key: jax.Array, *, batch: int, image_size: int, num_classes: int):
    """``batch`` normal-noise images (N, H, W, 3) and integer labels (N,)."""
    k_images, k_labels = jax.random.split(key)
    images = jax.random.normal(k_images, (batch, image_size, image_size, 3))
    labels = jax.random.randint(k_labels, (batch,), 0, num_classes)
    return images, labels


def finetune(name: str, *, num_classes: int = 10, image_size: int = 64, batch: int = 4, steps: int = 5,
             learning_rate: float = 1e-3, freeze_backbone: bool = False, seed: int = 0,
             **pretrained_kwargs: Any) -> FineTuneRun:
    """Load ``name`` with a fresh ``num_classes`` head and take ``steps`` AdamW steps on a toy
    batch. ``pretrained_kwargs`` go to ``zoo_core.create_pretrained`` (``img_size`` for ViT,
    ``cache_dir``, ...)."""
    model, load = zoo_core.create_pretrained(name, num_classes=num_classes, **pretrained_kwargs)
    k_init, k_data = jax.random.split(jax.random.key(seed))
    params, state = load(*jax.jit(model.init)(k_init))   # released backbone, fresh head from init
    head = head_keys(name)

    train = not freeze_backbone   # a frozen backbone also keeps BatchNorm's running statistics
    optimizer = make_optimizer(params, head, learning_rate=learning_rate, freeze_backbone=freeze_backbone)
    loss_fn = make_loss_fn(model, train=train)
    step = make_train_step(loss_fn, optimizer)
    images, labels = toy_batch(k_data, batch=batch, image_size=image_size, num_classes=num_classes)

    initial = (params, state)
    opt_state = optimizer.init(params)
    losses = []
    for _ in range(steps):
        params, state, opt_state, loss = step(params, state, opt_state, images, labels)
        losses.append(float(loss))
    final_loss, _ = jax.jit(loss_fn)(params, state, images, labels)
    losses.append(float(final_loss))
    return FineTuneRun(model=model, initial=initial, final=(params, state), losses=losses, head_keys=head)


VARIANTS = ("resnet18.a1_in1k", "vit_tiny_patch16_224.augreg_in21k_ft_in1k")


def main(argv: list[str] | None = None) -> dict[str, FineTuneRun]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=VARIANTS)
    parser.add_argument("--freeze-backbone", action="store_true", help="train the new head only")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args(argv)

    runs = {}
    for name in args.variants:
        # a ViT is built for one input size (its position embedding is resampled on load); convnets take any
        family_kwargs = {"img_size": args.image_size} if zoo_core.get_variant(name).family == "vit" else {}
        run = finetune(name, steps=args.steps, image_size=args.image_size, freeze_backbone=args.freeze_backbone,
                       **family_kwargs)
        print(f"{name}: loss {' → '.join(f'{loss:.3f}' for loss in run.losses)}")
        if not run.losses[-1] < run.losses[0]:
            raise SystemExit(f"{name}: the loss did not go down")
        runs[name] = run
    return runs


if __name__ == "__main__":
    main()
