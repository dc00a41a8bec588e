"""Compiled CPU kernels for zoo-core, registered with XLA as FFI targets on import.

``depthwise_conv2d(x, kernel, pads)`` is zoo's depthwise conv for the case the kernel covers:
float32, stride 1, dilation 1, channel multiplier 1, non-negative padding. zoo-core calls it from
``zoo_core.nn.depthwise_conv2d`` on the CPU; other code should call that, not this.

``depthwise_layernorm(x, kernel, bias, scale, shift, pads, eps)`` is the same conv followed by its bias
and a LayerNorm over the channels, applied to each output row while it is in cache (ConvNeXt's
``norm(conv_dw(x))``); zoo-core calls it from ``zoo_core.nn.depthwise_layer_norm`` on the CPU.

``fma_peak(threads, seconds)`` is the CPU's float32 multiply-add ceiling in GFLOP/s, the yardstick
``benchmarks/bench_families.py`` prints beside the matmul peak.

``transpose_into(src, dst)`` is the blocked 2-D transpose zoo's weight loader uses to write a
PyTorch (out, in) weight in zoo's (in, out) layout (``SafetensorsFile.read_permuted``).

``grouped_conv2d(x, kernel, groups=, stride=, pads=)`` is zoo's grouped conv (ResNeXt's) for the
cases ``grouped_supports`` names (float32, dilation 1, groups of whole vectors); zoo-core calls it
from ``zoo_core.nn.grouped.grouped_conv2d`` on the CPU.

``dense3x3_conv2d(x, kernel, stride=)`` is the dense 3×3 conv with padding 1 (ResNet's and BiT's),
stride 1 or 2, for the cases ``dense3x3_supports`` names (float32, a multiple of 16 output
channels); zoo-core calls it from ``zoo_core.nn.conv2d`` on the CPU.

``pointwise_conv2d(x, kernel, scale, shift, residual=None, stride=, relu=, gelu=)`` is the 1×1 conv
(stride 1 or 2), or an unpadded patch conv whose kernel is as large as its stride (``POINTWISE_PATCH``), with its eval BatchNorm, residual add and ReLU applied before it stores its output, for
the cases ``pointwise_supports`` names; zoo-core calls it from ``zoo_core.nn.conv_affine`` on the CPU.
Its scale and shift may differ per image (``POINTWISE_PER_IMAGE``: a squeeze-excitation gate folded
into them), and its activation may be the exact GELU instead (``POINTWISE_GELU``: a linear layer
followed by GELU, as in ConvNeXt's and the transformers' MLPs, through ``zoo_core.nn.dense_layer``).

``pointwise_mlp(x, fc1, fc2, residual=None, norm=None)`` is an MLP's two linear layers as one call
(``POINTWISE_MLP``): fc1 with its GELU, fc2 with its residual, optionally a LayerNorm before fc1, each layer
the pointwise kernel's computation bit for bit, the rows in chunks whose hidden activations stay in cache
between the two; zoo-core calls it from ``zoo_core.nn.gelu_mlp_residual`` on the CPU (ConvNeXt's and the
ViTs' MLPs).

``direct_conv2d(x, kernel, scale, shift, stride=, pads=, relu=)`` is the direct conv for inputs with
few channels (a stem: KW·Cin small, ``direct_supports``) with the same kind of affine / ReLU
epilogue; zoo-core calls it from ``zoo_core.nn.conv2d`` and ``conv_affine`` on the CPU.

``kernel_moments(kernel)`` is each column's mean and biased variance of a float32 array viewed as (K, C),
in one read pass (``moments_supports``); zoo-core calls it from ``zoo_core.nn.std_conv.kernel_moments``
on the CPU (BiT's weight standardization).

``conv2d_with_moments(x, kernel, stride=)`` is the dense 3×3 (padding 1) or 1×1 conv together with
its kernel's per-output-channel mean and variance, taken as the conv reads the kernel
(``conv_moments_supports``); zoo-core calls it from ``zoo_core.nn.StdConv2d`` on the CPU (BiT's weight
standardization folded into the conv's output).

``group_norm_act(x, scale, bias, groups=, eps=, relu=, fold=, emit_sums=)`` is GroupNorm followed by
ReLU in one call, optionally on a weight-standardized conv's raw output with its standardization folded
in, and optionally with each pixel's channel sum of the result (``group_norm_supports``); zoo-core calls
it from ``zoo_core.nn.group_norm_act`` on the CPU (BiT's pre-activation norms).

``self_attention(qkv, heads=, scale=)`` is multi-head self-attention read from a qkv layer's output
(N, T, 3·heads·D) and written token-major (N, T, heads·D), for the cases ``attention_supports`` names
(float32, D a multiple of 16); zoo-core calls it from ``zoo_core.nn.attention.qkv_attention`` on the CPU
(ViT's attention).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

TARGET = "zoo_depthwise_conv2d"
DEPTHWISE_LAYERNORM_TARGET = "zoo_depthwise_layernorm"
GROUPED_TARGET = "zoo_grouped_conv2d"
DENSE3X3_TARGET = "zoo_dense3x3_conv2d"
#: Input channels per pass over the kernel (the kernel slice read stays in L2; 64-256 measured alike).
DENSE3X3_CIN_BLOCK = 128


def _library_path() -> Path:
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_kernels{suffix}"
        if path.exists():
            return path
    raise ImportError(f"zoo_cpu_kernels: the compiled library _kernels*.so is missing from {here} "
                      "(install the package with pip so that it is built)")


_lib = ctypes.CDLL(str(_library_path()))
jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(_lib.ZooDepthwiseConv2d), platform="cpu")
jax.ffi.register_ffi_target(DEPTHWISE_LAYERNORM_TARGET, jax.ffi.pycapsule(_lib.ZooDepthwiseLayerNorm),
                            platform="cpu")
jax.ffi.register_ffi_target(GROUPED_TARGET, jax.ffi.pycapsule(_lib.ZooGroupedConv2d), platform="cpu")
jax.ffi.register_ffi_target(DENSE3X3_TARGET, jax.ffi.pycapsule(_lib.ZooDense3x3), platform="cpu")
_lib.ZooTranspose32.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int64] * 4
_lib.ZooTranspose32.restype = None
_lib.ZooFmaPeak.argtypes = [ctypes.c_int64, ctypes.c_double]
_lib.ZooFmaPeak.restype = ctypes.c_double


def _row_stride(a: np.ndarray, name: str) -> int:
    """``a``'s row stride in elements, where its rows are contiguous runs; else a ValueError."""
    rows, cols = a.shape
    if cols > 1 and a.strides[1] != a.itemsize:
        raise ValueError(f"transpose_into: {name}'s rows are not contiguous (strides {a.strides})")
    if rows > 1 and (a.strides[0] < 0 or a.strides[0] % a.itemsize):
        raise ValueError(f"transpose_into: {name}'s row stride {a.strides[0]} is not a positive multiple of "
                         f"its {a.itemsize}-byte elements")
    return a.strides[0] // a.itemsize if rows > 1 else cols


