"""BiT: timm's pre-activation ResNetV2 (``timm/models/resnetv2.py``) as Big Transfer builds it,
as pure JAX functions, NHWC.

Papers:
* `Big Transfer (BiT): General Visual Representation Learning` - https://arxiv.org/abs/1912.11370
* `Knowledge distillation: A good teacher is patient and consistent` - https://arxiv.org/abs/2106.05237
* `Identity Mappings in Deep Residual Networks` - https://arxiv.org/abs/1603.05027
* `Micro-Batch Training with Batch-Channel Normalization and Weight Standardization` - https://arxiv.org/abs/1903.10520

Weights: Google's BiT checkpoints, Apache-2.0 (see ``variants.py``).

The architecture is ``_create_resnetv2_bit``: every conv is a weight-standardized ``StdConv2d``
with ``eps=1e-8``; every norm is ``GroupNormAct`` (GroupNorm with 32 groups, eps 1e-5, then ReLU).
The "fixed" stem is a 7×7 stride-2 conv, zero padding of 1, a 3×3 stride-2 max-pool without
padding. Four stages of pre-activation bottlenecks (``norm1`` → ``conv1`` 1×1 → ``norm2`` →
``conv2`` 3×3 with the stride → ``norm3`` → ``conv3`` 1×1, added to the shortcut; the first block
of each stage projects the pre-activated input with a 1×1 stride conv ``downsample.conv``), a
final ``norm``, global average pool and a 1×1-conv classifier ``head.fc`` (here a dense layer).
Trees mirror timm's module names: ``stem/conv``, ``stages/i/blocks/j/{norm1,conv1,…,downsample/conv}``,
``norm``, ``head/fc``. There are no BatchNorm statistics: ``state`` holds only empty dicts.
"""

from __future__ import annotations

import attrs
import jax.numpy as jnp

from zoo_core import nn
from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.nn.initializers import normal_init, zeros
from zoo_core.nn.se import se_make_divisible as make_divisible
from zoo_core.nn.std_conv import StdConv2d, std_conv
from zoo_core.registry import Variant

from zoo_bit.variants import STAGE_CHANS


@attrs.frozen
class BiTConfig:
    """One architecture, the typed view of a row of ``variants.ARCHS``. ``layers``: blocks per
    stage; ``width_factor``: the ``xN`` of the name, scaling every width."""

    layers: tuple[int, int, int, int]
    width_factor: int


STEM_CHANS = 64
BOTTLE_RATIO = 0.25


def group_norm_act(channels: int) -> nn.GroupNorm:
    """The norm of timm's ``GroupNormAct(channels, num_groups=32)``; its ReLU is applied by the caller."""
    return nn.GroupNorm(32, channels, eps=1e-5)


def norm_act(norm: nn.GroupNorm, params, x):
    """``relu(group_norm(x))`` (timm ``GroupNormAct``): (N, H, W, C) → (N, H, W, C)."""
    return nn.relu(norm.apply(params, {}, x)[0])


@attrs.frozen
class DownsampleConv(nn.Module):
    """timm ``DownsampleConv(preact=True)``: a 1×1 stride ``StdConv2d`` (its norm is ``Identity``)."""

    conv: StdConv2d

    def apply(self, params, state, x, *, train=False):
        return self.conv.apply(params["conv"], {}, x)[0], state


@attrs.frozen
class PreActBottleneck(nn.Module):
    """timm ``PreActBottleneck``: (N, H, W, in) → (N, H / stride, W / stride, out).

    ``x_preact = relu(norm1(x))``; the shortcut is ``downsample(x_preact)`` or ``x``; the residual
    is ``conv3(relu(norm3(conv2(relu(norm2(conv1(x_preact)))))))`` with the stride on ``conv2``.
    """

    norm1: nn.GroupNorm
    conv1: StdConv2d
    norm2: nn.GroupNorm
    conv2: StdConv2d
    norm3: nn.GroupNorm
    conv3: StdConv2d
    downsample: DownsampleConv | None = None

    @classmethod
    def create(cls, in_chans: int, out_chans: int, stride: int, *, project: bool) -> PreActBottleneck:
        mid_chans = make_divisible(out_chans * BOTTLE_RATIO)
        return cls(
            group_norm_act(in_chans), std_conv(in_chans, mid_chans, 1),
            group_norm_act(mid_chans), std_conv(mid_chans, mid_chans, 3, stride=stride),
            group_norm_act(mid_chans), std_conv(mid_chans, out_chans, 1),
            DownsampleConv(std_conv(in_chans, out_chans, 1, stride=stride)) if project else None,
        )

    def apply(self, params, state, x, *, train=False):
        x_preact = norm_act(self.norm1, params["norm1"], x)
        shortcut = x
        if self.downsample is not None:
            shortcut, _ = self.downsample.apply(params["downsample"], {}, x_preact)
        y, _ = self.conv1.apply(params["conv1"], {}, x_preact)
        y, _ = self.conv2.apply(params["conv2"], {}, norm_act(self.norm2, params["norm2"], y))
        y, _ = self.conv3.apply(params["conv3"], {}, norm_act(self.norm3, params["norm3"], y))
        return y + shortcut, state


