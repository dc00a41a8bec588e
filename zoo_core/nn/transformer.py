"""Vision Transformer building blocks: patch embedding, MLP and the pre-norm transformer block.

Paper: `An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale`
(https://arxiv.org/abs/2010.11929); LayerScale from `Going deeper with Image Transformers`
(https://arxiv.org/abs/2103.17239).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``patch_embed(img_size, patch_size, in_chans, embed_dim)`` → ``PatchEmbed`` | ``timm.layers.PatchEmbed`` (flattened; optional norm; strict or any multiple of the patch size) | ``proj.weight`` (OIHW) → ``proj/kernel`` (HWIO, ``conv_to_hwio``), ``proj.bias``, ``norm.weight`` → ``norm/scale`` |
| ``mlp(in_features, hidden_features, norm=...)`` → ``Mlp`` | ``timm.layers.Mlp`` (linear layers; optional inner norm) | ``fc1.*``, ``norm.*``, ``fc2.*`` → ``fc1/kernel`` … (``linear_to_dense``) |
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
from zoo_core.nn.norm import LayerNorm, layer_norm, vit_layernorm


@attrs.frozen
class PatchEmbed(Module):
    """timm's ``PatchEmbed``: (N, H, W, C) → (N, gh·gw, embed_dim) tokens in row-major patch order.

    The projection is a conv with kernel = stride = patch size; as the patches do not overlap it
    runs as one matmul over flattened patches (the same sums, and XLA's fastest path on CPU).
    ``(H, W)`` must equal ``img_size``, as timm's ``strict_img_size`` requires; with
    ``strict_img_size=False`` (ViT's ``dynamic_img_size``) any size divisible by the patch size is
    taken. ``norm`` (timm's ``norm_layer``, e.g. AIMv2's RmsNorm) is applied to the tokens.
    """

    img_size: tuple[int, int]
    patch_size: tuple[int, int]
    proj: Conv2d
    norm: Module | None = None
    strict_img_size: bool = True

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1]

    @property
    def num_patches(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    def feat_size(self, h: int, w: int) -> tuple[int, int]:
        """The patch grid of an (h, w) input (``dynamic_feat_size``): checked as timm checks it."""
        (ph, pw) = self.patch_size
        if self.strict_img_size and (h, w) != self.img_size:
            raise InputError(f"PatchEmbed: input is {h}x{w} but the model is built for {self.img_size[0]}x"
                             f"{self.img_size[1]} (create the model with img_size=({h}, {w}))")
        if not self.strict_img_size and (h % ph or w % pw):
            raise InputError(f"PatchEmbed: input is {h}x{w}, not divisible by the patch size {ph}x{pw}")
        return h // ph, w // pw

    def apply(self, params, state, x, *, train=False):
        n, h, w, c = x.shape
        (gh, gw), (ph, pw) = self.feat_size(h, w), self.patch_size
        patches = x[:, : gh * ph, : gw * pw].reshape(n, gh, ph, gw, pw, c)
        kernel = params["proj"]["kernel"].astype(x.dtype)
        y = jnp.einsum("nypxqc,pqcd->nyxd", patches, kernel)
        if self.proj.bias:
            y = y + params["proj"]["bias"].astype(y.dtype)
        y = y.reshape(n, gh * gw, -1)
        if self.norm is not None:
            y = self.norm.apply(params["norm"], state["norm"], y)[0]
        return y, state


def patch_embed(img_size: int | tuple[int, int] = 224, patch_size: int | tuple[int, int] = 16, in_chans: int = 3,
                embed_dim: int = 768, *, bias: bool = True, norm: Module | None = None,
                strict_img_size: bool = True) -> PatchEmbed:
    """timm's ``PatchEmbed(img_size, patch_size, in_chans, embed_dim, norm_layer, bias=bias,
    strict_img_size=...)``; ``norm`` is the norm layer built for ``embed_dim`` (or None)."""
    patch = pair(patch_size)
    return PatchEmbed(img_size=pair(img_size), patch_size=patch,
                      proj=Conv2d(in_chans, embed_dim, patch, stride=patch, bias=bias), norm=norm,
                      strict_img_size=strict_img_size)


@attrs.frozen
class Mlp(Module):
    """timm's ``Mlp``: ``fc2(norm(act(fc1(x))))`` over the last axis, (..., in) → (..., out);
    ``norm`` (BEiT-3's inner MLP norm, ``scale_mlp_norm``) is None where timm has ``Identity``."""

    fc1: Dense
    fc2: Dense
    act: Callable[[jax.Array], jax.Array] = gelu
    norm: Module | None = None

    def apply(self, params, state, x, *, train=False):
        x, _ = self.fc1.apply(params["fc1"], state["fc1"], x)
        x = self.act(x)
        if self.norm is not None:
            x = self.norm.apply(params["norm"], state["norm"], x)[0]
        x, _ = self.fc2.apply(params["fc2"], state["fc2"], x)
        return x, state

    def apply_residual(self, params, x: jax.Array, residual: jax.Array, gamma: jax.Array | None = None, *,
                       pre_norm=None) -> jax.Array:
        """``residual + gamma? · mlp(x)`` (a LayerScale ``gamma`` or none): in float32 each linear layer
        is one ``nn.dense_layer`` call (on the CPU zoo-cpu-kernels' pointwise kernel, the bias, the
        LayerScale and the residual add in its epilogue), which also keeps XLA from fusing the whole
        block into one of its library fusions (on a Zen 4 EPYC those broadcast GELU's constants to
        full-size arrays). Elsewhere the modules, one after the other. ``pre_norm``: a LayerNorm's
        ``(scale, bias, eps)`` applied to ``x`` first (the block's ``norm2``), as fc1's prologue."""
        from zoo_core.nn.fused import apply_with_residual, dense_layer, first_layer, gelu_mlp_residual

        if self.norm is not None or x.dtype != jnp.float32:
            x = x if pre_norm is None else layer_norm(x, *pre_norm)
            return apply_with_residual(self, params, x, residual, gamma)
        if self.act is gelu:  # on the CPU both layers in one call, the hidden activations kept in cache
            return gelu_mlp_residual(params["fc1"], params["fc2"], x, residual, gamma=gamma, pre_norm=pre_norm)
        h = first_layer(self.act, params["fc1"], x, pre_norm)
        return dense_layer(params["fc2"], h, gamma=gamma, residual=residual)


def vit_dense(in_features: int, out_features: int, bias: bool = True) -> Dense:
    """A linear layer as timm's ViT initialises it: truncated normal (std 0.02) kernel, zero bias."""
    return Dense(in_features, out_features, bias=bias, kernel_init=inits.trunc_normal_init(0.02),
                 bias_init=inits.zeros)


def mlp(in_features: int, hidden_features: int | None = None, out_features: int | None = None, *,
        act: Callable[[jax.Array], jax.Array] = gelu, bias: bool = True, norm: Module | None = None) -> Mlp:
    """timm's ``Mlp(in_features, hidden_features, out_features, act_layer, norm_layer, bias=bias)``;
    ``act`` defaults to the exact (erf) GELU of ``nn.GELU()``; ``norm`` is the norm layer built for
    ``hidden_features`` (or None)."""
    hidden_features = hidden_features or in_features
    out_features = out_features or in_features
    return Mlp(fc1=vit_dense(in_features, hidden_features, bias), fc2=vit_dense(hidden_features, out_features, bias),
               act=act, norm=norm)


@attrs.frozen
class VitBlock(Module):
    """timm ViT's pre-norm ``Block``: (N, T, dim) → (N, T, dim),
    ``x + ls1(attn(norm1(x)))`` then ``x + ls2(mlp(norm2(x)))``; ``ls1``/``ls2`` are
    ``LayerScale`` or ``Identity``; the norms, attention and MLP any of their kinds (LayerNorm or
    RmsNorm; ``MultiHeadSelfAttention`` or ``DiffAttention``; ``Mlp``, ``GluMlp`` or ``SwiGLU``)."""

    norm1: Module
    attn: Module
    ls1: LayerScale | Identity
    norm2: Module
    mlp: Module
    ls2: LayerScale | Identity

    def apply(self, params, state, x, *, train=False):
        return self._apply(params, state, x, None), state

    def apply_first(self, params, state, x: jax.Array, rows: int) -> jax.Array:
        """The first ``rows`` tokens of ``apply``'s output, (N, rows, dim). A token's output depends on the
        others only through the attention's keys and values, so with a ``MultiHeadSelfAttention`` the
        block computes its norm and qkv layer for all T tokens and the rest (the attention's queries,
        ``proj``, the MLP) for ``rows`` tokens (``VisionTransformer.apply``: a classifier that reads the
        class token alone); with another attention, ``apply`` and the rows of its output."""
        if not isinstance(self.attn, MultiHeadSelfAttention):
            return self.apply(params, state, x)[0][:, :rows]
        return self._apply(params, state, x, rows)

    def _apply(self, params, state, x, rows: int | None):
        def sublayer(name, y):
            return getattr(self, name).apply(params[name], state[name], y)[0]

        def gamma(name):
            return params[name]["gamma"] if isinstance(getattr(self, name), LayerScale) else None

        residual = x if rows is None else x[:, :rows]
        # A branch whose module has ``apply_residual`` (MultiHeadSelfAttention, Mlp) computes its last
        # linear layer, the LayerScale and the residual add as one ``nn.dense_layer`` (on the CPU one
        # pass of zoo-cpu-kernels' pointwise kernel, which there also beats XLA's dot: ViT-B's shapes
        # 1.07-1.17× on the Xeon of docs/performance.md); the others as the modules one after the other.
        fused = x.dtype == jnp.float32 and all(isinstance(getattr(self, name), (LayerScale, Identity))
                                               for name in ("ls1", "ls2"))
        # A LayerNorm before a MultiHeadSelfAttention or an Mlp goes into its first layer as that layer's
        # input prologue (``pre_norm``: on the CPU the pointwise kernel normalizes each tile of tokens as it
        # reads them, and the norm's output is never written).
        if fused and hasattr(self.attn, "apply_residual"):
            pre = self._pre_norm("norm1", self.attn, params)
            first = {} if rows is None else {"rows": rows}
            if pre is None:
                x = self.attn.apply_residual(params["attn"], sublayer("norm1", x), residual, gamma("ls1"), **first)
            else:
                x = self.attn.apply_residual(params["attn"], x, residual, gamma("ls1"), pre_norm=pre, **first)
        elif rows is None:
            x = x + sublayer("ls1", sublayer("attn", sublayer("norm1", x)))
        else:
            y, _ = self.attn.apply(params["attn"], state["attn"], sublayer("norm1", x), rows=rows)
            x = residual + sublayer("ls1", y)
        if fused and hasattr(self.mlp, "apply_residual"):
            pre = self._pre_norm("norm2", self.mlp, params)
            if pre is None:
                x = self.mlp.apply_residual(params["mlp"], sublayer("norm2", x), x, gamma("ls2"))
            else:
                x = self.mlp.apply_residual(params["mlp"], x, x, gamma("ls2"), pre_norm=pre)
        else:
            x = x + sublayer("ls2", sublayer("mlp", sublayer("norm2", x)))
        return x

    def _pre_norm(self, name: str, branch: Module, params):
        """The norm ``name``'s ``(scale, bias, eps)`` where it is a LayerNorm with both and ``branch`` (a
        MultiHeadSelfAttention or an Mlp) takes it as its first layer's prologue; else ``None``."""
        norm = getattr(self, name)
        if not (isinstance(norm, LayerNorm) and isinstance(branch, (MultiHeadSelfAttention, Mlp))):
            return None
        return norm.prologue(params[name])


def vit_block(dim: int, num_heads: int, *, mlp_ratio: float = 4.0, qkv_bias: bool = False, proj_bias: bool = True,
              init_values: float | None = None, act: Callable[[jax.Array], jax.Array] = gelu,
              norm_eps: float = 1e-6, norm: Callable[[int], Module] | None = None,
              mlp_layer: Callable[..., Module] | None = None, attn: Module | None = None,
              scale_attn_norm: bool = False, scale_mlp_norm: bool = False) -> VitBlock:
    """timm's ``Block(dim, num_heads, mlp_ratio, qkv_bias, scale_attn_norm, scale_mlp_norm,
    proj_bias, init_values, act_layer, norm_layer, mlp_layer)``: LayerScale only when
    ``init_values`` is set (non-zero), an MLP of ``int(dim * mlp_ratio)`` hidden units.

    ``norm`` builds the norm layer for a width (default ViT's ``LayerNorm(eps=norm_eps)``);
    ``mlp_layer(in_features, hidden_features, act=..., bias=..., norm=...)`` the MLP (default
    ``mlp``); ``attn`` replaces the default ``mhsa`` (e.g. ``diff_attention``).
    """
    norm = norm or (lambda width: vit_layernorm(width, norm_eps))
    mlp_layer = mlp_layer or mlp
    hidden = int(dim * mlp_ratio)

    def layer_scale():
        return LayerScale(dim, init_values) if init_values else Identity()

    return VitBlock(
        norm1=norm(dim),
        attn=attn or mhsa(dim, num_heads, qkv_bias=qkv_bias, proj_bias=proj_bias,
                          norm=norm(dim) if scale_attn_norm else None),
        ls1=layer_scale(),
        norm2=norm(dim),
        mlp=mlp_layer(dim, hidden, act=act, bias=proj_bias, norm=norm(hidden) if scale_mlp_norm else None),
        ls2=layer_scale(),
    )
