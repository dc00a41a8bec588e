"""zoo's functional layer library: attrs modules with ``init(key) -> (params, state)`` and
``apply(params, state, x, *, train=False) -> (y, state)``, NHWC throughout, each numerically equal
to its timm counterpart. See ``docs/layers.md`` for the table of layers and their state-dict keys."""

from zoo_core.nn.activations import gelu, gelu_tanh, get_act, quick_gelu, relu, sigmoid, silu
from zoo_core.nn.attention import (
    MultiHeadSelfAttention,
    RelPosAttention2d,
    RelPosBias,
    dot_product_attention,
    mhsa,
    rel_pos_attention,
    rel_pos_index,
)
from zoo_core.nn.attention_pool import AttentionPoolLatent, attention_pool_latent
from zoo_core.nn.blur import BlurPool2d, binomial_filter, blur_pool2d, create_aa
from zoo_core.nn.conv import Conv2d, conv2d, get_padding
from zoo_core.nn.depthwise import depthwise_conv2d
from zoo_core.nn.diff_attention import DiffAttention, diff_attention
from zoo_core.nn.eca import EcaModule, eca_kernel_size, eca_module
from zoo_core.nn.evonorm import EvoNorm2dS0
from zoo_core.nn.fused import (
    conv_affine,
    conv_norm_act,
    dense_affine,
    dense_layer,
    depthwise_layer_norm,
    gelu_mlp_residual,
)
from zoo_core.nn.grn import GlobalResponseNorm, GlobalResponseNormMlp, grn, grn_mlp
from zoo_core.nn.grouped import grouped_conv2d
from zoo_core.nn.initializers import (
    kaiming_normal_fan_out,
    normal_init,
    torch_default,
    trunc_normal_init,
)
from zoo_core.nn.layer_scale import LayerScale
from zoo_core.nn.linear import Dense
from zoo_core.nn.mlp import GluMlp, SwiGLU, glu_mlp, swiglu
from zoo_core.nn.module import Identity, Module, Params, Sequential, State, abstract_init, split_keys
from zoo_core.nn.norm import (
    BatchNorm,
    GroupNorm,
    LayerNorm,
    RmsNorm,
    group_norm_act,
    layer_norm,
    layernorm2d,
    vit_layernorm,
)
from zoo_core.nn.pool import AvgPool2d, MaxPool2d, avg_pool2d, global_avg_pool, max_pool2d
from zoo_core.nn.pos_embed import resample_abs_pos_embed
from zoo_core.nn.se import SEBlock, se_block, se_make_divisible
from zoo_core.nn.std_conv import StdConv2d, std_conv
from zoo_core.nn.transformer import Mlp, PatchEmbed, VitBlock, mlp, patch_embed, vit_block

__all__ = [
    "AttentionPoolLatent", "AvgPool2d", "BatchNorm", "BlurPool2d", "EcaModule", "EvoNorm2dS0", "Conv2d", "Dense", "DiffAttention", "GluMlp", "GlobalResponseNorm",
    "GlobalResponseNormMlp", "GroupNorm", "Identity", "LayerNorm", "LayerScale", "MaxPool2d", "Mlp", "Module",
    "MultiHeadSelfAttention", "Params", "PatchEmbed", "RelPosAttention2d", "RelPosBias", "RmsNorm", "SEBlock",
    "SwiGLU", "Sequential", "State", "StdConv2d", "VitBlock", "abstract_init", "attention_pool_latent",
    "avg_pool2d", "binomial_filter", "blur_pool2d", "conv2d", "conv_affine", "conv_norm_act", "dense_affine", "dense_layer", "depthwise_layer_norm", "gelu_mlp_residual", "create_aa", "depthwise_conv2d", "grouped_conv2d", "diff_attention", "dot_product_attention", "eca_kernel_size", "eca_module", "gelu", "gelu_tanh",
    "get_act", "get_padding", "glu_mlp", "global_avg_pool", "grn", "grn_mlp", "group_norm_act", "kaiming_normal_fan_out",
    "layer_norm", "layernorm2d", "max_pool2d", "mhsa", "mlp", "normal_init", "patch_embed", "quick_gelu", "rel_pos_attention",
    "rel_pos_index", "relu", "resample_abs_pos_embed", "se_block", "se_make_divisible", "split_keys", "sigmoid",
    "silu", "std_conv", "swiglu", "torch_default", "trunc_normal_init", "vit_block", "vit_layernorm",
]
