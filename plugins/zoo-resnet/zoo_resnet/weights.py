"""ResNet's weight mapping: the trees mirror timm's module names, so no rule is needed.

Derived for every leaf (``zoo_core.interop.tree_mapping``):

| timm key | our path | transform |
| --- | --- | --- |
| ``conv1.weight`` / deep stem ``conv1.{0,3,6}.weight``, ``layerN.i.convK.weight``, ``…downsample.{0,1}.weight``, ResNet-RS ``maxpool.0.weight`` | ``params/…/kernel`` | OIHW → HWIO |
| ``…bnK.weight`` / ``.bias`` (BatchNorm or GroupNorm), stem ``conv1.{1,4}``, ``…downsample.{1,2}`` | ``params/…/scale`` / ``bias`` | none |
| ``…running_mean`` / ``running_var`` | ``state/…/mean`` / ``var`` | none |
| SE ``…se.fc1.weight`` / ``.bias``, ``…se.fc2.*`` | ``params/…/se/fc1/kernel`` / ``bias`` … | OIHW → HWIO (1×1) |
| ECA ``…se.conv.weight`` (1, 1, k) | ``params/…/se/conv/kernel`` (1, 1, k) | none |
| ``fc.weight`` / ``fc.bias`` | ``params/fc/kernel`` / ``bias`` | (out, in) → (in, out) |

``num_batches_tracked`` buffers are ignored, BlurPool's filter is no checkpoint key (timm's buffer
is non-persistent: ours is computed); ``in_chans`` and ``num_classes`` are handled by the core.
"""

from zoo_core.interop import tree_mapping


def weight_mapping(variant, model, params, state):
    return tree_mapping(params, state)
