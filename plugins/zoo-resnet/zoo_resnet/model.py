"""ResNet: timm's classic ResNet (``timm/models/resnet.py``) as pure JAX functions, NHWC.

Papers:
* `Deep Residual Learning for Image Recognition` - https://arxiv.org/abs/1512.03385
* `ResNet strikes back: An improved training procedure in timm` - https://arxiv.org/abs/2110.00476
* `Billion-scale semi-supervised learning for image classification` - https://arxiv.org/abs/1905.00546

Weights: timm's own and GluonCV's are Apache-2.0, torchvision's BSD-3-Clause, Facebook's
semi-/weakly-supervised ones CC-BY-NC-4.0 (see ``variants.py``).

The architecture is timm's ``ResNet`` with its defaults (torchvision's ResNet "v1.5", Gluon v1b):
a 7×7 stride-2 conv stem, BatchNorm, ReLU and a 3×3 stride-2 max-pool; four stages of basic
(ResNet-18/34) or bottleneck (ResNet-50/101/152) blocks with the stride on the 3×3 conv and a
1×1 conv + BatchNorm projection shortcut where the shape changes; global average pool; a linear
classifier. Trees mirror timm's module names: ``conv1``, ``bn1``, ``layer1``…``layer4`` /
``<block>`` / ``conv1``, ``bn1``, ``conv2``, ``bn2`` [, ``conv3``, ``bn3``] [, ``downsample/0``
(conv), ``downsample/1`` (BatchNorm)], ``fc``. BatchNorm running statistics live in ``state``.
"""

from __future__ import annotations

import attrs

from zoo_core import nn
from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.registry import Variant

from zoo_resnet.variants import EXPANSION, STAGE_PLANES


@attrs.frozen
class ResNetConfig:
    """One architecture, the typed view of a row of ``variants.ARCHS``. ``block``: ``"basic"`` or
    ``"bottleneck"``; ``layers``: blocks per stage."""

    block: str
    layers: tuple[int, int, int, int]


def conv(in_chans: int, out_chans: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """timm ResNet's bias-free conv with symmetric padding and kaiming-normal (fan-out) init."""
    return nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=kernel_size // 2, bias=False,
                     kernel_init=nn.kaiming_normal_fan_out)


def conv_bn(module: nn.Module, i: int, params, state, x, train: bool):
    """``bn{i}(conv{i}(x))`` of ``module`` (timm's flat ``conv1``/``bn1`` naming): (N, H, W, Cin) →
    (N, H', W', Cout), and the BatchNorm's new state."""
    x, _ = getattr(module, f"conv{i}").apply(params[f"conv{i}"], {}, x)
    return getattr(module, f"bn{i}").apply(params[f"bn{i}"], state[f"bn{i}"], x, train=train)


def zero_last_bn(params, name: str):
    """timm's ``zero_init_last``: the last BatchNorm of each residual branch starts with weight 0."""
    scale = params[name]["scale"]
    params[name] = dict(params[name], scale=nn.initializers.filled(scale.shape, 0.0, scale.dtype))
    return params


@attrs.frozen
class BasicBlock(nn.Module):
    """timm ``BasicBlock``: 3×3 conv → BN → ReLU → 3×3 conv → BN, plus shortcut, then ReLU.
    (N, H, W, in) → (N, H / stride, W / stride, planes)."""

    conv1: nn.Conv2d
    bn1: nn.BatchNorm
    conv2: nn.Conv2d
    bn2: nn.BatchNorm
    downsample: nn.Sequential | None = None

    @classmethod
    def create(cls, in_chans: int, planes: int, stride: int, downsample: nn.Sequential | None) -> BasicBlock:
        return cls(conv(in_chans, planes, 3, stride), nn.BatchNorm(planes), conv(planes, planes, 3),
                   nn.BatchNorm(planes), downsample)

    def init(self, key):
        params, state = super().init(key)
        return zero_last_bn(params, "bn2"), state

    def apply(self, params, state, x, *, train=False):
        new_state = dict(state)
        y, new_state["bn1"] = conv_bn(self, 1, params, state, x, train)
        y = nn.relu(y)
        y, new_state["bn2"] = conv_bn(self, 2, params, state, y, train)
        shortcut = x
        if self.downsample is not None:
            shortcut, new_state["downsample"] = self.downsample.apply(params["downsample"], state["downsample"], x,
                                                                      train=train)
        return nn.relu(y + shortcut), new_state


