"""Entry point of the ConvNeXt V2 family (group ``zoo``): the variant table, the original Facebook
checkpoint layout and the FCMAE checkpoint fix-up, no JAX import."""

import zoo_core

from zoo_convnextv2.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY


@zoo_core.hookimpl
def zoo_transform_checkpoint(variant, state_dict, path):
    """Original Facebook ConvNeXt-V2 files renamed to timm's keys (zoo-convnext's ``checkpoint.py``);
    FCMAE encoder files lacking the final norm timm leaves at its init get it (see ``checkpoint.py``).
    ``None`` for a complete timm-layout file and for other families."""
    if variant.family != "convnextv2":
        return None
    from zoo_convnext.checkpoint import from_facebook  # deferred: loading imports JAX anyway;
    from zoo_convnextv2.checkpoint import complete_fcmae_checkpoint  # listing variants does not

    renamed = from_facebook(state_dict, conv_mlp=variant.arch_kwargs.get("conv_mlp", False))
    completed = complete_fcmae_checkpoint(variant, state_dict if renamed is None else renamed)
    return renamed if completed is None else completed
