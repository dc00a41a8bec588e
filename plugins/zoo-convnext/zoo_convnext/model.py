"""ConvNeXt: timm's ``ConvNeXt`` (``timm/models/convnext.py``) as pure JAX functions, NHWC.

Papers:
* `A ConvNet for the 2020s` - https://arxiv.org/abs/2201.03545
* `ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders` - https://arxiv.org/abs/2301.00808
  (the same network with Global Response Normalization in the MLP: ``use_grn=True``; see zoo-convnextv2)
* `DINOv3` - https://arxiv.org/abs/2508.10104 (the ``dinov3_lvd1689m`` encoders)

Weights: the Facebook AI ``fb_*`` checkpoints are Apache-2.0 as timm states; the DINOv3 encoders
are under Meta's DINOv3 License (see ``variants.py``).

The architecture, with timm's defaults for the released models (``stem_type='patch'``,
``head_norm_first=False``, ``output_stride=32``, 7×7 depthwise kernels, MLP ratio 4):

* stem: a 4×4 stride-4 conv ("patchify") and a LayerNorm over channels;
* four stages; stages 2–4 open with a downsample (LayerNorm, then a 2×2 stride-2 conv);
* blocks: depthwise 7×7 conv → LayerNorm → MLP (Linear, exact GELU, [GRN,] Linear) →
  LayerScale (``gamma``, v1 only) → residual add;
* head (timm ``NormMlpClassifierHead``): global average pool → LayerNorm → Linear.

On NHWC every norm is a LayerNorm over the last axis, so timm's ``conv_mlp`` choice (1×1 convs and
``LayerNorm2d`` on NCHW, or ``nn.Linear`` and ``LayerNorm`` on NHWC) is the same computation here:
it only changes the layout of the MLP weights in the checkpoint (``weights.py``). Trees mirror
timm's module names: ``stem/0``, ``stem/1``, ``stages/i/downsample/0|1``,
``stages/i/blocks/j/{conv_dw,norm,mlp/fc1,mlp/grn,mlp/fc2,gamma}``, ``head/norm``, ``head/fc``.
Stochastic depth and dropout (training-time regularizers) are not implemented: ``train=True``
computes the same function as eval (ConvNeXt has no BatchNorm).
"""

from __future__ import annotations

import attrs

from zoo_core import nn
from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.nn.grn import GlobalResponseNormMlp, grn_mlp
from zoo_core.nn.layer_scale import LayerScale
from zoo_core.nn.transformer import Mlp, mlp
from zoo_core.registry import Variant

NORM_EPS = 1e-6  # timm's LayerNorm / LayerNorm2d default eps, used throughout ConvNeXt
KERNEL_INIT = nn.trunc_normal_init(0.02)  # timm's _init_weights: trunc_normal_(std=.02), zero bias


@attrs.frozen
class ConvNeXtConfig:
    """One ConvNeXt architecture, as timm's ``convnext_*`` / ``convnextv2_*`` entry points set it: the
    typed view of a row of ``ARCHS`` in zoo_convnext's or zoo_convnextv2's ``variants.py``.

    ``depths``/``dims``: blocks and channels per stage (``dims[-1]`` is ``num_features``);
    ``ls_init_value``: LayerScale init (``None``: no LayerScale, V2); ``use_grn``: GRN in the MLP
    (V2); ``conv_mlp``: timm builds the MLP from 1×1 convs, which only changes the checkpoint's
    weight layout.
    """

    depths: tuple[int, int, int, int]
    dims: tuple[int, int, int, int]
    ls_init_value: float | None = 1e-6
    use_grn: bool = False
    conv_mlp: bool = False
    kernel_size: int = 7
    patch_size: int = 4
    mlp_ratio: int = 4


def conv(in_chans: int, out_chans: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
         groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=padding, groups=groups,
                     kernel_init=KERNEL_INIT, bias_init=nn.initializers.zeros)


def norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=NORM_EPS)


@attrs.frozen
class ConvNeXtBlock(nn.Module):
    """timm's ``ConvNeXtBlock`` (stride 1, in == out): (N, H, W, dim) → (N, H, W, dim),
    ``x + gamma · mlp(norm(conv_dw(x)))``.

    ``gamma`` is the LayerScale of v1 (``ls_init_value`` 1e-6); timm holds it as a bare parameter
    of the block (``stages.0.blocks.0.gamma``) and so does our tree (``.../blocks/0/gamma``).
    """

    conv_dw: nn.Conv2d
    norm: nn.LayerNorm
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
        x, _ = self.conv_dw.apply(params["conv_dw"], state["conv_dw"], x)
        x, _ = self.norm.apply(params["norm"], state["norm"], x)
        x, _ = self.mlp.apply(params["mlp"], state["mlp"], x)
        if self.layer_scale is not None:
            x, _ = self.layer_scale.apply({"gamma": params["gamma"]}, {}, x)
        return x + shortcut, state


