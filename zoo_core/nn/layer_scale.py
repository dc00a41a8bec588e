"""LayerScale: a learned per-channel scale on the residual branch (CaiT, ConvNeXt, ViT).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``LayerScale`` | ``timm.layers.LayerScale`` (``ls1``/``ls2`` in ViT), ConvNeXt's ``gamma`` | ``gamma`` → ``gamma`` |

timm's ConvNeXt block holds ``gamma`` as a bare parameter of the block (``stages.0.blocks.0.gamma``);
ViT holds it in a submodule (``blocks.0.ls1.gamma``). Both are ``x * gamma`` over the last axis.
"""

from __future__ import annotations

import attrs
import jax.numpy as jnp

from zoo_core.nn.initializers import filled
from zoo_core.nn.module import Module


@attrs.frozen
class LayerScale(Module):
    """``x * gamma`` over the last axis: (..., dim) → (..., dim); ``gamma`` starts at ``init_values``."""

    dim: int
    init_values: float = 1e-6

    def init(self, key):
        return {"gamma": filled((self.dim,), self.init_values, jnp.float32)}, {}

    def apply(self, params, state, x, *, train=False):
        return x * params["gamma"].astype(x.dtype), state
