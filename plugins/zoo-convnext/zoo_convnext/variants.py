"""ConvNeXt v1 variants: every pretrained tag of timm's ``convnext.py`` (timm 1.0.31) that has a
Hub copy and is not ConvNeXt-V2 (zoo-convnextv2 serves those), with the data config and weights
license of timm's pretrained cfg: the Facebook AI ``fb_*`` checkpoints; timm's own ImageNet-12k
and ImageNet-1k weights, among them the small ``zepto`` … ``nano`` models, their ``_ols`` stems
and ``tiny_hnf``; LAION's OpenCLIP towers and their fine-tunes (``clip_*``: ``base``,
``large_mlp``, ``xxlarge``); Meta's DINOv3 and EUPE encoders; and timm's ``test_convnext*`` models.

Plain data: importing this module imports no JAX. Rows keep timm's ``default_cfgs`` order, so an
architecture alone means timm's default tag (``convnext_tiny`` → ``convnext_tiny.in12k_ft_in1k``).
timm's ``convnext_atto_rms`` is registered only as ``untrained`` and is not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo_core.registry import Family, License, Variant

from zoo_convnext.licenses import CLIP_APACHE, DINOV3, EUPE, FB_APACHE, LICENSE_NOTES, TIMM_APACHE
from zoo_convnext.notes import note

__all__ = ["ARCHS", "FAMILY", "VARIANTS", "num_features"]

_CONV_MLP = dict(conv_mlp=True)
_TEST = dict(norm_eps=1e-5, act_layer="gelu_tanh")

# timm's registered model args (``convnext_*`` functions in convnext.py), named as ``ConvNeXtConfig``'s
# fields (zoo_convnext.config); the rest are the config's v1 defaults (patch stem, LayerNorm eps 1e-6,
# GELU, 7×7 kernels, LayerScale 1e-6, pool → norm → fc head).
ARCHS = {
    "convnext_zepto_rms": dict(depths=(2, 2, 4, 2), dims=(32, 64, 128, 256), norm_layer="simplenorm", **_CONV_MLP),
    "convnext_zepto_rms_ols": dict(depths=(2, 2, 4, 2), dims=(32, 64, 128, 256), norm_layer="simplenorm",
                                   stem_type="overlap_act", **_CONV_MLP),
    "convnext_atto": dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320), **_CONV_MLP),
    "convnext_atto_ols": dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320), stem_type="overlap_tiered", **_CONV_MLP),
    "convnext_femto": dict(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384), **_CONV_MLP),
    "convnext_femto_ols": dict(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384), stem_type="overlap_tiered", **_CONV_MLP),
    "convnext_pico": dict(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512), **_CONV_MLP),
    "convnext_pico_ols": dict(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512), stem_type="overlap_tiered", **_CONV_MLP),
    "convnext_nano": dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), **_CONV_MLP),
    "convnext_nano_ols": dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), stem_type="overlap", **_CONV_MLP),
    "convnext_tiny_hnf": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), head_norm_first=True, **_CONV_MLP),
    "convnext_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    "convnext_small": dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    "convnext_base": dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    "convnext_large": dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    "convnext_large_mlp": dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536), head_hidden_size=1536),
    "convnext_xlarge": dict(depths=(3, 3, 27, 3), dims=(256, 512, 1024, 2048)),
    "convnext_xxlarge": dict(depths=(3, 4, 30, 3), dims=(384, 768, 1536, 3072), norm_eps=1e-5),
    "test_convnext": dict(depths=(1, 2, 4, 2), dims=(24, 32, 48, 64), **_TEST),
    "test_convnext2": dict(depths=(1, 1, 1, 1), dims=(32, 64, 96, 128), **_TEST),
    "test_convnext3": dict(depths=(1, 1, 1, 1), dims=(32, 64, 96, 128), kernel_sizes=(7, 5, 5, 3), norm_eps=1e-5,
                           act_layer="silu"),
}


def num_features(arch_kwargs: Mapping[str, Any]) -> int:
    """The width of the pooled features: the head's hidden size where it has one
    (``convnext_large_mlp``), else the channels of the last stage (ConvNeXt v1 and v2 alike)."""
    return arch_kwargs.get("head_hidden_size") or arch_kwargs["dims"][-1]


def _row(name: str, license: License, *, num_classes: int = 1000, **cfg) -> Variant:
    """A variant with timm's ConvNeXt cfg defaults (224², pool 7×7, crop 0.875, bicubic, ImageNet
    mean/std, ``stem.0``, ``head.fc``)."""
    arch, tag = name.split(".")
    return Variant(name, "convnext", num_classes=num_classes, num_features=num_features(ARCHS[arch]), license=license,
                   hf_hub_id=f"timm/{name}", pool_size=cfg.pop("pool_size", (7, 7)), first_conv="stem.0",
                   classifier="head.fc", arch_kwargs=ARCHS[arch], notes=note(tag), **cfg)


CLIP_NORM = dict(mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711))  # OpenAI CLIP's
HALF_NORM = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
FT_224 = dict(test_input_size=(3, 288, 288), test_crop_pct=1.0)
SMALL_224 = dict(test_input_size=(3, 288, 288), test_crop_pct=0.95)
R160 = dict(input_size=(3, 160, 160), pool_size=(5, 5), crop_pct=0.95)
R256 = dict(input_size=(3, 256, 256), pool_size=(8, 8), crop_pct=1.0)
R320 = dict(input_size=(3, 320, 320), pool_size=(10, 10), crop_pct=1.0)
R384 = dict(input_size=(3, 384, 384), pool_size=(12, 12), crop_pct=1.0)
R384_SQUASH = dict(R384, crop_mode="squash")

VARIANTS = (
    _row("convnext_tiny.in12k_ft_in1k", TIMM_APACHE, crop_pct=0.95, **FT_224),
    _row("convnext_tiny.in12k_ft_in1k_384", TIMM_APACHE, **R384_SQUASH),
    _row("convnext_tiny.in12k", TIMM_APACHE, num_classes=11821, crop_pct=0.95),
    _row("convnext_tiny.fb_in22k_ft_in1k", FB_APACHE, **FT_224),
    _row("convnext_tiny.fb_in1k", FB_APACHE, **FT_224),
    _row("convnext_tiny.fb_in22k_ft_in1k_384", FB_APACHE, **R384_SQUASH),
    _row("convnext_tiny.fb_in22k", FB_APACHE, num_classes=21841),
    _row("convnext_tiny.dinov3_lvd1689m", DINOV3, num_classes=0, crop_pct=1.0),
    _row("convnext_tiny.eupe_lvd1689m", EUPE, num_classes=0, **R256),
    _row("convnext_small.in12k_ft_in1k", TIMM_APACHE, crop_pct=0.95, **FT_224),
    _row("convnext_small.in12k_ft_in1k_384", TIMM_APACHE, **R384_SQUASH),
    _row("convnext_small.in12k", TIMM_APACHE, num_classes=11821, crop_pct=0.95),
    _row("convnext_small.fb_in22k_ft_in1k", FB_APACHE, **FT_224),
    _row("convnext_small.fb_in1k", FB_APACHE, **FT_224),
    _row("convnext_small.fb_in22k_ft_in1k_384", FB_APACHE, **R384_SQUASH),
    _row("convnext_small.fb_in22k", FB_APACHE, num_classes=21841),
    _row("convnext_small.dinov3_lvd1689m", DINOV3, num_classes=0, crop_pct=1.0),
    _row("convnext_small.eupe_lvd1689m", EUPE, num_classes=0, **R256),
    _row("convnext_zepto_rms.ra4_e3600_r224_in1k", TIMM_APACHE, **HALF_NORM),
    _row("convnext_zepto_rms_ols.ra4_e3600_r224_in1k", TIMM_APACHE, **HALF_NORM, crop_pct=0.9),
    _row("convnext_atto.d2_in1k", TIMM_APACHE, **SMALL_224),
    _row("convnext_atto_ols.a2_in1k", TIMM_APACHE, **SMALL_224),
    _row("convnext_femto.d1_in1k", TIMM_APACHE, **SMALL_224),
    _row("convnext_femto_ols.d1_in1k", TIMM_APACHE, **SMALL_224),
    _row("convnext_pico.d1_in1k", TIMM_APACHE, **SMALL_224),
    _row("convnext_pico_ols.d1_in1k", TIMM_APACHE, crop_pct=0.95, **FT_224),
    _row("convnext_nano.in12k_ft_in1k", TIMM_APACHE, crop_pct=0.95, **FT_224),
    _row("convnext_nano.d1h_in1k", TIMM_APACHE, crop_pct=0.95, **FT_224),
    _row("convnext_nano.r384_in12k_ft_in1k", TIMM_APACHE, **R384),
    _row("convnext_nano.in12k", TIMM_APACHE, num_classes=11821, crop_pct=0.95),
    _row("convnext_nano.r384_in12k", TIMM_APACHE, num_classes=11821, **R384),
    _row("convnext_nano.r384_ad_in12k", TIMM_APACHE, num_classes=11821, **R384),
    _row("convnext_nano_ols.d1h_in1k", TIMM_APACHE, crop_pct=0.95, **FT_224),
    _row("convnext_tiny_hnf.a2h_in1k", TIMM_APACHE, crop_pct=0.95, **FT_224),
    _row("convnext_base.fb_in22k_ft_in1k", FB_APACHE, **FT_224),
    _row("convnext_base.fb_in1k", FB_APACHE, **FT_224),
    _row("convnext_base.fb_in22k_ft_in1k_384", FB_APACHE, **R384_SQUASH),
    _row("convnext_base.fb_in22k", FB_APACHE, num_classes=21841),
    _row("convnext_base.clip_laion2b_augreg_ft_in12k_in1k", CLIP_APACHE, **CLIP_NORM, **R256),
    _row("convnext_base.clip_laion2b_augreg_ft_in12k_in1k_384", CLIP_APACHE, **CLIP_NORM, **R384_SQUASH),
    _row("convnext_base.clip_laion2b_augreg_ft_in1k", CLIP_APACHE, **CLIP_NORM, **R256),
    _row("convnext_base.clip_laiona_augreg_ft_in1k_384", CLIP_APACHE, **CLIP_NORM, **R384),
    _row("convnext_base.clip_laion2b_augreg_ft_in12k", CLIP_APACHE, num_classes=11821, **CLIP_NORM, **R256),
    _row("convnext_base.clip_laion2b", CLIP_APACHE, num_classes=640, **CLIP_NORM, **R256),
    _row("convnext_base.clip_laion2b_augreg", CLIP_APACHE, num_classes=640, **CLIP_NORM, **R256),
    _row("convnext_base.clip_laiona", CLIP_APACHE, num_classes=640, **CLIP_NORM, **R256),
    _row("convnext_base.clip_laiona_320", CLIP_APACHE, num_classes=640, **CLIP_NORM, **R320),
    _row("convnext_base.clip_laiona_augreg_320", CLIP_APACHE, num_classes=640, **CLIP_NORM, **R320),
    _row("convnext_base.dinov3_lvd1689m", DINOV3, num_classes=0, crop_pct=1.0),
    _row("convnext_base.eupe_lvd1689m", EUPE, num_classes=0, **R256),
    _row("convnext_large.fb_in22k_ft_in1k", FB_APACHE, **FT_224),
    _row("convnext_large.fb_in1k", FB_APACHE, **FT_224),
    _row("convnext_large.fb_in22k_ft_in1k_384", FB_APACHE, **R384_SQUASH),
    _row("convnext_large.fb_in22k", FB_APACHE, num_classes=21841),
    _row("convnext_large.dinov3_lvd1689m", DINOV3, num_classes=0, crop_pct=1.0),
    _row("convnext_xlarge.fb_in22k_ft_in1k", FB_APACHE, **FT_224),
    _row("convnext_xlarge.fb_in22k_ft_in1k_384", FB_APACHE, **R384_SQUASH),
    _row("convnext_xlarge.fb_in22k", FB_APACHE, num_classes=21841),
    _row("convnext_large_mlp.clip_laion2b_soup_ft_in12k_in1k_320", CLIP_APACHE, **CLIP_NORM, **R320),
    _row("convnext_large_mlp.clip_laion2b_soup_ft_in12k_in1k_384", CLIP_APACHE, **CLIP_NORM, **R384_SQUASH),
    _row("convnext_large_mlp.clip_laion2b_augreg_ft_in1k", CLIP_APACHE, **CLIP_NORM, **R256),
    _row("convnext_large_mlp.clip_laion2b_augreg_ft_in1k_384", CLIP_APACHE, **CLIP_NORM, **R384_SQUASH),
    _row("convnext_large_mlp.clip_laion2b_soup_ft_in12k_320", CLIP_APACHE, num_classes=11821, **CLIP_NORM, **R320),
    _row("convnext_large_mlp.clip_laion2b_augreg_ft_in12k_384", CLIP_APACHE, num_classes=11821, **CLIP_NORM, **R384_SQUASH),
    _row("convnext_large_mlp.clip_laion2b_soup_ft_in12k_384", CLIP_APACHE, num_classes=11821, **CLIP_NORM, **R384_SQUASH),
    _row("convnext_large_mlp.clip_laion2b_augreg", CLIP_APACHE, num_classes=768, **CLIP_NORM, **R256),
    _row("convnext_large_mlp.clip_laion2b_ft_320", CLIP_APACHE, num_classes=768, **CLIP_NORM, **R320),
    _row("convnext_large_mlp.clip_laion2b_ft_soup_320", CLIP_APACHE, num_classes=768, **CLIP_NORM, **R320),
    _row("convnext_xxlarge.clip_laion2b_soup_ft_in1k", CLIP_APACHE, **CLIP_NORM, **R256),
    _row("convnext_xxlarge.clip_laion2b_soup_ft_in12k", CLIP_APACHE, num_classes=11821, **CLIP_NORM, **R256),
    _row("convnext_xxlarge.clip_laion2b_soup", CLIP_APACHE, num_classes=1024, **CLIP_NORM, **R256),
    _row("convnext_xxlarge.clip_laion2b_rewind", CLIP_APACHE, num_classes=1024, **CLIP_NORM, **R256),
    _row("test_convnext.r160_in1k", TIMM_APACHE, **HALF_NORM, **R160),
    _row("test_convnext2.r160_in1k", TIMM_APACHE, **HALF_NORM, **R160),
    _row("test_convnext3.r160_in1k", TIMM_APACHE, **HALF_NORM, **R160),
)

FAMILY = Family(
    name="convnext",
    variants=VARIANTS,
    builder="zoo_convnext.model:build_model",
    weight_mapping="zoo_convnext.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
