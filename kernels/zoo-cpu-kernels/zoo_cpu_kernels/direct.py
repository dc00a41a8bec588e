"""The direct conv for inputs with few channels (a network's stem: ResNet's 7×7 stride-2 conv on the
image), with a fused per-channel affine and ReLU epilogue (``conv → eval BatchNorm → ReLU`` as one call).

The FFI target ``zoo_direct_conv2d`` (``direct.cc``) takes an already padded x (N, HP, WP, Cin), an HWIO
kernel (KH, KW, Cin, Cout), scale and shift (Cout,), all float32, and computes
``relu?(conv(x, kernel) · scale + shift)`` at stride S with no padding of its own: each kernel row
under an output pixel is one contiguous dot product of length KW·Cin, held 6 pixels × 64 channels
in registers. ``direct_conv2d`` pads (XLA fuses the pad into the producer) and calls it. Under
jax.sharding the call splits along the batch; under ``jax.vmap`` a batch of inputs folds into N.
No autodiff rule: zoo-core adds the VJP.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoo_core.validate import check_bool, check_int, refuse

from zoo_cpu_kernels import _lib
from zoo_cpu_kernels.pointwise import batchable, make_partitioned

DIRECT_TARGET = "zoo_direct_conv2d"
#: The longest kernel row (KW·Cin floats) ``direct_supports`` accepts: the kernel is for stems, whose
#: few input channels the 3×3 and 1×1 kernels (and XLA's convs) handle poorly; wider inputs have those.
DIRECT_MAX_ROW = 64

jax.ffi.register_ffi_target(DIRECT_TARGET, jax.ffi.pycapsule(_lib.ZooDirect), platform="cpu")


def direct_supports(x_dtype, kernel_dtype, *, kernel_shape, stride, dilation) -> bool:
    """Whether ``direct_conv2d`` computes this case: float32 input and kernel, an HWIO kernel with
    KW·Cin at most ``DIRECT_MAX_ROW`` and a positive multiple of 16 output channels, the same stride
    both ways, dilation 1 (any non-negative padding)."""
    stride, dilation = tuple(stride), tuple(dilation)
    return (np.dtype(x_dtype) == np.float32 and np.dtype(kernel_dtype) == np.float32 and len(kernel_shape) == 4
            and 0 < kernel_shape[1] * kernel_shape[2] <= DIRECT_MAX_ROW and kernel_shape[3] > 0
            and kernel_shape[3] % 16 == 0 and dilation == (1, 1) and len(stride) == 2 and stride[0] == stride[1] >= 1)


def _direct_call(config, x, kernel, scale, shift) -> jax.Array:
    stride, relu, max_threads, portable = config
    n, hp, wp, _ = x.shape
    kh, kw, _, cout = kernel.shape
    out = jax.ShapeDtypeStruct((n, (hp - kh) // stride + 1, (wp - kw) // stride + 1, cout), x.dtype)
    return jax.ffi.ffi_call(DIRECT_TARGET, out, vmap_method="sequential")(
        x, kernel, scale, shift, stride=np.int64(stride), relu=np.int64(relu), max_threads=np.int64(max_threads),
        portable=np.int64(portable))


_PARTITIONED = make_partitioned(_direct_call, "a b c o", False)


def _check_operands(x, kernel, scale, shift, pads) -> None:
    where = "direct_conv2d"
    if x.ndim != 4 or x.dtype != jnp.float32:
        raise refuse(where, "x", x, "a float32 (N, H, W, Cin) array")
    if kernel.ndim != 4 or kernel.dtype != jnp.float32 or kernel.shape[2] != x.shape[3] or kernel.shape[3] % 16:
        raise refuse(where, "kernel", kernel, f"float32 (KH, KW, {x.shape[3]}, Cout) with Cout a multiple of 16")
    (top, bottom), (left, right) = pads
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"direct_conv2d: pads must be non-negative, got {pads}")
    if x.shape[1] + top + bottom < kernel.shape[0] or x.shape[2] + left + right < kernel.shape[1]:
        raise ValueError(f"direct_conv2d: the padded input {x.shape[1] + top + bottom}×{x.shape[2] + left + right} "
                         f"is smaller than the kernel {kernel.shape[0]}×{kernel.shape[1]}")
    cout = kernel.shape[3]
    for name, a in (("scale", scale), ("shift", shift)):
        if a.shape != (cout,) or a.dtype != jnp.float32:
            raise refuse(where, name, a, f"a float32 ({cout},) array")


def _conv(x, kernel, scale, shift, *, stride, pads, relu, max_threads=0, portable=False) -> jax.Array:
    stride = check_int("direct_conv2d", "stride", stride, min=1)
    relu = check_bool("direct_conv2d", "relu", relu)
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    cout = kernel.shape[-1] if kernel.ndim == 4 else 0
    scale = jnp.ones((cout,), jnp.float32) if scale is None else jnp.asarray(scale)
    shift = jnp.zeros((cout,), jnp.float32) if shift is None else jnp.asarray(shift)
    pads = tuple(tuple(int(v) for v in p) for p in pads)
    _check_operands(x, kernel, scale, shift, pads)
    if any(v for p in pads for v in p):
        x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    config = (stride, int(relu), int(max_threads), int(portable))
    return batchable(_PARTITIONED, config)(x, (kernel, scale, shift), ())


def direct_conv2d(x: jax.Array, kernel: jax.Array, scale: jax.Array | None = None, shift: jax.Array | None = None,
                  *, stride: int = 1, pads=((0, 0), (0, 0)), relu: bool = False) -> jax.Array:
    """``x`` (N, H, W, Cin) float32, ``kernel`` (KH, KW, Cin, Cout) float32 with Cout a multiple of
    16, ``scale`` and ``shift`` (Cout,) float32 or None (1 and 0), zero padding
    ``((top, bottom), (left, right))`` → ``relu?(conv · scale + shift)`` (N, OH, OW, Cout), where
    ``conv`` is ``lax.conv_general_dilated`` at ``stride`` (the same both ways) with that padding,
    float32 accumulation; OH = (H + top + bottom − KH) // stride + 1. Eval-mode BatchNorm folds into
    ``scale = γ / sqrt(var + eps)``, ``shift = β − mean · scale``. Fast where KW·Cin is small
    (``direct_supports``), correct for any. Not differentiable itself."""
    return _conv(x, kernel, scale, shift, stride=stride, pads=pads, relu=relu)
