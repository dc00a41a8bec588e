"""Entry point of the ConvNeXt family (group ``zoo``): the variant table, no JAX import."""

import zoo_core

from zoo_convnext.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY
