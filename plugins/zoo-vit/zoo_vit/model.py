"""Vision Transformer (ViT): timm's ``VisionTransformer`` as pure JAX, with every option the
pretrained architectures of timm's ``vision_transformer.py`` use (``archs.py``).

Papers:
- `An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale`
  (https://arxiv.org/abs/2010.11929); AugReg (https://arxiv.org/abs/2106.10270)
- DINO (https://arxiv.org/abs/2104.14294), MAE (https://arxiv.org/abs/2111.06377), DINOv2
  (https://arxiv.org/abs/2304.07193), registers (`Vision Transformers Need Registers`,
  https://arxiv.org/abs/2309.16588)
- CLIP (https://arxiv.org/abs/2103.00020), SigLIP (https://arxiv.org/abs/2303.15343), AIMv2
  (https://arxiv.org/abs/2411.14402), FlexiViT (https://arxiv.org/abs/2212.08013)

Weights: each variant's license is in ``variants.py``.

The forward pass, as timm's: patch embedding (N, H, W, C) → (N, gh·gw, D) (optionally normed);
the prefix tokens (class token, then ``reg_tokens`` registers) and the learned position embedding
(covering the prefix rows unless ``no_embed_class``: then added to the patch tokens before the
prefix is prepended; resampled to the input's grid at run time with ``dynamic_img_size``);
``norm_pre`` (CLIP's ``pre_norm``); the blocks (``blocks.py``); the final ``norm``.
``forward_features`` returns these (N, prefix + gh·gw, D) tokens. The head pools (class token;
mean / max of the patch tokens, prefix included with ``pool_include_prefix``; or the attention
pool ``map``), applies ``fc_norm`` where timm moves the final norm after pooling, then ``head``.
"""

from __future__ import annotations

import attrs
import jax
import jax.numpy as jnp

from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.nn import Dense, Identity, split_keys
from zoo_core.nn import initializers as inits
from zoo_core.nn.activations import get_act
from zoo_core.nn.attention_pool import attention_pool_latent
from zoo_core.nn.conv import pair
from zoo_core.nn.module import Module
from zoo_core.nn.pos_embed import resample_abs_pos_embed
from zoo_core.nn.transformer import PatchEmbed, patch_embed
from zoo_core.registry import Variant
from zoo_core.validate import check_choice, check_size

from zoo_vit.blocks import make_block, norm_factory
from zoo_vit.config import GLOBAL_POOLS, ViTConfig, vit_config
from zoo_vit.intermediates import ViTIntermediates

__all__ = ["GLOBAL_POOLS", "ViTConfig", "VisionTransformer", "build_model", "global_pool_tokens",
           "vision_transformer"]


def global_pool_tokens(x: jax.Array, pool_type: str, num_prefix_tokens: int = 1,
                       include_prefix: bool = False) -> jax.Array:
    """timm's ``global_pool_nlc``: (N, T, D) → (N, D). ``"token"`` takes the class token; the
    others reduce the patch tokens (the prefix tokens too with ``include_prefix``) by mean, max or
    their average; ``""`` returns the tokens unpooled."""
    if not pool_type:
        return x
    if pool_type == "token":
        return x[:, 0]
    x = x if include_prefix else x[:, num_prefix_tokens:]
    if pool_type == "avg":
        return jnp.mean(x, axis=1)
    if pool_type == "max":
        return jnp.max(x, axis=1)
    return 0.5 * (jnp.max(x, axis=1) + jnp.mean(x, axis=1))


