"""Vision Transformer (ViT): timm's ``VisionTransformer`` in its classic form, as pure JAX.

Papers:
- `An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale`
  (https://arxiv.org/abs/2010.11929)
- `How to train your ViT? Data, Augmentation, and Regularization in Vision Transformers` (AugReg,
  https://arxiv.org/abs/2106.10270)
- `Emerging Properties in Self-Supervised Vision Transformers` (DINO, https://arxiv.org/abs/2104.14294),
  `Masked Autoencoders Are Scalable Vision Learners` (MAE, https://arxiv.org/abs/2111.06377),
  `DINOv2: Learning Robust Visual Features without Supervision` (https://arxiv.org/abs/2304.07193)

Weights: Google's (AugReg, original, SAM), DINO, DINOv2 and MIIL releases are Apache-2.0; MAE is
CC-BY-NC-4.0 (non-commercial); see ``variants.py`` for each tag.

The forward pass, as timm's: patch embedding (N, H, W, C) → (N, gh·gw, D); the class token is
prepended and the position embedding (one row per token, class token included) added; pre-norm
blocks; final ``norm``. ``forward_features`` returns these (N, 1 + gh·gw, D) tokens, class token
first. The head pools (the class token, or the mean of the patch tokens), applies ``fc_norm``
where timm moves the final norm after pooling, then the linear ``head``.
"""

from __future__ import annotations

import attrs
import jax
import jax.numpy as jnp

from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.nn import Dense, Identity, LayerNorm, split_keys, vit_layernorm
from zoo_core.nn import initializers as inits
from zoo_core.nn.conv import pair
from zoo_core.nn.transformer import PatchEmbed, VitBlock, patch_embed, vit_block
from zoo_core.registry import Variant
from zoo_core.validate import check_bool, check_choice, check_size

GLOBAL_POOLS = ("token", "avg", "avgmax", "max")


@attrs.frozen
class ViTConfig:
    """An architecture as timm's ``vit_*`` model functions register it."""

    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    init_values: float | None = None


def global_pool_tokens(x: jax.Array, pool_type: str, num_prefix_tokens: int = 1) -> jax.Array:
    """timm's ``global_pool_nlc``: (N, T, D) → (N, D). ``"token"`` takes the class token; the
    others reduce the patch tokens (prefix tokens excluded) by mean, max or their average."""
    if pool_type == "token":
        return x[:, 0]
    x = x[:, num_prefix_tokens:]
    if pool_type == "avg":
        return jnp.mean(x, axis=1)
    if pool_type == "max":
        return jnp.max(x, axis=1)
    return 0.5 * (jnp.max(x, axis=1) + jnp.mean(x, axis=1))


@attrs.frozen
class VisionTransformer(Model):
    """timm's ``VisionTransformer`` with a class token and a learned position embedding that
    includes it. Params: ``cls_token`` (1, 1, D), ``pos_embed`` (1, 1 + gh·gw, D),
    ``patch_embed``, ``blocks/<i>``, ``norm``, ``fc_norm``, ``head``."""

    in_chans: int
    num_classes: int
    num_features: int
    patch_embed: PatchEmbed
    blocks: tuple[VitBlock, ...]
    norm: LayerNorm | Identity
    fc_norm: LayerNorm | Identity
    head: Dense | Identity
    global_pool: str = "token"

    num_prefix_tokens = 1  # the class token

    def init(self, key):
        k_children, k_cls, k_pos = split_keys(key, 3)
        params, state = super().init(k_children)
        num_tokens = self.num_prefix_tokens + self.patch_embed.num_patches
        params["cls_token"] = inits.normal_init(1e-6)(k_cls, (1, 1, self.num_features))
        params["pos_embed"] = inits.trunc_normal_init(0.02)(k_pos, (1, num_tokens, self.num_features))
        return params, state

    def embed(self, params, state, x):
        """Patch embedding, class token prepended, position embedding added: (N, H, W, in_chans) →
        (N, 1 + gh·gw, D)."""
        x, _ = self.patch_embed.apply(params["patch_embed"], state["patch_embed"], x)
        cls_token = jnp.broadcast_to(params["cls_token"].astype(x.dtype), (x.shape[0], 1, x.shape[-1]))
        return jnp.concatenate([cls_token, x], axis=1) + params["pos_embed"].astype(x.dtype)

    def forward_features(self, params, state, x, *, train=False):
        """(N, H, W, in_chans) → (N, 1 + gh·gw, D) tokens after the final norm, class token first."""
        self.check_input(x)
        x = self.embed(params, state, x)
        for i, block in enumerate(self.blocks):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
        x, _ = self.norm.apply(params["norm"], state["norm"], x)
        return x, state

    def feature_info(self) -> list[FeatureInfo]:
        """timm's ``feature_info``: the output of every block, at the patch size's stride."""
        return [FeatureInfo(self.num_features, self.patch_embed.patch_size[0], f"blocks.{i}")
                for i in range(len(self.blocks))]

    def forward_intermediates(self, params, state, x, indices, *, train=False):
        """The outputs of the blocks at ``indices`` (``features_only``), as timm's
        ``forward_intermediates`` with ``norm=False``: the patch tokens only (class token dropped)
        as maps (N, gh, gw, D), computing no block past the last one asked for."""
        x = self.embed(params, state, x)
        maps = {}
        for i, block in enumerate(self.blocks[: max(indices) + 1]):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
            maps[i] = x
        n, (gh, gw) = x.shape[0], self.patch_embed.grid_size
        return [maps[i][:, self.num_prefix_tokens:].reshape(n, gh, gw, -1) for i in indices], state

    def forward_head(self, params, x, *, pre_logits=False):
        """Pool (N, T, D) tokens to (N, D), apply ``fc_norm``, then the classifier → (N, num_classes)."""
        x = global_pool_tokens(x, self.global_pool, self.num_prefix_tokens)
        x, _ = self.fc_norm.apply(params["fc_norm"], {}, x)
        if pre_logits:
            return x
        return self.head.apply(params["head"], {}, x)[0]


