"""tinynet: stem (conv 3×3 → BN → ReLU), one strided conv stage, global pool, fc."""

from __future__ import annotations

import attrs

from zoo_core import nn
from zoo_core.models import Model


@attrs.frozen
class ConvBnAct(nn.Module):
    conv: nn.Conv2d
    bn: nn.BatchNorm

    def apply(self, params, state, x, *, train=False):
        x, _ = self.conv.apply(params["conv"], state["conv"], x)
        x, bn_state = self.bn.apply(params["bn"], state["bn"], x, train=train)
        return nn.relu(x), {"conv": {}, "bn": bn_state}


def conv_bn_act(cin, cout, stride):
    return ConvBnAct(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm(cout))


@attrs.frozen
class TinyNet(Model):
    in_chans: int
    num_classes: int
    num_features: int
    stem: ConvBnAct
    stage: ConvBnAct
    fc: nn.Module

    def forward_features(self, params, state, x, *, train=False):
        self.check_input(x)
        x, stem_state = self.stem.apply(params["stem"], state["stem"], x, train=train)
        x, stage_state = self.stage.apply(params["stage"], state["stage"], x, train=train)
        return x, {"stem": stem_state, "stage": stage_state, "fc": {}}

    def feature_info(self):
        from zoo_core.features import FeatureInfo

        return [FeatureInfo(self.stem.conv.out_chans, 1, "stem"), FeatureInfo(self.num_features, 2, "stage")]

    def forward_intermediates(self, params, state, x, indices, *, train=False):
        maps = []
        x, stem_state = self.stem.apply(params["stem"], state["stem"], x, train=train)
        maps.append(x)
        x, stage_state = self.stage.apply(params["stage"], state["stage"], x, train=train)
        maps.append(x)
        return [maps[i] for i in indices], {"stem": stem_state, "stage": stage_state, "fc": {}}

    def forward_head(self, params, x, *, pre_logits=False):
        x = nn.global_avg_pool(x)
        if pre_logits or self.num_classes == 0:
            return x
        return self.fc.apply(params["fc"], {}, x)[0]


def build_model(variant, *, in_chans, num_classes):
    w1, w2 = variant.arch_kwargs["widths"]
    fc = nn.Dense(w2, num_classes) if num_classes else nn.Identity()
    return TinyNet(in_chans, num_classes, w2, conv_bn_act(in_chans, w1, 1), conv_bn_act(w1, w2, 2), fc)