@attrs.frozen
class VisionTransformer(ViTIntermediates, Model):
    """timm's ``VisionTransformer``. Params: ``cls_token`` (1, 1, D) with a class token,
    ``reg_token`` (1, R, D) with registers, ``pos_embed`` (1, [prefix +] gh·gw, D),
    ``patch_embed``, ``norm_pre``, ``blocks/<i>``, ``norm``, ``attn_pool`` (``map``), ``fc_norm``,
    ``head``."""

    in_chans: int
    num_classes: int
    num_features: int
    patch_embed: PatchEmbed
    norm_pre: Module
    blocks: tuple[Module, ...]
    norm: Module
    attn_pool: Module | None
    fc_norm: Module
    head: Dense | Identity
    global_pool: str = "token"
    class_token: bool = True
    reg_tokens: int = 0
    no_embed_class: bool = False
    pool_include_prefix: bool = False
    dynamic_img_size: bool = False

    default_out_indices = 3  # timm's feature_cfg for ViT: features_only gives the last 3 blocks

    @property
    def num_prefix_tokens(self) -> int:
        """The class token (if any) and the registers, ahead of the patch tokens."""
        return int(self.class_token) + self.reg_tokens

    @property
    def pos_embed_prefix(self) -> int:
        """Rows of ``pos_embed`` for prefix tokens: none with ``no_embed_class``."""
        return 0 if self.no_embed_class else self.num_prefix_tokens

    def init(self, key):
        k_children, k_cls, k_reg, k_pos = split_keys(key, 4)
        params, state = super().init(k_children)
        dim = self.num_features
        if self.class_token:
            params["cls_token"] = inits.normal_init(1e-6)(k_cls, (1, 1, dim))
        if self.reg_tokens:
            params["reg_token"] = inits.normal_init(1e-6)(k_reg, (1, self.reg_tokens, dim))
        num_pos = self.pos_embed_prefix + self.patch_embed.num_patches
        params["pos_embed"] = inits.trunc_normal_init(0.02)(k_pos, (1, num_pos, dim))
        return params, state

    def embed(self, params, state, x):
        """Patch embedding, prefix tokens and position embedding, ``norm_pre``: (N, H, W, in_chans)
        → (N, prefix + gh·gw, D)."""
        grid = self.patch_embed.feat_size(x.shape[1], x.shape[2])
        x, _ = self.patch_embed.apply(params["patch_embed"], state["patch_embed"], x)
        n, _, dim = x.shape
        pos = params["pos_embed"]
        if self.dynamic_img_size:
            pos = resample_abs_pos_embed(pos, grid, self.patch_embed.grid_size, num_prefix_tokens=self.pos_embed_prefix)
        pos = pos.astype(x.dtype)
        prefix = [params[k] for k in ("cls_token", "reg_token") if k in params]
        prefix = [jnp.broadcast_to(p.astype(x.dtype), (n, p.shape[1], dim)) for p in prefix]
        if self.no_embed_class:
            x = jnp.concatenate([*prefix, x + pos], axis=1)
        else:
            x = jnp.concatenate([*prefix, x], axis=1) + pos
        return self.norm_pre.apply(params["norm_pre"], state["norm_pre"], x)[0]

    def run_blocks(self, params, state, x, stop: int | None = None):
        """The tokens after each block up to ``stop`` (all by default): a list."""
        outs = []
        for i, block in enumerate(self.blocks[:stop]):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
            outs.append(x)
        return outs

    def forward_features(self, params, state, x, *, train=False):
        """(N, H, W, in_chans) → (N, prefix + gh·gw, D) tokens after the final norm, prefix first."""
        self.check_input(x)
        x = self.embed(params, state, x)
        for i, block in enumerate(self.blocks):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
        x, _ = self.norm.apply(params["norm"], state["norm"], x)
        return x, state

    def apply(self, params, state, x, *, train=False):
        """Logits (N, num_classes), or pooled features with ``num_classes == 0``: ``forward_head`` of
        ``forward_features``. Where the head reads the class token alone (``global_pool`` ``"token"``), the
        last block computes past its qkv layer for that token only (``VitBlock.apply_first``): the same
        logits, with the last block's attention queries, ``proj`` and MLP on one token instead of T (about
        7% of a ViT-B/16's FLOPs at 224²)."""
        if self.global_pool != "token" or self.attn_pool is not None or not self.blocks:
            return super().apply(params, state, x, train=train)
        self.check_input(x)
        x = self.embed(params, state, x)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks[:last]):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
        block, key = self.blocks[last], str(last)
        if hasattr(block, "apply_first"):
            x = block.apply_first(params["blocks"][key], state["blocks"][key], x, 1)
        else:
            x = block.apply(params["blocks"][key], state["blocks"][key], x)[0][:, :1]
        x, _ = self.norm.apply(params["norm"], state["norm"], x)
        return self.forward_head(params, x), state

    def feature_info(self) -> list[FeatureInfo]:
        """timm's ``feature_info``: the output of every block, at the patch size's stride."""
        return [FeatureInfo(self.num_features, self.patch_embed.patch_size[0], f"blocks.{i}")
                for i in range(len(self.blocks))]

    def pool(self, params, x):
        """timm's ``pool``: the attention pool (``map``) or ``global_pool_tokens``."""
        if self.attn_pool is not None:
            x = x if self.pool_include_prefix else x[:, self.num_prefix_tokens:]
            return self.attn_pool.apply(params["attn_pool"], {}, x)[0]
        return global_pool_tokens(x, self.global_pool, self.num_prefix_tokens, self.pool_include_prefix)

    def forward_head(self, params, x, *, pre_logits=False):
        """Pool (N, T, D) tokens to (N, D), apply ``fc_norm``, then the classifier → (N, num_classes)."""
        x = self.pool(params, x)
        x, _ = self.fc_norm.apply(params["fc_norm"], {}, x)
        if pre_logits:
            return x
        return self.head.apply(params["head"], {}, x)[0]


