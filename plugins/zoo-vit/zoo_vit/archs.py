"""The ViT architectures: timm's registered model args for every architecture of timm 1.0.31's
``vision_transformer.py`` that has pretrained tags (145), as plain data (no JAX import) for the
``arch_kwargs`` of the variant rows, in timm's ``list_models`` order.

Each entry is exactly the ``model_args`` its ``@register_model`` function passes to
``_create_vision_transformer`` (``test_archs.py`` re-captures them from timm and compares). Keys
absent take ``VisionTransformer``'s defaults (``patch_size=16``, ``mlp_ratio=4.0``,
``qkv_bias=True``, ``class_token=True``, ``global_pool="token"``, ...). Numbers, bools and strings
are timm's own values; the callables timm passes are written as data by this rule:

| key (ours) | value | timm's argument |
| --- | --- | --- |
| ``act_layer`` | ``"gelu_tanh"``, ``"quick_gelu"``, ``"silu"`` | the same string, or ``nn.SiLU`` (``"silu"``) |
| ``norm_layer`` + ``norm_eps`` | ``"layernorm"`` / ``"rmsnorm"``, eps | ``partial(timm.layers.LayerNorm / RmsNorm, eps=eps)`` |
| ``embed_norm_layer`` + ``embed_norm_eps`` | ``"rmsnorm"``, eps | ``partial(RmsNorm, eps=eps)`` (norm inside the patch embedding) |
| ``mlp_layer`` | ``"swiglu"`` | ``timm.layers.SwiGLU`` (``fc1_g``, ``fc1_x``, ``norm``, ``fc2``) |
| ``mlp_layer`` | ``"glu_silu_gate_first"`` | ``partial(timm.layers.GluMlp, act_layer=nn.SiLU, gate_last=False)`` (one packed ``fc1``) |
| ``block_fn`` | ``"res_post"``, ``"parallel_scaling"``, ``"diff_parallel_scaling"`` | ``ResPostBlock``, ``ParallelScalingBlock``, ``DiffParallelScalingBlock`` |

Without ``norm_layer`` timm's ViT norm is ``LayerNorm(eps=1e-6)``; without ``act_layer`` the exact
(erf) GELU. ``attn_layer="diff"`` (timm's string) is differential attention in the plain ``Block``.
"""

from __future__ import annotations

