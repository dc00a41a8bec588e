"""A pretrained backbone inside a model of your own: the ``prefix=`` pattern.

``Classifier`` is the user's model: an ``nn.Module`` record whose ``backbone`` field holds a zoo
model built with ``num_classes=0`` (its ``apply`` returns pooled features) and whose ``head`` is
its own ``Dense``. ``Classifier.init`` makes the whole tree, random everywhere; the loader from
``create_pretrained(..., prefix=("backbone",))`` then writes the released weights under
``params["backbone"]`` and ``state["backbone"]`` and leaves the head alone.

    python examples/compose_backbone.py                       # resnet18.a1_in1k from the Hub
    python examples/compose_backbone.py --variant vit_tiny_patch16_224.augreg_in21k_ft_in1k

The script checks what it claims: the head after loading equals the head of a plain ``init``, and
the backbone subtree equals a standalone load of the same weights.
"""

from __future__ import annotations

import argparse
from typing import Any

import attrs
import jax
import jax.numpy as jnp
import numpy as np

import zoo_core
from zoo_core import nn


@attrs.frozen
class Classifier(nn.Module):
    """A pretrained ``backbone`` ((N, H, W, 3) → (N, num_features) pooled features) and a linear
    ``head`` ((N, num_features) → (N, num_classes)). Trees: ``{"backbone": ..., "head": ...}``."""

    backbone: zoo_core.Model
    head: nn.Dense

    def apply(self, params, state, x, *, train=False):
        features, backbone_state = self.backbone.apply(params["backbone"], state["backbone"], x, train=train)
        logits, _ = self.head.apply(params["head"], state["head"], features)
        return logits, {"backbone": backbone_state, "head": state["head"]}


def create_classifier(name: str, num_classes: int, **pretrained_kwargs: Any):
    """``Classifier`` around the backbone of ``name`` and the loader of its weights, which writes
    under the ``"backbone"`` key. ``pretrained_kwargs`` go to ``zoo_core.create_pretrained``
    (``cache_dir``, ``local_files_only``, ``img_size`` for ViT, ...)."""
    backbone, load_backbone = zoo_core.create_pretrained(name, num_classes=0, prefix=("backbone",),
                                                         **pretrained_kwargs)
    model = Classifier(backbone=backbone, head=nn.Dense(backbone.num_features, num_classes))
    return model, load_backbone


def pretrained_classifier(name: str, num_classes: int, key: jax.Array, **pretrained_kwargs: Any):
    """``(model, params, state)``: a ``Classifier`` with the released backbone of ``name`` and a
    head initialised from ``key``."""
    model, load_backbone = create_classifier(name, num_classes, **pretrained_kwargs)
    params, state = jax.jit(model.init)(key)
    params, state = load_backbone(params, state)
    return model, params, state


def trees_equal(a, b) -> bool:
    """Same structure and bitwise-equal leaves."""
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="resnet18.a1_in1k")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=None,
                        help="input height and width (default: the variant's, which ViT is built for)")
    args = parser.parse_args(argv)

    key = jax.random.key(0)
    model, params, state = pretrained_classifier(args.variant, args.num_classes, key)

    fresh_params, _ = jax.jit(model.init)(key)
    head_untouched = trees_equal(params["head"], fresh_params["head"])
    _, load_standalone = zoo_core.create_pretrained(args.variant, num_classes=0)
    standalone_params, standalone_state = load_standalone()
    backbone_equal = trees_equal(params["backbone"], standalone_params) and trees_equal(
        state["backbone"], standalone_state)

    size = args.image_size or zoo_core.get_variant(args.variant).input_size[-1]
    images = jax.random.normal(jax.random.key(1), (2, size, size, 3))
    logits, _ = jax.jit(model.apply)(params, state, images)
    print(f"{args.variant} backbone ({model.backbone.num_features} features) + a {args.num_classes}-way head")
    print(f"head untouched by load: {head_untouched}")
    print(f"backbone equals a standalone load: {backbone_equal}")
    print(f"logits {tuple(logits.shape)}, finite: {bool(jnp.isfinite(logits).all())}")
    if not (head_untouched and backbone_equal):
        raise SystemExit("composition check failed")


if __name__ == "__main__":
    main()
