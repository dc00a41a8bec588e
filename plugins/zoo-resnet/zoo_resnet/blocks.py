"""ResNet's residual blocks and shortcuts, as timm's ``resnet.py`` builds them.

A block's tree mirrors timm's module names: ``conv1``, ``bn1``, ``conv2``, ``bn2`` [, ``conv3``,
``bn3``] [, ``se`` (SE: ``fc1``, ``fc2``; ECA: ``conv``)] [, ``downsample``: ``0`` (conv), ``1``
(norm), or with average-pool shortcuts ``0`` (the pool, no leaves), ``1`` (conv), ``2`` (norm)].
``bn*`` is a BatchNorm (running statistics in ``state``) or a GroupNorm, as the architecture says.
"""

from __future__ import annotations

import functools
import math

import attrs

from zoo_core import nn
from zoo_core.nn.blur import create_aa
from zoo_core.nn.eca import eca_module
from zoo_core.nn.pool import AvgPool2d
from zoo_core.nn.se import se_block


def conv(in_chans: int, out_chans: int, kernel_size: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """timm ResNet's bias-free conv with symmetric padding and kaiming-normal (fan-out) init."""
    return nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups,
                     bias=False, kernel_init=nn.kaiming_normal_fan_out)


def make_norm(kind: str, channels: int) -> nn.Module:
    """``"batchnorm"``: ``nn.BatchNorm2d``; ``"groupnorm"``: timm's ``GroupNorm`` (32 groups, eps 1e-5)."""
    return nn.GroupNorm(32, channels) if kind == "groupnorm" else nn.BatchNorm(channels)


def make_attn(kind: str | None, channels: int, rd_ratio: float) -> nn.Module | None:
    """timm's ``create_attn``: ``"se"`` → ``SEModule(channels, rd_ratio)``, ``"eca"`` → ``EcaModule(channels)``."""
    if kind == "se":
        return se_block(channels, rd_ratio=rd_ratio, kernel_init=nn.kaiming_normal_fan_out)
    if kind == "eca":
        return eca_module(channels)
    return None


@attrs.frozen
class Relu(nn.Module):
    """``nn.ReLU`` as a module (the activations inside timm's deep stem ``Sequential``)."""

    def apply(self, params, state, x, *, train=False):
        return nn.relu(x), state


def norm_apply(module: nn.Module, name: str, params, state, x, train: bool):
    """``module.<name>(x)``: (y, its new state)."""
    return getattr(module, name).apply(params[name], state[name], x, train=train)


def conv_norm(module: nn.Module, i: int, params, state, x, train: bool, *, residual=None, relu: bool = False,
              gate=None):
    """``relu?(bn{i}(conv{i}(x)) · gate? + residual?)`` of ``module`` (timm's flat ``conv1``/``bn1``
    naming): (y, the norm's new state). In eval with a BatchNorm, one fused op (``nn.conv_norm_act``)."""
    conv, bn = f"conv{i}", f"bn{i}"
    return nn.conv_norm_act(getattr(module, conv), getattr(module, bn), (params[conv], params[bn]), state[bn], x,
                            train=train, residual=residual, relu=relu, gate=gate)


def shortcut(block, params, state, new_state, x, train: bool):
    """The block's shortcut of ``x``: ``x`` itself, or its ``downsample`` (a conv and a norm, after a
    pool for average-pool shortcuts), the conv and norm as one op (``nn.conv_norm_act``)."""
    if block.downsample is None:
        return x
    *head, conv, norm = block.downsample.layers
    p, s = params["downsample"], state["downsample"]
    new = dict(s)
    for i, layer in enumerate(head):
        x, new[str(i)] = layer.apply(p[str(i)], s[str(i)], x, train=train)
    c, n = str(len(head)), str(len(head) + 1)
    x, new[n] = nn.conv_norm_act(conv, norm, (p[c], p[n]), s[n], x, train=train)
    new_state["downsample"] = new
    return x


def zero_last_norm(params, name: str):
    """timm's ``zero_init_last``: the last norm of each residual branch starts with weight 0."""
    scale = params[name]["scale"]
    params[name] = dict(params[name], scale=nn.initializers.filled(scale.shape, 0.0, scale.dtype))
    return params


def anti_alias(block, y):
    """The block's ``aa`` pool (no parameters) where it has one, else ``y``."""
    return y if block.aa is None else block.aa.apply({}, {}, y)[0]


def residual_out(block, i: int, params, state, new_state, x, y, train: bool):
    """The block's tail: ``conv{i}`` and ``bn{i}`` of ``y``, attention (SE or ECA: a gate from the
    channel means), the shortcut of ``x`` added, ReLU; in eval one op where the conv is 1×1
    (``nn.conv_norm_act``, the gate folded into the norm)."""
    short = shortcut(block, params, state, new_state, x, train)
    gate = None if block.se is None else functools.partial(block.se.gate, params["se"])
    y, new_state[f"bn{i}"] = conv_norm(block, i, params, state, y, train, residual=short, relu=True, gate=gate)
    return y, new_state


