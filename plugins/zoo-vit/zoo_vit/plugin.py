"""Entry point of the ViT family (group ``zoo``): the variant table and Google's ``.npz`` checkpoint
layout, no JAX import."""

import zoo_core

from zoo_vit.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY


@zoo_core.hookimpl
def zoo_transform_checkpoint(variant, state_dict, path):
    """Google's own ViT checkpoints (vision_transformer / big_vision ``.npz``: ``embedding/kernel``,
    ``Transformer/encoderblock_N/…``) turned into timm's keys and layouts (see ``checkpoint.py``);
    ``None`` for timm's own layout and other families."""
    if variant.family != "vit":
        return None
    from zoo_vit.checkpoint import from_big_vision  # deferred: `zoo list` stays light

    return from_big_vision(state_dict)
