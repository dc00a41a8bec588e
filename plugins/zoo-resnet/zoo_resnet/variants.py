"""ResNet variants: every pretrained tag timm registers for resnet18, resnet34, resnet50, resnet101
and resnet152, with the data config and weights license of timm's pretrained cfg (timm 1.0.31).

Plain data: importing this module imports no JAX. Rows keep timm's ``default_cfgs`` order, so the
first tag of an architecture is its default (``resnet50`` → ``resnet50.a1_in1k``). Gluon weights
registered under other architectures (``resnet50c``/``d``/``s.gluon_in1k``, deep stems) are not
here: only tags whose architecture is exactly resnetXX are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo_core.registry import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD, Family, License, Variant

APACHE_2 = License(
    "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", "yes",
    note="timm's own weights (and the GluonCV ports), Apache-2.0 as timm's pretrained config states",
)
TORCHVISION_BSD_3 = License(
    "BSD-3-Clause", "https://github.com/pytorch/vision/blob/main/LICENSE", "yes",
    note="torchvision's ImageNet weights, released under torchvision's BSD-3-Clause license",
)
FB_SEMI_WEAKLY_CC_BY_NC = License(
    "CC-BY-NC-4.0", "https://github.com/facebookresearch/semi-supervised-ImageNet1K-models/blob/main/LICENSE", "no",
    note="Facebook's semi-supervised (YFCC100M) and semi-weakly supervised (IG-1B) weights: non-commercial use only",
)
UNSPECIFIED = License(
    "unspecified", "https://github.com/ZhangYuanhan-AI/Bamboo", "no",
    note="timm's pretrained config states no license and the Bamboo release names none: "
         "no commercial use is granted",
)

# timm's registered model args (``resnet*`` functions in resnet.py), named as ``ResNetConfig``'s fields:
# the residual block and the number of blocks per stage.
ARCHS = {
    "resnet18": dict(block="basic", layers=(2, 2, 2, 2)),
    "resnet34": dict(block="basic", layers=(3, 4, 6, 3)),
    "resnet50": dict(block="bottleneck", layers=(3, 4, 6, 3)),
    "resnet101": dict(block="bottleneck", layers=(3, 4, 23, 3)),
    "resnet152": dict(block="bottleneck", layers=(3, 8, 36, 3)),
}
# timm's ResNet defaults, shared with model.py: each stage's planes, and each block's output
# channels per plane.
STAGE_PLANES = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}


def num_features(arch_kwargs: Mapping[str, Any]) -> int:
    """The channels of the last stage: its planes × the block's expansion (512 or 2048)."""
    return STAGE_PLANES[-1] * EXPANSION[arch_kwargs["block"]]


RSB = "timm's ResNet Strikes Back release (arXiv:2110.00476)"
NOTES = {
    "a1_in1k": RSB, "a1h_in1k": RSB, "a2_in1k": RSB, "a3_in1k": RSB, "b1k_in1k": RSB, "b2k_in1k": RSB,
    "c1_in1k": RSB, "c2_in1k": RSB, "d_in1k": RSB,
    "tv_in1k": "torchvision's original ImageNet-1k weights",
    "tv2_in1k": "torchvision's ImageNet-1k weights from its improved (IMAGENET1K_V2) recipe",
    "gluon_in1k": "MXNet GluonCV ResNet v1b weights: the same architecture as torchvision's ResNet",
    "fb_ssl_yfcc100m_ft_in1k": "Facebook semi-supervised: YFCC100M pretraining, ImageNet-1k fine-tune (arXiv:1905.00546)",
    "fb_swsl_ig1b_ft_in1k": "Facebook semi-weakly supervised: IG-1B pretraining, ImageNet-1k fine-tune (arXiv:1905.00546)",
    "bamboo": "Bamboo-CLS backbone (arXiv:2203.07845), released without a classifier: pooled features only",
}


def _row(name: str, license: License, *, num_classes: int = 1000, pool_size=(7, 7), **cfg) -> Variant:
    """A variant with timm's ResNet cfg defaults (224², ImageNet mean/std, ``conv1``, ``fc``)."""
    arch, tag = name.split(".")
    return Variant(name, "resnet", num_classes=num_classes, num_features=num_features(ARCHS[arch]), license=license,
                   hf_hub_id=f"timm/{name}", pool_size=pool_size, first_conv="conv1", classifier="fc",
                   arch_kwargs=ARCHS[arch], notes=NOTES.get(tag, "timm's own training"), **cfg)


