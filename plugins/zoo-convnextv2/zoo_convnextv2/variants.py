"""ConvNeXt V2 variants: every pretrained tag timm registers for convnextv2_atto, femto, pico, nano,
tiny, base, large and huge — the FCMAE self-supervised encoders (``fcmae``, no classifier) and
their ImageNet fine-tunes (``fcmae_ft_in1k``, ``fcmae_ft_in22k_in1k``, at 224, 384 and for huge
512) — with the data config and weights license of timm's pretrained cfg (timm 1.0.31).

Plain data: importing this module imports no JAX. Rows keep timm's ``default_cfgs`` order, so the
first tag of an architecture is its default, as in timm (``convnextv2_tiny`` →
``convnextv2_tiny.fcmae_ft_in22k_in1k``). ``convnextv2_small`` is not here: timm registers it only
as ``untrained``.
"""

from __future__ import annotations

from zoo_core.registry import Family, License, Variant

from zoo_convnext.variants import num_features

CC_BY_NC_4 = License(
    "CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/", "no",
    note="Meta's ConvNeXt-V2 weights (github.com/facebookresearch/ConvNeXt-V2): Creative Commons "
         "Attribution-NonCommercial 4.0, no commercial use",
)

# timm's registered model args (``convnextv2_*`` functions in convnext.py), named as zoo-convnext's
# ``ConvNeXtConfig`` fields: V2 has GRN in the MLP and no LayerScale; timm's own small sizes (atto …
# nano) build the MLP from 1×1 convs (``conv_mlp``), which changes only the checkpoint's layout.
V2 = dict(ls_init_value=None, use_grn=True)
ARCHS = {
    "convnextv2_atto": dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320), conv_mlp=True, **V2),
    "convnextv2_femto": dict(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384), conv_mlp=True, **V2),
    "convnextv2_pico": dict(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512), conv_mlp=True, **V2),
    "convnextv2_nano": dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640), conv_mlp=True, **V2),
    "convnextv2_tiny": dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), conv_mlp=False, **V2),
    "convnextv2_base": dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024), conv_mlp=False, **V2),
    "convnextv2_large": dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536), conv_mlp=False, **V2),
    "convnextv2_huge": dict(depths=(3, 3, 27, 3), dims=(352, 704, 1408, 2816), conv_mlp=False, **V2),
}

NOTES = {
    "fcmae": "FCMAE self-supervised pretraining on ImageNet-1k: an encoder without classifier (pooled features). "
             "The original checkpoints have no final norm; where the file lacks it, it stays at its identity init "
             "as in timm",
    "fcmae_ft_in1k": "FCMAE pretraining, ImageNet-1k fine-tune",
    "fcmae_ft_in22k_in1k": "FCMAE pretraining, ImageNet-22k then ImageNet-1k fine-tune",
    "fcmae_ft_in22k_in1k_384": "FCMAE pretraining, ImageNet-22k then ImageNet-1k fine-tune at 384²",
    "fcmae_ft_in22k_in1k_512": "FCMAE pretraining, ImageNet-22k then ImageNet-1k fine-tune at 512²",
}


def _row(name: str, *, num_classes: int = 1000, **cfg) -> Variant:
    """A variant with timm's ConvNeXt V2 cfg defaults (224², pool 7×7, crop 0.875, bicubic,
    ImageNet mean/std, ``stem.0``, ``head.fc``, CC-BY-NC-4.0)."""
    arch, tag = name.split(".")
    return Variant(name, "convnextv2", num_classes=num_classes, num_features=num_features(ARCHS[arch]),
                   license=CC_BY_NC_4, hf_hub_id=f"timm/{name}", pool_size=cfg.pop("pool_size", (7, 7)),
                   first_conv="stem.0", classifier="head.fc", arch_kwargs=ARCHS[arch], notes=NOTES[tag], **cfg)


_FT_224 = dict(test_input_size=(3, 288, 288), test_crop_pct=1.0)
_FT_224_SMALL = dict(test_input_size=(3, 288, 288), test_crop_pct=0.95)
_FT_384 = dict(input_size=(3, 384, 384), pool_size=(12, 12), crop_pct=1.0, crop_mode="squash")
_FT_512 = dict(input_size=(3, 512, 512), pool_size=(15, 15), crop_pct=1.0, crop_mode="squash")

VARIANTS = (
    _row("convnextv2_nano.fcmae_ft_in22k_in1k", **_FT_224),
    _row("convnextv2_nano.fcmae_ft_in22k_in1k_384", **_FT_384),
    _row("convnextv2_tiny.fcmae_ft_in22k_in1k", **_FT_224),
    _row("convnextv2_tiny.fcmae_ft_in22k_in1k_384", **_FT_384),
    _row("convnextv2_base.fcmae_ft_in22k_in1k", **_FT_224),
    _row("convnextv2_base.fcmae_ft_in22k_in1k_384", **_FT_384),
    _row("convnextv2_large.fcmae_ft_in22k_in1k", **_FT_224),
    _row("convnextv2_large.fcmae_ft_in22k_in1k_384", **_FT_384),
    _row("convnextv2_huge.fcmae_ft_in22k_in1k_384", **_FT_384),
    _row("convnextv2_huge.fcmae_ft_in22k_in1k_512", **_FT_512),
    _row("convnextv2_atto.fcmae_ft_in1k", **_FT_224_SMALL),
    _row("convnextv2_femto.fcmae_ft_in1k", **_FT_224_SMALL),
    _row("convnextv2_pico.fcmae_ft_in1k", **_FT_224_SMALL),
    _row("convnextv2_nano.fcmae_ft_in1k", **_FT_224),
    _row("convnextv2_tiny.fcmae_ft_in1k", **_FT_224),
    _row("convnextv2_base.fcmae_ft_in1k", **_FT_224),
    _row("convnextv2_large.fcmae_ft_in1k", **_FT_224),
    _row("convnextv2_huge.fcmae_ft_in1k", **_FT_224),
    _row("convnextv2_atto.fcmae", num_classes=0),
    _row("convnextv2_femto.fcmae", num_classes=0),
    _row("convnextv2_pico.fcmae", num_classes=0),
    _row("convnextv2_nano.fcmae", num_classes=0),
    _row("convnextv2_tiny.fcmae", num_classes=0),
    _row("convnextv2_base.fcmae", num_classes=0),
    _row("convnextv2_large.fcmae", num_classes=0),
    _row("convnextv2_huge.fcmae", num_classes=0),
)

LICENSE_NOTES = (
    "ConvNeXt V2 weights are non-commercial. Every ConvNeXt V2 checkpoint is released by Meta under Creative "
    "Commons Attribution-NonCommercial 4.0 (CC-BY-NC-4.0): commercial use of these weights is not permitted. This "
    "applies to every row of the table and is independent of the zoo-convnextv2 code's own Apache-2.0 license.",
    "If commercial use matters, the ConvNeXt v1 fb_* checkpoints (zoo-convnext) and BiT (zoo-bit) are Apache-2.0.",
)

FAMILY = Family(
    name="convnextv2",
    variants=VARIANTS,
    builder="zoo_convnextv2.model:build_model",
    weight_mapping="zoo_convnextv2.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
