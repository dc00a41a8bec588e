"""MLP-Mixer variants: every pretrained tag timm (1.0.31) registers under ``mixer_b16_224`` and
``mixer_l16_224`` — the plain ``MlpMixer`` with ``MixerBlock`` — with the data config and weights
license of timm's pretrained cfg (``timm/models/mlp_mixer.py``, ``default_cfgs``).

Plain data: importing this module imports no JAX. Rows keep timm's ``default_cfgs`` order, so the
first tag of an architecture is its default (``mixer_b16_224`` → ``mixer_b16_224.goog_in21k_ft_in1k``).
timm's other ``mixer_*`` architectures (S/32, S/16, B/32, L/32) have no released weights; gMLP
and ResMLP share the file but not the block.
"""

from __future__ import annotations

from zoo_core.registry import Family, License, Variant

GOOGLE_APACHE_2 = License(
    "Apache-2.0", "https://github.com/google-research/vision_transformer/blob/main/LICENSE", "yes",
    note="Google's MLP-Mixer release (google-research/vision_transformer): Apache-2.0",
)
MIIL_APACHE_2 = License(
    "Apache-2.0", "https://github.com/Alibaba-MIIL/ImageNet21K", "yes",
    note="Alibaba MIIL's ImageNet-21K-P weights, Apache-2.0 as timm's pretrained config states",
)

# timm's registered model args (``mixer_*`` functions in mlp_mixer.py); mlp_ratio is (0.5, 4.0),
# the patch size 16 and the image size 224 everywhere.
ARCHS = {
    "mixer_b16_224": dict(patch_size=16, num_blocks=12, embed_dim=768),
    "mixer_l16_224": dict(patch_size=16, num_blocks=24, embed_dim=1024),
}

NOTES = {
    "goog_in21k_ft_in1k": "Google's release (arXiv:2105.01601): ImageNet-21k pretraining, ImageNet-1k fine-tune",
    "goog_in21k": "Google's release (arXiv:2105.01601): ImageNet-21k pretraining, the 21843-class head",
    "miil_in21k": "Alibaba MIIL ImageNet-21K-P pretraining (arXiv:2104.10972), 11221 classes",
    "miil_in21k_ft_in1k": "Alibaba MIIL ImageNet-21K-P pretraining (arXiv:2104.10972), ImageNet-1k fine-tune",
}

# timm's mlp_mixer ``_cfg``: 224², mean = std = 0.5, crop 0.875, bicubic; MIIL's weights take
# [0, 1] inputs and bilinear resizing.
GOOGLE = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic")
MIIL = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), interpolation="bilinear")


def _row(name: str, license: License, *, num_classes: int = 1000, **cfg) -> Variant:
    """A variant with timm's Mixer ``_cfg`` defaults; its model is built for ``input_size``, as
    timm's ``fixed_input_size`` configs require (the token MLP has one input per patch)."""
    arch, tag = name.split(".")
    return Variant(name, "mixer", num_classes=num_classes, num_features=ARCHS[arch]["embed_dim"], license=license,
                   hf_hub_id=f"timm/{name}", input_size=(3, 224, 224), crop_pct=0.875, first_conv="stem.proj",
                   classifier="head", arch_kwargs=ARCHS[arch], notes=NOTES[tag], **cfg)


VARIANTS = (
    _row("mixer_b16_224.goog_in21k_ft_in1k", GOOGLE_APACHE_2, **GOOGLE),
    _row("mixer_b16_224.goog_in21k", GOOGLE_APACHE_2, num_classes=21843, **GOOGLE),
    _row("mixer_l16_224.goog_in21k_ft_in1k", GOOGLE_APACHE_2, **GOOGLE),
    _row("mixer_l16_224.goog_in21k", GOOGLE_APACHE_2, num_classes=21843, **GOOGLE),
    _row("mixer_b16_224.miil_in21k", MIIL_APACHE_2, num_classes=11221, **MIIL),
    _row("mixer_b16_224.miil_in21k_ft_in1k", MIIL_APACHE_2, **MIIL),
)

LICENSE_NOTES = (
    "The zoo-mixer code is Apache-2.0; each variant's weights carry their own license, the one timm's "
    "pretrained config states for it.",
    "Google's Mixer weights (goog_*) and Alibaba MIIL's (miil_*) are Apache-2.0: commercial use allowed.",
)

FAMILY = Family(
    name="mixer",
    variants=VARIANTS,
    builder="zoo_mixer.model:build_model",
    weight_mapping="zoo_mixer.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