def transpose_into(src: np.ndarray, dst: np.ndarray) -> None:
    """``dst[...] = src.T`` for 2-D arrays of one 4-byte dtype whose rows are contiguous (``dst``
    may be a column slice of a larger array). Releases the GIL while it copies."""
    src, dst = np.asanyarray(src), np.asanyarray(dst)
    if src.ndim != 2 or dst.shape != src.shape[::-1]:
        raise ValueError(f"transpose_into: dst {dst.shape} is not the transpose of src {src.shape}")
    if src.dtype != dst.dtype or src.dtype.itemsize != 4:
        raise ValueError(f"transpose_into: needs one 4-byte dtype on both sides, got {src.dtype} and {dst.dtype}")
    if not dst.flags.writeable:
        raise ValueError("transpose_into: dst is read-only")
    if src.size == 0:  # nothing to write (and an empty array's strides say nothing)
        return
    ld_src, ld_dst = _row_stride(src, "src"), _row_stride(dst, "dst")
    _lib.ZooTranspose32(src.ctypes.data, dst.ctypes.data, src.shape[0], src.shape[1], ld_src, ld_dst)


def fma_peak(threads: int, seconds: float = 0.5) -> float:
    """The CPU's float32 multiply-add ceiling in GFLOP/s: ``threads`` threads, each running 12
    independent chains of the widest vector multiply-adds it has (AVX-512, else AVX2 with FMA, else
    plain floats) for about ``seconds``. A yardstick for the benchmarks: no float32 model runs faster.
    Releases the GIL while it runs."""
    if int(threads) < 1 or not float(seconds) > 0:
        raise ValueError(f"fma_peak: needs threads >= 1 and seconds > 0, got {threads} and {seconds}")
    return float(_lib.ZooFmaPeak(int(threads), float(seconds)))


