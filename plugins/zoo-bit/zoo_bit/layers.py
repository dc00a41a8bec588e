"""The pieces of timm's ``ResNetV2`` (``timm/models/resnetv2.py``), NHWC: its conv and norm-act
choices, the two projection shortcuts, the pre-activation bottleneck and basic blocks, and the stems.

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``make_conv("std", …)`` | BiT's ``partial(StdConv2d, eps=1e-8)`` | ``weight`` → ``kernel`` (stored unstandardized) |
| ``make_conv("plain", …)`` | ``create_conv2d`` (``nn.Conv2d``, no bias, symmetric padding) | ``weight`` → ``kernel`` |
| ``NormAct(GroupNorm)`` | ``GroupNormAct(num_groups=32)`` | ``weight`` → ``scale``, ``bias`` |
| ``NormAct(BatchNorm)`` | ``BatchNormAct2d`` | ``weight``, ``bias``, ``running_mean`` / ``running_var`` → state ``mean`` / ``var`` |
| ``NormAct(EvoNorm2dS0, act=False)`` | ``EvoNorm2dS0`` (its own nonlinearity) | ``weight`` → ``scale``, ``bias``, ``v`` |
| ``DownsampleConv`` / ``DownsampleAvg`` | the same names (``preact=True``: no norm) | ``downsample.conv.weight`` |
| ``PreActBottleneck`` / ``PreActBasic`` | the same names | ``normK``, ``convK``, ``downsample`` |
| ``Stem`` / ``DeepStem`` | ``create_resnetv2_stem`` (``fixed`` or ``''`` / ``deep``, ``preact=True``) | ``stem.conv`` / ``stem.conv1 norm1 conv2 norm2 conv3`` |
"""

from __future__ import annotations

import attrs
import jax
import jax.numpy as jnp

from zoo_core import nn
from zoo_core.nn.evonorm import EvoNorm2dS0
from zoo_core.nn.initializers import kaiming_normal_fan_out
from zoo_core.nn.se import se_make_divisible as make_divisible
from zoo_core.nn.std_conv import StdConv2d, finish_fold, std_conv

CONV_LAYERS = ("std", "plain")
NORM_LAYERS = ("gn", "bn", "evos")


def make_conv(kind: str, in_chans: int, out_chans: int, kernel_size: int, stride: int = 1) -> nn.Module:
    """timm ResNetV2's ``conv_layer``: ``"std"`` is BiT's weight-standardized conv (eps 1e-8),
    ``"plain"`` timm's ``create_conv2d`` (no bias); both with padding ``(k - 1) // 2`` (for the
    strides used here) and kaiming-normal (fan-out) init."""
    if kind == "std":
        return std_conv(in_chans, out_chans, kernel_size, stride=stride)
    return nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding="", bias=False,
                     kernel_init=kaiming_normal_fan_out)


@attrs.frozen
class NormAct(nn.Module):
    """A norm followed by ReLU (timm ``GroupNormAct`` / ``BatchNormAct2d``), or with ``act=False`` a
    norm that is its own nonlinearity (``EvoNorm2dS0``). Its leaves are the norm's own (timm keys
    ``norm1.weight``, not ``norm1.norm.weight``); ``state`` holds BatchNorm's running statistics."""

    norm: nn.Module
    act: bool = True

    def init(self, key):
        return self.norm.init(key)

    @property
    def folds(self) -> bool:
        """Whether ``apply_fold`` takes a folded conv output and emits window sums in one call
        (GroupNorm + ReLU, ``nn.group_norm_act``) rather than as separate passes."""
        return self.act and isinstance(self.norm, nn.GroupNorm)

    def apply(self, params, state, x, *, train=False):
        if self.folds:
            return nn.group_norm_act(self.norm, params, x)[0], state
        y, state = self.norm.apply(params, state, x, train=train)
        return (nn.relu(y) if self.act else y), state

    def apply_fold(self, params, x, fold, *, emit_sums: bool) -> tuple[jax.Array, jax.Array | None]:
        """``apply`` on ``finish_fold(x, fold)`` (a ``StdConv2d.apply_raw`` output; state-free norms
        only), and where ``emit_sums`` each pixel's sum of the result over its channels (N, H, W)."""
        if self.folds:
            return nn.group_norm_act(self.norm, params, x, fold=fold, emit_sums=emit_sums)
        y = self.apply(params, {}, finish_fold(x, fold))[0]
        return y, (jnp.sum(y, axis=-1) if emit_sums else None)


