"""ViT variants: every pretrained tag timm (1.0.31) registers under a ``vit_*`` architecture that is
the classic VisionTransformer — class token, learned position embedding that includes it, pre-norm
blocks with a fused-qkv attention and a GELU MLP (optionally LayerScale), final norm, token pooling
— with the data config and weights license of timm's pretrained cfg.

Plain data: importing this module imports no JAX. Rows keep timm's ``default_cfgs`` order, so the
first tag of an architecture is its default (``vit_base_patch16_224`` →
``vit_base_patch16_224.augreg2_in21k_ft_in1k``). Which ViT lines are left out, and why, is in
``docs/families/vit.md``.
"""

from __future__ import annotations

from zoo_core.registry import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    IMAGENET_INCEPTION_MEAN,
    IMAGENET_INCEPTION_STD,
    Family,
    License,
    Variant,
)

from zoo_vit.archs import ARCHS

GOOGLE_APACHE_2 = License(
    "Apache-2.0", "https://github.com/google-research/vision_transformer/blob/main/LICENSE", "yes",
    note="Google's ViT releases (original, AugReg 'How to train your ViT?', SAM-optimizer): Apache-2.0",
)
DINO_APACHE_2 = License(
    "Apache-2.0", "https://github.com/facebookresearch/dino/blob/main/LICENSE", "yes",
    note="Facebook's DINO self-supervised weights: Apache-2.0",
)
DINOV2_APACHE_2 = License(
    "Apache-2.0", "https://github.com/facebookresearch/dinov2/blob/main/LICENSE", "yes",
    note="Meta's DINOv2 (LVD-142M) weights: Apache-2.0",
)
MAE_CC_BY_NC = License(
    "CC-BY-NC-4.0", "https://github.com/facebookresearch/mae/blob/main/LICENSE", "no",
    note="Meta's MAE pretrained encoders: CC-BY-NC-4.0, non-commercial use only",
)
MIIL_APACHE_2 = License(
    "Apache-2.0", "https://github.com/Alibaba-MIIL/ImageNet21K", "yes",
    note="Alibaba MIIL's ImageNet-21K-P weights, Apache-2.0 as timm's pretrained config states",
)
UNSPECIFIED = License(
    "unspecified", "https://github.com/ZhangYuanhan-AI/Bamboo", "no",
    note="timm's pretrained config states no license and the Bamboo release names none: "
         "no commercial use is granted",
)

NOTES = {
    "augreg_in21k": "AugReg (arXiv:2106.10270): ImageNet-21k pretraining, the 21843-class head",
    "augreg_in21k_ft_in1k": "AugReg (arXiv:2106.10270): ImageNet-21k pretraining, ImageNet-1k fine-tune",
    "augreg2_in21k_ft_in1k": "AugReg ImageNet-21k weights re-fine-tuned on ImageNet-1k by timm",
    "augreg_in1k": "AugReg (arXiv:2106.10270): trained on ImageNet-1k only",
    "orig_in21k": "original ViT paper (arXiv:2010.11929) ImageNet-21k weights; the released head is not "
                  "valid, so timm ships none: pooled features only",
    "orig_in21k_ft_in1k": "original ViT paper (arXiv:2010.11929): ImageNet-21k pretraining, ImageNet-1k fine-tune",
    "sam_in1k": "trained on ImageNet-1k with the SAM optimizer (arXiv:2106.01548)",
    "dino": "DINO self-supervised (arXiv:2104.14294), no classifier: pooled features only",
    "mae": "MAE self-supervised encoder (arXiv:2111.06377), no classifier: pooled features only",
    "lvd142m": "DINOv2 self-supervised on LVD-142M (arXiv:2304.07193), no classifier: pooled features only",
    "bamboo": "Bamboo-CLS classifier (arXiv:2203.07845), 115217 classes",
    "in21k": "Alibaba MIIL ImageNet-21K-P pretraining (arXiv:2104.10972), 11221 classes",
    "in21k_ft_in1k": "Alibaba MIIL ImageNet-21K-P pretraining (arXiv:2104.10972), ImageNet-1k fine-tune",
}

IMAGENET = dict(mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD)
MIIL = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), crop_pct=0.875, interpolation="bilinear")
AT_384 = dict(input_size=(3, 384, 384), crop_pct=1.0)
AT_518 = dict(input_size=(3, 518, 518), crop_pct=1.0)
OPENAI_CLIP = dict(mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711))


def _row(name: str, license: License, *, num_classes: int = 1000, **cfg) -> Variant:
    """A variant with timm's ViT ``_cfg`` defaults (224², Inception mean/std, crop 0.9, bicubic,
    ``patch_embed.proj``, ``head``). The model is built for ``input_size``, as timm's
    ``fixed_input_size`` configs do."""
    arch, tag = name.split(".")
    cfg = {"mean": IMAGENET_INCEPTION_MEAN, "std": IMAGENET_INCEPTION_STD, "crop_pct": 0.9, **cfg}
    return Variant(name, "vit", num_classes=num_classes, num_features=ARCHS[arch]["embed_dim"], license=license,
                   hf_hub_id=f"timm/{name}", first_conv="patch_embed.proj", classifier="head",
                   arch_kwargs=ARCHS[arch], notes=NOTES[tag], **cfg)


