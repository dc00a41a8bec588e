"""Efficient Channel Attention (ECA): a gate per channel from a 1-D conv across the pooled channels.

Paper: `ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks`
(https://arxiv.org/abs/1910.03151).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``EcaModule`` | ``timm.layers.EcaModule`` (default: no MLP, sigmoid gate, ``Conv1d(1, 1, k, bias=False)``) | ``conv.weight`` (1, 1, k) → ``conv/kernel`` (1, 1, k), unchanged |
| ``eca_module(channels)`` | ``EcaModule(channels, gamma=2, beta=1)`` | as ``EcaModule`` |
| ``eca_kernel_size`` | the kernel size ``EcaModule.__init__`` derives from ``channels`` | — |
"""

from __future__ import annotations

import math

import attrs
import jax
import jax.numpy as jnp
from jax import lax

from zoo_core.nn import initializers as inits
from zoo_core.nn.module import Module


def eca_kernel_size(channels: int, gamma: float = 2, beta: float = 1) -> int:
    """timm's adaptive kernel size: ``t = int(|log2(channels) + beta| / gamma)``, made odd (``t + 1``
    when even) and at least 3. 64 → 3, 256 → 5, 2048 → 7."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


@attrs.frozen
class EcaModule(Module):
    """(N, H, W, C) → (N, H, W, C): ``x * sigmoid(conv1d(mean_hw(x)))``, the 1-D conv of
    ``kernel_size`` taps (zero padding ``(k - 1) // 2``, no bias) running along the channel axis.

    The kernel keeps PyTorch's ``Conv1d`` weight shape (1, 1, k), so it loads unchanged. The
    channel count only sets the kernel size, at construction: a pruned network keeps the kernel of
    its unpruned width (``kernel_size`` given explicitly), as timm's pruned ECA-ResNets do.
    """

    kernel_size: int = 3

    def __attrs_post_init__(self):
        if self.kernel_size % 2 != 1:
            raise ValueError(f"EcaModule: kernel_size {self.kernel_size} must be odd")

    def init(self, key):
        """torch's ``Conv1d`` default, ``U(±1/sqrt(k))`` (fan-in 1 channel · k taps)."""
        shape = (1, 1, self.kernel_size)
        if inits.SHAPES_ONLY.get():
            return {"conv": {"kernel": inits.filled(shape, 0.0)}}, {"conv": {}}
        bound = 1.0 / math.sqrt(self.kernel_size)
        return {"conv": {"kernel": jax.random.uniform(key, shape, jnp.float32, -bound, bound)}}, {"conv": {}}

    def apply(self, params, state, x, *, train=False):
        return x * self.gate(params, jnp.mean(x, axis=(1, 2)))[:, None, None, :], state

    def gate(self, params, pooled: jax.Array) -> jax.Array:
        """The gate from each image's channel means: (N, C) → (N, C), ``sigmoid(conv1d(pooled))``
        (what ``nn.conv_norm_act(gate=...)`` takes, to fold the module into the conv before it)."""
        k = self.kernel_size
        padded = jnp.pad(pooled, ((0, 0), ((k - 1) // 2, (k - 1) // 2)))
        taps = params["conv"]["kernel"].reshape(k).astype(pooled.dtype)
        c = pooled.shape[-1]
        # cross-correlation along C as PyTorch's Conv1d: k shifted, scaled copies (k ≤ 9)
        y = sum(taps[i] * lax.slice_in_dim(padded, i, i + c, axis=1) for i in range(k))
        return jax.nn.sigmoid(y)


def eca_module(channels: int, *, gamma: float = 2, beta: float = 1) -> EcaModule:
    """timm's ``EcaModule(channels, gamma=gamma, beta=beta)``: the kernel size from ``channels``."""
    return EcaModule(eca_kernel_size(channels, gamma, beta))
