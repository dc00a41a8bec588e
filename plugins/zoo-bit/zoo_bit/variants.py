"""BiT variants: the 15 pretrained tags timm registers for its six BiT ResNetV2 architectures
(``resnetv2_{50x1,50x3,101x1,101x3,152x2,152x4}_bit``), with the data config and weights license
of timm's pretrained cfg (timm 1.0.31).

Plain data: importing this module imports no JAX. Rows keep timm's ``default_cfgs`` order per
architecture, so the first tag is the default (``resnetv2_50x1_bit`` →
``resnetv2_50x1_bit.goog_distilled_in1k``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo_core.registry import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD, Family, License, Variant

APACHE_2 = License(
    "Apache-2.0", "https://github.com/google-research/big_transfer/blob/master/LICENSE", "yes",
    note="Google's BiT checkpoints (big_transfer and the distillation release), Apache-2.0 as timm's "
         "pretrained config states",
)

# timm's registered model args (``resnetv2_*_bit`` functions in resnetv2.py), named as ``BiTConfig``'s
# fields: blocks per stage and the ``xN`` width factor of the name.
ARCHS = {
    "resnetv2_50x1_bit": dict(layers=(3, 4, 6, 3), width_factor=1),
    "resnetv2_50x3_bit": dict(layers=(3, 4, 6, 3), width_factor=3),
    "resnetv2_101x1_bit": dict(layers=(3, 4, 23, 3), width_factor=1),
    "resnetv2_101x3_bit": dict(layers=(3, 4, 23, 3), width_factor=3),
    "resnetv2_152x2_bit": dict(layers=(3, 8, 36, 3), width_factor=2),
    "resnetv2_152x4_bit": dict(layers=(3, 8, 36, 3), width_factor=4),
}
# timm's ResNetV2 stage widths at width factor 1, shared with model.py.
STAGE_CHANS = (256, 512, 1024, 2048)


def num_features(arch_kwargs: Mapping[str, Any]) -> int:
    """The channels of the last stage: 2048 × the width factor (a multiple of 8 already, so timm's
    ``make_divisible`` leaves it as is)."""
    return STAGE_CHANS[-1] * arch_kwargs["width_factor"]


NOTES = {
    "goog_in21k": "BiT-M: trained on ImageNet-21k (21843 classes, Google's label set)",
    "goog_in21k_ft_in1k": "BiT-M: ImageNet-21k pretraining, fine-tuned on ImageNet-1k at high resolution",
    "goog_distilled_in1k": "distilled on ImageNet-1k from a BiT-M-R152x2 teacher (arXiv:2106.05237)",
    "goog_teacher_in21k_ft_in1k": "the distillation teacher: BiT-M ImageNet-21k, fine-tuned on ImageNet-1k "
                                  "(arXiv:2106.05237)",
    "goog_teacher_in21k_ft_in1k_384": "the distillation teacher at 384² (arXiv:2106.05237)",
}


def _row(name: str, license: License, *, num_classes: int = 1000, pool_size=(7, 7), **cfg) -> Variant:
    """A variant with timm's ResNetV2 cfg defaults (224², Inception mean/std, ``stem.conv``, ``head.fc``)."""
    arch, tag = name.split(".")
    return Variant(name, "bit", num_classes=num_classes, num_features=num_features(ARCHS[arch]), license=license,
                   hf_hub_id=f"timm/{name}", pool_size=pool_size, mean=IMAGENET_INCEPTION_MEAN,
                   std=IMAGENET_INCEPTION_STD, first_conv="stem.conv", classifier="head.fc", arch_kwargs=ARCHS[arch],
                   notes=NOTES[tag], **cfg)


VARIANTS = (
    # resnetv2_50x1_bit
    _row("resnetv2_50x1_bit.goog_distilled_in1k", APACHE_2),
    _row("resnetv2_50x1_bit.goog_in21k_ft_in1k", APACHE_2,
         input_size=(3, 448, 448), pool_size=(14, 14), crop_pct=1.0, interpolation="bilinear"),
    _row("resnetv2_50x1_bit.goog_in21k", APACHE_2, num_classes=21843, interpolation="bilinear"),
    # resnetv2_50x3_bit
    _row("resnetv2_50x3_bit.goog_in21k_ft_in1k", APACHE_2,
         input_size=(3, 448, 448), pool_size=(14, 14), crop_pct=1.0, interpolation="bilinear"),
    _row("resnetv2_50x3_bit.goog_in21k", APACHE_2, num_classes=21843, interpolation="bilinear"),
    # resnetv2_101x1_bit
    _row("resnetv2_101x1_bit.goog_in21k_ft_in1k", APACHE_2,
         input_size=(3, 448, 448), pool_size=(14, 14), crop_pct=1.0, interpolation="bilinear"),
    _row("resnetv2_101x1_bit.goog_in21k", APACHE_2, num_classes=21843, interpolation="bilinear"),
    # resnetv2_101x3_bit
    _row("resnetv2_101x3_bit.goog_in21k_ft_in1k", APACHE_2,
         input_size=(3, 448, 448), pool_size=(14, 14), crop_pct=1.0, interpolation="bilinear"),
    _row("resnetv2_101x3_bit.goog_in21k", APACHE_2, num_classes=21843, interpolation="bilinear"),
    # resnetv2_152x2_bit
    _row("resnetv2_152x2_bit.goog_teacher_in21k_ft_in1k", APACHE_2),
    _row("resnetv2_152x2_bit.goog_teacher_in21k_ft_in1k_384", APACHE_2,
         input_size=(3, 384, 384), pool_size=(12, 12), crop_pct=1.0),
    _row("resnetv2_152x2_bit.goog_in21k_ft_in1k", APACHE_2,
         input_size=(3, 448, 448), pool_size=(14, 14), crop_pct=1.0, interpolation="bilinear"),
    _row("resnetv2_152x2_bit.goog_in21k", APACHE_2, num_classes=21843, interpolation="bilinear"),
    # resnetv2_152x4_bit
    _row("resnetv2_152x4_bit.goog_in21k_ft_in1k", APACHE_2,
         input_size=(3, 480, 480), pool_size=(15, 15), crop_pct=1.0, interpolation="bilinear"),
    _row("resnetv2_152x4_bit.goog_in21k", APACHE_2, num_classes=21843, interpolation="bilinear"),
)

LICENSE_NOTES = (
    "The zoo-bit code is Apache-2.0, and so are all BiT weights: Google released the BiT checkpoints "
    "(google-research/big_transfer) and the distillation student and teachers (arXiv:2106.05237) under "
    "Apache-2.0, as timm's pretrained configs state. Commercial use is allowed.",
)

FAMILY = Family(
    name="bit",
    variants=VARIANTS,
    builder="zoo_bit.model:build_model",
    weight_mapping="zoo_bit.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