@attrs.frozen
class BlockSpec:
    """What one block is built from: its input, its widths (``conv1``, ``conv2``, output), the stride,
    the ResNeXt groups, and the architecture's norm, attention (on ``attn_chans`` channels) and
    anti-aliasing."""

    in_chans: int
    widths: tuple[int, int, int]
    stride: int = 1
    groups: int = 1
    norm: str = "batchnorm"
    attn: str | None = None
    attn_chans: int = 0
    attn_rd_ratio: float = 1 / 16
    aa: str | None = None


@attrs.frozen
class BasicBlock(nn.Module):
    """timm ``BasicBlock``: 3×3 conv → norm → ReLU [→ anti-alias] → 3×3 conv → norm [→ attention],
    plus shortcut, then ReLU. (N, H, W, in) → (N, H / stride, W / stride, planes). With
    anti-aliasing the stride moves from the first conv to the ``aa`` pool after its ReLU."""

    conv1: nn.Conv2d
    bn1: nn.Module
    aa: nn.Module | None
    conv2: nn.Conv2d
    bn2: nn.Module
    se: nn.Module | None = None
    downsample: nn.Sequential | None = None

    @classmethod
    def create(cls, spec: BlockSpec, downsample: nn.Sequential | None) -> BasicBlock:
        first, _, out = spec.widths
        use_aa = spec.aa is not None and spec.stride == 2
        return cls(conv(spec.in_chans, first, 3, 1 if use_aa else spec.stride), make_norm(spec.norm, first),
                   create_aa(spec.aa, first, spec.stride) if use_aa else None, conv(first, out, 3),
                   make_norm(spec.norm, out),
                   make_attn(spec.attn, spec.attn_chans, spec.attn_rd_ratio), downsample)

    def init(self, key):
        params, state = super().init(key)
        return zero_last_norm(params, "bn2"), state

    def apply(self, params, state, x, *, train=False):
        new_state = dict(state)
        y, new_state["bn1"] = conv_norm(self, 1, params, state, x, train, relu=True)
        return residual_out(self, 2, params, state, new_state, x, anti_alias(self, y), train)


@attrs.frozen
class Bottleneck(nn.Module):
    """timm ``Bottleneck``: 1×1 conv → norm → ReLU → 3×3 conv (stride, ``groups``) → norm → ReLU
    [→ anti-alias] → 1×1 conv → norm [→ attention], plus shortcut, then ReLU.
    (N, H, W, in) → (N, H / stride, W / stride, out). With anti-aliasing the 3×3 conv keeps stride
    1 and the ``aa`` pool after its ReLU strides."""

    conv1: nn.Conv2d
    bn1: nn.Module
    conv2: nn.Conv2d
    bn2: nn.Module
    aa: nn.Module | None
    conv3: nn.Conv2d
    bn3: nn.Module
    se: nn.Module | None = None
    downsample: nn.Sequential | None = None

    @classmethod
    def create(cls, spec: BlockSpec, downsample: nn.Sequential | None) -> Bottleneck:
        first, width, out = spec.widths
        use_aa = spec.aa is not None and spec.stride == 2
        norm = spec.norm
        return cls(conv(spec.in_chans, first, 1), make_norm(norm, first),
                   conv(first, width, 3, 1 if use_aa else spec.stride, spec.groups), make_norm(norm, width),
                   create_aa(spec.aa, width, spec.stride) if use_aa else None, conv(width, out, 1), make_norm(norm, out),
                   make_attn(spec.attn, spec.attn_chans, spec.attn_rd_ratio), downsample)

    def init(self, key):
        params, state = super().init(key)
        return zero_last_norm(params, "bn3"), state

    def apply(self, params, state, x, *, train=False):
        new_state = dict(state)
        y, new_state["bn1"] = conv_norm(self, 1, params, state, x, train, relu=True)
        y, new_state["bn2"] = conv_norm(self, 2, params, state, y, train, relu=True)
        return residual_out(self, 3, params, state, new_state, x, anti_alias(self, y), train)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def bottleneck_width(planes: int, cardinality: int, base_width: int) -> int:
    """timm's ``int(floor(planes · base_width / 64) · cardinality)``: the grouped 3×3 conv's width."""
    return int(math.floor(planes * (base_width / 64)) * cardinality)


def downsample(in_chans: int, out_chans: int, stride: int, *, avg_down: bool, kernel_size: int,
               norm: str) -> nn.Sequential:
    """timm's shortcut projection. ``avg_down``: ``downsample_avg`` (a 2×2 ``ceil_mode`` average pool
    that ignores padding when the stage strides, else ``Identity``; a 1×1 conv; the norm). Else
    ``downsample_conv`` (a ``kernel_size`` conv where the stage strides, 1×1 otherwise; the norm)."""
    if avg_down:
        pool = AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride != 1 else nn.Identity()
        return nn.Sequential((pool, conv(in_chans, out_chans, 1), make_norm(norm, out_chans)))
    k = 1 if stride == 1 else kernel_size
    return nn.Sequential((conv(in_chans, out_chans, k, stride), make_norm(norm, out_chans)))
