"""Entry point of the ConvNeXt family (group ``zoo``): the variant table and the foreign checkpoint
layouts (the original Facebook ConvNeXt files, OpenCLIP's ConvNeXt towers), no JAX import."""

import zoo_core

from zoo_convnext.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY


@zoo_core.hookimpl
def zoo_transform_checkpoint(variant, state_dict, path):
    """OpenCLIP ConvNeXt towers (``visual.trunk.*``, ``visual.head.*``; see ``openclip.py``) and original
    Facebook ConvNeXt files (``downsample_layers.*``, ``dwconv``, ``pwconv*``; see ``checkpoint.py``)
    renamed to timm's keys; ``None`` for timm's own layout and other families."""
    if variant.family != "convnext":
        return None
    from zoo_convnext.checkpoint import from_facebook  # deferred: `zoo list` stays light
    from zoo_convnext.openclip import from_openclip

    renamed = from_openclip(state_dict)
    if renamed is not None:
        return renamed
    return from_facebook(state_dict, conv_mlp=variant.arch_kwargs.get("conv_mlp", False))
