"""ResNet: timm's ``ResNet`` class (``timm/models/resnet.py``) as pure JAX functions, NHWC.

Papers:
* `Deep Residual Learning for Image Recognition` - https://arxiv.org/abs/1512.03385
* `Bag of Tricks for Image Classification with Convolutional Neural Networks` - https://arxiv.org/abs/1812.01187
* `Aggregated Residual Transformations for Deep Neural Networks` (ResNeXt) - https://arxiv.org/abs/1611.05431
* `Wide Residual Networks` - https://arxiv.org/abs/1605.07146
* `Squeeze-and-Excitation Networks` - https://arxiv.org/abs/1709.01507
* `ECA-Net` - https://arxiv.org/abs/1910.03151
* `Making Convolutional Networks Shift-Invariant Again` - https://arxiv.org/abs/1904.11486
* `Revisiting ResNets: Improved Training and Scaling Strategies` (ResNet-RS) - https://arxiv.org/abs/2103.07579
* `ResNet strikes back: An improved training procedure in timm` - https://arxiv.org/abs/2110.00476

Weights: each variant's license is the one timm's pretrained config states (``variants.py``).

The network: a stem (a 7×7 stride-2 conv, or timm's deep stem of three 3×3 convs), norm, ReLU and
a stride-2 pool (max-pool; a conv + norm + ReLU for ResNet-RS; anti-aliased for ``aa``); four
stages of basic or bottleneck blocks (``blocks.py``) with the stride in the first block; global
average pool; a linear classifier. Trees mirror timm's module names: ``conv1`` (or ``conv1/0``,
``/1``, ``/3``, ``/4``, ``/6`` for the deep stem), ``bn1``, [``maxpool/0``, ``/1``], ``layer1`` …
``layer4`` / ``<block>`` / …, ``fc``. BatchNorm running statistics live in ``state``.
"""

from __future__ import annotations

import attrs

from zoo_core import nn
from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.nn.blur import BlurPool2d, create_aa
from zoo_core.nn.pool import AvgPool2d
from zoo_core.registry import Variant
from zoo_core.validate import check_ints, refuse

from zoo_resnet.archs import EXPANSION, STAGE_PLANES
from zoo_resnet.blocks import (
    BLOCKS,
    BlockSpec,
    Bottleneck,
    Relu,
    bottleneck_width,
    conv,
    conv_norm,
    downsample,
    make_norm,
    norm_apply,
)
from zoo_resnet.pruned import PRUNED


@attrs.frozen
class ResNetConfig:
    """One architecture, the typed view of a row of ``archs.ARCHS`` (see there for each field)."""

    block: str | tuple[str, ...]
    layers: tuple[int, ...]
    channels: tuple[int, ...] = STAGE_PLANES
    cardinality: int = 1
    base_width: int = 64
    stem_width: int = 64
    stem_type: str = ""
    replace_stem_pool: bool = False
    block_reduce_first: int = 1
    down_kernel_size: int = 1
    avg_down: bool = False
    attn: str | None = None
    attn_rd_ratio: float = 1 / 16
    aa: str | None = None
    norm: str = "batchnorm"
    pruned: str | None = None

    @property
    def blocks(self) -> tuple[str, ...]:
        return (self.block,) * len(self.layers) if isinstance(self.block, str) else tuple(self.block)

    def widths(self, stage: int, index: int) -> tuple[int, int, int]:
        """Block ``index`` of ``stage``: the output channels of its first conv, its 3×3 conv, itself."""
        if self.pruned:
            return PRUNED[self.pruned][stage][index]
        planes, block = self.channels[stage], self.blocks[stage]
        out = planes * EXPANSION[block]
        if block == "basic":
            return planes // self.block_reduce_first, out, out
        width = bottleneck_width(planes, self.cardinality, self.base_width)
        return width // self.block_reduce_first, width, out


