"""The optional compiled CPU kernels (``zoo-cpu-kernels``, import ``zoo_cpu_kernels``): found when
installed, turned off with ``ZOO_CPU_KERNELS=0``. zoo-core works the same without them, slower
in these places: ConvNeXt's depthwise convs (``zoo_core.nn.depthwise_conv2d``), ResNeXt's grouped
convs (``zoo_core.nn.grouped.grouped_conv2d``), ResNet's and BiT's dense 3×3 convs
(``zoo_core.nn.conv2d``), ResNet's 1×1 convs with their BatchNorm (``zoo_core.nn.conv_affine``),
BiT's weight moments (``zoo_core.nn.std_conv.kernel_moments``, and taken inside the 3×3 and 1×1 convs by
``zoo_core.nn.std_conv.conv2d_with_kernel_moments``), GroupNorm and BiT's GroupNorm + ReLU
(``zoo_core.nn.group_norm_act``), ViT's self-attention
(``zoo_core.nn.attention.qkv_attention``) and the layout copy of (out, in) weights while loading
(``SafetensorsFile.read_permuted``)."""

from __future__ import annotations

import functools
import os


@functools.cache
def import_cpu_kernels():
    """The ``zoo_cpu_kernels`` module when it is installed (whatever ``ZOO_CPU_KERNELS`` says), else ``None``."""
    try:
        import zoo_cpu_kernels
    except ImportError:
        return None
    return zoo_cpu_kernels


def cpu_kernels():
    """The ``zoo_cpu_kernels`` module when it is installed and not turned off with
    ``ZOO_CPU_KERNELS=0``, else ``None``."""
    if os.environ.get("ZOO_CPU_KERNELS", "1") == "0":
        return None
    return import_cpu_kernels()
