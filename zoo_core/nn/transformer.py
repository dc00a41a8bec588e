"""Vision Transformer building blocks: patch embedding, MLP and the pre-norm transformer block.

Paper: `An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale`
(https://arxiv.org/abs/2010.11929); LayerScale from `Going deeper with Image Transformers`
(https://arxiv.org/abs/2103.17239).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``patch_embed(img_size, patch_size, in_chans, embed_dim)`` → ``PatchEmbed`` | ``timm.layers.PatchEmbed`` (no norm, flattened, strict image size) | ``proj.weight`` (OIHW) → ``proj/kernel`` (HWIO, ``conv_to_hwio``), ``proj.bias`` |
| ``mlp(in_features, hidden_features)`` → ``Mlp`` | ``timm.layers.Mlp`` (no norm, linear layers) | ``fc1.*``, ``fc2.*`` → ``fc1/kernel`` … (``linear_to_dense``) |
| ``vit_block(dim, num_heads, ...)`` → ``VitBlock`` | ``timm.models.vision_transformer.Block`` | ``norm1``, ``attn`` (see ``nn.attention.mhsa``), ``ls1.gamma``, ``norm2``, ``mlp``, ``ls2.gamma`` |

Linear layers start as timm's ViT initialises them (``init_weights_vit_timm``): truncated normal
kernels (std 0.02) and zero biases; the patch projection keeps PyTorch's default conv init.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import jax
import jax.numpy as jnp

from zoo_core.errors import InputError
from zoo_core.nn import initializers as inits
from zoo_core.nn.activations import gelu
from zoo_core.nn.attention import MultiHeadSelfAttention, mhsa
from zoo_core.nn.conv import Conv2d, pair
from zoo_core.nn.layer_scale import LayerScale
from zoo_core.nn.linear import Dense
from zoo_core.nn.module import Identity, Module
from zoo_core.nn.norm import LayerNorm, vit_layernorm


@attrs.frozen
class PatchEmbed(Module):
    """timm's ``PatchEmbed``: (N, H, W, C) → (N, gh·gw, embed_dim) tokens in row-major patch order.

    The projection is a conv with kernel = stride = patch size; as the patches do not overlap it
    runs as one matmul over flattened patches (the same sums, and XLA's fastest path on CPU).
    ``(H, W)`` must equal ``img_size``, as timm's ``strict_img_size`` requires.
    """

    img_size: tuple[int, int]
    patch_size: tuple[int, int]
    proj: Conv2d

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1]

    @property
    def num_patches(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    def apply(self, params, state, x, *, train=False):
        n, h, w, c = x.shape
        if (h, w) != self.img_size:
            raise InputError(f"PatchEmbed: input is {h}x{w} but the model is built for {self.img_size[0]}x"
                             f"{self.img_size[1]} (create the model with img_size=({h}, {w}))")
        (gh, gw), (ph, pw) = self.grid_size, self.patch_size
        patches = x[:, : gh * ph, : gw * pw].reshape(n, gh, ph, gw, pw, c)
        kernel = params["proj"]["kernel"].astype(x.dtype)
        y = jnp.einsum("nypxqc,pqcd->nyxd", patches, kernel)
        if self.proj.bias:
            y = y + params["proj"]["bias"].astype(y.dtype)
        return y.reshape(n, gh * gw, -1), state


def patch_embed(img_size: int | tuple[int, int] = 224, patch_size: int | tuple[int, int] = 16, in_chans: int = 3,
                embed_dim: int = 768, *, bias: bool = True) -> PatchEmbed:
    """timm's ``PatchEmbed(img_size, patch_size, in_chans, embed_dim, bias=bias)``."""
    patch = pair(patch_size)
    return PatchEmbed(img_size=pair(img_size), patch_size=patch,
                      proj=Conv2d(in_chans, embed_dim, patch, stride=patch, bias=bias))


@attrs.frozen
class Mlp(Module):
    """timm's ``Mlp``: ``fc2(act(fc1(x)))`` over the last axis, (..., in) → (..., out)."""

    fc1: Dense
    fc2: Dense
    act: Callable[[jax.Array], jax.Array] = gelu

    def apply(self, params, state, x, *, train=False):
        x, _ = self.fc1.apply(params["fc1"], state["fc1"], x)
        x, _ = self.fc2.apply(params["fc2"], state["fc2"], self.act(x))
        return x, state


def mlp(in_features: int, hidden_features: int | None = None, out_features: int | None = None, *,
        act: Callable[[jax.Array], jax.Array] = gelu, bias: bool = True) -> Mlp:
    """timm's ``Mlp(in_features, hidden_features, out_features, act_layer, bias=bias)``; ``act``
    defaults to the exact (erf) GELU of ``nn.GELU()``."""
    hidden_features = hidden_features or in_features
    out_features = out_features or in_features
    kernel_init, bias_init = inits.trunc_normal_init(0.02), inits.zeros
    return Mlp(fc1=Dense(in_features, hidden_features, bias=bias, kernel_init=kernel_init, bias_init=bias_init),
               fc2=Dense(hidden_features, out_features, bias=bias, kernel_init=kernel_init, bias_init=bias_init),
               act=act)


@attrs.frozen
class VitBlock(Module):
    """timm ViT's pre-norm ``Block``: (N, T, dim) → (N, T, dim),
    ``x + ls1(attn(norm1(x)))`` then ``x + ls2(mlp(norm2(x)))``; ``ls1``/``ls2`` are
    ``LayerScale`` or ``Identity``."""

    norm1: LayerNorm
    attn: MultiHeadSelfAttention
    ls1: LayerScale | Identity
    norm2: LayerNorm
    mlp: Mlp
    ls2: LayerScale | Identity

    def apply(self, params, state, x, *, train=False):
        def sublayer(name, y):
            return getattr(self, name).apply(params[name], state[name], y)[0]

        x = x + sublayer("ls1", sublayer("attn", sublayer("norm1", x)))
        x = x + sublayer("ls2", sublayer("mlp", sublayer("norm2", x)))
        return x, state


def vit_block(dim: int, num_heads: int, *, mlp_ratio: float = 4.0, qkv_bias: bool = False, proj_bias: bool = True,
              init_values: float | None = None, act: Callable[[jax.Array], jax.Array] = gelu,
              norm_eps: float = 1e-6) -> VitBlock:
    """timm's ``Block(dim, num_heads, mlp_ratio, qkv_bias, proj_bias=proj_bias,
    init_values=init_values)`` with ViT's ``LayerNorm(eps=1e-6)``: LayerScale only when
    ``init_values`` is set, an MLP of ``int(dim * mlp_ratio)`` hidden units."""

    def layer_scale():
        return LayerScale(dim, init_values) if init_values else Identity()

    return VitBlock(
        norm1=vit_layernorm(dim, norm_eps),
        attn=mhsa(dim, num_heads, qkv_bias=qkv_bias, proj_bias=proj_bias),
        ls1=layer_scale(),
        norm2=vit_layernorm(dim, norm_eps),
        mlp=mlp(dim, int(dim * mlp_ratio), act=act, bias=proj_bias),
        ls2=layer_scale(),
    )