def make_block(dim: int, config: ConvNeXtConfig) -> ConvNeXtBlock:
    hidden = config.mlp_ratio * dim
    return ConvNeXtBlock(
        conv_dw=conv(dim, dim, config.kernel_size, padding=config.kernel_size // 2, groups=dim),
        norm=norm(dim),
        mlp=grn_mlp(dim, hidden) if config.use_grn else mlp(dim, hidden),
        ls_init_value=config.ls_init_value,
    )


@attrs.frozen
class ConvNeXtStage(nn.Module):
    """timm's ``ConvNeXtStage``: an optional downsample (LayerNorm, 2×2 stride-2 conv), then the
    blocks: (N, H, W, in) → (N, H/2, W/2, out) (stage 1: (N, H, W, out), no downsample)."""

    downsample: nn.Sequential | nn.Identity
    blocks: tuple[ConvNeXtBlock, ...]

    def apply(self, params, state, x, *, train=False):
        x, _ = self.downsample.apply(params["downsample"], state["downsample"], x)
        for i, block in enumerate(self.blocks):
            x, _ = block.apply(params["blocks"][str(i)], state["blocks"][str(i)], x)
        return x, state


def make_stage(in_chans: int, out_chans: int, depth: int, stride: int, config: ConvNeXtConfig) -> ConvNeXtStage:
    if in_chans != out_chans or stride > 1:
        downsample = nn.Sequential((norm(in_chans), conv(in_chans, out_chans, 2, stride=stride)))
    else:
        downsample = nn.Identity()
    return ConvNeXtStage(downsample, tuple(make_block(out_chans, config) for _ in range(depth)))


@attrs.frozen
class NormClassifierHead(nn.Module):
    """timm's ``NormMlpClassifierHead`` as ConvNeXt uses it (no hidden layer): global average
    pool → LayerNorm → ``fc``: (N, H, W, C) → (N, num_classes). ``fc`` is ``None`` with no classes."""

    norm: nn.LayerNorm
    fc: nn.Dense | None

    def forward(self, params, x, *, pre_logits=False):
        """Logits, or with ``pre_logits=True`` (or no ``fc``) the normalized pooled (N, C)."""
        x, _ = self.norm.apply(params["norm"], {}, nn.global_avg_pool(x))
        if pre_logits or self.fc is None:
            return x
        return self.fc.apply(params["fc"], {}, x)[0]

    def apply(self, params, state, x, *, train=False):
        return self.forward(params, x), state


@attrs.frozen
class ConvNeXt(Model):
    """timm's ``ConvNeXt``. ``apply``: (N, H, W, in_chans) → (N, num_classes), or the (N,
    num_features) pooled, normalized features when ``num_classes == 0``. Any H, W ≥ 32 works
    (the network is fully convolutional; sizes that are not multiples of 32 floor as in timm)."""

    in_chans: int
    num_classes: int
    num_features: int
    stem: nn.Sequential
    stages: tuple[ConvNeXtStage, ...]
    head: NormClassifierHead

    @classmethod
    def create(cls, config: ConvNeXtConfig, *, in_chans: int = 3, num_classes: int = 1000) -> ConvNeXt:
        dims = config.dims
        stem = nn.Sequential((conv(in_chans, dims[0], config.patch_size, stride=config.patch_size), norm(dims[0])))
        stages, prev = [], dims[0]
        for i, (dim, depth) in enumerate(zip(dims, config.depths)):
            stages.append(make_stage(prev, dim, depth, stride=1 if i == 0 else 2, config=config))
            prev = dim
        fc = nn.Dense(prev, num_classes, kernel_init=KERNEL_INIT, bias_init=nn.initializers.zeros) if num_classes else None
        return cls(in_chans, num_classes, prev, stem, tuple(stages), NormClassifierHead(norm(prev), fc))

    def forward_features(self, params, state, x, *, train=False):
        """Stem and stages: (N, H, W, in_chans) → (N, H/32, W/32, num_features)."""
        self.check_input(x)
        x, _ = self.stem.apply(params["stem"], state["stem"], x)
        for i, stage in enumerate(self.stages):
            x, _ = stage.apply(params["stages"][str(i)], state["stages"][str(i)], x)
        return x, state

    def feature_info(self) -> list[FeatureInfo]:
        """timm's ``feature_info``: the output of each stage, at strides 4, 8, 16 and 32."""
        return [FeatureInfo(stage.blocks[-1].conv_dw.out_chans, 4 * 2**i, f"stages.{i}")
                for i, stage in enumerate(self.stages)]

    def forward_intermediates(self, params, state, x, indices, *, train=False):
        """The outputs of the stages at ``indices`` (``features_only``): a list of (N, H/s, W/s, C_i),
        computing no stage past the last one asked for."""
        x, _ = self.stem.apply(params["stem"], state["stem"], x)
        maps = {}
        for i, stage in enumerate(self.stages[: max(indices) + 1]):
            x, _ = stage.apply(params["stages"][str(i)], state["stages"][str(i)], x)
            maps[i] = x
        return [maps[i] for i in indices], state

    def forward_head(self, params, x, *, pre_logits=False):
        """Pool → norm → fc: (N, h, w, num_features) → (N, num_classes); with ``pre_logits=True``
        (or ``num_classes == 0``) the normalized pooled (N, num_features)."""
        return self.head.forward(params["head"], x, pre_logits=pre_logits)


def build_model(variant: Variant, *, in_chans: int, num_classes: int) -> ConvNeXt:
    """The ConvNeXt of ``variant.arch_kwargs`` (``convnext_tiny`` … ``convnext_xlarge``; zoo-convnextv2's
    ``convnextv2_atto`` … ``convnextv2_huge`` too)."""
    return ConvNeXt.create(ConvNeXtConfig(**variant.arch_kwargs), in_chans=in_chans, num_classes=num_classes)
