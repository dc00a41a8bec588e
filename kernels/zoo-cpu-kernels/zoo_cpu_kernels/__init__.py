"""Compiled CPU kernels for zoo-core, registered with XLA as FFI targets on import.

``depthwise_conv2d(x, kernel, pads)`` is zoo's depthwise conv for the case the kernel covers:
float32, stride 1, dilation 1, channel multiplier 1, non-negative padding. zoo-core calls it from
``zoo_core.nn.depthwise_conv2d`` on the CPU; other code should call that, not this.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
from pathlib import Path

import jax
import numpy as np

TARGET = "zoo_depthwise_conv2d"


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


def supports(x_dtype, kernel_dtype, *, stride, dilation, pads, multiplier: int) -> bool:
    """Whether ``depthwise_conv2d`` computes this case."""
    return (np.dtype(x_dtype) == np.float32 and np.dtype(kernel_dtype) == np.float32 and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and multiplier == 1 and min(v for p in pads for v in p) >= 0)


def depthwise_conv2d(x: jax.Array, kernel: jax.Array, pads) -> jax.Array:
    """``x`` (N, H, W, C) float32, ``kernel`` (kh, kw, 1, C) float32, zero padding
    ``((top, bottom), (left, right))`` → (N, H + top + bottom − kh + 1, W + left + right − kw + 1, C)."""
    n, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    (top, bottom), (left, right) = pads
    out = jax.ShapeDtypeStruct((n, h + top + bottom - kh + 1, w + left + right - kw + 1, c), x.dtype)
    return jax.ffi.ffi_call(TARGET, out, vmap_method="sequential")(
        x, kernel.reshape(kh, kw, c), pad_top=np.int64(top), pad_left=np.int64(left))
