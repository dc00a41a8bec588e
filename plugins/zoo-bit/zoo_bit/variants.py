"""ResNetV2 variants: the 24 pretrained tags timm 1.0.31 registers in ``resnetv2.py`` with a Hub copy,
with the data config and weights license of timm's pretrained cfg: the 15 BiT tags of its six BiT
architectures (``resnetv2_{50x1,50x3,101x1,101x3,152x2,152x4}_bit``) and the 9 of timm's own
ResNetV2 trainings (``resnetv2_18``/``18d``/``34``/``34d``/``50``/``101``, ``resnetv2_50d_gn``,
``resnetv2_50d_evos``).

Plain data: importing this module imports no JAX. Rows keep timm's ``default_cfgs`` order per
architecture, so the first tag is the default (``resnetv2_50x1_bit`` →
``resnetv2_50x1_bit.goog_distilled_in1k``, ``resnetv2_34d`` → ``resnetv2_34d.ra4_e3600_r224_in1k``).
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
TIMM_APACHE_2 = License(
    "Apache-2.0", "https://github.com/huggingface/pytorch-image-models/blob/main/LICENSE", "yes",
    note="trained by timm's author on ImageNet-1k and released with timm, Apache-2.0 as timm's pretrained "
         "config states",
)

# timm's registered model args (the ``resnetv2_*`` functions in resnetv2.py), named as
# ``ResNetV2Config``'s fields: blocks per stage, stage widths, the ``xN`` width factor of BiT's
# names, the stem (``fixed``: BiT's; ``""``: 7×7 conv + max-pool; ``deep``: three 3×3 convs),
# average-pool shortcuts, basic blocks, the conv (``std``: BiT's weight-standardized StdConv2d;
# ``plain``) and the norm (``gn`` GroupNorm, ``bn`` BatchNorm, ``evos`` EvoNorm-S0).
BIT = dict(channels=(256, 512, 1024, 2048), stem_type="fixed", conv_layer="std", norm_layer="gn")
BASIC = dict(channels=(64, 128, 256, 512), basic=True, bottle_ratio=1.0, conv_layer="plain", norm_layer="bn")
BOTTLENECK = dict(channels=(256, 512, 1024, 2048), conv_layer="plain")
D = dict(stem_type="deep", avg_down=True)
ARCHS = {
    "resnetv2_50x1_bit": dict(layers=(3, 4, 6, 3), width_factor=1, **BIT),
    "resnetv2_50x3_bit": dict(layers=(3, 4, 6, 3), width_factor=3, **BIT),
    "resnetv2_101x1_bit": dict(layers=(3, 4, 23, 3), width_factor=1, **BIT),
    "resnetv2_101x3_bit": dict(layers=(3, 4, 23, 3), width_factor=3, **BIT),
    "resnetv2_152x2_bit": dict(layers=(3, 8, 36, 3), width_factor=2, **BIT),
    "resnetv2_152x4_bit": dict(layers=(3, 8, 36, 3), width_factor=4, **BIT),
    "resnetv2_18": dict(layers=(2, 2, 2, 2), stem_type="", **BASIC),
    "resnetv2_18d": dict(layers=(2, 2, 2, 2), **D, **BASIC),
    "resnetv2_34": dict(layers=(3, 4, 6, 3), stem_type="", **BASIC),
    "resnetv2_34d": dict(layers=(3, 4, 6, 3), **D, **BASIC),
    "resnetv2_50": dict(layers=(3, 4, 6, 3), stem_type="", norm_layer="bn", **BOTTLENECK),
    "resnetv2_101": dict(layers=(3, 4, 23, 3), stem_type="", norm_layer="bn", **BOTTLENECK),
    "resnetv2_50d_gn": dict(layers=(3, 4, 6, 3), norm_layer="gn", **D, **BOTTLENECK),
    "resnetv2_50d_evos": dict(layers=(3, 4, 6, 3), norm_layer="evos", **D, **BOTTLENECK),
}


def num_features(arch_kwargs: Mapping[str, Any]) -> int:
    """The channels of the last stage: its width × the width factor (a multiple of 8 already, so
    timm's ``make_divisible`` leaves it as is)."""
    return arch_kwargs["channels"][-1] * arch_kwargs.get("width_factor", 1)


NOTES = {
    "goog_in21k": "BiT-M: trained on ImageNet-21k (21843 classes, Google's label set)",
    "goog_in21k_ft_in1k": "BiT-M: ImageNet-21k pretraining, fine-tuned on ImageNet-1k at high resolution",
    "goog_distilled_in1k": "distilled on ImageNet-1k from a BiT-M-R152x2 teacher (arXiv:2106.05237)",
    "goog_teacher_in21k_ft_in1k": "the distillation teacher: BiT-M ImageNet-21k, fine-tuned on ImageNet-1k "
                                  "(arXiv:2106.05237)",
    "goog_teacher_in21k_ft_in1k_384": "the distillation teacher at 384² (arXiv:2106.05237)",
    "ra4_e3600_r224_in1k": "timm's ImageNet-1k training: its ra4 recipe, 3600 epochs, at 224²",
    "ra4_e3600_r384_in1k": "timm's ImageNet-1k training: its ra4 recipe, 3600 epochs, at 384²",
    "a1h_in1k": "timm's ImageNet-1k training with its ResNet Strikes Back A1-based recipe (a1h, arXiv:2110.00476)",
    "ah_in1k": "timm's ImageNet-1k training (ah recipe)",
}


def _row(name: str, license: License, *, num_classes: int = 1000, pool_size=(7, 7), first_conv="stem.conv",
         **cfg) -> Variant:
    """A variant with timm's ResNetV2 cfg defaults (224², Inception mean/std, ``stem.conv``, ``head.fc``)."""
    arch, tag = name.split(".")
    return Variant(name, "bit", num_classes=num_classes, num_features=num_features(ARCHS[arch]), license=license,
                   hf_hub_id=f"timm/{name}", pool_size=pool_size, mean=IMAGENET_INCEPTION_MEAN,
                   std=IMAGENET_INCEPTION_STD, first_conv=first_conv, classifier="head.fc", arch_kwargs=ARCHS[arch],
                   notes=NOTES[tag], **cfg)


# timm's own trainings: bicubic, a 288² test size with a full crop (none for the 384² fine-tune);
# the deep stem's first conv is ``stem.conv1``.
RA4 = dict(interpolation="bicubic", crop_pct=0.9, test_input_size=(3, 288, 288), test_crop_pct=1.0)
A1H = dict(interpolation="bicubic", crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0)
DEEP_STEM = dict(first_conv="stem.conv1")


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
    # timm's ResNetV2 trainings, in timm's order
    _row("resnetv2_18.ra4_e3600_r224_in1k", TIMM_APACHE_2, **RA4),
    _row("resnetv2_18d.ra4_e3600_r224_in1k", TIMM_APACHE_2, **RA4, **DEEP_STEM),
    _row("resnetv2_34.ra4_e3600_r224_in1k", TIMM_APACHE_2, **RA4),
    _row("resnetv2_34d.ra4_e3600_r224_in1k", TIMM_APACHE_2, **RA4, **DEEP_STEM),
    _row("resnetv2_34d.ra4_e3600_r384_in1k", TIMM_APACHE_2, input_size=(3, 384, 384), pool_size=(12, 12),
         test_input_size=(3, 448, 448), crop_pct=1.0, interpolation="bicubic", **DEEP_STEM),
    _row("resnetv2_50.a1h_in1k", TIMM_APACHE_2, **A1H),
    _row("resnetv2_101.a1h_in1k", TIMM_APACHE_2, **A1H),
    _row("resnetv2_50d_gn.ah_in1k", TIMM_APACHE_2, **A1H, **DEEP_STEM),
    _row("resnetv2_50d_evos.ah_in1k", TIMM_APACHE_2, **A1H, **DEEP_STEM),
)

LICENSE_NOTES = (
    "The zoo-bit code is Apache-2.0, and so are all 24 sets of weights, as timm's pretrained configs "
    "state: Google released the BiT checkpoints (google-research/big_transfer) and the distillation "
    "student and teachers (arXiv:2106.05237) under Apache-2.0, and timm released its own ResNetV2 "
    "trainings (resnetv2_18 ... resnetv2_101, 50d_gn, 50d_evos) with timm under Apache-2.0. "
    "Commercial use is allowed.",
)

FAMILY = Family(
    name="bit",
    variants=VARIANTS,
    builder="zoo_bit.model:build_model",
    weight_mapping="zoo_bit.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
