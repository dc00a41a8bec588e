"""ConvNeXt's two heads, as timm's ``ConvNeXt`` picks them by ``head_norm_first``.

| ours | timm | tree |
| --- | --- | --- |
| ``NormMlpClassifierHead`` | ``NormMlpClassifierHead`` (pool → norm → [``pre_logits``: Linear, GELU] → fc) | ``head/norm``, [``head/pre_logits/fc``], ``head/fc`` |
| ``ClassifierHead`` | ``ClassifierHead`` (pool → fc), after the model's ``norm_pre`` | ``head/fc`` |

The released models use the first; ``head_hidden_size`` (``convnext_large_mlp``: 1536, the CLIP
towers' projection MLP) adds its ``pre_logits`` layer. ``_hnf`` ("head norm first") models norm
the feature map before pooling (``norm_pre``, part of ``forward_features``) and pool straight into
the classifier. ``fc`` is ``None`` with no classes.
"""

from __future__ import annotations

import attrs

from zoo_core import nn

from zoo_convnext.blocks import KERNEL_INIT


def dense(in_features: int, out_features: int) -> nn.Dense:
    return nn.Dense(in_features, out_features, kernel_init=KERNEL_INIT, bias_init=nn.initializers.zeros)


@attrs.frozen
class PreLogits(nn.Module):
    """``head.pre_logits``: ``gelu(fc(x))`` (timm's ``nn.Sequential(fc=Linear, act=GELU)``)."""

    fc: nn.Dense

    def apply(self, params, state, x, *, train=False):
        return nn.gelu(self.fc.apply(params["fc"], {}, x)[0]), state


@attrs.frozen
class NormMlpClassifierHead(nn.Module):
    """Global average pool → norm → optional ``pre_logits`` → ``fc``: (N, H, W, C) → (N, num_classes)."""

    norm: nn.Module
    pre_logits: PreLogits | None
    fc: nn.Dense | None

    def forward(self, params, x, *, pre_logits=False):
        """Logits, or with ``pre_logits=True`` (or no ``fc``) the (N, hidden or C) before ``fc``."""
        x, _ = self.norm.apply(params["norm"], {}, nn.global_avg_pool(x))
        if self.pre_logits is not None:
            x, _ = self.pre_logits.apply(params["pre_logits"], {}, x)
        if pre_logits or self.fc is None:
            return x
        return self.fc.apply(params["fc"], {}, x)[0]

    def apply(self, params, state, x, *, train=False):
        return self.forward(params, x), state


@attrs.frozen
class ClassifierHead(nn.Module):
    """Global average pool → ``fc``: (N, H, W, C) → (N, num_classes) (the ``_hnf`` head)."""

    fc: nn.Dense | None

    def forward(self, params, x, *, pre_logits=False):
        x = nn.global_avg_pool(x)
        if pre_logits or self.fc is None:
            return x
        return self.fc.apply(params["fc"], {}, x)[0]

    def apply(self, params, state, x, *, train=False):
        return self.forward(params, x), state


def make_head(num_features: int, num_classes: int, *, norm, head_norm_first: bool,
              head_hidden_size: int | None) -> NormMlpClassifierHead | ClassifierHead:
    """timm's head for these options (``head_norm_first`` takes no hidden layer, as timm asserts)."""
    if head_norm_first:
        return ClassifierHead(dense(num_features, num_classes) if num_classes else None)
    pre_logits = PreLogits(dense(num_features, head_hidden_size)) if head_hidden_size else None
    width = head_hidden_size or num_features
    return NormMlpClassifierHead(norm(num_features), pre_logits, dense(width, num_classes) if num_classes else None)