def supports(x_dtype, kernel_dtype, *, stride, dilation, pads, multiplier: int) -> bool:
    """Whether ``depthwise_conv2d`` computes this case."""
    return (np.dtype(x_dtype) == np.float32 and np.dtype(kernel_dtype) == np.float32 and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and multiplier == 1 and min(v for p in pads for v in p) >= 0)


def _depthwise_call(x: jax.Array, kernel: jax.Array, pads) -> jax.Array:
    n, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    (top, bottom), (left, right) = pads
    out = jax.ShapeDtypeStruct((n, h + top + bottom - kh + 1, w + left + right - kw + 1, c), x.dtype)
    return jax.ffi.ffi_call(TARGET, out, vmap_method="sequential")(
        x, kernel.reshape(kh, kw, c), pad_top=np.int64(top), pad_left=np.int64(left))


def _depthwise_layernorm_call(x: jax.Array, params: jax.Array, config) -> jax.Array:
    pads, (kh, kw), eps = config
    n, h, w, c = x.shape
    (top, bottom), (left, right) = pads
    out = jax.ShapeDtypeStruct((n, h + top + bottom - kh + 1, w + left + right - kw + 1, c), x.dtype)
    return jax.ffi.ffi_call(DEPTHWISE_LAYERNORM_TARGET, out, vmap_method="sequential")(
        x, params, kh=np.int64(kh), kw=np.int64(kw), pad_top=np.int64(top), pad_left=np.int64(left),
        eps=np.float32(eps))


def _narrow(cig: int, cog: int, out_chans: int) -> bool:
    """Groups the compiled kernel covers with vectors of 16 output channels spanning 16 / cg groups."""
    return cig == cog and cig in (2, 4, 8) and out_chans % 16 == 0


