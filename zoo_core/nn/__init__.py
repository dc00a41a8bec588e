"""zoo's functional layer library: attrs modules with ``init(key) -> (params, state)`` and
``apply(params, state, x, *, train=False) -> (y, state)``, NHWC throughout, each numerically equal
to its timm counterpart. See ``docs/layers.md`` for the table of layers and their state-dict keys."""

from zoo_core.nn.activations import gelu, gelu_tanh, get_act, relu, sigmoid, silu
from zoo_core.nn.attention import (
    MultiHeadSelfAttention,
    RelPosAttention2d,
    RelPosBias,
    dot_product_attention,
    mhsa,
    rel_pos_attention,
    rel_pos_index,
)
from zoo_core.nn.conv import Conv2d, conv2d, get_padding
from zoo_core.nn.depthwise import depthwise_conv2d
from zoo_core.nn.grn import GlobalResponseNorm, GlobalResponseNormMlp, grn, grn_mlp
from zoo_core.nn.initializers import (
    kaiming_normal_fan_out,
    normal_init,
    torch_default,
    trunc_normal_init,
)
from zoo_core.nn.layer_scale import LayerScale
from zoo_core.nn.linear import Dense
from zoo_core.nn.module import Identity, Module, Params, Sequential, State, abstract_init, split_keys
from zoo_core.nn.norm import BatchNorm, GroupNorm, LayerNorm, layernorm2d, vit_layernorm
from zoo_core.nn.pool import MaxPool2d, avg_pool2d, global_avg_pool, max_pool2d
from zoo_core.nn.pos_embed import resample_abs_pos_embed
from zoo_core.nn.se import SEBlock, se_block, se_make_divisible
from zoo_core.nn.std_conv import StdConv2d, std_conv
from zoo_core.nn.transformer import Mlp, PatchEmbed, VitBlock, mlp, patch_embed, vit_block

__all__ = [
    "BatchNorm", "Conv2d", "Dense", "GlobalResponseNorm", "GlobalResponseNormMlp", "GroupNorm",
    "Identity", "LayerNorm", "LayerScale", "MaxPool2d", "Mlp", "Module", "MultiHeadSelfAttention", "Params",
    "PatchEmbed", "RelPosAttention2d", "RelPosBias", "SEBlock", "Sequential", "State", "StdConv2d", "VitBlock",
    "abstract_init", "avg_pool2d", "conv2d", "depthwise_conv2d", "dot_product_attention", "gelu", "gelu_tanh", "get_act",
    "get_padding", "global_avg_pool", "grn", "grn_mlp", "kaiming_normal_fan_out", "layernorm2d",
    "max_pool2d", "mhsa", "mlp", "normal_init", "patch_embed", "rel_pos_attention", "rel_pos_index", "relu",
    "resample_abs_pos_embed", "se_block", "se_make_divisible", "split_keys", "sigmoid", "silu", "std_conv", "torch_default",
    "trunc_normal_init", "vit_block", "vit_layernorm",
]