ARCHS = {
    "aimv2_1b_patch14_224": dict(
        patch_size=14, embed_dim=2048, depth=24, num_heads=16, class_token=False, fc_norm=False, mlp_ratio=2.75,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_1b_patch14_336": dict(
        patch_size=14, embed_dim=2048, depth=24, num_heads=16, class_token=False, fc_norm=False, mlp_ratio=2.75,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_1b_patch14_448": dict(
        patch_size=14, embed_dim=2048, depth=24, num_heads=16, class_token=False, fc_norm=False, mlp_ratio=2.75,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_3b_patch14_224": dict(
        patch_size=14, embed_dim=3072, depth=24, num_heads=24, class_token=False, fc_norm=False, mlp_ratio=2.6667,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_3b_patch14_336": dict(
        patch_size=14, embed_dim=3072, depth=24, num_heads=24, class_token=False, fc_norm=False, mlp_ratio=2.6667,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_3b_patch14_448": dict(
        patch_size=14, embed_dim=3072, depth=24, num_heads=24, class_token=False, fc_norm=False, mlp_ratio=2.6667,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_huge_patch14_224": dict(
        patch_size=14, embed_dim=1536, depth=24, num_heads=12, class_token=False, fc_norm=False, mlp_ratio=2.6667,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_huge_patch14_336": dict(
        patch_size=14, embed_dim=1536, depth=24, num_heads=12, class_token=False, fc_norm=False, mlp_ratio=2.6667,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_huge_patch14_448": dict(
        patch_size=14, embed_dim=1536, depth=24, num_heads=12, class_token=False, fc_norm=False, mlp_ratio=2.6667,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_large_patch14_224": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=8, class_token=False, fc_norm=False, mlp_ratio=2.75,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_large_patch14_336": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=8, class_token=False, fc_norm=False, mlp_ratio=2.75,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "aimv2_large_patch14_448": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=8, class_token=False, fc_norm=False, mlp_ratio=2.75,
        global_pool="avg", qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-05,
        embed_norm_layer="rmsnorm", embed_norm_eps=1e-05, mlp_layer="swiglu"),
    "beit3_base_patch16_224": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4, scale_attn_norm=True,
        scale_mlp_norm=True, class_token=True, global_pool="avg", norm_layer="layernorm", norm_eps=1e-05),
    "beit3_large_patch16_224": dict(
        patch_size=16, embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4, scale_attn_norm=True,
        scale_mlp_norm=True, class_token=True, global_pool="avg", norm_layer="layernorm", norm_eps=1e-05),
    "eva_large_patch14_196": dict(patch_size=14, embed_dim=1024, depth=24, num_heads=16, global_pool="avg"),
    "eva_large_patch14_336": dict(patch_size=14, embed_dim=1024, depth=24, num_heads=16, global_pool="avg"),
    "flexivit_base": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, no_embed_class=True),
    "flexivit_large": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16, no_embed_class=True),
    "flexivit_small": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, no_embed_class=True),
    "test_vit2": dict(
        patch_size=16, embed_dim=64, depth=8, num_heads=2, mlp_ratio=3, class_token=False, reg_tokens=1,
        global_pool="avg", init_values=1e-05, dynamic_img_size=True),
    "test_vit3": dict(
        patch_size=16, embed_dim=96, depth=9, num_heads=3, mlp_ratio=2, class_token=False, reg_tokens=1,
        global_pool="map", pool_include_prefix=True, init_values=1e-05),
    "test_vit": dict(patch_size=16, embed_dim=64, depth=6, num_heads=2, mlp_ratio=3, dynamic_img_size=True),
    "vit_base_patch8_224": dict(patch_size=8, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch14_dinov2": dict(patch_size=14, embed_dim=768, depth=12, num_heads=12, init_values=1e-05),
    "vit_base_patch14_reg1_tipsv2": dict(
        patch_size=14, embed_dim=768, depth=12, num_heads=12, init_values=1.0, reg_tokens=1, no_embed_class=True),
    "vit_base_patch14_reg4_dinov2": dict(
        patch_size=14, embed_dim=768, depth=12, num_heads=12, init_values=1e-05, reg_tokens=4, no_embed_class=True),
    "vit_base_patch16_224": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch16_224_miil": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, qkv_bias=False),
    "vit_base_patch16_384": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch16_clip_224": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_base_patch16_clip_384": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_base_patch16_clip_quickgelu_224": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05, act_layer="quick_gelu"),
    "vit_base_patch16_plus_clip_240": dict(
        patch_size=16, embed_dim=896, depth=12, num_heads=14, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_base_patch16_radio_v3": dict(
        img_size=512, patch_size=16, embed_dim=768, depth=12, num_heads=12, init_values=1e-05, reg_tokens=7,
        no_embed_class=True, final_norm=False),
    "vit_base_patch16_rpn_224": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, qkv_bias=False, init_values=1e-05, class_token=False,
        block_fn="res_post", global_pool="avg"),
    "vit_base_patch16_siglip_224": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="map"),
    "vit_base_patch16_siglip_256": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="map"),
    "vit_base_patch16_siglip_384": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="map"),
    "vit_base_patch16_siglip_512": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="map"),
    "vit_base_patch16_siglip_gap_224": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="avg", fc_norm=False),
    "vit_base_patch16_siglip_gap_256": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="avg", fc_norm=False),
    "vit_base_patch16_siglip_gap_384": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="avg", fc_norm=False),
    "vit_base_patch16_siglip_gap_512": dict(
        patch_size=16, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="avg", fc_norm=False),
    "vit_base_patch32_224": dict(patch_size=32, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch32_384": dict(patch_size=32, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch32_clip_224": dict(
        patch_size=32, embed_dim=768, depth=12, num_heads=12, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_base_patch32_clip_256": dict(
        patch_size=32, embed_dim=768, depth=12, num_heads=12, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_base_patch32_clip_384": dict(
        patch_size=32, embed_dim=768, depth=12, num_heads=12, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_base_patch32_clip_448": dict(
        patch_size=32, embed_dim=768, depth=12, num_heads=12, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_base_patch32_clip_quickgelu_224": dict(
        patch_size=32, embed_dim=768, depth=12, num_heads=12, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05, act_layer="quick_gelu"),
    "vit_base_patch32_siglip_256": dict(
        patch_size=32, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="map",
        act_layer="gelu_tanh"),
    "vit_base_patch32_siglip_gap_256": dict(
        patch_size=32, embed_dim=768, depth=12, num_heads=12, class_token=False, global_pool="avg", fc_norm=False,
        act_layer="gelu_tanh"),
    "vit_betwixt_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=640, depth=12, num_heads=10, init_values=1e-05, class_token=False,
        no_embed_class=True, reg_tokens=1, global_pool="avg"),
    "vit_betwixt_patch16_reg4_gap_256": dict(
        patch_size=16, embed_dim=640, depth=12, num_heads=10, init_values=1e-05, class_token=False,
        no_embed_class=True, reg_tokens=4, global_pool="avg"),
    "vit_betwixt_patch16_reg4_gap_384": dict(
        patch_size=16, embed_dim=640, depth=12, num_heads=10, init_values=1e-05, class_token=False,
        no_embed_class=True, reg_tokens=4, global_pool="avg"),
    "vit_betwixt_patch32_clip_224": dict(
        patch_size=32, embed_dim=640, depth=12, num_heads=10, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_dlittle_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=320, depth=14, num_heads=5, init_values=1e-05, mlp_ratio=5.6, class_token=False,
        no_embed_class=True, reg_tokens=1, global_pool="avg", attn_layer="diff"),
    "vit_dpwee_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=256, depth=16, num_heads=4, init_values=1e-05, mlp_ratio=5, class_token=False,
        no_embed_class=True, reg_tokens=1, global_pool="avg", block_fn="diff_parallel_scaling"),
    "vit_dwee_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=256, depth=14, num_heads=4, init_values=1e-05, mlp_ratio=5, class_token=False,
        no_embed_class=True, reg_tokens=1, global_pool="avg", attn_layer="diff"),
    "vit_giant_patch14_clip_224": dict(
        patch_size=14, embed_dim=1408, mlp_ratio=4.363636363636363, depth=40, num_heads=16, pre_norm=True,
        norm_layer="layernorm", norm_eps=1e-05),
    "vit_giant_patch14_dinov2": dict(
        patch_size=14, embed_dim=1536, depth=40, num_heads=24, init_values=1e-05, mlp_ratio=5.33334,
        mlp_layer="glu_silu_gate_first", act_layer="silu"),
    "vit_giant_patch14_reg1_tipsv2": dict(
        patch_size=14, embed_dim=1536, depth=40, num_heads=24, init_values=1.0, mlp_ratio=5.33334,
        mlp_layer="glu_silu_gate_first", act_layer="silu", reg_tokens=1, no_embed_class=True),
    "vit_giant_patch14_reg4_dinov2": dict(
        patch_size=14, embed_dim=1536, depth=40, num_heads=24, init_values=1e-05, mlp_ratio=5.33334,
        mlp_layer="glu_silu_gate_first", act_layer="silu", reg_tokens=4, no_embed_class=True),
    "vit_giant_patch16_gap_224": dict(
        patch_size=16, embed_dim=1408, depth=40, num_heads=16, mlp_ratio=4.363636363636363, class_token=False,
        global_pool="avg", fc_norm=False),
    "vit_giant_patch16_radio_v3": dict(
        img_size=512, patch_size=16, embed_dim=1536, depth=40, num_heads=24, reg_tokens=7, no_embed_class=True,
        final_norm=False),
    "vit_giantopt_patch16_siglip_256": dict(
        patch_size=16, embed_dim=1536, depth=40, num_heads=16, class_token=False, global_pool="map",
        act_layer="gelu_tanh"),
    "vit_giantopt_patch16_siglip_384": dict(
        patch_size=16, embed_dim=1536, depth=40, num_heads=16, class_token=False, global_pool="map",
        act_layer="gelu_tanh"),
    "vit_giantopt_patch16_siglip_gap_256": dict(
        patch_size=16, embed_dim=1536, depth=40, num_heads=16, class_token=False, global_pool="avg", fc_norm=False,
        act_layer="gelu_tanh"),
    "vit_giantopt_patch16_siglip_gap_384": dict(
        patch_size=16, embed_dim=1536, depth=40, num_heads=16, class_token=False, global_pool="avg", fc_norm=False,
        act_layer="gelu_tanh"),
    "vit_gigantic_patch14_clip_224": dict(
        patch_size=14, embed_dim=1664, mlp_ratio=4.923076923076923, depth=48, num_heads=16, pre_norm=True,
        norm_layer="layernorm", norm_eps=1e-05),
    "vit_gigantic_patch14_clip_378": dict(
        patch_size=14, embed_dim=1664, mlp_ratio=4.923076923076923, depth=48, num_heads=16, pre_norm=True,
        norm_layer="layernorm", norm_eps=1e-05),
    "vit_gigantic_patch14_clip_quickgelu_224": dict(
        patch_size=14, embed_dim=1664, mlp_ratio=4.923076923076923, depth=48, num_heads=16, pre_norm=True,
        norm_layer="layernorm", norm_eps=1e-05, act_layer="quick_gelu"),
    "vit_huge_patch14_224": dict(patch_size=14, embed_dim=1280, depth=32, num_heads=16),
    "vit_huge_patch14_clip_224": dict(
        patch_size=14, embed_dim=1280, depth=32, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_huge_patch14_clip_336": dict(
        patch_size=14, embed_dim=1280, depth=32, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_huge_patch14_clip_378": dict(
        patch_size=14, embed_dim=1280, depth=32, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_huge_patch14_clip_quickgelu_224": dict(
        patch_size=14, embed_dim=1280, depth=32, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05, act_layer="quick_gelu"),
    "vit_huge_patch14_clip_quickgelu_378": dict(
        patch_size=14, embed_dim=1280, depth=32, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05, act_layer="quick_gelu"),
    "vit_huge_patch14_gap_224": dict(
        patch_size=14, embed_dim=1280, depth=32, num_heads=16, class_token=False, global_pool="avg", fc_norm=False),
    "vit_huge_patch16_gap_448": dict(
        patch_size=16, embed_dim=1280, depth=32, num_heads=16, class_token=False, global_pool="avg", fc_norm=False),
    "vit_huge_patch16_radio_v3": dict(
        img_size=512, patch_size=16, embed_dim=1280, depth=32, num_heads=16, reg_tokens=7, no_embed_class=True,
        final_norm=False),
    "vit_huge_patch16_radio_v4": dict(
        img_size=512, patch_size=16, embed_dim=1280, depth=32, num_heads=16, reg_tokens=9, no_embed_class=True,
        final_norm=False),
    "vit_intern300m_patch14_448": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=16, init_values=0.1, final_norm=False,
        dynamic_img_size=True),
    "vit_large_patch14_clip_224": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_large_patch14_clip_336": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05),
    "vit_large_patch14_clip_quickgelu_224": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05, act_layer="quick_gelu"),
    "vit_large_patch14_clip_quickgelu_336": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=16, pre_norm=True, norm_layer="layernorm",
        norm_eps=1e-05, act_layer="quick_gelu"),
    "vit_large_patch14_dinov2": dict(patch_size=14, embed_dim=1024, depth=24, num_heads=16, init_values=1e-05),
    "vit_large_patch14_reg1_tipsv2": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=16, init_values=1.0, reg_tokens=1, no_embed_class=True),
    "vit_large_patch14_reg4_dinov2": dict(
        patch_size=14, embed_dim=1024, depth=24, num_heads=16, init_values=1e-05, reg_tokens=4,
        no_embed_class=True),
    "vit_large_patch16_224": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    "vit_large_patch16_384": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    "vit_large_patch16_radio_v3": dict(
        img_size=512, patch_size=16, embed_dim=1024, depth=24, num_heads=16, init_values=1e-05, reg_tokens=7,
        no_embed_class=True, final_norm=False),
    "vit_large_patch16_siglip_256": dict(
        patch_size=16, embed_dim=1024, depth=24, num_heads=16, class_token=False, global_pool="map"),
    "vit_large_patch16_siglip_384": dict(
        patch_size=16, embed_dim=1024, depth=24, num_heads=16, class_token=False, global_pool="map"),
    "vit_large_patch16_siglip_512": dict(
        patch_size=16, embed_dim=1024, depth=24, num_heads=16, class_token=False, global_pool="map",
        act_layer="gelu_tanh"),
    "vit_large_patch16_siglip_gap_256": dict(
        patch_size=16, embed_dim=1024, depth=24, num_heads=16, class_token=False, global_pool="avg", fc_norm=False),
    "vit_large_patch16_siglip_gap_384": dict(
        patch_size=16, embed_dim=1024, depth=24, num_heads=16, class_token=False, global_pool="avg", fc_norm=False),
    "vit_large_patch16_siglip_gap_512": dict(
        patch_size=16, embed_dim=1024, depth=24, num_heads=16, class_token=False, global_pool="avg", fc_norm=False,
        act_layer="gelu_tanh"),
    "vit_large_patch32_224": dict(patch_size=32, embed_dim=1024, depth=24, num_heads=16),
    "vit_large_patch32_384": dict(patch_size=32, embed_dim=1024, depth=24, num_heads=16),
    "vit_little_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=320, depth=14, num_heads=5, init_values=1e-05, mlp_ratio=5.6, class_token=False,
        no_embed_class=True, reg_tokens=1, global_pool="avg"),
    "vit_little_patch16_reg4_gap_256": dict(
        patch_size=16, embed_dim=320, depth=14, num_heads=5, init_values=1e-05, mlp_ratio=5.6, class_token=False,
        no_embed_class=True, reg_tokens=4, global_pool="avg"),
    "vit_medium_patch16_clip_224": dict(
        embed_dim=512, depth=12, num_heads=8, pre_norm=True, norm_layer="layernorm", norm_eps=1e-05),
    "vit_medium_patch16_gap_240": dict(
        patch_size=16, embed_dim=512, depth=12, num_heads=8, class_token=False, global_pool="avg", qkv_bias=False,
        init_values=1e-06, fc_norm=False),
    "vit_medium_patch16_gap_256": dict(
        patch_size=16, embed_dim=512, depth=12, num_heads=8, class_token=False, global_pool="avg", qkv_bias=False,
        init_values=1e-06, fc_norm=False),
    "vit_medium_patch16_gap_384": dict(
        patch_size=16, embed_dim=512, depth=12, num_heads=8, class_token=False, global_pool="avg", qkv_bias=False,
        init_values=1e-06, fc_norm=False),
    "vit_medium_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=512, depth=12, num_heads=8, init_values=1e-05, class_token=False,
        no_embed_class=True, reg_tokens=1, global_pool="avg"),
    "vit_medium_patch16_reg4_gap_256": dict(
        patch_size=16, embed_dim=512, depth=12, num_heads=8, init_values=1e-05, class_token=False,
        no_embed_class=True, reg_tokens=4, global_pool="avg"),
    "vit_medium_patch32_clip_224": dict(
        patch_size=32, embed_dim=512, depth=12, num_heads=8, pre_norm=True, norm_layer="layernorm", norm_eps=1e-05),
    "vit_mediumd_patch16_reg4_gap_256": dict(
        patch_size=16, embed_dim=512, depth=20, num_heads=8, init_values=1e-05, class_token=False,
        no_embed_class=True, reg_tokens=4, global_pool="avg"),
    "vit_mediumd_patch16_reg4_gap_384": dict(
        patch_size=16, embed_dim=512, depth=20, num_heads=8, init_values=1e-05, class_token=False,
        no_embed_class=True, reg_tokens=4, global_pool="avg"),
    "vit_pwee_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=256, depth=16, num_heads=4, init_values=1e-05, mlp_ratio=5, class_token=False,
        no_embed_class=True, reg_tokens=1, global_pool="avg", block_fn="parallel_scaling"),
    "vit_small_patch8_224": dict(patch_size=8, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch14_dinov2": dict(patch_size=14, embed_dim=384, depth=12, num_heads=6, init_values=1e-05),
    "vit_small_patch14_reg4_dinov2": dict(
        patch_size=14, embed_dim=384, depth=12, num_heads=6, init_values=1e-05, reg_tokens=4, no_embed_class=True),
    "vit_small_patch16_224": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch16_384": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch32_224": dict(patch_size=32, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch32_384": dict(patch_size=32, embed_dim=384, depth=12, num_heads=6),
    "vit_so150m2_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=832, depth=21, num_heads=13, mlp_ratio=2.6153846153846154, init_values=1e-05,
        qkv_bias=False, class_token=False, reg_tokens=1, global_pool="avg"),
    "vit_so150m2_patch16_reg1_gap_384": dict(
        patch_size=16, embed_dim=832, depth=21, num_heads=13, mlp_ratio=2.6153846153846154, init_values=1e-05,
        qkv_bias=False, class_token=False, reg_tokens=1, global_pool="avg"),
    "vit_so150m2_patch16_reg1_gap_448": dict(
        patch_size=16, embed_dim=832, depth=21, num_heads=13, mlp_ratio=2.6153846153846154, init_values=1e-05,
        qkv_bias=False, class_token=False, reg_tokens=1, global_pool="avg"),
    "vit_so150m_patch16_reg4_gap_256": dict(
        patch_size=16, embed_dim=896, depth=18, num_heads=14, mlp_ratio=2.572, class_token=False, reg_tokens=4,
        global_pool="avg", fc_norm=False),
    "vit_so150m_patch16_reg4_gap_384": dict(
        patch_size=16, embed_dim=896, depth=18, num_heads=14, mlp_ratio=2.572, class_token=False, reg_tokens=4,
        global_pool="avg", fc_norm=False),
    "vit_so400m_patch14_reg1_tipsv2": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, init_values=1.0, mlp_ratio=3.736111111111111,
        reg_tokens=1, no_embed_class=True),
    "vit_so400m_patch14_siglip_224": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="map"),
    "vit_so400m_patch14_siglip_378": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="map"),
    "vit_so400m_patch14_siglip_384": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="map"),
    "vit_so400m_patch14_siglip_gap_224": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="avg", fc_norm=False),
    "vit_so400m_patch14_siglip_gap_378": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="avg", fc_norm=False),
    "vit_so400m_patch14_siglip_gap_384": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="avg", fc_norm=False),
    "vit_so400m_patch14_siglip_gap_448": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="avg", fc_norm=False),
    "vit_so400m_patch14_siglip_gap_896": dict(
        patch_size=14, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="avg", fc_norm=False),
    "vit_so400m_patch16_radio_v4": dict(
        img_size=512, patch_size=16, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.736111111111111,
        reg_tokens=9, no_embed_class=True, final_norm=False),
    "vit_so400m_patch16_siglip_256": dict(
        patch_size=16, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="map", act_layer="gelu_tanh"),
    "vit_so400m_patch16_siglip_384": dict(
        patch_size=16, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="map", act_layer="gelu_tanh"),
    "vit_so400m_patch16_siglip_512": dict(
        patch_size=16, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="map", act_layer="gelu_tanh"),
    "vit_so400m_patch16_siglip_gap_256": dict(
        patch_size=16, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="avg", fc_norm=False, act_layer="gelu_tanh"),
    "vit_so400m_patch16_siglip_gap_384": dict(
        patch_size=16, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="avg", fc_norm=False, act_layer="gelu_tanh"),
    "vit_so400m_patch16_siglip_gap_512": dict(
        patch_size=16, embed_dim=1152, depth=27, num_heads=16, mlp_ratio=3.7362, class_token=False,
        global_pool="avg", fc_norm=False, act_layer="gelu_tanh"),
    "vit_tiny_patch16_224": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "vit_tiny_patch16_384": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "vit_wee_patch16_reg1_gap_256": dict(
        patch_size=16, embed_dim=256, depth=14, num_heads=4, init_values=1e-05, mlp_ratio=5, class_token=False,
        no_embed_class=True, reg_tokens=1, global_pool="avg"),
    "vit_xsmall_patch16_clip_224": dict(
        embed_dim=256, depth=10, num_heads=4, pre_norm=True, norm_layer="layernorm", norm_eps=1e-05),
}


def num_features(arch_kwargs: dict) -> int:
    """timm's ``num_features`` (and ``head_hidden_size``) of the architecture: the embedding width,
    what ``forward_head(pre_logits=True)`` returns per image."""
    return arch_kwargs["embed_dim"]
