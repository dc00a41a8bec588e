"""ResNetV2's weight mapping: the trees mirror timm's module names; one rule for the 1×1-conv head.

Derived for every leaf (``zoo_core.interop.tree_mapping``):

| timm key | our path | transform |
| --- | --- | --- |
| ``stem.conv.weight`` (or ``stem.conv1/2/3.weight``), ``stages.i.blocks.j.convK.weight``, ``….downsample.conv.weight`` | ``params/…/kernel`` | OIHW → HWIO (BiT's stored unstandardized) |
| ``….normK.weight`` / ``.bias``, ``stem.normK.…``, ``norm.weight`` / ``.bias`` | ``params/…/scale`` / ``bias`` | none |
| ``….normK.running_mean`` / ``running_var`` (BatchNorm models) | ``state/…/mean`` / ``var`` | none |
| ``….normK.v`` (EvoNorm-S0, ``resnetv2_50d_evos``) | ``params/…/v`` | none |
| ``head.fc.weight`` (O, I, 1, 1) | ``params/head/fc/kernel`` (I, O) | ``conv1x1_to_dense`` (the rule below) |
| ``head.fc.bias`` | ``params/head/fc/bias`` | none |

``num_batches_tracked`` buffers are ignored; ``in_chans`` (``stem.conv.weight`` or
``stem.conv1.weight``, the variant's ``first_conv``) and ``num_classes`` (``head.fc.*``) are
handled by the core.
"""

from zoo_core.interop import conv1x1_to_dense, tree_mapping

RULES = [
    (r"head/fc/kernel", "head.fc.weight", conv1x1_to_dense),
]


def weight_mapping(variant, model, params, state):
    return tree_mapping(params, state, RULES)