def make_norm_act(kind: str, chans: int) -> NormAct:
    """timm ResNetV2's ``norm_layer`` through ``get_norm_act_layer(norm_layer, act_layer=ReLU)``:
    ``"gn"`` GroupNorm(32 groups, eps 1e-5) + ReLU, ``"bn"`` BatchNorm(eps 1e-5, momentum 0.1) +
    ReLU, ``"evos"`` EvoNorm-S0 (32 groups, eps 1e-5)."""
    if kind == "gn":
        return NormAct(nn.GroupNorm(32, chans, eps=1e-5))
    if kind == "bn":
        return NormAct(nn.BatchNorm(chans, eps=1e-5, momentum=0.1))
    return NormAct(EvoNorm2dS0(chans), act=False)


class Children:
    """Applies a module's children by field name, collecting each one's new state."""

    def __init__(self, module: nn.Module, params, state, train: bool):
        self.module, self.params, self.state, self.train = module, params, state, train
        self.new_state = dict(state)

    def __call__(self, name: str, x):
        y, self.new_state[name] = getattr(self.module, name).apply(
            self.params[name], self.state[name], x, train=self.train)
        return y


def folds(conv: nn.Module | None, x: jax.Array, fold: bool | None = None) -> bool:
    """Whether ``raw_conv(conv, ..., x, ..., fold)`` leaves its weight standardization folded into its output."""
    return isinstance(conv, StdConv2d) and conv.folds(x, fold=fold)


def raw_conv(conv: nn.Module, params, x: jax.Array, x_sums: jax.Array | None, fold: bool | None = None):
    """``(y, fold)``: ``StdConv2d.apply_raw`` (``x_sums`` each pixel's channel sum of ``x`` where known;
    ``fold=True`` where a norm takes the fold), or any other conv's output and ``None``."""
    if isinstance(conv, StdConv2d):
        return conv.apply_raw(params, x, x_sums, fold=fold)
    return conv.apply(params, {}, x)[0], None


@attrs.frozen
class DownsampleConv(nn.Module):
    """timm ``DownsampleConv(preact=True)``: a 1×1 ``conv`` with the stride (its norm is ``Identity``)."""

    conv: nn.Module

    def apply(self, params, state, x, *, train=False):
        return self.conv.apply(params["conv"], state["conv"], x)[0], state


def avg_pool_ceil(x: jax.Array, stride: int) -> jax.Array:
    """``nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)`` with ``stride == 2``:
    (N, H, W, C) → (N, ⌈H/2⌉, ⌈W/2⌉, C); an odd edge's last window averages the pixels it has."""
    h, w = x.shape[1:3]
    return nn.avg_pool2d(x, 2, stride, padding=((0, h % 2), (0, w % 2)), count_include_pad=False)


@attrs.frozen
class DownsampleAvg(nn.Module):
    """timm ``DownsampleAvg(preact=True)`` (the ``d`` variants' ``avg_down``): a 2×2 average pool
    with the stride (none at stride 1), then a 1×1 ``conv``."""

    conv: nn.Module
    stride: int = 1

    def apply(self, params, state, x, *, train=False):
        if self.stride > 1:
            x = avg_pool_ceil(x, self.stride)
        return self.conv.apply(params["conv"], state["conv"], x)[0], state


def make_downsample(conv_layer: str, in_chans: int, out_chans: int, stride: int, avg_down: bool) -> nn.Module:
    if avg_down:
        return DownsampleAvg(make_conv(conv_layer, in_chans, out_chans, 1), stride)
    return DownsampleConv(make_conv(conv_layer, in_chans, out_chans, 1, stride))


