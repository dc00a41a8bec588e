"""ConvNeXt's stem, blocks and stages (timm's ``ConvNeXtBlock`` and ``ConvNeXtStage``), NHWC.

| ours | timm | tree |
| --- | --- | --- |
| ``make_stem('patch')`` | ``stem``: ``Conv2d(k=s=patch_size)``, norm | ``stem/0``, ``stem/1`` |
| ``make_stem('overlap' / 'overlap_tiered')`` | ``stem``: two 3×3 stride-2 convs, norm | ``stem/0``, ``stem/1``, ``stem/2`` |
| ``make_stem('overlap_act')`` | ``stem``: 3×3 s2 conv, act, 3×3 s2 conv, norm | ``stem/0``, ``stem/2``, ``stem/3`` |
| ``ConvNeXtBlock`` | ``ConvNeXtBlock`` | ``conv_dw``, ``norm``, ``mlp/fc1``, [``mlp/grn``], ``mlp/fc2``, [``gamma``] |
| ``ConvNeXtStage`` | ``ConvNeXtStage`` | ``downsample/0`` (norm), ``downsample/1`` (2×2 s2 conv), ``blocks/j`` |
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from zoo_core import nn
from zoo_core.nn.grn import GlobalResponseNormMlp, grn_mlp
from zoo_core.nn.layer_scale import LayerScale
from zoo_core.nn.transformer import Mlp, mlp

from zoo_convnext.layers import Activation, make_divisible

KERNEL_INIT = nn.trunc_normal_init(0.02)  # timm's _init_weights: trunc_normal_(std=.02), zero bias
STEM_TYPES = ("patch", "overlap", "overlap_tiered", "overlap_act")

Norm = Callable[[int], nn.Module]


def conv(in_chans: int, out_chans: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
         groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=padding, groups=groups,
                     kernel_init=KERNEL_INIT, bias_init=nn.initializers.zeros)


def make_stem(stem_type: str, in_chans: int, dim: int, *, patch_size: int, norm: Norm, act) -> nn.Sequential:
    """timm's stems: ``patch`` (a ``patch_size`` "patchify" conv; stride ``patch_size``), or two
    overlapping 3×3 stride-2 convs (stride 4) whose middle width is ``dim`` (``overlap``,
    ``overlap_act``, with the activation between them) or ``make_divisible(dim // 2)``
    (``overlap_tiered``); each ends with the norm."""
    if stem_type == "patch":
        return nn.Sequential((conv(in_chans, dim, patch_size, stride=patch_size), norm(dim)))
    mid = make_divisible(dim // 2) if "tiered" in stem_type else dim
    layers = [conv(in_chans, mid, 3, stride=2, padding=1)]
    if "act" in stem_type:
        layers.append(Activation(act))
    layers += [conv(mid, dim, 3, stride=2, padding=1), norm(dim)]
    return nn.Sequential(tuple(layers))


def stem_reduction(stem_type: str, patch_size: int) -> int:
    return patch_size if stem_type == "patch" else 4


@attrs.frozen
class ConvNeXtBlock(nn.Module):
    """timm's ``ConvNeXtBlock`` (stride 1, in == out): (N, H, W, dim) → (N, H, W, dim),
    ``x + gamma · mlp(norm(conv_dw(x)))``.

    ``gamma`` is the LayerScale of v1 (``ls_init_value`` 1e-6); timm holds it as a bare parameter
    of the block (``stages.0.blocks.0.gamma``) and so does our tree (``.../blocks/0/gamma``).
    """

    conv_dw: nn.Conv2d
    norm: nn.Module
    mlp: Mlp | GlobalResponseNormMlp
    ls_init_value: float | None = None

    @property
    def layer_scale(self) -> LayerScale | None:
        if self.ls_init_value is None:
            return None
        return LayerScale(self.conv_dw.out_chans, self.ls_init_value)

    def init(self, key):
        params, state = super().init(key)
        if self.layer_scale is not None:
            params["gamma"] = self.layer_scale.init(key)[0]["gamma"]
        return params, state

    def apply(self, params, state, x, *, train=False):
        shortcut = x
        if isinstance(self.norm, nn.LayerNorm):  # on the CPU, one pass: the norm on each row the conv writes
            x = nn.depthwise_layer_norm(self.conv_dw, self.norm, {"conv": params["conv_dw"], "norm": params["norm"]}, x)
        else:
            x, _ = self.conv_dw.apply(params["conv_dw"], state["conv_dw"], x)
            x, _ = self.norm.apply(params["norm"], state["norm"], x)
        if hasattr(self.mlp, "apply_residual"):  # the MLP, LayerScale and residual add: two fused linear layers
            return self.mlp.apply_residual(params["mlp"], x, shortcut, params.get("gamma")), state
        x, _ = self.mlp.apply(params["mlp"], state["mlp"], x)
        if self.layer_scale is not None:
            x, _ = self.layer_scale.apply({"gamma": params["gamma"]}, {}, x)
        return x + shortcut, state


def make_block(dim: int, *, kernel_size: int, mlp_ratio: float, use_grn: bool, ls_init_value: float | None,
               norm: Norm, act) -> ConvNeXtBlock:
    hidden = int(mlp_ratio * dim)
    return ConvNeXtBlock(
        conv_dw=conv(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim),
        norm=norm(dim),
        mlp=grn_mlp(dim, hidden, act=act) if use_grn else mlp(dim, hidden, act=act),
        ls_init_value=ls_init_value,
    )


@attrs.frozen
class ConvNeXtStage(nn.Module):
    """timm's ``ConvNeXtStage``: an optional downsample (norm, 2×2 stride-2 conv), then the
    blocks: (N, H, W, in) → (N, H/2, W/2, out) (stage 1: (N, H, W, out), no downsample)."""

    downsample: nn.Sequential | nn.Identity
    blocks: tuple[ConvNeXtBlock, ...]

    def apply(self, params, state, x, *, train=False):
        x, _ = self.downsample.apply(params["downsample"], state["downsample"], x)
        for i, block in enumerate(self.blocks):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
        return x, state


def make_stage(in_chans: int, out_chans: int, depth: int, stride: int, *, norm: Norm, **block_kwargs) -> ConvNeXtStage:
    """``depth`` blocks of ``out_chans``, after a downsample where the stage changes width or strides."""
    if in_chans != out_chans or stride > 1:
        downsample = nn.Sequential((norm(in_chans), conv(in_chans, out_chans, 2, stride=stride)))
    else:
        downsample = nn.Identity()
    blocks = tuple(make_block(out_chans, norm=norm, **block_kwargs) for _ in range(depth))
    return ConvNeXtStage(downsample, blocks)
