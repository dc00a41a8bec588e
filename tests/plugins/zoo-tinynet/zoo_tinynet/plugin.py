"""Entry point of the tinynet family (group ``zoo``)."""

import zoo_core

from zoo_tinynet.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY
