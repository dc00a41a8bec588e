"""Gated MLPs: timm's ``GluMlp`` (one packed ``fc1``) and ``SwiGLU`` (split ``fc1_g``/``fc1_x``).

Paper: `GLU Variants Improve Transformer` (https://arxiv.org/abs/2002.05202).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``glu_mlp(in, hidden, act=silu, gate_last=False)`` → ``GluMlp`` | ``timm.layers.GluMlp`` (``SwiGLUPacked`` = ``partial(GluMlp, act_layer=nn.SiLU, gate_last=False)``, DINOv2 giant) | ``fc1.weight`` (hidden, in) → ``fc1/kernel`` (in, hidden), ``fc2.weight`` (out, hidden/2) → ``fc2/kernel``; biases; ``norm.*`` |
| ``swiglu(in, hidden)`` → ``SwiGLU`` | ``timm.layers.SwiGLU`` (AIMv2) | ``fc1_g.*``, ``fc1_x.*``, ``fc2.*`` (``linear_to_dense``); ``norm.*`` |

The plain ``Mlp`` is in ``zoo_core.nn.transformer``. Linears start as timm's ViT initialises them
(truncated normal std 0.02, zero bias).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn.activations import sigmoid, silu
from zoo_core.nn.linear import Dense
from zoo_core.nn.module import Module
from zoo_core.nn.transformer import vit_dense


@attrs.frozen
class GluMlp(Module):
    """timm's ``GluMlp``: ``fc1`` to ``hidden`` channels split in halves ``(x1, x2)``; the gated
    half is ``x1 · act(x2)`` (``gate_last``) or ``act(x1) · x2``; then ``norm`` and ``fc2`` from
    ``hidden / 2``: (..., in) → (..., out)."""

    fc1: Dense
    fc2: Dense
    act: Callable[[jax.Array], jax.Array] = sigmoid
    gate_last: bool = True
    norm: Module | None = None

    def apply(self, params, state, x, *, train=False):
        x, _ = self.fc1.apply(params["fc1"], state["fc1"], x)
        x1, x2 = jnp.split(x, 2, axis=-1)
        x = x1 * self.act(x2) if self.gate_last else self.act(x1) * x2
        if self.norm is not None:
            x = self.norm.apply(params["norm"], state["norm"], x)[0]
        return self.fc2.apply(params["fc2"], state["fc2"], x)[0], state


def glu_mlp(in_features: int, hidden_features: int | None = None, out_features: int | None = None, *,
            act: Callable[[jax.Array], jax.Array] = sigmoid, gate_last: bool = True, bias: bool = True,
            norm: Module | None = None) -> GluMlp:
    """timm's ``GluMlp(in_features, hidden_features, out_features, act_layer, norm_layer, bias,
    gate_last=gate_last)``; ``hidden_features`` (even) is ``fc1``'s width, ``norm`` the norm layer
    built for half of it (or None)."""
    hidden_features = hidden_features or in_features
    out_features = out_features or in_features
    if hidden_features % 2:
        raise ValueError(f"glu_mlp: hidden_features {hidden_features} must be even")
    return GluMlp(fc1=vit_dense(in_features, hidden_features, bias),
                  fc2=vit_dense(hidden_features // 2, out_features, bias), act=act, gate_last=gate_last, norm=norm)


@attrs.frozen
class SwiGLU(Module):
    """timm's ``SwiGLU``: ``fc2(norm(act(fc1_g(x)) · fc1_x(x)))``, (..., in) → (..., out)."""

    fc1_g: Dense
    fc1_x: Dense
    fc2: Dense
    act: Callable[[jax.Array], jax.Array] = silu
    norm: Module | None = None

    def apply(self, params, state, x, *, train=False):
        gate, _ = self.fc1_g.apply(params["fc1_g"], state["fc1_g"], x)
        y, _ = self.fc1_x.apply(params["fc1_x"], state["fc1_x"], x)
        y = self.act(gate) * y
        if self.norm is not None:
            y = self.norm.apply(params["norm"], state["norm"], y)[0]
        return self.fc2.apply(params["fc2"], state["fc2"], y)[0], state


def swiglu(in_features: int, hidden_features: int | None = None, out_features: int | None = None, *,
           act: Callable[[jax.Array], jax.Array] = silu, bias: bool = True, norm: Module | None = None) -> SwiGLU:
    """timm's ``SwiGLU(in_features, hidden_features, out_features, act_layer, norm_layer, bias)``;
    ``norm`` is the norm layer built for ``hidden_features`` (or None)."""
    hidden_features = hidden_features or in_features
    out_features = out_features or in_features
    return SwiGLU(fc1_g=vit_dense(in_features, hidden_features, bias), fc1_x=vit_dense(in_features, hidden_features, bias),
                  fc2=vit_dense(hidden_features, out_features, bias), act=act, norm=norm)
