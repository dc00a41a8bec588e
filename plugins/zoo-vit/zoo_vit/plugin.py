"""Entry point of the ViT family (group ``zoo``): the variant table, no JAX import."""

import zoo_core

from zoo_vit.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY
