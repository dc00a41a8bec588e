"""Entry point of the ConvNeXt family (group ``zoo``): the variant table and the original Facebook
checkpoint layout, no JAX import."""

import zoo_core

from zoo_convnext.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY


@zoo_core.hookimpl
def zoo_transform_checkpoint(variant, state_dict, path):
    """Original Facebook ConvNeXt files (``downsample_layers.*``, ``dwconv``, ``pwconv*``) renamed to
    timm's keys (see ``checkpoint.py``); ``None`` for timm's own layout and other families."""
    if variant.family != "convnext":
        return None
    from zoo_convnext.checkpoint import from_facebook  # deferred: `zoo list` stays light

    return from_facebook(state_dict)