def _grouped_call(x: jax.Array, kernel: jax.Array, config) -> jax.Array:
    groups, (sh, sw), ((top, bottom), (left, right)) = config
    n, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    out_hw = ((h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1)
    out = jax.ShapeDtypeStruct((n, *out_hw, cout), x.dtype)
    return jax.ffi.ffi_call(GROUPED_TARGET, out, vmap_method="sequential")(
        x, kernel, groups=np.int64(groups), stride_h=np.int64(sh), stride_w=np.int64(sw), pad_top=np.int64(top),
        pad_left=np.int64(left))


def _dense3x3_call(x: jax.Array, kernel: jax.Array, config) -> jax.Array:
    (stride,) = config
    n, h, w, _ = x.shape
    out = jax.ShapeDtypeStruct((n, (h - 1) // stride + 1, (w - 1) // stride + 1, kernel.shape[3]), x.dtype)
    return jax.ffi.ffi_call(DENSE3X3_TARGET, out, vmap_method="sequential")(
        x, kernel, stride=np.int64(stride), cin_block=np.int64(DENSE3X3_CIN_BLOCK), max_threads=np.int64(0),
        portable=np.int64(0))


def _batch_sharded(mesh, x_sharding):
    spec = getattr(x_sharding, "spec", None)
    return NamedSharding(mesh, P(spec[0] if spec else None))


def _partitioned(call, sharding_rule: str):
    """``call(x, kernel, config)`` (``config`` static) as a ``custom_partitioning`` function: under
    jax.sharding the call splits along the batch (each device convolves its own images); every
    other axis, and the kernel, stay whole. Without this XLA would gather the batch onto every device."""

    @functools.partial(custom_partitioning, static_argnums=(2,))
    def partitioned(x: jax.Array, kernel: jax.Array, config) -> jax.Array:
        return call(x, kernel, config)

    def infer(config, mesh, arg_shapes, result_shape):
        return _batch_sharded(mesh, arg_shapes[0].sharding)

    def partition(config, mesh, arg_shapes, result_shape):
        batch = _batch_sharded(mesh, arg_shapes[0].sharding)
        return mesh, lambda x, kernel: call(x, kernel, config), batch, (batch, NamedSharding(mesh, P()))

    factors = tuple(name for name in sharding_rule.replace(",", " ").replace("->", " ").split() if name != "n")
    partitioned.def_partition(partition=partition, infer_sharding_from_operands=infer, sharding_rule=sharding_rule,
                              need_replication_factors=tuple(dict.fromkeys(factors)))
    return partitioned


_depthwise_partitioned = _partitioned(_depthwise_call, "n h w c, i j o c -> n p q c")
_depthwise_layernorm_partitioned = _partitioned(_depthwise_layernorm_call, "n h w c, t c -> n p q c")
_grouped_partitioned = _partitioned(_grouped_call, "n h w c, i j g o -> n p q o")
_dense3x3_partitioned = _partitioned(_dense3x3_call, "n h w c, i j c o -> n p q o")


@functools.cache
def _batchable(partitioned, config):
    """The partitioned call for one static ``config``, with a batching rule (``custom_partitioning``
    has none): a batch of inputs folds into N, a batch of kernels loops."""

    @jax.custom_batching.custom_vmap
    def conv(x, kernel):
        return partitioned(x, kernel, config)

    @conv.def_vmap
    def _vmapped(axis_size, in_batched, x, kernel):
        x_batched, kernel_batched = in_batched
        if not kernel_batched:
            y = conv(x.reshape(-1, *x.shape[2:]), kernel)
            return y.reshape(axis_size, -1, *y.shape[1:]), True
        if not x_batched:
            x = jnp.broadcast_to(x, (axis_size, *x.shape))
        return lax.map(lambda pair: conv(*pair), (x, kernel)), True

    return conv


def _int_pads(pads) -> tuple[tuple[int, int], tuple[int, int]]:
    return tuple(tuple(int(v) for v in p) for p in pads)


def depthwise_conv2d(x: jax.Array, kernel: jax.Array, pads) -> jax.Array:
    """``x`` (N, H, W, C) float32, ``kernel`` (kh, kw, 1, C) float32, zero padding
    ``((top, bottom), (left, right))`` → (N, H + top + bottom − kh + 1, W + left + right − kw + 1, C)."""
    return _batchable(_depthwise_partitioned, _int_pads(pads))(x, kernel)


def depthwise_layernorm(x: jax.Array, kernel: jax.Array, bias: jax.Array, scale: jax.Array, shift: jax.Array,
                        pads, eps: float) -> jax.Array:
    """``depthwise_conv2d(x, kernel, pads) + bias`` followed by a LayerNorm over the channels (biased
    variance, ``eps``) with ``scale`` and ``shift``: ``x`` (N, H, W, C) float32, ``kernel`` (kh, kw, 1, C),
    ``bias``, ``scale``, ``shift`` (C,), all float32, for the convs ``supports`` names. The normalization
    runs on each output row right after the conv writes it."""
    kh, kw, _, c = kernel.shape
    params = jnp.concatenate([kernel.reshape(kh * kw, c), bias[None], scale[None], shift[None]], axis=0)
    return _batchable(_depthwise_layernorm_partitioned, (_int_pads(pads), (int(kh), int(kw)), float(eps)))(x, params)


def grouped_supports(x_dtype, kernel_dtype, *, groups: int, in_chans: int, out_chans: int, stride, dilation,
                     pads) -> bool:
    """Whether ``grouped_conv2d`` computes this case: float32, dilation 1, non-negative padding, and
    per group either ``cg`` in = out channels with ``cg`` in (2, 4, 8) and ``out_chans`` a multiple
    of 16, or a multiple of 8 output channels."""
    if groups < 1 or in_chans % groups or out_chans % groups:
        return False
    cig, cog = in_chans // groups, out_chans // groups
    return (np.dtype(x_dtype) == np.float32 and np.dtype(kernel_dtype) == np.float32 and tuple(dilation) == (1, 1)
            and min(stride) >= 1 and min(v for p in pads for v in p) >= 0
            and (_narrow(cig, cog, out_chans) or cog % 8 == 0))


def grouped_conv2d(x: jax.Array, kernel: jax.Array, *, groups: int, stride, pads) -> jax.Array:
    """``x`` (N, H, W, Cin) float32, ``kernel`` (kh, kw, Cin / groups, Cout) float32, ``stride``
    ``(sh, sw)``, zero padding ``((top, bottom), (left, right))`` → (N, H', W', Cout), as
    ``lax.conv_general_dilated(..., feature_group_count=groups)``, for the cases ``grouped_supports`` names."""
    config = (int(groups), tuple(int(v) for v in stride), _int_pads(pads))
    return _batchable(_grouped_partitioned, config)(x, kernel)


def dense3x3_supports(x_dtype, kernel_dtype, *, kernel_shape, stride, dilation, pads) -> bool:
    """Whether ``dense3x3_conv2d`` computes this case: float32, a (3, 3, Cin, Cout) kernel with Cout
    a multiple of 16, padding 1 on every side, dilation 1, stride 1 or 2 (the same both ways)."""
    return (np.dtype(x_dtype) == np.float32 and np.dtype(kernel_dtype) == np.float32
            and tuple(kernel_shape[:2]) == (3, 3) and kernel_shape[3] % 16 == 0
            and tuple(dilation) == (1, 1) and tuple(stride) in ((1, 1), (2, 2))
            and _int_pads(pads) == ((1, 1), (1, 1)))


def dense3x3_conv2d(x: jax.Array, kernel: jax.Array, *, stride: int) -> jax.Array:
    """``x`` (N, H, W, Cin) float32, ``kernel`` (3, 3, Cin, Cout) float32 → (N, (H - 1) // stride + 1,
    (W - 1) // stride + 1, Cout): ``lax.conv_general_dilated`` with padding 1, for the cases
    ``dense3x3_supports`` names. A register-blocked direct conv (6-7 output pixels × 64 output
    channels per block), read from the HWIO kernel in place."""
    return _batchable(_dense3x3_partitioned, (int(stride),))(x, kernel)


# The kernels with their own modules (they import _lib and the sharding helpers above).
from zoo_cpu_kernels.attention import ATTENTION_TARGET as ATTENTION_TARGET  # noqa: E402
from zoo_cpu_kernels.attention import attention_supports as attention_supports  # noqa: E402
from zoo_cpu_kernels.attention import self_attention as self_attention  # noqa: E402
from zoo_cpu_kernels.conv_moments import conv2d_with_moments as conv2d_with_moments  # noqa: E402
from zoo_cpu_kernels.conv_moments import conv_moments_supports as conv_moments_supports  # noqa: E402
from zoo_cpu_kernels.direct import DIRECT_TARGET as DIRECT_TARGET  # noqa: E402
from zoo_cpu_kernels.direct import direct_conv2d as direct_conv2d  # noqa: E402
from zoo_cpu_kernels.direct import direct_supports as direct_supports  # noqa: E402
from zoo_cpu_kernels.group_norm import GROUP_NORM_TARGET as GROUP_NORM_TARGET  # noqa: E402
from zoo_cpu_kernels.group_norm import group_norm_act as group_norm_act  # noqa: E402
from zoo_cpu_kernels.group_norm import group_norm_supports as group_norm_supports  # noqa: E402
from zoo_cpu_kernels.moments import MOMENTS_TARGET as MOMENTS_TARGET  # noqa: E402
from zoo_cpu_kernels.moments import kernel_moments as kernel_moments  # noqa: E402
from zoo_cpu_kernels.moments import moments_supports as moments_supports  # noqa: E402
from zoo_cpu_kernels.pointwise import MLP_CHUNK_FLOATS as MLP_CHUNK_FLOATS  # noqa: E402
from zoo_cpu_kernels.pointwise import POINTWISE_GELU as POINTWISE_GELU  # noqa: E402
from zoo_cpu_kernels.pointwise import POINTWISE_LAYERNORM as POINTWISE_LAYERNORM  # noqa: E402
from zoo_cpu_kernels.pointwise import POINTWISE_MLP as POINTWISE_MLP  # noqa: E402
from zoo_cpu_kernels.pointwise import POINTWISE_PATCH as POINTWISE_PATCH  # noqa: E402
from zoo_cpu_kernels.pointwise import POINTWISE_PER_IMAGE as POINTWISE_PER_IMAGE  # noqa: E402
from zoo_cpu_kernels.pointwise import POINTWISE_PROLOGUE as POINTWISE_PROLOGUE  # noqa: E402
from zoo_cpu_kernels.pointwise import POINTWISE_TARGET as POINTWISE_TARGET  # noqa: E402
from zoo_cpu_kernels.pointwise import pointwise_conv2d as pointwise_conv2d  # noqa: E402
from zoo_cpu_kernels.pointwise import pointwise_mlp as pointwise_mlp  # noqa: E402
from zoo_cpu_kernels.pointwise import pointwise_supports as pointwise_supports  # noqa: E402