@attrs.frozen
class PreActBottleneck(nn.Module):
    """timm ``PreActBottleneck``: (N, H, W, in) → (N, H / stride, W / stride, out).

    ``x_preact = norm1(x)``; the shortcut is ``downsample(x_preact)`` or ``x``; the residual is
    ``conv3(norm3(conv2(norm2(conv1(x_preact)))))``, the stride on the 3×3 ``conv2``.
    """

    norm1: NormAct
    conv1: nn.Module
    norm2: NormAct
    conv2: nn.Module
    norm3: NormAct
    conv3: nn.Module
    downsample: nn.Module | None = None

    @classmethod
    def create(cls, in_chans: int, out_chans: int, stride: int, *, project: bool, conv_layer: str = "std",
               norm_layer: str = "gn", avg_down: bool = False, bottle_ratio: float = 0.25) -> PreActBottleneck:
        mid = make_divisible(out_chans * bottle_ratio)
        return cls(
            make_norm_act(norm_layer, in_chans), make_conv(conv_layer, in_chans, mid, 1),
            make_norm_act(norm_layer, mid), make_conv(conv_layer, mid, mid, 3, stride),
            make_norm_act(norm_layer, mid), make_conv(conv_layer, mid, out_chans, 1),
            make_downsample(conv_layer, in_chans, out_chans, stride, avg_down) if project else None,
        )

    @property
    def out_chans(self) -> int:
        return self.conv3.out_chans

    def apply(self, params, state, x, *, train=False):
        if all(norm.folds for norm in (self.norm1, self.norm2, self.norm3)):
            return self._apply_folded(params, state, x), state
        call = Children(self, params, state, train)
        x_preact = call("norm1", x)
        shortcut = call("downsample", x_preact) if self.downsample is not None else x
        y = call("conv2", call("norm2", call("conv1", x_preact)))
        return call("conv3", call("norm3", y)) + shortcut, call.new_state

    def _apply_folded(self, params, state, x):
        """``apply`` for GroupNorm + ReLU norms (state-free): each norm takes the raw output of the conv
        before it with that conv's folded weight standardization (``StdConv2d.apply_raw``) and emits the
        channel sums of its output where the conv after it folds, one call per norm on the CPU
        (``nn.group_norm_act``) where XLA would finish the fold, take the statistics, normalize and sum
        in passes of their own."""
        ds = self.downsample.conv if isinstance(self.downsample, DownsampleConv) else None
        x_preact, sums = self.norm1.apply_fold(params["norm1"], x, None,
                                               emit_sums=folds(self.conv1, x, True) or folds(ds, x, True))
        if ds is None:
            shortcut = x if self.downsample is None else self.downsample.apply(params["downsample"], state["downsample"], x_preact)[0]
        else:
            shortcut = finish_fold(*raw_conv(ds, params["downsample"]["conv"], x_preact, sums, True))
        y, fold = raw_conv(self.conv1, params["conv1"], x_preact, sums, True)
        y, sums = self.norm2.apply_fold(params["norm2"], y, fold, emit_sums=folds(self.conv2, y, True))
        y, fold = raw_conv(self.conv2, params["conv2"], y, sums, True)
        y, sums = self.norm3.apply_fold(params["norm3"], y, fold, emit_sums=folds(self.conv3, y, True))
        return finish_fold(*raw_conv(self.conv3, params["conv3"], y, sums, True)) + shortcut


