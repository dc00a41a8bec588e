"""PyTorch and Hugging Face plumbing: safetensors I/O, layout transforms, state-dict application
and export, parity fixtures and Hub downloads through huggingface_hub's own cache."""

from zoo_core.interop.export import to_state_dict
from zoo_core.interop.hub import hf_hub_cache_dir, hf_hub_download
from zoo_core.interop.infer import MappingProposal, infer_mapping
from zoo_core.interop.mapping import default_transform, tree_mapping
from zoo_core.interop.parity import Parity, read_parity, write_parity
from zoo_core.interop.safetensors_io import SafetensorsFile, load_safetensors_state_dict, save_safetensors
from zoo_core.interop.state_dict import apply_state_dict, tree_leaves_with_paths
from zoo_core.interop.transforms import (
    AdaptInputConv,
    Compose,
    Custom,
    Identity,
    NotInvertibleError,
    Permute,
    Reshape,
    Reverse,
    Transform,
    adapt_input_conv,
    as_transform,
    axis_reverse,
    compose,
    conv1x1_to_dense,
    conv_to_hwio,
    identity,
    linear_to_dense,
    pyperm,
)

__all__ = [
    "AdaptInputConv", "Compose", "Custom", "Identity", "MappingProposal", "NotInvertibleError", "Parity", "Permute",
    "Reshape", "Reverse", "SafetensorsFile", "Transform", "adapt_input_conv", "apply_state_dict", "as_transform",
    "axis_reverse", "compose", "conv1x1_to_dense", "conv_to_hwio", "default_transform", "hf_hub_cache_dir",
    "hf_hub_download", "identity", "infer_mapping", "linear_to_dense", "load_safetensors_state_dict", "pyperm",
    "read_parity", "save_safetensors", "to_state_dict", "tree_leaves_with_paths", "tree_mapping", "write_parity",
]
