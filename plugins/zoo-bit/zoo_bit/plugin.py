"""Entry point of the BiT family (group ``zoo``): the variant table, no JAX import."""

import zoo_core

from zoo_bit.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY
