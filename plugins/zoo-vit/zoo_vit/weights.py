"""timm ViT state dict → zoo params.

Our tree mirrors timm's module names, so every key but one maps by the leaf-name convention:
``patch_embed.proj.weight`` (OIHW) → ``patch_embed/proj/kernel`` (HWIO); every linear (``qkv``,
``proj``, ``mlp.fc1``/``fc2``/``fc1_g``/``fc1_x``, ``in_proj``, ``attn_pool.q``/``kv``, ``head`` …)
(out, in) → ``kernel`` (in, out); norm ``weight`` → ``scale`` (``norm_pre``, ``patch_embed.norm``,
``sub_norm`` …); ``ls1.gamma``, ``cls_token``, ``reg_token``, ``attn_pool.latent``,
``mlp_bias`` and the differential-attention ``lambda_*`` as they are.

The exception is ``pos_embed``: resampled to the model's patch grid when the model is built for
another image size than the checkpoint, as timm's ``checkpoint_filter_fn`` does on load (bicubic,
antialiased; bilinear without antialias for FlexiViT and RADIO; prefix rows kept as they are). Written back out (``zoo_core.interop.to_state_dict``) it is
kept as it is: what timm's model of the same image size holds.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from zoo_core.interop import Transform, identity, tree_mapping
from zoo_core.nn.pos_embed import resample_abs_pos_embed
from zoo_core.registry import Variant

from zoo_vit.model import VisionTransformer


def checkpoint_grid(variant: Variant, model: VisionTransformer) -> tuple[int, int]:
    """The patch grid of the variant's own input size (timm's ``get_pretrained_grid_size``): the
    grid a released checkpoint's position embedding was made for."""
    (ph, pw), (h, w) = model.patch_embed.patch_size, variant.input_size[1:]
    return h // ph, w // pw


@attrs.frozen
class ResamplePosEmbed(Transform):
    """A checkpoint's (1, prefix + gh·gw, D) ``pos_embed`` → the model's (1, prefix + grid, D).

    The checkpoint's grid is ``pretrained_grid`` when that accounts for every patch token, else
    square; an embedding already of the model's size and grid is kept as it is. The first
    ``num_prefix_tokens`` rows (class token …) are never resampled.
    """

    grid: tuple[int, int]
    num_prefix_tokens: int
    pretrained_grid: tuple[int, int]
    interpolation: str = "bicubic"
    antialias: bool = True
    align_corners: bool | None = None
    name = "resample_pos_embed"

    def __call__(self, posemb: np.ndarray) -> np.ndarray:
        patch_tokens = posemb.shape[1] - self.num_prefix_tokens
        source = self.pretrained_grid if math.prod(self.pretrained_grid) == patch_tokens else None
        if patch_tokens == math.prod(self.grid) and source in (None, self.grid):
            return posemb
        return resample_abs_pos_embed(posemb, self.grid, old_size=source, num_prefix_tokens=self.num_prefix_tokens,
                                      interpolation=self.interpolation, antialias=self.antialias,
                                      align_corners=self.align_corners)

    def inverse(self) -> Transform:
        # Not a mathematical inverse (a resample loses information), but the right one for export:
        # the model's pos_embed is on its own grid, which is exactly what timm's model of the same
        # img_size holds, so it is written back out as it is.
        return identity


# timm's _create_vision_transformer: FlexiViT and RADIO checkpoints resample bilinearly without
# antialias, two RADIO ones with align_corners.
_RADIO_ALIGN_CORNERS = ("base_patch16_radio_v3", "huge_patch16_radio_v3")


def resample_options(arch: str) -> dict:
    """The interpolation timm's ``checkpoint_filter_fn`` uses for ``arch``'s position embedding."""
    if "flexi" in arch:
        return dict(interpolation="bilinear", antialias=False)
    if "radio" in arch:
        return dict(interpolation="bilinear", antialias=False,
                    align_corners=any(n in arch for n in _RADIO_ALIGN_CORNERS))
    return {}


def pos_embed_transform(variant: Variant, model: VisionTransformer) -> ResamplePosEmbed:
    """The transform taking a checkpoint's ``pos_embed`` to ``model``'s patch grid (its prefix
    rows, none with ``no_embed_class``, kept as they are)."""
    return ResamplePosEmbed(tuple(model.patch_embed.grid_size), model.pos_embed_prefix, checkpoint_grid(variant, model),
                            **resample_options(variant.arch))


def weight_mapping(variant: Variant, model: VisionTransformer, params, state):
    """``(timm_key, path, transform)`` for every leaf of the model as built."""
    return tree_mapping(params, state, rules=[("pos_embed", "pos_embed", pos_embed_transform(variant, model))])
