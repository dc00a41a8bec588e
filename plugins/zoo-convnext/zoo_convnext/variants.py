"""ConvNeXt v1 variants: the Facebook AI checkpoints of the ConvNeXt paper (``fb_in1k``,
``fb_in22k``, ``fb_in22k_ft_in1k``, ``fb_in22k_ft_in1k_384``) and Meta's DINOv3 encoders
(``dinov3_lvd1689m``) for convnext_tiny, small, base, large and xlarge, with the data config and
weights license of timm's pretrained cfg (timm 1.0.31).

Plain data: importing this module imports no JAX. Rows keep timm's ``default_cfgs`` order. timm
lists its own ``in12k_ft_in1k`` tags first for tiny and small, and those are not in this table, so
here an architecture alone means its first Facebook AI tag (``convnext_tiny`` →
``convnext_tiny.fb_in22k_ft_in1k``) where timm means ``convnext_tiny.in12k_ft_in1k``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo_core.registry import Family, License, Variant

APACHE_2 = License(
    "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", "yes",
    note="the Facebook AI ConvNeXt checkpoints (github.com/facebookresearch/ConvNeXt), Apache-2.0 as timm's "
         "pretrained config states",
)
DINOV3 = License(
    "DINOv3 License", "https://ai.meta.com/resources/models-and-libraries/dinov3-license/", "conditions",
    note="Meta's DINOv3 License, not an open-source license: it sets conditions on use and on outputs "
         "derived from the weights (timm's note: downstream outputs must be shared under it). "
         "Read it before any use of these weights.",
)

# timm's registered model args (``convnext_*`` functions in convnext.py), named as ``ConvNeXtConfig``'s
# fields: blocks and channels per stage; the rest are the config's v1 defaults.
ARCHS = {
    "convnext_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    "convnext_small": dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    "convnext_base": dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    "convnext_large": dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    "convnext_xlarge": dict(depths=(3, 3, 27, 3), dims=(256, 512, 1024, 2048)),
}


def num_features(arch_kwargs: Mapping[str, Any]) -> int:
    """The channels of the last stage, ``dims[-1]`` (ConvNeXt v1 and v2 alike)."""
    return arch_kwargs["dims"][-1]


NOTES = {
    "fb_in1k": "Facebook AI: trained on ImageNet-1k",
    "fb_in22k": "Facebook AI: trained on ImageNet-22k (21841 classes)",
    "fb_in22k_ft_in1k": "Facebook AI: ImageNet-22k pretraining, ImageNet-1k fine-tune",
    "fb_in22k_ft_in1k_384": "Facebook AI: ImageNet-22k pretraining, ImageNet-1k fine-tune at 384²",
    "dinov3_lvd1689m": "Meta DINOv3: self-supervised on LVD-1689M, an encoder without classifier (pooled, "
                       "normalized features). Weights under the DINOv3 License: commercial use only under its "
                       "conditions",
}


def _row(name: str, license: License, *, num_classes: int = 1000, **cfg) -> Variant:
    """A variant with timm's ConvNeXt cfg defaults (224², pool 7×7, crop 0.875, bicubic, ImageNet
    mean/std, ``stem.0``, ``head.fc``)."""
    arch, tag = name.split(".")
    return Variant(name, "convnext", num_classes=num_classes, num_features=num_features(ARCHS[arch]), license=license,
                   hf_hub_id=f"timm/{name}", pool_size=cfg.pop("pool_size", (7, 7)), first_conv="stem.0",
                   classifier="head.fc", arch_kwargs=ARCHS[arch], notes=NOTES[tag], **cfg)


_FT_224 = dict(test_input_size=(3, 288, 288), test_crop_pct=1.0)
_FT_384 = dict(input_size=(3, 384, 384), pool_size=(12, 12), crop_pct=1.0, crop_mode="squash")

VARIANTS = (
    _row("convnext_tiny.fb_in22k_ft_in1k", APACHE_2, **_FT_224),
    _row("convnext_small.fb_in22k_ft_in1k", APACHE_2, **_FT_224),
    _row("convnext_base.fb_in22k_ft_in1k", APACHE_2, **_FT_224),
    _row("convnext_large.fb_in22k_ft_in1k", APACHE_2, **_FT_224),
    _row("convnext_xlarge.fb_in22k_ft_in1k", APACHE_2, **_FT_224),
    _row("convnext_tiny.fb_in1k", APACHE_2, **_FT_224),
    _row("convnext_small.fb_in1k", APACHE_2, **_FT_224),
    _row("convnext_base.fb_in1k", APACHE_2, **_FT_224),
    _row("convnext_large.fb_in1k", APACHE_2, **_FT_224),
    _row("convnext_tiny.fb_in22k_ft_in1k_384", APACHE_2, **_FT_384),
    _row("convnext_small.fb_in22k_ft_in1k_384", APACHE_2, **_FT_384),
    _row("convnext_base.fb_in22k_ft_in1k_384", APACHE_2, **_FT_384),
    _row("convnext_large.fb_in22k_ft_in1k_384", APACHE_2, **_FT_384),
    _row("convnext_xlarge.fb_in22k_ft_in1k_384", APACHE_2, **_FT_384),
    _row("convnext_tiny.fb_in22k", APACHE_2, num_classes=21841),
    _row("convnext_small.fb_in22k", APACHE_2, num_classes=21841),
    _row("convnext_base.fb_in22k", APACHE_2, num_classes=21841),
    _row("convnext_large.fb_in22k", APACHE_2, num_classes=21841),
    _row("convnext_xlarge.fb_in22k", APACHE_2, num_classes=21841),
    _row("convnext_tiny.dinov3_lvd1689m", DINOV3, num_classes=0, crop_pct=1.0),
    _row("convnext_small.dinov3_lvd1689m", DINOV3, num_classes=0, crop_pct=1.0),
    _row("convnext_base.dinov3_lvd1689m", DINOV3, num_classes=0, crop_pct=1.0),
    _row("convnext_large.dinov3_lvd1689m", DINOV3, num_classes=0, crop_pct=1.0),
)

LICENSE_NOTES = (
    "The zoo-convnext code is Apache-2.0; each variant's weights carry their own license, the one timm's "
    "pretrained config states for it.",
    "DINOv3 weights are not Apache-2.0. The four convnext_*.dinov3_lvd1689m encoders are released by Meta under "
    "the DINOv3 License (https://ai.meta.com/resources/models-and-libraries/dinov3-license/), which imposes "
    "obligations on the use of the weights and on outputs derived from them that differ from a permissive "
    "open-source license: commercial use only under its conditions. Read the license before using these weights "
    "for any downstream task.",
    "The Facebook AI fb_* checkpoints (fb_in1k, fb_in22k, fb_in22k_ft_in1k, fb_in22k_ft_in1k_384) are Apache-2.0 "
    "and unaffected by the DINOv3 terms.",
)

FAMILY = Family(
    name="convnext",
    variants=VARIANTS,
    builder="zoo_convnext.model:build_model",
    weight_mapping="zoo_convnext.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
