"""timm ViT state dict → zoo params.

Our tree mirrors timm's module names, so every key but one maps by the leaf-name convention:
``patch_embed.proj.weight`` (OIHW) → ``patch_embed/proj/kernel`` (HWIO); ``blocks.<i>.attn.qkv``,
``attn.proj``, ``mlp.fc1``/``fc2`` and ``head`` linears (out, in) → ``kernel`` (in, out);
``norm*.weight`` → ``scale``; ``ls1.gamma``/``ls2.gamma``, ``cls_token`` as they are.

The exception is ``pos_embed``: resampled to the model's patch grid when the model is built for
another image size than the checkpoint, as timm's ``checkpoint_filter_fn`` does on load (bicubic,
antialiased, class token kept as is).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from zoo_core.interop import tree_mapping
from zoo_core.nn.pos_embed import resample_abs_pos_embed
from zoo_core.registry import Variant

from zoo_vit.model import VisionTransformer


def checkpoint_grid(variant: Variant, model: VisionTransformer, num_patch_tokens: int) -> tuple[int, int] | None:
    """The patch grid a checkpoint's position embedding was made for: the variant's input size
    over the patch size when that accounts for every patch token (timm's
    ``get_pretrained_grid_size``), else ``None`` (a square grid is assumed)."""
    (ph, pw), (h, w) = model.patch_embed.patch_size, variant.input_size[1:]
    grid = (h // ph, w // pw)
    return grid if grid[0] * grid[1] == num_patch_tokens else None


def pos_embed_transform(variant: Variant, model: VisionTransformer) -> Callable[[np.ndarray], np.ndarray]:
    """A transform taking a checkpoint's (1, 1 + gh·gw, D) ``pos_embed`` to the model's grid."""
    grid = model.patch_embed.grid_size
    num_prefix = model.num_prefix_tokens
    num_tokens = num_prefix + model.patch_embed.num_patches

    def resample_pos_embed(posemb: np.ndarray) -> np.ndarray:
        source = checkpoint_grid(variant, model, posemb.shape[1] - num_prefix)
        if posemb.shape[1] == num_tokens and source in (None, grid):
            return posemb
        return resample_abs_pos_embed(posemb, grid, old_size=source, num_prefix_tokens=num_prefix)

    return resample_pos_embed


def weight_mapping(variant: Variant, model: VisionTransformer, params, state):
    """``(timm_key, path, transform)`` for every leaf of the model as built."""
    return tree_mapping(params, state, rules=[("pos_embed", "pos_embed", pos_embed_transform(variant, model))])
