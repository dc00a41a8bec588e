"""ConvNeXt's weight mapping: the trees mirror timm's module names.

Derived for every leaf (``zoo_core.interop.tree_mapping``):

| timm key | our path | transform |
| --- | --- | --- |
| ``stem.{0,1,2,3}.weight`` (convs), ``stages.i.downsample.1.weight``, ``stages.i.blocks.j.conv_dw.weight`` | ``params/…/kernel`` | OIHW → HWIO |
| ``stem.{1,2,3}.weight`` (norm), ``stages.i.downsample.0.weight``, ``….norm.weight``, ``head.norm.weight``, ``norm_pre.weight`` | ``params/…/scale`` | none |
| ``stages.i.blocks.j.mlp.fc1.weight`` / ``fc2.weight``, ``head.pre_logits.fc.weight``, ``head.fc.weight`` | ``params/…/kernel`` | (out, in) → (in, out) |
| ``stages.i.blocks.j.gamma`` (v1), ``….mlp.grn.weight`` / ``bias`` (V2) | ``…/gamma``, ``…/grn/scale`` / ``bias`` | none |
| every ``bias`` | ``params/…/bias`` | none |

One rule: where timm builds the MLP from 1×1 convs (``conv_mlp=True`` in the architecture row:
v1 atto … nano, their ``_ols`` stems, zepto, ``tiny_hnf``; ConvNeXt-V2 atto … nano) the
``mlp.fc1``/``fc2`` weights are (out, in, 1, 1) and map with ``conv1x1_to_dense``. The
``simplenorm`` norms (``zepto_rms``) have a ``weight`` and no ``bias``. ``in_chans`` and
``num_classes`` are handled by the core.
"""

from zoo_core.interop import conv1x1_to_dense, tree_mapping

CONV_MLP_RULE = (r"stages/(\d+)/blocks/(\d+)/mlp/(fc[12])/kernel", r"stages.\1.blocks.\2.mlp.\3.weight",
                 conv1x1_to_dense)


def weight_mapping(variant, model, params, state, *, conv_mlp: bool | None = None):
    """(timm key, path, transform) for every leaf of ``model``'s trees; ``conv_mlp``: the
    checkpoint holds the MLP weights in timm's 1×1 conv layout (default: the architecture row's)."""
    if conv_mlp is None:
        conv_mlp = variant.arch_kwargs.get("conv_mlp", False)
    return tree_mapping(params, state, rules=[CONV_MLP_RULE] if conv_mlp else [])
