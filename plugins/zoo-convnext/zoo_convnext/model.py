"""ConvNeXt: timm's ``ConvNeXt`` (``timm/models/convnext.py``) as pure JAX functions, NHWC.

Papers:
* `A ConvNet for the 2020s` - https://arxiv.org/abs/2201.03545
* `ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders` - https://arxiv.org/abs/2301.00808
  (the same network with Global Response Normalization in the MLP: ``use_grn=True``; see zoo-convnextv2)
* `Reproducible scaling laws for contrastive language-image learning` - https://arxiv.org/abs/2212.07143
  (the LAION/OpenCLIP ``clip_*`` towers)
* `DINOv3` - https://arxiv.org/abs/2508.10104; `Efficient Universal Perception Encoder` - https://arxiv.org/abs/2603.22387

Weights and their licenses: ``variants.py`` and ``licenses.py``.

The architecture, with the options timm's registered models use:

* stem (``blocks.make_stem``): a ``patch_size`` "patchify" conv and a norm, or (``_ols`` models)
  two overlapping 3×3 stride-2 convs and a norm;
* four stages; stages 2–4 open with a downsample (norm, then a 2×2 stride-2 conv);
* blocks: depthwise k×k conv (``kernel_sizes``, per stage) → norm → MLP (Linear, activation,
  [GRN,] Linear) → LayerScale (``gamma``, v1 only) → residual add;
* head (``head.py``): pool → norm → [Linear + GELU, ``head_hidden_size``] → Linear; or with
  ``head_norm_first`` a norm on the map (``norm_pre``) → pool → Linear.

Norms are timm's ``LayerNorm`` (eps 1e-6, or ``norm_eps``: 1e-5 for ``convnext_xxlarge``) or
``SimpleNorm`` (``norm_layer='simplenorm'``, ``convnext_zepto_rms``). On NHWC every norm works over
the last axis, so timm's ``conv_mlp`` choice (1×1 convs and ``LayerNorm2d`` on NCHW, or
``nn.Linear`` and ``LayerNorm`` on NHWC) is the same computation here: it only changes the layout
of the MLP weights in the checkpoint (``weights.py``). Trees mirror timm's module names. Stochastic
depth and dropout (training-time regularizers) are not implemented: ``train=True`` computes the same
function as eval (ConvNeXt has no BatchNorm).
"""

from __future__ import annotations

import attrs

from zoo_core import nn
from zoo_core.features import FeatureInfo
from zoo_core.models import Model
from zoo_core.registry import Variant

from zoo_convnext.blocks import ConvNeXtStage, conv, make_stage, make_stem, stem_reduction
from zoo_convnext.config import ConvNeXtConfig, checked_config
from zoo_convnext.head import ClassifierHead, NormMlpClassifierHead, dense, make_head
from zoo_convnext.layers import make_norm

__all__ = ["ConvNeXt", "ConvNeXtConfig", "build_model", "conv", "dense"]


