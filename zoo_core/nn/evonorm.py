"""EvoNorm-S0 on channels-last inputs: a normalization-activation layer without batch statistics.

Paper: `Evolving Normalization-Activation Layers` (https://arxiv.org/abs/2004.02967).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``EvoNorm2dS0`` | ``timm.layers.EvoNorm2dS0`` (``resnetv2_50d_evos``) | ``weight`` → ``scale``, ``bias``, ``v`` (all (C,); no ``v`` with ``apply_act=False``) |

timm computes ``y = x · sigmoid(v · x) / group_std(x)`` (with ``apply_act``), then ``y · weight + bias``.
``group_std`` is the square root of each sample's *biased* variance over H, W and the channels of
its group, plus ``eps``, computed in float32 and cast back to ``x``'s dtype. There is no running
state: ``train=True`` computes what eval does.
"""

from __future__ import annotations

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn.initializers import filled
from zoo_core.nn.module import Module


def group_std(x: jax.Array, groups: int, eps: float = 1e-5) -> jax.Array:
    """timm's ``group_std`` on (N, H, W, C): ``sqrt(var + eps)`` of each sample's ``groups`` channel
    groups over (H, W, C // groups), biased, in at least float32, as (N, 1, 1, C) in ``x``'s dtype."""
    n, c = x.shape[0], x.shape[-1]
    if c % groups:
        raise ValueError(f"group_std: {c} channels do not split into {groups} groups")
    xf = x.reshape(n, -1, c).astype(jnp.promote_types(x.dtype, jnp.float32))

    def per_channel(group_stat):  # (N, G) -> (N, 1, C)
        return jnp.repeat(group_stat, c // groups, axis=-1)[:, None, :]

    def group_mean(per_channel_mean):  # (N, C) -> (N, G): the channels of a group are contiguous
        return per_channel_mean.reshape(n, groups, c // groups).mean(axis=-1)

    centered = xf - per_channel(group_mean(jnp.mean(xf, axis=1)))
    var = group_mean(jnp.mean(jnp.square(centered), axis=1))
    return jnp.sqrt(per_channel(var + eps)).reshape(n, 1, 1, c).astype(x.dtype)


@attrs.frozen
class EvoNorm2dS0(Module):
    """timm's ``EvoNorm2dS0(num_features, groups=32, group_size=None, apply_act=True, eps=1e-5)``
    on (N, H, W, C) → (N, H, W, C).

    ``group_size`` (channels per group), when given, overrides ``groups``. With ``apply_act`` the
    layer is its own nonlinearity (a swish-like gate over the group's standard deviation); without
    it, only the per-channel affine ``x · scale + bias`` remains, as in timm.
    """

    num_features: int
    groups: int = 32
    group_size: int | None = None
    apply_act: bool = True
    eps: float = 1e-5

    def __attrs_post_init__(self):
        if self.group_size and self.num_features % self.group_size:
            raise ValueError(f"EvoNorm2dS0: {self.num_features} channels are not a multiple of "
                             f"group_size {self.group_size}")
        if self.num_features % self.num_groups:
            raise ValueError(f"EvoNorm2dS0: {self.num_features} channels do not split into {self.num_groups} groups")

    @property
    def num_groups(self) -> int:
        """The groups ``group_std`` uses: ``num_features // group_size`` if a size is given, else ``groups``."""
        return self.num_features // self.group_size if self.group_size else self.groups

    def init(self, key):
        c = self.num_features
        params = {"scale": filled((c,), 1.0), "bias": filled((c,), 0.0)}
        if self.apply_act:
            params["v"] = filled((c,), 1.0)
        return params, {}

    def apply(self, params, state, x, *, train=False):
        if self.apply_act:
            v = params["v"].astype(x.dtype)
            x = x * jax.nn.sigmoid(x * v) / group_std(x, self.num_groups, self.eps)
        return x * params["scale"].astype(x.dtype) + params["bias"].astype(x.dtype), state
