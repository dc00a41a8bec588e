"""The ViT architectures: timm's registered model args for each ``vit_*`` architecture (plain data,
no JAX import), as ``arch_kwargs`` of the variant rows."""

from __future__ import annotations

# timm's registered model args for each architecture (``vit_*`` functions in vision_transformer.py);
# mlp_ratio is 4 and the patch bias, class token and token pooling are timm's defaults everywhere.
ARCHS = {
    "vit_tiny_patch16_224": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "vit_tiny_patch16_384": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "vit_small_patch32_224": dict(patch_size=32, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch32_384": dict(patch_size=32, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch16_224": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch16_384": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch8_224": dict(patch_size=8, embed_dim=384, depth=12, num_heads=6),
    "vit_base_patch32_224": dict(patch_size=32, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch32_384": dict(patch_size=32, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch16_224": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch16_384": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch8_224": dict(patch_size=8, embed_dim=768, depth=12, num_heads=12),
    "vit_large_patch32_224": dict(patch_size=32, embed_dim=1024, depth=24, num_heads=16),
    "vit_large_patch32_384": dict(patch_size=32, embed_dim=1024, depth=24, num_heads=16),
    "vit_large_patch16_224": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    "vit_large_patch16_384": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    "vit_huge_patch14_224": dict(patch_size=14, embed_dim=1280, depth=32, num_heads=16),
    "vit_base_patch16_224_miil": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, qkv_bias=False),
    "vit_small_patch14_dinov2": dict(patch_size=14, embed_dim=384, depth=12, num_heads=6, init_values=1e-5),
    "vit_base_patch14_dinov2": dict(patch_size=14, embed_dim=768, depth=12, num_heads=12, init_values=1e-5),
    "vit_large_patch14_dinov2": dict(patch_size=14, embed_dim=1024, depth=24, num_heads=16, init_values=1e-5),
}
