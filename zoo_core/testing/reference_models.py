"""The reference models of issue 22's CPU table (``benchmarks/bench_families.py``): each family's, and the
architectures the coverage issues added (grouped convs, squeeze-excitation, CLIP's pre-norm and QuickGELU,
SigLIP's attention pooling, DINOv2's registers and LayerScale). Tests that check whole programs use them too."""

REFERENCE_MODELS = (
    "resnet50.a1_in1k",
    "resnext50_32x4d.a1h_in1k",
    "seresnet50.a1_in1k",
    "resnetv2_50x1_bit.goog_in21k_ft_in1k",
    "convnext_tiny.fb_in1k",
    "convnextv2_tiny.fcmae_ft_in1k",
    "vit_small_patch16_224.augreg_in21k_ft_in1k",
    "vit_base_patch16_224.augreg2_in21k_ft_in1k",
    "vit_base_patch16_clip_224.openai",
    "vit_base_patch16_siglip_224.webli",
    "vit_small_patch14_reg4_dinov2.lvd142m",
)
