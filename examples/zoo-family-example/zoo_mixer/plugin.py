"""Entry point of the MLP-Mixer family (group ``zoo``): the variant table, no JAX import."""

import zoo_core

from zoo_mixer.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY
