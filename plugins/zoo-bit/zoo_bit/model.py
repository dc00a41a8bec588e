"""timm's pre-activation ``ResNetV2`` (``timm/models/resnetv2.py``) as pure JAX functions, NHWC:
Big Transfer (BiT) and timm's own ResNetV2 trainings.

Papers:
* `Big Transfer (BiT): General Visual Representation Learning` - https://arxiv.org/abs/1912.11370
* `Knowledge distillation: A good teacher is patient and consistent` - https://arxiv.org/abs/2106.05237
* `Identity Mappings in Deep Residual Networks` - https://arxiv.org/abs/1603.05027
* `Micro-Batch Training with Batch-Channel Normalization and Weight Standardization` - https://arxiv.org/abs/1903.10520
* `Bag of Tricks for Image Classification with Convolutional Neural Networks` (ResNet-D) - https://arxiv.org/abs/1812.01187
* `Evolving Normalization-Activation Layers` (EvoNorm) - https://arxiv.org/abs/2004.02967

Weights: Apache-2.0 (see ``variants.py``).

One class for every tag, configured as timm's registered model functions configure ``ResNetV2``
(``ResNetV2Config``): a stem (BiT's "fixed" 7×7 conv + zero-padded max-pool, the plain 7×7 conv +
max-pool, or the ResNet-D "deep" stem of three 3×3 convs), four stages of pre-activation blocks
(bottlenecks, or basic blocks for ResNetV2-18/34) whose first block projects the pre-activated input
(a strided 1×1 conv, or with ``avg_down`` a 2×2 average pool then a 1×1 conv), a final norm-act,
global average pool and timm's 1×1-conv classifier ``head.fc`` (a dense layer here). Convs are
BiT's weight-standardized ``StdConv2d`` or plain convs; norms GroupNorm, BatchNorm (each followed
by ReLU) or EvoNorm-S0 (see ``layers.py``). Trees mirror timm's module names: ``stem/conv`` or
``stem/{conv1,norm1,conv2,norm2,conv3}``, ``stages/i/blocks/j/{norm1,conv1,…,downsample/conv}``,
``norm``, ``head/fc``; ``state`` holds BatchNorm's running statistics (empty dicts elsewhere).
"""

from __future__ import annotations

import attrs

from zoo_core import nn
from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.nn.initializers import normal_init, zeros
from zoo_core.nn.se import se_make_divisible as make_divisible
from zoo_core.registry import Variant

from zoo_bit.layers import (
    CONV_LAYERS,
    NORM_LAYERS,
    DeepStem,
    NormAct,
    PreActBasic,
    PreActBottleneck,
    Stem,
    make_conv,
    make_norm_act,
)

STEM_TYPES = ("fixed", "", "deep")


@attrs.frozen
class ResNetV2Config:
    """One architecture, the typed view of a row of ``variants.ARCHS``, named as timm's ``ResNetV2``
    arguments. ``layers``: blocks per stage; ``channels``: stage widths at ``width_factor`` 1 (the
    ``xN`` of BiT's names, scaling every width, the stem's too); ``stem_type``: ``"fixed"`` (BiT),
    ``""`` or ``"deep"``; ``avg_down``: average-pool projection shortcuts; ``basic``: basic blocks
    instead of bottlenecks; ``conv_layer``: ``"std"`` (BiT's StdConv2d) or ``"plain"``;
    ``norm_layer``: ``"gn"``, ``"bn"`` or ``"evos"``."""

    layers: tuple[int, ...] = attrs.field(converter=tuple)
    channels: tuple[int, ...] = attrs.field(default=(256, 512, 1024, 2048), converter=tuple)
    width_factor: int = 1
    stem_chs: int = 64
    stem_type: str = attrs.field(default="fixed", validator=attrs.validators.in_(STEM_TYPES))
    avg_down: bool = False
    basic: bool = False
    bottle_ratio: float = 0.25
    conv_layer: str = attrs.field(default="std", validator=attrs.validators.in_(CONV_LAYERS))
    norm_layer: str = attrs.field(default="gn", validator=attrs.validators.in_(NORM_LAYERS))


@attrs.frozen
class ResNetStage(nn.Module):
    """timm ``ResNetStage``: ``blocks``, the first with the stride and the projection shortcut."""

    blocks: tuple[PreActBottleneck | PreActBasic, ...]

    @classmethod
    def create(cls, config: ResNetV2Config, in_chans: int, out_chans: int, depth: int, stride: int) -> ResNetStage:
        block = PreActBasic if config.basic else PreActBottleneck
        kwargs = dict(conv_layer=config.conv_layer, norm_layer=config.norm_layer, avg_down=config.avg_down,
                      bottle_ratio=config.bottle_ratio)
        first = block.create(in_chans, out_chans, stride, project=True, **kwargs)
        rest = [block.create(out_chans, out_chans, 1, project=False, **kwargs) for _ in range(depth - 1)]
        return cls((first, *rest))

    def apply(self, params, state, x, *, train=False):
        new_state = {}
        for i, block in enumerate(self.blocks):
            x, new_state[str(i)] = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x, train=train)
        return x, {"blocks": new_state}


@attrs.frozen
class ClassifierHead(nn.Module):
    """timm ``ClassifierHead(use_conv=True)`` after pooling: the 1×1 conv ``fc`` on a pooled
    (N, 1, 1, C) map is a dense layer on (N, C); ``fc`` is ``None`` when ``num_classes == 0``."""

    fc: nn.Dense | None

    def apply(self, params, state, x, *, train=False):
        return self.fc.apply(params["fc"], {}, x)[0], state


def make_stem(config: ResNetV2Config, in_chans: int, stem_chans: int) -> Stem | DeepStem:
    if config.stem_type == "deep":
        return DeepStem.create(in_chans, stem_chans, config.conv_layer, config.norm_layer)
    return Stem(make_conv(config.conv_layer, in_chans, stem_chans, 7, 2), fixed=config.stem_type == "fixed")


@attrs.frozen
class ResNetV2(Model):
    """timm's pre-activation ``ResNetV2``. ``apply``: (N, H, W, in_chans) → (N, num_classes), or
    (N, num_features) pooled features when ``num_classes == 0``."""

    in_chans: int
    num_classes: int
    num_features: int
    stem: Stem | DeepStem
    stages: tuple[ResNetStage, ...]
    norm: NormAct
    head: ClassifierHead

    @classmethod
    def create(cls, config: ResNetV2Config, *, in_chans: int = 3, num_classes: int = 1000) -> ResNetV2:
        wf = config.width_factor
        stem_chans = make_divisible(config.stem_chs * wf)
        stages, prev = [], stem_chans
        for i, (chans, depth) in enumerate(zip(config.channels, config.layers)):
            out_chans = make_divisible(chans * wf)
            stages.append(ResNetStage.create(config, prev, out_chans, depth, stride=1 if i == 0 else 2))
            prev = out_chans
        fc = nn.Dense(prev, num_classes, kernel_init=normal_init(0.01), bias_init=zeros) if num_classes else None
        return cls(in_chans, num_classes, prev, make_stem(config, in_chans, stem_chans), tuple(stages),
                   make_norm_act(config.norm_layer, prev), ClassifierHead(fc))

    def forward_features(self, params, state, x, *, train=False):
        """(N, H, W, in_chans) → (N, H', W', num_features) after the final norm-act, and the new
        state (BatchNorm's running statistics updated when ``train``)."""
        self.check_input(x)
        new_state = dict(state)
        x, new_state["stem"] = self.stem.apply(params["stem"], state["stem"], x, train=train)
        x, new_state["stages"] = self._stages(params, state, x, len(self.stages), train)
        x, new_state["norm"] = self.norm.apply(params["norm"], state["norm"], x, train=train)
        return x, new_state

    def _stages(self, params, state, x, count: int, train: bool, maps: dict | None = None):
        """The first ``count`` stages on the pooled stem output; their outputs into ``maps`` (keys 1…)."""
        new_state = dict(state["stages"])
        for i, stage in enumerate(self.stages[:count]):
            x, new_state[str(i)] = stage.apply(params["stages"][str(i)], state["stages"][str(i)], x, train=train)
            if maps is not None:
                maps[i + 1] = x
        return x, new_state

    def feature_info(self) -> list[FeatureInfo]:
        """timm's ``feature_info``: the stem feature (``stem.conv``, or ``stem.conv3`` for the deep
        stem; before the pool) at stride 2, then the output of each stage at strides 4, 8, 16 and 32
        (the last before the final norm, as timm returns it)."""
        stages = [FeatureInfo(stage.blocks[-1].out_chans, 4 * 2**i, f"stages.{i}")
                  for i, stage in enumerate(self.stages)]
        return [FeatureInfo(self.stem.out_chans, 2, f"stem.{self.stem.feature_module}"), *stages]

    def forward_intermediates(self, params, state, x, indices, *, norm=False, final=False, stop_early=False,
                              train=False):
        """The maps at ``indices`` of ``feature_info``: a list of NHWC (N, H/s, W/s, C_i) in the order
        asked. ``norm=True`` applies the final norm-act to the last stage's map (timm's
        ``forward_intermediates(norm=True)``). With ``final=True`` returns ``((maps, features),
        state)``, ``features`` as ``forward_features`` (or with ``stop_early`` as timm's: the output
        of the last stage asked, normed only if that is the last stage). Without ``final`` (or with
        ``stop_early``) no stage past the last index runs; their state is returned as given."""
        new_state = dict(state)
        feat, new_state["stem"] = self.stem.forward_feature(params["stem"], state["stem"], x, train=train)
        maps = {0: feat}
        last = max(indices) if stop_early or not final else len(self.stages)
        x, new_state["stages"] = self._stages(params, state, self.stem.pool(feat), last, train, maps)
        if last == len(self.stages) and (final or norm):
            x, new_state["norm"] = self.norm.apply(params["norm"], state["norm"], x, train=train)
            if norm:
                maps[last] = x
        out = [maps[i] for i in indices]
        return ((out, x), new_state) if final else (out, new_state)

    def forward_head(self, params, x, *, pre_logits=False):
        """Global average pool, then ``head.fc``: (N, H, W, num_features) → (N, num_classes), or the
        pooled (N, num_features) with ``pre_logits=True`` or ``num_classes == 0``."""
        x = nn.global_avg_pool(x)
        if pre_logits or self.head.fc is None:
            return x
        return self.head.apply(params["head"], {}, x)[0]


def build_model(variant: Variant, *, in_chans: int, num_classes: int) -> ResNetV2:
    """The ResNetV2 of ``variant.arch_kwargs`` (``resnetv2_18`` … ``resnetv2_152x4_bit``)."""
    return ResNetV2.create(ResNetV2Config(**variant.arch_kwargs), in_chans=in_chans, num_classes=num_classes)
