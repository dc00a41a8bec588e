"""ConvNeXt V2: timm's ``convnextv2_*`` models (``timm/models/convnext.py``) as pure JAX functions, NHWC.

Paper:
* `ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders` - https://arxiv.org/abs/2301.00808

Weights: every released checkpoint is CC-BY-NC-4.0 (non-commercial; see ``variants.py``).

timm builds ConvNeXt V2 with its ConvNeXt class: the same stem, stages, blocks and head as v1
(zoo-convnext's ``ConvNeXt``, reused here), with Global Response Normalization after the MLP's
GELU (``mlp/grn``) and no LayerScale. atto, femto, pico and nano are timm's own sizes, built with
``conv_mlp=True`` (1×1 convs in the MLP: on NHWC the same computation, only the checkpoint layout
of ``mlp.fc1``/``fc2`` differs, see ``weights.py``). ``convnextv2_small`` has no released weights.
"""

from __future__ import annotations

from zoo_core.registry import Variant

from zoo_convnext.model import ConvNeXt, ConvNeXtConfig


def _v2(depths, dims, *, conv_mlp: bool = False) -> ConvNeXtConfig:
    return ConvNeXtConfig(depths, dims, ls_init_value=None, use_grn=True, conv_mlp=conv_mlp)


ARCHS = {
    "convnextv2_atto": _v2((2, 2, 6, 2), (40, 80, 160, 320), conv_mlp=True),
    "convnextv2_femto": _v2((2, 2, 6, 2), (48, 96, 192, 384), conv_mlp=True),
    "convnextv2_pico": _v2((2, 2, 6, 2), (64, 128, 256, 512), conv_mlp=True),
    "convnextv2_nano": _v2((2, 2, 8, 2), (80, 160, 320, 640), conv_mlp=True),
    "convnextv2_tiny": _v2((3, 3, 9, 3), (96, 192, 384, 768)),
    "convnextv2_base": _v2((3, 3, 27, 3), (128, 256, 512, 1024)),
    "convnextv2_large": _v2((3, 3, 27, 3), (192, 384, 768, 1536)),
    "convnextv2_huge": _v2((3, 3, 27, 3), (352, 704, 1408, 2816)),
}


def build_model(variant: Variant, *, in_chans: int, num_classes: int, **kwargs) -> ConvNeXt:
    """The ConvNeXt V2 of ``variant.arch`` (``convnextv2_atto`` … ``convnextv2_huge``)."""
    if kwargs:
        raise TypeError(f"{variant.name}: unexpected arguments {sorted(kwargs)}")
    return ConvNeXt.create(ARCHS[variant.arch], in_chans=in_chans, num_classes=num_classes)
