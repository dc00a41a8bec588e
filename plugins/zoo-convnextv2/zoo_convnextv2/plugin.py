"""Entry point of the ConvNeXt V2 family (group ``zoo``): the variant table and the FCMAE
checkpoint fix-up, no JAX import."""

import zoo_core

from zoo_convnextv2.checkpoint import complete_fcmae_checkpoint
from zoo_convnextv2.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY


@zoo_core.hookimpl
def zoo_transform_checkpoint(variant, state_dict, path):
    """FCMAE encoder files may lack the final norm timm leaves at its init: add it (see ``checkpoint.py``)."""
    return complete_fcmae_checkpoint(variant, state_dict)
