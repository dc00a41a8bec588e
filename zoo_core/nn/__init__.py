"""zoo's functional layer library: attrs modules with ``init(key) -> (params, state)`` and
``apply(params, state, x, *, train=False) -> (y, state)``, NHWC throughout, each numerically equal
to its timm counterpart. See ``docs/layers.md`` for the table of layers and their state-dict keys."""

from zoo_core.nn.activations import gelu, gelu_tanh, get_act, relu, sigmoid, silu
from zoo_core.nn.conv import Conv2d, conv2d, get_padding
from zoo_core.nn.depthwise import depthwise_conv2d
from zoo_core.nn.initializers import (
    kaiming_normal_fan_out,
    normal_init,
    torch_default,
    trunc_normal_init,
)
from zoo_core.nn.linear import Dense
from zoo_core.nn.module import Activation, Identity, Module, Params, Sequential, State
from zoo_core.nn.norm import BatchNorm, GroupNorm, LayerNorm, layernorm2d, vit_layernorm
from zoo_core.nn.pool import MaxPool2d, avg_pool2d, global_avg_pool, global_max_pool, max_pool2d

__all__ = [
    "Activation", "BatchNorm", "Conv2d", "Dense", "GroupNorm", "Identity", "LayerNorm", "MaxPool2d",
    "Module", "Params", "Sequential", "State", "avg_pool2d", "conv2d", "depthwise_conv2d", "gelu",
    "gelu_tanh", "get_act", "get_padding", "global_avg_pool", "global_max_pool", "kaiming_normal_fan_out",
    "layernorm2d", "max_pool2d", "normal_init", "relu", "sigmoid", "silu", "torch_default",
    "trunc_normal_init", "vit_layernorm",
]
