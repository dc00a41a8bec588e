"""Entry point of the ViT family (group ``zoo``): the variant table and the foreign checkpoint
layouts (Google's ``.npz``, OpenCLIP's state dicts), no JAX import."""

import zoo_core

from zoo_vit.variants import FAMILY


@zoo_core.hookimpl
def zoo_families():
    return FAMILY


@zoo_core.hookimpl
def zoo_transform_checkpoint(variant, state_dict, path):
    """Foreign ViT checkpoints turned into timm's keys and layouts; ``None`` for timm's own layout
    and other families:

    - OpenCLIP's image towers (``visual.class_embedding``, ``visual.transformer.resblocks.N.…``,
      ``visual.proj``; or a timm trunk under ``visual.trunk.``), see ``openclip.py``;
    - Google's ``.npz`` (vision_transformer and big_vision: ``embedding/kernel``,
      ``Transformer/encoderblock_N/…``, SigLIP's ``params/img/…`` with its ``MAPHead_0``), see
      ``checkpoint.py``. The MAP head is read only for a variant that pools with it
      (``global_pool="map"``), as timm reads it only into an ``attn_pool``.
    """
    if variant.family != "vit":
        return None
    from zoo_vit.checkpoint import from_big_vision  # deferred: `zoo list` stays light
    from zoo_vit.openclip import from_openclip

    converted = from_openclip(state_dict)
    if converted is None:
        converted = from_big_vision(state_dict, attn_pool=variant.arch_kwargs.get("global_pool") == "map")
    return converted
