"""ConvNeXt V2's weight mapping: zoo-convnext's (the trees mirror timm's module names), with the
MLP weights of atto, femto, pico and nano in timm's 1×1 conv layout (``conv1x1_to_dense``).

| timm key | our path | transform |
| --- | --- | --- |
| ``stages.i.blocks.j.mlp.grn.weight`` / ``bias`` | ``params/stages/i/blocks/j/mlp/grn/scale`` / ``bias`` | none |
| ``stages.i.blocks.j.mlp.fc1.weight`` / ``fc2.weight`` (atto … nano) | ``…/mlp/fc1/kernel`` / ``fc2/kernel`` | (out, in, 1, 1) → (in, out) |
| ``stages.i.blocks.j.mlp.fc1.weight`` / ``fc2.weight`` (tiny … huge) | ``…/mlp/fc1/kernel`` / ``fc2/kernel`` | (out, in) → (in, out) |

Everything else as in zoo-convnext's ``weights.py``.
"""

from zoo_convnext.weights import weight_mapping as convnext_mapping


def weight_mapping(variant, model, params, state):
    """zoo-convnext's mapping, with the MLP in timm's 1×1 conv layout where the architecture row
    says ``conv_mlp`` (``variant.arch_kwargs``)."""
    return convnext_mapping(variant, model, params, state, conv_mlp=variant.arch_kwargs.get("conv_mlp", False))
