"""MLP-Mixer: timm's ``MlpMixer`` with ``MixerBlock`` (``timm/models/mlp_mixer.py``) as pure JAX.

Papers:
- `MLP-Mixer: An all-MLP Architecture for Vision` (https://arxiv.org/abs/2105.01601)
- `ImageNet-21K Pretraining for the Masses` (https://arxiv.org/abs/2104.10972), the MIIL weights

Weights: Google's and Alibaba MIIL's releases, both Apache-2.0; see ``variants.py`` for each tag.

The forward pass, as timm's: the patch embedding turns (N, H, W, C) into (N, T, D) tokens,
T = (H/p)·(W/p) in row-major patch order; each block mixes across the T tokens (per channel) and
then across the D channels (per token), both as pre-norm residual MLPs; a final LayerNorm.
``forward_features`` returns these (N, T, D) tokens; the head averages them over T and applies
the linear classifier. The token MLP has one input per patch, so a model is built for one image
size (timm's ``fixed_input_size``).
"""

from __future__ import annotations

import attrs
import jax

from zoo_core import nn
from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.nn import initializers as inits
from zoo_core.nn.conv import pair
from zoo_core.registry import Variant
from zoo_core.validate import check_size

NORM_EPS = 1e-6  # timm's norm_layer=partial(nn.LayerNorm, eps=1e-6)


@attrs.frozen
class MixerConfig:
    """An architecture as timm's ``mixer_*`` model functions register it."""

    patch_size: int
    num_blocks: int
    embed_dim: int
    mlp_ratio: tuple[float, float] = (0.5, 4.0)  # (token MLP, channel MLP) hidden width over embed_dim


def mixer_mlp(in_features: int, hidden_features: int) -> nn.Mlp:
    """timm's ``Mlp(in_features, hidden_features)`` (exact GELU), initialised as timm's Mixer
    ``_init_weights`` does: Xavier-uniform kernels, biases N(0, 1e-6²)."""

    def dense(fan_in, fan_out):
        return nn.Dense(fan_in, fan_out, kernel_init=jax.nn.initializers.glorot_uniform(),
                        bias_init=inits.normal_init(1e-6))

    return nn.Mlp(fc1=dense(in_features, hidden_features), fc2=dense(hidden_features, in_features))


@attrs.frozen
class MixerBlock(nn.Module):
    """timm's ``MixerBlock``: (N, T, D) → (N, T, D),
    ``x + mlp_tokens(norm1(x)ᵀ)ᵀ`` (mixing the T tokens of each channel), then
    ``x + mlp_channels(norm2(x))`` (mixing the D channels of each token)."""

    norm1: nn.LayerNorm
    mlp_tokens: nn.Mlp
    norm2: nn.LayerNorm
    mlp_channels: nn.Mlp

    def apply(self, params, state, x, *, train=False):
        y, _ = self.norm1.apply(params["norm1"], state["norm1"], x)
        y, _ = self.mlp_tokens.apply(params["mlp_tokens"], state["mlp_tokens"], y.swapaxes(1, 2))
        x = x + y.swapaxes(1, 2)
        y, _ = self.norm2.apply(params["norm2"], state["norm2"], x)
        y, _ = self.mlp_channels.apply(params["mlp_channels"], state["mlp_channels"], y)
        return x + y, state


def mixer_block(dim: int, seq_len: int, mlp_ratio: tuple[float, float] = (0.5, 4.0)) -> MixerBlock:
    """timm's ``MixerBlock(dim, seq_len, mlp_ratio)``: hidden widths ``int(ratio * dim)``."""
    tokens_dim, channels_dim = (int(ratio * dim) for ratio in mlp_ratio)
    return MixerBlock(norm1=nn.LayerNorm(dim, NORM_EPS), mlp_tokens=mixer_mlp(seq_len, tokens_dim),
                      norm2=nn.LayerNorm(dim, NORM_EPS), mlp_channels=mixer_mlp(dim, channels_dim))


