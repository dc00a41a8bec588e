"""tinynet's mapping: our tree mirrors the PyTorch module names, so the defaults do it all."""

from zoo_core.interop import tree_mapping


def weight_mapping(variant, model, params, state):
    return tree_mapping(params, state)
