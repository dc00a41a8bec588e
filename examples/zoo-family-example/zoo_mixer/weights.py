"""timm MLP-Mixer state dict → zoo params.

Our tree mirrors timm's module names, so the leaf-name convention maps every key and no rule is
needed: ``stem.proj.weight`` (OIHW) → ``stem/proj/kernel`` (HWIO); the ``mlp_tokens`` and
``mlp_channels`` linears (``fc1``, ``fc2``) and ``head`` (out, in) → ``kernel`` (in, out);
``norm*.weight`` → ``scale``; biases as they are.
"""

from __future__ import annotations

from zoo_core.interop import tree_mapping
from zoo_core.registry import Variant

from zoo_mixer.model import MlpMixer


def weight_mapping(variant: Variant, model: MlpMixer, params, state):
    """``(timm_key, path, transform)`` for every leaf of the model as built."""
    return tree_mapping(params, state)