VARIANTS = (
    # ViT-Ti/16
    _row("vit_tiny_patch16_224.augreg_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_tiny_patch16_224.augreg_in21k", GOOGLE_APACHE_2, num_classes=21843),
    _row("vit_tiny_patch16_384.augreg_in21k_ft_in1k", GOOGLE_APACHE_2, **AT_384),
    # ViT-S/32, ViT-S/16, ViT-S/8
    _row("vit_small_patch32_224.augreg_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_small_patch32_224.augreg_in21k", GOOGLE_APACHE_2, num_classes=21843),
    _row("vit_small_patch32_384.augreg_in21k_ft_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_small_patch16_224.augreg_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_small_patch16_224.augreg_in1k", GOOGLE_APACHE_2),
    _row("vit_small_patch16_224.augreg_in21k", GOOGLE_APACHE_2, num_classes=21843),
    _row("vit_small_patch16_224.dino", DINO_APACHE_2, num_classes=0, **IMAGENET),
    _row("vit_small_patch16_384.augreg_in21k_ft_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_small_patch16_384.augreg_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_small_patch8_224.dino", DINO_APACHE_2, num_classes=0, **IMAGENET),
    # ViT-B/32, ViT-B/16, ViT-B/8
    _row("vit_base_patch32_224.augreg_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch32_224.augreg_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch32_224.orig_in21k", GOOGLE_APACHE_2, num_classes=0),
    _row("vit_base_patch32_224.augreg_in21k", GOOGLE_APACHE_2, num_classes=21843),
    _row("vit_base_patch32_224.sam_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch32_384.augreg_in21k_ft_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_base_patch32_384.augreg_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_base_patch16_224.augreg2_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch16_224.augreg_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch16_224.orig_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch16_224.augreg_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch16_224.orig_in21k", GOOGLE_APACHE_2, num_classes=0),
    _row("vit_base_patch16_224.augreg_in21k", GOOGLE_APACHE_2, num_classes=21843),
    _row("vit_base_patch16_224.sam_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch16_224.bamboo", UNSPECIFIED, num_classes=115217, crop_pct=1.0, **OPENAI_CLIP),
    _row("vit_base_patch16_224.dino", DINO_APACHE_2, num_classes=0, **IMAGENET),
    _row("vit_base_patch16_224.mae", MAE_CC_BY_NC, num_classes=0, **IMAGENET),
    _row("vit_base_patch16_384.augreg_in21k_ft_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_base_patch16_384.orig_in21k_ft_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_base_patch16_384.augreg_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_base_patch8_224.augreg2_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch8_224.augreg_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_base_patch8_224.augreg_in21k", GOOGLE_APACHE_2, num_classes=21843),
    _row("vit_base_patch8_224.dino", DINO_APACHE_2, num_classes=0, **IMAGENET),
    # ViT-L/32, ViT-L/16
    _row("vit_large_patch32_224.orig_in21k", GOOGLE_APACHE_2, num_classes=0),
    _row("vit_large_patch32_384.orig_in21k_ft_in1k", GOOGLE_APACHE_2, **AT_384),
    _row("vit_large_patch16_224.augreg_in21k_ft_in1k", GOOGLE_APACHE_2),
    _row("vit_large_patch16_224.orig_in21k", GOOGLE_APACHE_2, num_classes=0),
    _row("vit_large_patch16_224.augreg_in21k", GOOGLE_APACHE_2, num_classes=21843),
    _row("vit_large_patch16_224.mae", MAE_CC_BY_NC, num_classes=0, **IMAGENET),
    _row("vit_large_patch16_384.augreg_in21k_ft_in1k", GOOGLE_APACHE_2, **AT_384),
    # ViT-H/14
    _row("vit_huge_patch14_224.orig_in21k", GOOGLE_APACHE_2, num_classes=0),
    _row("vit_huge_patch14_224.mae", MAE_CC_BY_NC, num_classes=0, **IMAGENET),
    # ViT-B/16 from Alibaba MIIL (no qkv bias)
    _row("vit_base_patch16_224_miil.in21k", MIIL_APACHE_2, num_classes=11221, **MIIL),
    _row("vit_base_patch16_224_miil.in21k_ft_in1k", MIIL_APACHE_2, **MIIL),
    # DINOv2 ViT-S/14, ViT-B/14, ViT-L/14 (LayerScale, 518x518)
    _row("vit_small_patch14_dinov2.lvd142m", DINOV2_APACHE_2, num_classes=0, **AT_518, **IMAGENET),
    _row("vit_base_patch14_dinov2.lvd142m", DINOV2_APACHE_2, num_classes=0, **AT_518, **IMAGENET),
    _row("vit_large_patch14_dinov2.lvd142m", DINOV2_APACHE_2, num_classes=0, **AT_518, **IMAGENET),
)

LICENSE_NOTES = (
    "The zoo-vit code is Apache-2.0; each variant's weights carry their own license, the one timm's "
    "pretrained config states for it.",
    "Google's weights (augreg*, orig_in21k*, sam_in1k), DINO, DINOv2 and Alibaba MIIL's weights are Apache-2.0.",
    "MAE encoders (vit_base/large_patch16_224.mae, vit_huge_patch14_224.mae) are CC-BY-NC-4.0: "
    "non-commercial use only.",
    "vit_base_patch16_224.bamboo has no license in timm's config nor in the Bamboo release; it is listed as "
    "'unspecified', not cleared for commercial use.",
)

FAMILY = Family(
    name="vit",
    variants=VARIANTS,
    builder="zoo_vit.model:build_model",
    weight_mapping="zoo_vit.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