@attrs.frozen
class ConvNeXt(Model):
    """timm's ``ConvNeXt``. ``apply``: (N, H, W, in_chans) → (N, num_classes), or the (N,
    head width) pooled features when ``num_classes == 0``. Any H, W ≥ 32 works (the network is
    fully convolutional; sizes that are not multiples of 32 floor as in timm)."""

    in_chans: int
    num_classes: int
    num_features: int
    stem: nn.Sequential
    stages: tuple[ConvNeXtStage, ...]
    norm_pre: nn.Module | None
    head: NormMlpClassifierHead | ClassifierHead
    stem_stride: int = 4

    @classmethod
    def create(cls, config: ConvNeXtConfig, *, in_chans: int = 3, num_classes: int = 1000) -> ConvNeXt:
        norm, act = make_norm(config.norm_layer, config.norm_eps), nn.get_act(config.act_layer)
        dims = config.dims
        stem = make_stem(config.stem_type, in_chans, dims[0], patch_size=config.patch_size, norm=norm, act=act)
        stages, prev = [], dims[0]
        first_stride = stem_reduction(config.stem_type, config.patch_size)
        for i, (dim, depth) in enumerate(zip(dims, config.depths)):
            stages.append(make_stage(prev, dim, depth, stage_stride(i, first_stride), norm=norm,
                                     kernel_size=config.kernel_sizes[i], mlp_ratio=config.mlp_ratio, use_grn=config.use_grn,
                                     ls_init_value=config.ls_init_value, act=act))
            prev = dim
        head = make_head(prev, num_classes, norm=norm, head_norm_first=config.head_norm_first,
                         head_hidden_size=config.head_hidden_size)
        return cls(in_chans, num_classes, config.head_hidden_size or prev, stem, tuple(stages),
                   norm(prev) if config.head_norm_first else None, head, first_stride)

    def _stage(self, params, state, i, x):
        return self.stages[i].apply(params["stages"][str(i)], state["stages"][str(i)], x)[0]

    def _norm_pre(self, params, x):
        return x if self.norm_pre is None else self.norm_pre.apply(params["norm_pre"], {}, x)[0]

    def forward_features(self, params, state, x, *, train=False):
        """Stem, stages and (``_hnf``) ``norm_pre``: (N, H, W, in_chans) → (N, H/32, W/32, C)."""
        self.check_input(x)
        x, _ = self.stem.apply(params["stem"], state["stem"], x)
        for i in range(len(self.stages)):
            x = self._stage(params, state, i, x)
        return self._norm_pre(params, x), state

    def feature_info(self) -> list[FeatureInfo]:
        """timm's ``feature_info``: the output of each stage (``stages.i``), at its stride."""
        info, reduction = [], self.stem_stride
        for i, stage in enumerate(self.stages):
            reduction *= stage_stride(i, reduction)
            info.append(FeatureInfo(stage.blocks[-1].conv_dw.out_chans, reduction, f"stages.{i}"))
        return info

    def forward_intermediates(self, params, state, x, indices, *, norm=False, final=False, stop_early=False,
                              train=False):
        """The stage outputs at ``indices`` (resolved ints into ``feature_info()``), NHWC, in the
        order asked. ``norm=True``: the last stage's map through ``norm_pre`` (timm's meaning: only
        ``_hnf`` models have one; elsewhere a no-op). Without ``final`` no stage past the last index
        asked runs (timm's ``stop_early``); with it the result is ``(maps, features)``, ``features``
        being ``forward_features``'s output, or with ``stop_early`` too that of the network cut after
        the last index asked (``norm_pre`` only if that is the last stage, as timm). Returns
        ``(result, state)``."""
        self.check_input(x)
        last = len(self.stages) - 1
        stop = last if final and not stop_early else max(indices)
        x, _ = self.stem.apply(params["stem"], state["stem"], x)
        maps = {}
        for i in range(stop + 1):
            x = self._stage(params, state, i, x)
            if i in indices:
                maps[i] = self._norm_pre(params, x) if norm and i == last else x
        out = [maps[i] for i in indices]
        if final:
            return (out, self._norm_pre(params, x) if stop == last else x), state
        return out, state

    def forward_head(self, params, x, *, pre_logits=False):
        """Pool → [norm] → [pre-logits MLP] → fc: (N, h, w, C) → (N, num_classes); with
        ``pre_logits=True`` (or ``num_classes == 0``) the (N, num_features) vector before ``fc``."""
        return self.head.forward(params["head"], x, pre_logits=pre_logits)


def stage_stride(i: int, stride_before: int) -> int:
    """timm's rule: every stage but the first halves the map; the first does too after a stride-2 stem."""
    return 2 if i > 0 or stride_before == 2 else 1


KEEP = object()  # a builder keyword left at the architecture's own value


def build_model(variant: Variant, *, in_chans: int, num_classes: int, depths=KEEP, dims=KEEP, kernel_sizes=KEEP,
                ls_init_value=KEEP, head_hidden_size=KEEP, norm_eps=KEEP) -> ConvNeXt:
    """The ConvNeXt of ``variant.arch_kwargs`` (every ``convnext_*`` of timm's table; zoo-convnextv2's
    ``convnextv2_*`` too). The keywords override the architecture as timm's ``create_model(name,
    depths=..., dims=..., ...)`` does (a reduced model for tests, say): ``depths`` and ``dims`` 4
    ints ≥ 1, ``kernel_sizes`` an odd int or 4 of them, ``ls_init_value`` a number > 0 or None,
    ``head_hidden_size`` an int ≥ 1 or None, ``norm_eps`` a number > 0 or None. Released weights
    load only into the architecture they were made for. Anything else raises ``ArgumentError``."""
    given = dict(depths=depths, dims=dims, kernel_sizes=kernel_sizes, ls_init_value=ls_init_value,
                 head_hidden_size=head_hidden_size, norm_eps=norm_eps)
    overrides = {k: v for k, v in given.items() if v is not KEEP}
    config = checked_config(variant.name, variant.arch_kwargs, overrides)
    return ConvNeXt.create(config, in_chans=in_chans, num_classes=num_classes)