@attrs.frozen
class PreActBasic(nn.Module):
    """timm ``PreActBasic``: two 3×3 convs, the first with the stride. (N, H, W, in) → (N, H / stride,
    W / stride, out). ``x_preact = norm1(x)``; the shortcut is ``downsample(x_preact)`` (only where the
    stride or the width changes) or ``x``; the residual ``conv2(norm2(conv1(x_preact)))``."""

    norm1: NormAct
    conv1: nn.Module
    norm2: NormAct
    conv2: nn.Module
    downsample: nn.Module | None = None

    @classmethod
    def create(cls, in_chans: int, out_chans: int, stride: int, *, project: bool, conv_layer: str = "plain",
               norm_layer: str = "bn", avg_down: bool = False, bottle_ratio: float = 1.0) -> PreActBasic:
        mid = make_divisible(out_chans * bottle_ratio)
        project = project and (stride != 1 or in_chans != out_chans)
        return cls(
            make_norm_act(norm_layer, in_chans), make_conv(conv_layer, in_chans, mid, 3, stride),
            make_norm_act(norm_layer, mid), make_conv(conv_layer, mid, out_chans, 3),
            make_downsample(conv_layer, in_chans, out_chans, stride, avg_down) if project else None,
        )

    @property
    def out_chans(self) -> int:
        return self.conv2.out_chans

    def apply(self, params, state, x, *, train=False):
        call = Children(self, params, state, train)
        x_preact = call("norm1", x)
        shortcut = call("downsample", x_preact) if self.downsample is not None else x
        return call("conv2", call("norm2", call("conv1", x_preact))) + shortcut, call.new_state


def stem_pool(x: jax.Array, fixed: bool) -> jax.Array:
    """The stem's 3×3 stride-2 max-pool: BiT's ``fixed`` stem pads with zeros first
    (``ConstantPad2d(1, 0.)``, which caps negative borders of the un-normalized conv output at 0),
    the others pad with −inf (``MaxPool2d(3, 2, padding=1)``). (N, H, W, C) → (N, ⌊(H - 1) / 2⌋ + 1, …)."""
    if fixed:
        return nn.max_pool2d(x, 3, stride=2, padding=1, pad_value=0.0)
    return nn.max_pool2d(x, 3, stride=2, padding=1)


@attrs.frozen
class Stem(nn.Module):
    """timm's pre-activation 7×7 stem: stride-2 ``conv`` (the stem feature), then ``stem_pool``."""

    conv: nn.Module
    fixed: bool = True

    feature_module = "conv"

    @property
    def out_chans(self) -> int:
        return self.conv.out_chans

    def forward_feature(self, params, state, x, *, train=False):
        """The stem feature, the conv output before the pool: (N, ⌈H/2⌉, ⌈W/2⌉, C)."""
        return self.conv.apply(params["conv"], state["conv"], x)[0], state

    def pool(self, x):
        return stem_pool(x, self.fixed)

    def apply(self, params, state, x, *, train=False):
        return self.pool(self.forward_feature(params, state, x)[0]), state


@attrs.frozen
class DeepStem(nn.Module):
    """timm's pre-activation ``deep`` stem (ResNet-D): 3×3 convs of ``out // 2`` (stride 2),
    ``out // 2`` and ``out`` channels, norm-act after the first two; ``conv3`` is the stem feature
    (no norm after it: the first block pre-activates), then the −inf-padded max-pool."""

    conv1: nn.Module
    norm1: NormAct
    conv2: nn.Module
    norm2: NormAct
    conv3: nn.Module

    feature_module = "conv3"

    @classmethod
    def create(cls, in_chans: int, out_chans: int, conv_layer: str, norm_layer: str) -> DeepStem:
        mid = out_chans // 2
        return cls(make_conv(conv_layer, in_chans, mid, 3, 2), make_norm_act(norm_layer, mid),
                   make_conv(conv_layer, mid, mid, 3), make_norm_act(norm_layer, mid),
                   make_conv(conv_layer, mid, out_chans, 3))

    @property
    def out_chans(self) -> int:
        return self.conv3.out_chans

    def forward_feature(self, params, state, x, *, train=False):
        call = Children(self, params, state, train)
        return call("conv3", call("norm2", call("conv2", call("norm1", call("conv1", x))))), call.new_state

    def pool(self, x):
        return stem_pool(x, fixed=False)

    def apply(self, params, state, x, *, train=False):
        y, state = self.forward_feature(params, state, x, train=train)
        return self.pool(y), state
