"""ResNet architectures: timm's registered model args for every ``resnet.py`` architecture with
released weights, named as ``model.ResNetConfig``'s fields. Plain data: importing it imports no JAX.

Fields (all but ``block`` and ``layers`` optional, timm's ``ResNet`` defaults otherwise):

- ``block``: ``"basic"`` or ``"bottleneck"``, or one per stage; ``layers``: blocks per stage;
  ``channels``: each stage's planes (64, 128, 256, 512);
- ``cardinality`` / ``base_width``: ResNeXt groups and width per group (the bottleneck's 3×3 conv
  is ``planes · base_width / 64 · cardinality`` wide: wide ResNets have base_width 128);
- ``stem_type``: ``""`` (7×7 conv), ``"deep"`` (three 3×3 convs, ``stem_width``, ``stem_width``,
  ``2·stem_width``), ``"deep_tiered"`` (``3·stem_width/4``, ``stem_width``, ``2·stem_width``);
  ``replace_stem_pool``: a 3×3 stride-2 conv + norm + ReLU instead of the max-pool (ResNet-RS);
- ``avg_down``: shortcut projections through a 2×2 average pool and a 1×1 conv (ResNet-D);
  ``down_kernel_size``: the projection conv's kernel where it strides (3 for SENet-154);
  ``block_reduce_first``: the first 1×1 conv of each bottleneck narrowed by it (2 for SENet-154);
- ``attn``: ``"se"`` (Squeeze-and-Excitation, ``attn_rd_ratio`` 1/16; ResNet-RS 1/4) or ``"eca"``;
- ``aa``: anti-aliased downsampling, ``"avg"`` (2×2 average pool) or ``"blur"`` (BlurPool);
- ``norm``: ``"batchnorm"`` or ``"groupnorm"`` (32 groups);
- ``pruned``: per-block widths of timm's pruned ECA-ResNets (``pruned.PRUNED``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo_resnet.pruned import PRUNED

B, X = "basic", "bottleneck"
L18, L34, L50, L101, L152, L200 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3), (3, 24, 36, 3)
D = dict(stem_width=32, stem_type="deep", avg_down=True)  # ResNet-D: deep stem, average-pool shortcuts
T = dict(stem_width=32, stem_type="deep_tiered", avg_down=True)  # ResNet-T: tiered deep stem
C = dict(stem_width=32, stem_type="deep")  # ResNet-C (Gluon v1c)
S = dict(stem_width=64, stem_type="deep")  # ResNet-S (Gluon v1s)
RS = dict(stem_width=32, stem_type="deep", replace_stem_pool=True, avg_down=True, attn="se", attn_rd_ratio=0.25)
SE, ECA = dict(attn="se"), dict(attn="eca")


def _x(cardinality: int, base_width: int) -> dict[str, int]:
    return dict(cardinality=cardinality, base_width=base_width)


ARCHS: dict[str, dict[str, Any]] = {
    # ResNet and its stems
    "resnet10t": dict(block=B, layers=(1, 1, 1, 1), **T),
    "resnet14t": dict(block=X, layers=(1, 1, 1, 1), **T),
    "resnet18": dict(block=B, layers=L18),
    "resnet18d": dict(block=B, layers=L18, **D),
    "resnet34": dict(block=B, layers=L34),
    "resnet34d": dict(block=B, layers=L34, **D),
    "resnet26": dict(block=X, layers=L18),
    "resnet26d": dict(block=X, layers=L18, **D),
    "resnet26t": dict(block=X, layers=L18, **T),
    "resnet50": dict(block=X, layers=L50),
    "resnet50c": dict(block=X, layers=L50, **C),
    "resnet50d": dict(block=X, layers=L50, **D),
    "resnet50s": dict(block=X, layers=L50, **S),
    "resnet101": dict(block=X, layers=L101),
    "resnet101c": dict(block=X, layers=L101, **C),
    "resnet101d": dict(block=X, layers=L101, **D),
    "resnet101s": dict(block=X, layers=L101, **S),
    "resnet152": dict(block=X, layers=L152),
    "resnet152c": dict(block=X, layers=L152, **C),
    "resnet152d": dict(block=X, layers=L152, **D),
    "resnet152s": dict(block=X, layers=L152, **S),
    "resnet200d": dict(block=X, layers=L200, **D),
    "wide_resnet50_2": dict(block=X, layers=L50, base_width=128),
    "wide_resnet101_2": dict(block=X, layers=L101, base_width=128),
    "resnet50_gn": dict(block=X, layers=L50, norm="groupnorm"),
    # ResNeXt
    "resnext50_32x4d": dict(block=X, layers=L50, **_x(32, 4)),
    "resnext50d_32x4d": dict(block=X, layers=L50, **_x(32, 4), **D),
    "resnext101_32x4d": dict(block=X, layers=L101, **_x(32, 4)),
    "resnext101_64x4d": dict(block=X, layers=L101, **_x(64, 4)),
    "resnext101_32x8d": dict(block=X, layers=L101, **_x(32, 8)),
    "resnext101_32x16d": dict(block=X, layers=L101, **_x(32, 16)),
    "resnext101_32x32d": dict(block=X, layers=L101, **_x(32, 32)),
    # ECA-ResNet
    "ecaresnet26t": dict(block=X, layers=L18, **T, **ECA),
    "ecaresnetlight": dict(block=X, layers=(1, 1, 11, 3), stem_width=32, avg_down=True, **ECA),
    "ecaresnet50d": dict(block=X, layers=L50, **D, **ECA),
    "ecaresnet50d_pruned": dict(block=X, layers=L50, **D, **ECA, pruned="ecaresnet50d_pruned"),
    "ecaresnet50t": dict(block=X, layers=L50, **T, **ECA),
    "ecaresnet101d": dict(block=X, layers=L101, **D, **ECA),
    "ecaresnet101d_pruned": dict(block=X, layers=L101, **D, **ECA, pruned="ecaresnet101d_pruned"),
    "ecaresnet269d": dict(block=X, layers=(3, 30, 48, 8), **D, **ECA),
    # SE-ResNet, SE-ResNeXt, SENet-154
    "seresnet50": dict(block=X, layers=L50, **SE),
    "seresnet152d": dict(block=X, layers=L152, **D, **SE),
    "seresnext26d_32x4d": dict(block=X, layers=L18, **_x(32, 4), **D, **SE),
    "seresnext26t_32x4d": dict(block=X, layers=L18, **_x(32, 4), **T, **SE),
    "seresnext50_32x4d": dict(block=X, layers=L50, **_x(32, 4), **SE),
    "seresnext101_32x4d": dict(block=X, layers=L101, **_x(32, 4), **SE),
    "seresnext101_32x8d": dict(block=X, layers=L101, **_x(32, 8), **SE),
    "seresnext101d_32x8d": dict(block=X, layers=L101, **_x(32, 8), **D, **SE),
    "seresnext101_64x4d": dict(block=X, layers=L101, **_x(64, 4), **SE),
    "senet154": dict(block=X, layers=L152, **_x(64, 4), stem_type="deep", down_kernel_size=3, block_reduce_first=2,
                     **SE),
    # anti-aliased downsampling
    "resnetaa50": dict(block=X, layers=L50, aa="avg"),
    "resnetaa50d": dict(block=X, layers=L50, **D, aa="avg"),
    "resnetaa101d": dict(block=X, layers=L101, **D, aa="avg"),
    "seresnextaa101d_32x8d": dict(block=X, layers=L101, **_x(32, 8), **D, aa="avg", **SE),
    "seresnextaa201d_32x8d": dict(block=X, layers=(3, 24, 36, 4), **_x(32, 8), stem_width=64, stem_type="deep",
                                  avg_down=True, aa="avg", **SE),
    "resnetblur50": dict(block=X, layers=L50, aa="blur"),
    # ResNet-RS
    "resnetrs50": dict(block=X, layers=L50, **RS),
    "resnetrs101": dict(block=X, layers=L101, **RS),
    "resnetrs152": dict(block=X, layers=L152, **RS),
    "resnetrs200": dict(block=X, layers=L200, **RS),
    "resnetrs270": dict(block=X, layers=(4, 29, 53, 4), **RS),
    "resnetrs350": dict(block=X, layers=(4, 36, 72, 4), **RS),
    "resnetrs420": dict(block=X, layers=(4, 44, 87, 4), **RS),
    # timm's tiny test network: mixed blocks, narrow stages
    "test_resnet": dict(block=(B, B, X, B), layers=(1, 1, 1, 1), channels=(32, 48, 48, 96), stem_width=16,
                        stem_type="deep", avg_down=True),
}

# timm's ResNet defaults, shared with model.py: each stage's planes, and each block's output
# channels per plane.
STAGE_PLANES = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}


def stage_blocks(arch_kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """The block kind of each stage."""
    block = arch_kwargs["block"]
    return (block,) * len(arch_kwargs["layers"]) if isinstance(block, str) else tuple(block)


def num_features(arch_kwargs: Mapping[str, Any]) -> int:
    """The channels of the last stage: its planes × its block's expansion, or its pruned width."""
    if arch_kwargs.get("pruned"):
        return PRUNED[arch_kwargs["pruned"]][-1][-1][-1]
    channels = arch_kwargs.get("channels", STAGE_PLANES)
    return channels[-1] * EXPANSION[stage_blocks(arch_kwargs)[-1]]