def vision_transformer(config: ViTConfig, *, img_size: int | tuple[int, int] = 224, in_chans: int = 3,
                       num_classes: int = 1000, global_pool: str = "token", fc_norm: bool | None = None
                       ) -> VisionTransformer:
    """timm's ``VisionTransformer(img_size, patch_size, in_chans, num_classes, global_pool, embed_dim,
    depth, num_heads, mlp_ratio, qkv_bias, init_values, fc_norm)``.

    As in timm, ``fc_norm=None`` puts the final norm after pooling (``fc_norm``) for the
    ``avg``/``avgmax``/``max`` pools and before it (``norm``) for ``token``.
    """
    if global_pool not in GLOBAL_POOLS:
        raise ValueError(f"global_pool must be one of {', '.join(GLOBAL_POOLS)}; got {global_pool!r}")
    use_fc_norm = global_pool != "token" if fc_norm is None else fc_norm
    dim = config.embed_dim
    return VisionTransformer(
        in_chans=in_chans,
        num_classes=num_classes,
        num_features=dim,
        patch_embed=patch_embed(pair(img_size), config.patch_size, in_chans, dim),
        blocks=tuple(
            vit_block(dim, config.num_heads, mlp_ratio=config.mlp_ratio, qkv_bias=config.qkv_bias,
                      init_values=config.init_values)
            for _ in range(config.depth)
        ),
        norm=Identity() if use_fc_norm else vit_layernorm(dim),
        fc_norm=vit_layernorm(dim) if use_fc_norm else Identity(),
        head=(Dense(dim, num_classes, kernel_init=inits.trunc_normal_init(0.02), bias_init=inits.zeros)
              if num_classes else Identity()),
        global_pool=global_pool,
    )


def build_model(variant: Variant, *, in_chans: int, num_classes: int, img_size: int | tuple[int, int] | None = None,
                global_pool: str = "token", fc_norm: bool | None = None) -> VisionTransformer:
    """The model of ``variant`` (its ``arch_kwargs``), built for ``img_size`` (default: the
    variant's input size, as timm's fixed-input-size configs). Loading weights made at another size
    resamples the position embedding (see ``weights.py``). ``img_size`` is an int or a pair
    ``(H, W)``, each at least the patch size; ``global_pool`` one of ``GLOBAL_POOLS``; ``fc_norm``
    None or a bool; anything else raises ``ArgumentError`` naming the variant."""
    config = ViTConfig(**variant.arch_kwargs)
    patch = config.patch_size
    img_size = check_size(variant.name, "img_size", img_size, min=patch, allow_none=True,
                          why=f" (the patch size {patch}: one patch at least)")
    global_pool = check_choice(variant.name, "global_pool", global_pool, GLOBAL_POOLS)
    fc_norm = check_bool(variant.name, "fc_norm", fc_norm, allow_none=True)
    return vision_transformer(config, img_size=img_size or tuple(variant.input_size[1:]), in_chans=in_chans,
                              num_classes=num_classes, global_pool=global_pool, fc_norm=fc_norm)
