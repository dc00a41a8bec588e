"""One line per pretrained tag of the ConvNeXt v1 table: who trained the weights, on what, and at
which resolution. Plain data: no JAX import."""

from __future__ import annotations

import re

FIXED = {
    "fb_in1k": "Facebook AI: trained on ImageNet-1k",
    "fb_in22k": "Facebook AI: trained on ImageNet-22k (21841 classes)",
    "fb_in22k_ft_in1k": "Facebook AI: ImageNet-22k pretraining, ImageNet-1k fine-tune",
    "fb_in22k_ft_in1k_384": "Facebook AI: ImageNet-22k pretraining, ImageNet-1k fine-tune at 384²",
    "dinov3_lvd1689m": "Meta DINOv3: self-supervised on LVD-1689M, an encoder without classifier (pooled, "
                       "normalized features). Weights under the DINOv3 License: commercial use only under its "
                       "conditions",
    "eupe_lvd1689m": "Meta FAIR EUPE: distilled from a proxy teacher of several foundation encoders on LVD-1689M, "
                     "an encoder without classifier (pooled, normalized features) at 256². Weights under the FAIR "
                     "Noncommercial Research License: no commercial use",
    "in12k": "timm: trained on ImageNet-12k (11821 classes)",
    "in12k_ft_in1k": "timm: ImageNet-12k pretraining, ImageNet-1k fine-tune",
    "in12k_ft_in1k_384": "timm: ImageNet-12k pretraining, ImageNet-1k fine-tune at 384²",
    "r384_in12k": "timm: trained on ImageNet-12k (11821 classes) at 384²",
    "r384_ad_in12k": "timm: trained on ImageNet-12k (11821 classes) at 384², a second recipe ('ad')",
    "r384_in12k_ft_in1k": "timm: ImageNet-12k pretraining, ImageNet-1k fine-tune at 384²",
    "d1_in1k": "timm: trained on ImageNet-1k (recipe 'd1')",
    "d1h_in1k": "timm: trained on ImageNet-1k (recipe 'd1h')",
    "d2_in1k": "timm: trained on ImageNet-1k (recipe 'd2')",
    "a2_in1k": "timm: trained on ImageNet-1k (ResNet Strikes Back recipe 'a2')",
    "a2h_in1k": "timm: trained on ImageNet-1k (recipe 'a2h')",
    "ra4_e3600_r224_in1k": "timm: trained on ImageNet-1k (RandAugment recipe 'ra4', 3600 epochs, 224²)",
    "r160_in1k": "timm: a tiny test model trained on ImageNet-1k at 160², for test suites, not for accuracy",
}

_CLIP_DATA = {"laion2b": "LAION-2B", "laiona": "LAION-Aesthetics"}
_CLIP_FT = (
    ("ft_in12k_in1k", "fine-tuned by timm on ImageNet-12k, then ImageNet-1k"),
    ("ft_in12k", "fine-tuned by timm on ImageNet-12k (11821 classes)"),
    ("ft_in1k", "fine-tuned by timm on ImageNet-1k"),
)


def _clip_note(tag: str) -> str:
    data = _CLIP_DATA[tag.split("_")[1]]
    kinds = [word for word in ("augreg", "soup", "rewind") if word in tag.split("_")]
    recipe = f" ({', '.join(kinds)})" if kinds else ""
    size = re.search(r"_(320|384)$", tag)
    at = f" at {size.group(1)}²" if size else ""
    for key, text in _CLIP_FT:
        if key in tag:
            return f"LAION OpenCLIP image tower trained on {data}{recipe}, {text}{at}"
    hint = ", further fine-tuned" if "_ft_" in tag else ""
    return (f"LAION OpenCLIP image tower trained on {data}{recipe}{hint}{at}: its output is the CLIP image "
            "embedding (head.fc is the tower's projection, zero bias)")


def note(tag: str) -> str:
    """The row note of ``tag``."""
    return _clip_note(tag) if tag.startswith("clip_") else FIXED[tag]