@attrs.frozen
class MlpMixer(Model):
    """timm's ``MlpMixer`` (average pooling, no stem norm). Params: ``stem/proj``,
    ``blocks/<i>/{norm1, mlp_tokens, norm2, mlp_channels}``, ``norm``, ``head``."""

    in_chans: int
    num_classes: int
    num_features: int
    stem: nn.PatchEmbed
    blocks: tuple[MixerBlock, ...]
    norm: nn.LayerNorm
    head: nn.Dense | nn.Identity

    def forward_features(self, params, state, x, *, train=False):
        """(N, H, W, in_chans) → (N, T, D) tokens after the final norm."""
        self.check_input(x)
        x, _ = self.stem.apply(params["stem"], state["stem"], x)
        for i, block in enumerate(self.blocks):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
        x, _ = self.norm.apply(params["norm"], state["norm"], x)
        return x, state

    def forward_head(self, params, x, *, pre_logits=False):
        """(N, T, D) tokens → their mean (N, D) → the classifier (N, num_classes)."""
        x = x.mean(axis=1)
        if pre_logits:
            return x
        return self.head.apply(params["head"], {}, x)[0]

    def feature_info(self) -> list[FeatureInfo]:
        """timm's feature points: the output of every block, at the patch stride."""
        reduction = max(self.stem.patch_size)
        return [FeatureInfo(self.num_features, reduction, f"blocks.{i}") for i in range(len(self.blocks))]

    def forward_intermediates(self, params, state, x, indices, *, norm=False, final=False, stop_early=False,
                              train=False):
        """The tokens after the blocks at ``indices`` as (N, H/p, W/p, D) maps: timm's
        ``forward_intermediates(x, indices, norm=norm)`` in NHWC (``norm=True``: each map through
        the final norm). Without ``final`` the blocks after the last index are not run; with it the
        result is ``(maps, features)``, ``features`` the final-normed tokens of every block (of the
        blocks up to the last index with ``stop_early``, as timm's)."""
        self.check_input(x)
        x, _ = self.stem.apply(params["stem"], state["stem"], x)
        grid_h, grid_w = self.stem.grid_size
        maps = {}
        last = len(self.blocks) - 1 if final and not stop_early else max(indices)
        for i in range(last + 1):
            x, _ = self.blocks[i].apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
            if i in indices:
                y = self.norm.apply(params["norm"], state["norm"], x)[0] if norm else x
                maps[i] = y.reshape(y.shape[0], grid_h, grid_w, y.shape[-1])
        maps = [maps[i] for i in indices]
        if not final:
            return maps, state
        return (maps, self.norm.apply(params["norm"], state["norm"], x)[0]), state


def mlp_mixer(config: MixerConfig, *, img_size: int | tuple[int, int] = 224, in_chans: int = 3,
              num_classes: int = 1000) -> MlpMixer:
    """timm's ``MlpMixer(num_classes, img_size, in_chans, patch_size, num_blocks, embed_dim,
    mlp_ratio)``, initialised as its ``init_weights``: LeCun-normal patch projection, zero head."""
    dim, patch = config.embed_dim, pair(config.patch_size)
    stem = nn.PatchEmbed(img_size=pair(img_size), patch_size=patch,
                         proj=nn.Conv2d(in_chans, dim, patch, stride=patch,
                                        kernel_init=jax.nn.initializers.lecun_normal(), bias_init=inits.zeros))
    return MlpMixer(
        in_chans=in_chans,
        num_classes=num_classes,
        num_features=dim,
        stem=stem,
        blocks=tuple(mixer_block(dim, stem.num_patches, config.mlp_ratio) for _ in range(config.num_blocks)),
        norm=nn.LayerNorm(dim, NORM_EPS),
        head=nn.Dense(dim, num_classes, kernel_init=inits.zeros, bias_init=inits.zeros) if num_classes else nn.Identity(),
    )


def build_model(variant: Variant, *, in_chans: int, num_classes: int,
                img_size: int | tuple[int, int] | None = None) -> MlpMixer:
    """The model of ``variant`` (its ``arch_kwargs``), built for ``img_size`` (default: the
    variant's input size; released weights fit only that size): an int or a pair ``(H, W)``, each
    at least the patch size, else an ``ArgumentError`` naming the variant."""
    config = MixerConfig(**variant.arch_kwargs)
    patch = config.patch_size
    img_size = check_size(variant.name, "img_size", img_size, min=patch, allow_none=True,
                          why=f" (the patch size {patch}: one patch at least)")
    return mlp_mixer(config, img_size=img_size or tuple(variant.input_size[1:]), in_chans=in_chans,
                     num_classes=num_classes)