def vision_transformer(config: ViTConfig, *, img_size: int | tuple[int, int] = 224, in_chans: int = 3,
                       num_classes: int = 1000) -> VisionTransformer:
    """timm's ``VisionTransformer(img_size, in_chans, num_classes, **config)``: ``config`` holds
    the architecture (``ViTConfig``, e.g. from ``vit_config``)."""
    c, dim = config, config.embed_dim
    norm = norm_factory(c.norm_layer, c.norm_eps)
    final = norm(dim) if c.final_norm else Identity()
    embed_norm = norm_factory(c.embed_norm_layer, c.embed_norm_eps)(dim) if c.embed_norm_layer else None
    attn_pool = None
    if c.global_pool == "map":
        attn_pool = attention_pool_latent(dim, c.num_heads, mlp_ratio=c.mlp_ratio, norm=norm(dim),
                                          act=get_act(c.act_layer))
    return VisionTransformer(
        in_chans=in_chans,
        num_classes=num_classes,
        num_features=dim,
        patch_embed=patch_embed(pair(img_size), c.patch_size, in_chans, dim, bias=not c.pre_norm, norm=embed_norm,
                                strict_img_size=not c.dynamic_img_size),
        norm_pre=norm(dim) if c.pre_norm else Identity(),
        blocks=tuple(make_block(c, i) for i in range(c.depth)),
        norm=Identity() if c.use_fc_norm else final,
        attn_pool=attn_pool,
        fc_norm=final if c.use_fc_norm else Identity(),
        head=(Dense(dim, num_classes, kernel_init=inits.trunc_normal_init(0.02), bias_init=inits.zeros)
              if num_classes else Identity()),
        global_pool=c.global_pool,
        class_token=c.class_token,
        reg_tokens=c.reg_tokens,
        no_embed_class=c.no_embed_class,
        pool_include_prefix=c.pool_include_prefix,
        dynamic_img_size=c.dynamic_img_size,
    )


def build_model(variant: Variant, *, in_chans: int, num_classes: int, img_size: int | tuple[int, int] | None = None,
                **arch) -> VisionTransformer:
    """The model of ``variant`` (its ``arch_kwargs``), built for ``img_size`` (default: the
    variant's input size, as timm's fixed-input-size configs). Loading weights made at another size
    resamples the position embedding (see ``weights.py``). ``img_size`` is an int or a pair
    ``(H, W)``, each at least the patch size.

    ``arch`` takes timm's architecture arguments by their ``ViTConfig`` names (``global_pool``,
    ``fc_norm``, ``depth``, ``embed_dim``, ``num_heads``, ``mlp_ratio``, ``class_token``,
    ``reg_tokens``, ``dynamic_img_size`` ...), each replacing the variant's value as
    ``timm.create_model(name, **kwargs)`` does, so a reduced model is built alike on both sides.
    A wrong name, type or value raises ``ArgumentError`` naming the variant.
    """
    config = vit_config(variant.name, variant.arch_kwargs, arch)
    patch = config.patch_size
    img_size = check_size(variant.name, "img_size", img_size, min=patch, allow_none=True,
                          why=f" (the patch size {patch}: one patch at least)")
    check_choice(variant.name, "global_pool", config.global_pool, GLOBAL_POOLS)
    # timm's precedence: the img_size asked for, the architecture's own (RADIO's 512), the row's input size
    img_size = img_size or (pair(config.img_size) if config.img_size else tuple(variant.input_size[1:]))
    return vision_transformer(config, img_size=img_size, in_chans=in_chans, num_classes=num_classes)