VARIANTS = (
    # resnet18
    _row("resnet18.a1_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet18.a2_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet18.a3_in1k", APACHE_2,
         input_size=(3, 160, 160), pool_size=(5, 5), crop_pct=0.95, test_input_size=(3, 224, 224),
         test_crop_pct=0.95),
    _row("resnet18.tv_in1k", TORCHVISION_BSD_3, interpolation="bilinear"),
    _row("resnet18.fb_ssl_yfcc100m_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, interpolation="bilinear"),
    _row("resnet18.fb_swsl_ig1b_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, interpolation="bilinear"),
    _row("resnet18.gluon_in1k", APACHE_2),
    # resnet34
    _row("resnet34.a1_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet34.a2_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet34.a3_in1k", APACHE_2,
         input_size=(3, 160, 160), pool_size=(5, 5), crop_pct=0.95, test_input_size=(3, 224, 224),
         test_crop_pct=0.95),
    _row("resnet34.bt_in1k", APACHE_2, test_input_size=(3, 288, 288), test_crop_pct=0.95),
    _row("resnet34.ra4_e3600_r224_in1k", APACHE_2,
         crop_pct=0.9, test_input_size=(3, 288, 288), test_crop_pct=1.0, mean=IMAGENET_INCEPTION_MEAN,
         std=IMAGENET_INCEPTION_STD),
    _row("resnet34.tv_in1k", TORCHVISION_BSD_3, interpolation="bilinear"),
    _row("resnet34.gluon_in1k", APACHE_2),
    # resnet50
    _row("resnet50.a1_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet50.a1h_in1k", APACHE_2,
         input_size=(3, 176, 176), pool_size=(6, 6), crop_pct=0.9, test_input_size=(3, 224, 224),
         test_crop_pct=1.0),
    _row("resnet50.a2_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet50.a3_in1k", APACHE_2,
         input_size=(3, 160, 160), pool_size=(5, 5), crop_pct=0.95, test_input_size=(3, 224, 224),
         test_crop_pct=0.95),
    _row("resnet50.b1k_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet50.b2k_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet50.c1_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet50.c2_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet50.d_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet50.ram_in1k", APACHE_2, test_input_size=(3, 288, 288), test_crop_pct=0.95),
    _row("resnet50.am_in1k", APACHE_2),
    _row("resnet50.ra_in1k", APACHE_2, test_input_size=(3, 288, 288), test_crop_pct=0.95),
    _row("resnet50.bt_in1k", APACHE_2, test_input_size=(3, 288, 288), test_crop_pct=0.95),
    _row("resnet50.tv_in1k", TORCHVISION_BSD_3, interpolation="bilinear"),
    _row("resnet50.tv2_in1k", TORCHVISION_BSD_3,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965,
         interpolation="bilinear"),
    _row("resnet50.bamboo", UNSPECIFIED, num_classes=0, crop_pct=1.0),
    _row("resnet50.fb_ssl_yfcc100m_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, interpolation="bilinear"),
    _row("resnet50.fb_swsl_ig1b_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, interpolation="bilinear"),
    _row("resnet50.gluon_in1k", APACHE_2),
    # resnet101
    _row("resnet101.a1h_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet101.a1_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet101.a2_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet101.a3_in1k", APACHE_2,
         input_size=(3, 160, 160), pool_size=(5, 5), crop_pct=0.95, test_input_size=(3, 224, 224),
         test_crop_pct=0.95),
    _row("resnet101.tv_in1k", TORCHVISION_BSD_3, interpolation="bilinear"),
    _row("resnet101.tv2_in1k", TORCHVISION_BSD_3,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965,
         interpolation="bilinear"),
    _row("resnet101.gluon_in1k", APACHE_2),
    # resnet152
    _row("resnet152.a1h_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet152.a1_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet152.a2_in1k", APACHE_2, crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0),
    _row("resnet152.a3_in1k", APACHE_2,
         input_size=(3, 160, 160), pool_size=(5, 5), crop_pct=0.95, test_input_size=(3, 224, 224),
         test_crop_pct=0.95),
    _row("resnet152.tv_in1k", TORCHVISION_BSD_3, interpolation="bilinear"),
    _row("resnet152.tv2_in1k", TORCHVISION_BSD_3,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965,
         interpolation="bilinear"),
    _row("resnet152.gluon_in1k", APACHE_2),
)

LICENSE_NOTES = (
    "The zoo-resnet code is Apache-2.0; each variant's weights carry their own license, the one timm's "
    "pretrained config states for it.",
    "timm's weights (a1/a1h/a2/a3, b1k/b2k, c1/c2, d, ram/am/ra, bt, ra4) and the GluonCV ports (gluon_in1k) "
    "are Apache-2.0. torchvision's weights (tv_in1k, tv2_in1k) are BSD-3-Clause.",
    "Facebook's semi-supervised and semi-weakly supervised weights (fb_ssl_yfcc100m_ft_in1k, fb_swsl_ig1b_ft_in1k) "
    "are CC-BY-NC-4.0: non-commercial use only.",
    "resnet50.bamboo has no license in timm's config nor in the Bamboo release; it is listed as 'unspecified', "
    "not cleared for commercial use.",
)

FAMILY = Family(
    name="resnet",
    variants=VARIANTS,
    builder="zoo_resnet.model:build_model",
    weight_mapping="zoo_resnet.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