@attrs.frozen
class ResNetStage(nn.Module):
    """timm ``ResNetStage``: ``blocks``, the first with the stride and the projection shortcut."""

    blocks: tuple[PreActBottleneck, ...]

    @classmethod
    def create(cls, in_chans: int, out_chans: int, depth: int, stride: int) -> ResNetStage:
        first = PreActBottleneck.create(in_chans, out_chans, stride, project=True)
        rest = [PreActBottleneck.create(out_chans, out_chans, 1, project=False) for _ in range(depth - 1)]
        return cls((first, *rest))

    def apply(self, params, state, x, *, train=False):
        for i, block in enumerate(self.blocks):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
        return x, state


@attrs.frozen
class FixedStem(nn.Module):
    """timm's ``stem_type='fixed'`` pre-activation stem: 7×7 stride-2 ``conv``, ``ConstantPad2d(1, 0.)``,
    ``MaxPool2d(3, stride=2)``. (N, H, W, in_chans) → (N, ⌊(⌈H / 2⌉ - 1) / 2⌋ + 1, …, stem_chans).
    The zero padding (not −inf) matters: it caps negative borders of the un-normalized conv output at 0."""

    conv: StdConv2d

    @staticmethod
    def pool(x):
        """The zero padding and max-pool after ``conv``: (N, H, W, C) → (N, ⌊(H - 1) / 2⌋ + 1, …, C)."""
        return nn.max_pool2d(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), 3, stride=2)

    def apply(self, params, state, x, *, train=False):
        return self.pool(self.conv.apply(params["conv"], {}, x)[0]), state


@attrs.frozen
class ClassifierHead(nn.Module):
    """timm ``ClassifierHead(use_conv=True)`` after pooling: the 1×1 conv ``fc`` on a pooled
    (N, 1, 1, C) map is a dense layer on (N, C); ``fc`` is ``None`` when ``num_classes == 0``."""

    fc: nn.Dense | None

    def apply(self, params, state, x, *, train=False):
        return self.fc.apply(params["fc"], {}, x)[0], state


@attrs.frozen
class ResNetV2(Model):
    """timm's ``ResNetV2`` as BiT builds it. ``apply``: (N, H, W, in_chans) → (N, num_classes), or
    (N, num_features) pooled features when ``num_classes == 0``."""

    in_chans: int
    num_classes: int
    num_features: int
    stem: FixedStem
    stages: tuple[ResNetStage, ...]
    norm: nn.GroupNorm
    head: ClassifierHead

    @classmethod
    def create(cls, config: BiTConfig, *, in_chans: int = 3, num_classes: int = 1000) -> ResNetV2:
        wf = config.width_factor
        stem_chans = make_divisible(STEM_CHANS * wf)
        stages, prev = [], stem_chans
        for i, (chans, depth) in enumerate(zip(STAGE_CHANS, config.layers)):
            out_chans = make_divisible(chans * wf)
            stages.append(ResNetStage.create(prev, out_chans, depth, stride=1 if i == 0 else 2))
            prev = out_chans
        fc = nn.Dense(prev, num_classes, kernel_init=normal_init(0.01), bias_init=zeros) if num_classes else None
        return cls(in_chans, num_classes, prev, FixedStem(std_conv(in_chans, stem_chans, 7, stride=2)),
                   tuple(stages), group_norm_act(prev), ClassifierHead(fc))

    def forward_features(self, params, state, x, *, train=False):
        """(N, H, W, in_chans) → (N, H', W', num_features) after the final ``norm`` + ReLU; ``state``
        is returned unchanged (GroupNorm keeps no statistics)."""
        self.check_input(x)
        x, _ = self.stem.apply(params["stem"], {}, x)
        for i, stage in enumerate(self.stages):
            x, _ = stage.apply(params["stages"][str(i)], state["stages"][str(i)], x)
        return norm_act(self.norm, params["norm"], x), state

    def feature_info(self) -> list[FeatureInfo]:
        """timm's ``feature_info``: ``stem.conv`` (before the pool) at stride 2, then the output of each
        stage at strides 4, 8, 16 and 32 (the last before the final ``norm``, as timm returns it)."""
        stages = [FeatureInfo(stage.blocks[-1].conv3.out_chans, 4 * 2**i, f"stages.{i}")
                  for i, stage in enumerate(self.stages)]
        return [FeatureInfo(self.stem.conv.out_chans, 2, "stem.conv"), *stages]

    def forward_intermediates(self, params, state, x, indices, *, train=False):
        """The maps at ``indices`` of ``feature_info`` (``features_only``): a list of (N, H/s, W/s, C_i),
        computing no stage past the last one asked for."""
        x, _ = self.stem.conv.apply(params["stem"]["conv"], {}, x)
        maps = {0: x}
        x = self.stem.pool(x)
        for i, stage in enumerate(self.stages[: max(indices)], start=1):
            x, _ = stage.apply(params["stages"][str(i - 1)], state["stages"][str(i - 1)], x)
            maps[i] = x
        return [maps[i] for i in indices], state

    def forward_head(self, params, x, *, pre_logits=False):
        """Global average pool, then ``head.fc``: (N, H, W, num_features) → (N, num_classes), or the
        pooled (N, num_features) with ``pre_logits=True`` or ``num_classes == 0``."""
        x = nn.global_avg_pool(x)
        if pre_logits or self.head.fc is None:
            return x
        return self.head.apply(params["head"], {}, x)[0]


def build_model(variant: Variant, *, in_chans: int, num_classes: int) -> ResNetV2:
    """The BiT ResNetV2 of ``variant.arch_kwargs`` (``resnetv2_50x1_bit`` … ``resnetv2_152x4_bit``)."""
    return ResNetV2.create(BiTConfig(**variant.arch_kwargs), in_chans=in_chans, num_classes=num_classes)