@attrs.frozen
class Bottleneck(nn.Module):
    """timm ``Bottleneck``: 1×1 conv → BN → ReLU → 3×3 conv (stride) → BN → ReLU → 1×1 conv
    (×4 channels) → BN, plus shortcut, then ReLU. (N, H, W, in) → (N, H / stride, W / stride, 4 · planes)."""

    conv1: nn.Conv2d
    bn1: nn.BatchNorm
    conv2: nn.Conv2d
    bn2: nn.BatchNorm
    conv3: nn.Conv2d
    bn3: nn.BatchNorm
    downsample: nn.Sequential | None = None

    @classmethod
    def create(cls, in_chans: int, planes: int, stride: int, downsample: nn.Sequential | None) -> Bottleneck:
        out_chans = planes * EXPANSION["bottleneck"]
        return cls(conv(in_chans, planes, 1), nn.BatchNorm(planes), conv(planes, planes, 3, stride),
                   nn.BatchNorm(planes), conv(planes, out_chans, 1), nn.BatchNorm(out_chans), downsample)

    def init(self, key):
        params, state = super().init(key)
        return zero_last_bn(params, "bn3"), state

    def apply(self, params, state, x, *, train=False):
        new_state = dict(state)
        y, new_state["bn1"] = conv_bn(self, 1, params, state, x, train)
        y = nn.relu(y)
        y, new_state["bn2"] = conv_bn(self, 2, params, state, y, train)
        y = nn.relu(y)
        y, new_state["bn3"] = conv_bn(self, 3, params, state, y, train)
        shortcut = x
        if self.downsample is not None:
            shortcut, new_state["downsample"] = self.downsample.apply(params["downsample"], state["downsample"], x,
                                                                      train=train)
        return nn.relu(y + shortcut), new_state


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def make_stage(block: str, in_chans: int, planes: int, depth: int, stride: int) -> tuple[nn.Module, ...]:
    """One ``layerN``: ``depth`` blocks, the first with ``stride`` and, where the shape changes, a
    1×1 conv + BatchNorm projection shortcut (timm's ``downsample_conv``)."""
    out_chans = planes * EXPANSION[block]
    downsample = None
    if stride != 1 or in_chans != out_chans:
        downsample = nn.Sequential((conv(in_chans, out_chans, 1, stride), nn.BatchNorm(out_chans)))
    blocks = [BLOCKS[block].create(in_chans, planes, stride, downsample)]
    blocks += [BLOCKS[block].create(out_chans, planes, 1, None) for _ in range(depth - 1)]
    return tuple(blocks)


def apply_stage(blocks: tuple[nn.Module, ...], params, state, x, train: bool):
    new_state = {}
    for i, block in enumerate(blocks):
        x, new_state[str(i)] = block.apply(params[str(i)], state[str(i)], x, train=train)
    return x, new_state


@attrs.frozen
class ResNet(Model):
    """timm's ``ResNet``. ``apply``: (N, H, W, in_chans) → (N, num_classes), or (N, num_features)
    pooled features when ``num_classes == 0``."""

    in_chans: int
    num_classes: int
    num_features: int
    conv1: nn.Conv2d
    bn1: nn.BatchNorm
    layer1: tuple[nn.Module, ...]
    layer2: tuple[nn.Module, ...]
    layer3: tuple[nn.Module, ...]
    layer4: tuple[nn.Module, ...]
    fc: nn.Dense | None

    STAGES = ("layer1", "layer2", "layer3", "layer4")

    @classmethod
    def create(cls, config: ResNetConfig, *, in_chans: int = 3, num_classes: int = 1000) -> ResNet:
        stem_chans = 64
        stages, prev = [], stem_chans
        for i, (planes, depth) in enumerate(zip(STAGE_PLANES, config.layers)):
            stages.append(make_stage(config.block, prev, planes, depth, stride=1 if i == 0 else 2))
            prev = planes * EXPANSION[config.block]
        fc = nn.Dense(prev, num_classes) if num_classes else None
        return cls(in_chans, num_classes, prev, conv(in_chans, stem_chans, 7, stride=2), nn.BatchNorm(stem_chans),
                   *stages, fc)

    def forward_features(self, params, state, x, *, train=False):
        """(N, H, W, in_chans) → (N, H / 32, W / 32, num_features) (ceil at each stride) and new state."""
        self.check_input(x)
        new_state = dict(state)
        x, new_state["bn1"] = conv_bn(self, 1, params, state, x, train)
        x = nn.max_pool2d(nn.relu(x), 3, stride=2, padding=1)
        for name in self.STAGES:
            x, new_state[name] = apply_stage(getattr(self, name), params[name], state[name], x, train)
        return x, new_state

    def feature_info(self) -> list[FeatureInfo]:
        """timm's ``feature_info``: the stem's ``act1`` (before the max-pool) at stride 2, then the
        output of each stage at strides 4, 8, 16 and 32."""
        last_bn = {BasicBlock: "bn2", Bottleneck: "bn3"}
        stages = [FeatureInfo(getattr(blocks[-1], last_bn[type(blocks[-1])]).num_features, 4 * 2**i, name)
                  for i, (name, blocks) in enumerate((name, getattr(self, name)) for name in self.STAGES)]
        return [FeatureInfo(self.bn1.num_features, 2, "act1"), *stages]

    def forward_intermediates(self, params, state, x, indices, *, train=False):
        """The maps at ``indices`` of ``feature_info`` (``features_only``): a list of (N, H/s, W/s, C_i),
        computing no stage past the last one asked for."""
        new_state = dict(state)
        x, new_state["bn1"] = conv_bn(self, 1, params, state, x, train)
        x = nn.relu(x)
        maps = {0: x}
        x = nn.max_pool2d(x, 3, stride=2, padding=1)
        for i, name in enumerate(self.STAGES[: max(indices)], start=1):
            x, new_state[name] = apply_stage(getattr(self, name), params[name], state[name], x, train)
            maps[i] = x
        return [maps[i] for i in indices], new_state

    def forward_head(self, params, x, *, pre_logits=False):
        """Global average pool, then ``fc``: (N, H, W, num_features) → (N, num_classes), or the pooled
        (N, num_features) with ``pre_logits=True`` or ``num_classes == 0``."""
        x = nn.global_avg_pool(x)
        if pre_logits or self.fc is None:
            return x
        return self.fc.apply(params["fc"], {}, x)[0]


def build_model(variant: Variant, *, in_chans: int, num_classes: int) -> ResNet:
    """The ResNet of ``variant.arch_kwargs`` (``resnet18`` … ``resnet152``)."""
    return ResNet.create(ResNetConfig(**variant.arch_kwargs), in_chans=in_chans, num_classes=num_classes)
