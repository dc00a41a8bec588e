"""How one line of the ViT table becomes a ``Variant``: timm's ViT ``_cfg`` defaults, the mean/std
presets, and the notes every row of a kind carries (plain data, no JAX import)."""

from __future__ import annotations

from zoo_core.registry import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    IMAGENET_INCEPTION_MEAN,
    IMAGENET_INCEPTION_STD,
    License,
    Variant,
)

from zoo_vit.archs import ARCHS, num_features
from zoo_vit.releases import IJEPA, NOTES

INCEPTION = dict(mean=IMAGENET_INCEPTION_MEAN, std=IMAGENET_INCEPTION_STD)  # timm's ViT default
IMAGENET = dict(mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD)
CLIP = dict(mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711))
ZERO_ONE = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

IJEPA_URL = "https://dl.fbaipublicfiles.com/ijepa/"
# image-text pretraining tags whose head is the tower's projection into the joint embedding
IMAGE_TEXT = "image-text"  # label_names of a projection head (zoo_core.predict.IMAGE_TEXT): no classes
PROJECTION_TAGS = frozenset({
    "laion2b", "laion400m_e32", "datacompxl", "dfn2b", "dfn2b_s39b", "dfn5b", "metaclip_2pt5b", "metaclip_400m",
    "metaclip_altogether", "metaclip2_worldwide", "openai", "apple_mclip2_dfndr2b", "tinyclip_yfcc15m",
    "tinyclip_laion400m",
})
_TIMM_HUB = "timm/{}"
QUICKGELU = "_clip_quickgelu_"


def _notes(name: str, num_classes: int, note: str | None, native_quickgelu: bool) -> str:
    arch, tag = name.split(".")
    text = NOTES[note or tag]
    if tag in PROJECTION_TAGS and num_classes:
        text += f"; the head is the image projection into the {num_classes}-d image-text embedding, not a classifier"
    if QUICKGELU in arch:
        text += (f"; QuickGELU form: the weights of {name.replace(QUICKGELU, '_clip_')} with the activation they "
                 "were trained with (the original model's outputs)")
    if native_quickgelu:
        text += (f"; trained with QuickGELU, run here with exact GELU as timm's row does: "
                 f"{name.replace('_clip_', QUICKGELU)} gives the original model's outputs")
    return text


def row(name: str, license: License, num_classes: int = 1000, *, size: int = 224, crop_pct: float = 0.9,
         norm: dict = INCEPTION, crop_mode: str = "center", interpolation: str = "bicubic",
         hub: str | None = _TIMM_HUB, note: str | None = None, native_quickgelu: bool = False,
         extra_notes: str = "") -> Variant:
    """A variant with timm's ViT ``_cfg`` defaults (224², Inception mean/std, crop 0.9, center, bicubic,
    ``patch_embed.proj``, ``head``): only what differs is written in the table. ``hub`` defaults to
    ``timm/{name}`` (a ``*_clip_quickgelu_*`` row shares its twin's repository, as in timm); ``note``
    picks a ``NOTES`` key other than the tag. The model is built for ``size``, as timm's
    ``fixed_input_size`` configs do."""
    arch, tag = name.split(".")
    if hub == _TIMM_HUB:
        hub = f"timm/{name.replace(QUICKGELU, '_clip_')}"
    return Variant(
        name, "vit", num_classes=num_classes, num_features=num_features(ARCHS[arch]), license=license,
        hf_hub_id=hub, input_size=(3, size, size), crop_pct=crop_pct, crop_mode=crop_mode,
        interpolation=interpolation, first_conv="patch_embed.proj", classifier="head", arch_kwargs=ARCHS[arch],
        label_names=IMAGE_TEXT if tag in PROJECTION_TAGS and num_classes else None,
        notes=_notes(name, num_classes, note, native_quickgelu) + extra_notes, **norm)


def ijepa_row(name: str, file: str, num_classes: int, **cfg) -> Variant:
    """An I-JEPA row: CC-BY-NC-4.0 and no Hub repository. timm loads Meta's original file; its
    ``encoder`` entry (keys under ``module.``) is timm's layout."""
    return row(name, IJEPA, num_classes, hub=None, extra_notes=(
        f"; not on the Hugging Face Hub: timm loads Meta's original file {IJEPA_URL}{file}, whose 'encoder' "
        "entry (keys prefixed 'module.') is this model's state dict: `zoo convert FILE OUT.safetensors --key encoder`, "
        "then create_pretrained(name, checkpoint_path=OUT.safetensors); see docs/families/vit.md"), **cfg)