def make_stem(config: ResNetConfig, in_chans: int) -> tuple[nn.Module, int]:
    """timm's ``conv1``: one 7×7 stride-2 conv to 64 channels, or (``deep``/``deep_tiered``) three
    3×3 convs with norm + ReLU between, to ``2 · stem_width``. Returns it and its output channels."""
    if "deep" not in config.stem_type:
        return conv(in_chans, 64, 7, stride=2), 64
    w = config.stem_width
    c0, c1, out = (3 * (w // 4) if "tiered" in config.stem_type else w), w, 2 * w
    norm = config.norm
    return nn.Sequential((conv(in_chans, c0, 3, stride=2), make_norm(norm, c0), Relu(), conv(c0, c1, 3),
                          make_norm(norm, c1), Relu(), conv(c1, out, 3))), out


def make_stem_pool(config: ResNetConfig, chans: int) -> nn.Module:
    """timm's ``maxpool`` (stride 2): a 3×3 max-pool; ResNet-RS's 3×3 conv + norm + ReLU
    (``replace_stem_pool``); with ``aa="avg"`` a 2×2 average pool, with ``aa="blur"`` a stride-1
    max-pool then BlurPool."""
    if config.replace_stem_pool:
        layers = [conv(chans, chans, 3, stride=1 if config.aa else 2)]
        if config.aa:
            layers.append(create_aa(config.aa, chans, 2))
        return nn.Sequential((*layers, make_norm(config.norm, chans), Relu()))
    if config.aa == "avg":
        return AvgPool2d(2)
    if config.aa == "blur":
        return nn.Sequential((nn.MaxPool2d(3, 1, 1), BlurPool2d(chans, stride=2)))
    return nn.MaxPool2d(3, 2, 1)


def make_stage(config: ResNetConfig, stage: int, in_chans: int, stride: int) -> tuple[tuple[nn.Module, ...], int]:
    """One ``layerN`` as timm's ``make_blocks``: its blocks, the first with ``stride`` and, where the
    shape changes, the shortcut projection. Returns them and the stage's output channels."""
    kind, blocks = config.blocks[stage], []
    attn_chans = config.channels[stage] * EXPANSION[kind]  # pruned: ECA's kernel from the unpruned width
    for i in range(config.layers[stage]):
        widths = config.widths(stage, i)
        shortcut = None
        if i == 0 and (stride != 1 or in_chans != widths[2]):
            shortcut = downsample(in_chans, widths[2], stride, avg_down=config.avg_down,
                                  kernel_size=config.down_kernel_size, norm=config.norm)
        spec = BlockSpec(in_chans, widths, stride if i == 0 else 1, 1 if config.pruned else config.cardinality,
                         config.norm, config.attn, attn_chans, config.attn_rd_ratio, config.aa)
        blocks.append(BLOCKS[kind].create(spec, shortcut))
        in_chans = widths[2]
    return tuple(blocks), in_chans


def block_out_chans(block: nn.Module) -> int:
    """A block's output channels: its last conv's."""
    return (block.conv3 if isinstance(block, Bottleneck) else block.conv2).out_chans


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
    conv1: nn.Module
    bn1: nn.Module
    maxpool: nn.Module
    layer1: tuple[nn.Module, ...]
    layer2: tuple[nn.Module, ...]
    layer3: tuple[nn.Module, ...]
    layer4: tuple[nn.Module, ...]
    fc: nn.Dense | None

    STAGES = ("layer1", "layer2", "layer3", "layer4")

    @classmethod
    def create(cls, config: ResNetConfig, *, in_chans: int = 3, num_classes: int = 1000) -> ResNet:
        stem, prev = make_stem(config, in_chans)
        bn1, pool = make_norm(config.norm, prev), make_stem_pool(config, prev)
        stages = []
        for i in range(len(config.layers)):
            blocks, prev = make_stage(config, i, prev, stride=1 if i == 0 else 2)
            stages.append(blocks)
        fc = nn.Dense(prev, num_classes) if num_classes else None
        return cls(in_chans, num_classes, prev, stem, bn1, pool, *stages, fc)

    def stem(self, params, state, x, train: bool):
        """``act1(bn1(conv1(x)))``: the stem's stride-2 map (timm's first feature), and new state."""
        new_state = dict(state)
        if isinstance(self.conv1, nn.Conv2d):  # the 7×7 conv, bn1 and ReLU as one op in eval
            x, new_state["bn1"] = conv_norm(self, 1, params, state, x, train, relu=True)
            return x, new_state
        x, new_state["conv1"] = self.conv1.apply(params["conv1"], state["conv1"], x, train=train)
        x, new_state["bn1"] = norm_apply(self, "bn1", params, state, x, train)
        return nn.relu(x), new_state

    def forward_features(self, params, state, x, *, train=False):
        """(N, H, W, in_chans) → (N, H / 32, W / 32, num_features) and new state."""
        self.check_input(x)
        (_, x), new_state = self.forward_intermediates(params, state, x, (), final=True, train=train)
        return x, new_state

    def feature_info(self) -> list[FeatureInfo]:
        """timm's ``feature_info``: the stem's ``act1`` (before the pool) at stride 2, then the
        output of each stage at strides 4, 8, 16 and 32."""
        stem = self.conv1 if isinstance(self.conv1, nn.Conv2d) else self.conv1.layers[-1]
        stages = [FeatureInfo(block_out_chans(getattr(self, name)[-1]), 4 * 2**i, name)
                  for i, name in enumerate(self.STAGES)]
        return [FeatureInfo(stem.out_chans, 2, "act1"), *stages]

    def forward_intermediates(self, params, state, x, indices, *, norm=False, final=False, stop_early=False,
                              train=False):
        """The maps at ``indices`` of ``feature_info`` (NHWC, in the order asked), computing no stage
        past the last one asked for unless ``final``; then ``((maps, features), state)`` with the
        ``forward_features`` output, or with ``stop_early`` the output where the last index stops
        the network (after the stem's pool for index 0), as timm's. ``norm`` changes nothing: timm's
        ResNet has no final norm."""
        x, new_state = self.stem(params, state, x, train)
        maps = {0: x}
        x, new_state["maxpool"] = self.maxpool.apply(params["maxpool"], state["maxpool"], x, train=train)
        last = len(self.STAGES) if final and not stop_early else max(indices, default=0)
        for i, name in enumerate(self.STAGES[:last], start=1):
            x, new_state[name] = apply_stage(getattr(self, name), params[name], state[name], x, train)
            maps[i] = x
        picked = [maps[i] for i in indices]
        return ((picked, x) if final else picked), new_state

    def forward_head(self, params, x, *, pre_logits=False):
        """Global average pool, then ``fc``: (N, H, W, num_features) → (N, num_classes), or the pooled
        (N, num_features) with ``pre_logits=True`` or ``num_classes == 0``."""
        x = nn.global_avg_pool(x)
        if pre_logits or self.fc is None:
            return x
        return self.fc.apply(params["fc"], {}, x)[0]


def build_model(variant: Variant, *, in_chans: int, num_classes: int, layers=None) -> ResNet:
    """The ResNet of ``variant.arch_kwargs``. ``layers`` (blocks per stage, as timm's
    ``create_model(name, layers=...)``) overrides the architecture's depth, e.g. to test a deep
    network's block code on a shallow copy; pruned architectures have fixed per-block widths and
    refuse it."""
    kwargs = dict(variant.arch_kwargs)
    if layers is not None:
        if kwargs.get("pruned"):
            raise refuse(variant.name, "layers", layers, "None: a pruned architecture has fixed per-block widths")
        kwargs["layers"] = check_ints(variant.name, "layers", layers, length=len(kwargs["layers"]), min=1)
    return ResNet.create(ResNetConfig(**kwargs), in_chans=in_chans, num_classes=num_classes)
