"""ResNet's weight mapping: the trees mirror timm's module names, so no rule is needed.

Derived for every leaf (``zoo_core.interop.tree_mapping``):

| timm key | our path | transform |
| --- | --- | --- |
| ``conv1.weight``, ``layerN.i.convK.weight``, ``layerN.0.downsample.0.weight`` | ``params/…/kernel`` | OIHW → HWIO |
| ``…bnK.weight`` / ``.bias``, ``…downsample.1.weight`` / ``.bias`` | ``params/…/scale`` / ``bias`` | none |
| ``…bnK.running_mean`` / ``running_var`` | ``state/…/mean`` / ``var`` | none |
| ``fc.weight`` / ``fc.bias`` | ``params/fc/kernel`` / ``bias`` | (out, in) → (in, out) |

``num_batches_tracked`` buffers are ignored; ``in_chans`` and ``num_classes`` are handled by the core.
"""

from zoo_core.interop import tree_mapping


def weight_mapping(variant, model, params, state):
    return tree_mapping(params, state)
