"""Squeeze-and-Excitation channel attention.

Paper: `Squeeze-and-Excitation Networks` (https://arxiv.org/abs/1709.01507).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``SEBlock`` | ``timm.layers.SEModule`` (``bias=True``, no norm, sigmoid gate, no max-pool) | ``fc1.weight`` / ``fc2.weight`` (OIHW 1×1, ``conv_to_hwio``) → ``fc1/kernel`` / ``fc2/kernel``; ``fc1.bias`` / ``fc2.bias`` → ``bias`` |
| ``se_block(...)`` | ``SEModule(channels, rd_ratio, rd_channels, rd_divisor, act_layer)`` | as ``SEBlock`` |
| ``se_make_divisible`` | ``timm.layers.make_divisible`` | — |
"""

from __future__ import annotations

from typing import Any

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn.activations import get_act
from zoo_core.nn.conv import Conv2d
from zoo_core.nn.module import Module


def se_make_divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """timm's ``make_divisible``: round ``v`` to the nearest multiple of ``divisor``, never below
    ``min_value`` (default ``divisor``) and, when the rounding lost more than ``1 - round_limit``
    of ``v``, one ``divisor`` up."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


@attrs.frozen
class SEBlock(Module):
    """(N, H, W, C) → (N, H, W, C): ``x * sigmoid(fc2(act(fc1(mean_hw(x)))))``.

    ``fc1`` (C → ``rd_channels``) and ``fc2`` (``rd_channels`` → C) are 1×1 convs with bias, as in
    timm, so their kernels are HWIO (1, 1, in, out).
    """

    channels: int
    rd_channels: int
    fc1: Conv2d
    fc2: Conv2d
    act: Any = "relu"

    def apply(self, params, state, x, *, train=False):
        return x * self.gate(params, jnp.mean(x, axis=(1, 2)))[:, None, None, :], state

    def gate(self, params, pooled: jax.Array) -> jax.Array:
        """The gate from each image's channel means: (N, C) → (N, C), ``sigmoid(fc2(act(fc1(pooled))))``
        (what ``nn.conv_norm_act(gate=...)`` takes, to fold the block into the conv before it)."""
        x_se = pooled[:, None, None, :]
        x_se, _ = self.fc1.apply(params["fc1"], {}, x_se)
        x_se = get_act(self.act)(x_se)
        x_se, _ = self.fc2.apply(params["fc2"], {}, x_se)
        return jax.nn.sigmoid(x_se[:, 0, 0, :])


def se_block(channels: int, *, rd_ratio: float = 1.0 / 16, rd_channels: int | None = None, rd_divisor: int = 8,
             act: Any = "relu", kernel_init: Any = None) -> SEBlock:
    """timm's ``SEModule(channels, rd_ratio, rd_channels, rd_divisor, act_layer=act)``.

    The bottleneck width is ``rd_channels`` when given (and non-zero), otherwise
    ``se_make_divisible(channels * rd_ratio, rd_divisor, round_limit=0)`` as timm computes it.
    ``act`` is a timm activation name (``"relu"``, ``"silu"``, ...) or a function. ``kernel_init``
    initializes both 1×1 conv kernels (default: PyTorch's; timm's ResNet re-initializes them
    kaiming-normal, fan-out, as every conv of the network).
    """
    if not rd_channels:
        rd_channels = se_make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
    init = {} if kernel_init is None else {"kernel_init": kernel_init}
    return SEBlock(channels, rd_channels, fc1=Conv2d(channels, rd_channels, 1, **init),
                   fc2=Conv2d(rd_channels, channels, 1, **init), act=act)
