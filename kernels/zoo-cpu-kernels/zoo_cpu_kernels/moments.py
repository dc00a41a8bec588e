"""Per-output-channel mean and biased variance of a float32 kernel in one pass over it (weight
standardization: ``zoo_core.nn.std_conv.kernel_moments`` calls this on the CPU).

The FFI target ``zoo_kernel_moments`` (``moments.cc``) views the kernel as (K, C), C its last
dimension (HWIO: K = kh·kw·in, C = out), and sums ``w - w[0, c]`` and its square per column in
double precision, rows split over XLA's intra-op thread pool. Weights are replicated under
jax.sharding, so a plain ``ffi_call`` is all it needs. Under ``jax.vmap`` the batch goes to the same
target as one call (a (B, 2, C) result: B matrices, each shifted by its own first row), which is how
zoo-core takes GroupNorm's per-image channel statistics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoo_cpu_kernels import _lib

MOMENTS_TARGET = "zoo_kernel_moments"

jax.ffi.register_ffi_target(MOMENTS_TARGET, jax.ffi.pycapsule(_lib.ZooKernelMoments), platform="cpu")


def moments_supports(dtype) -> bool:
    """Whether ``kernel_moments`` takes a kernel of this dtype (float32 only)."""
    return np.dtype(dtype) == np.float32


def _moments_call(kernel: jax.Array, batched: bool = False) -> jax.Array:
    out = jax.ShapeDtypeStruct(kernel.shape[:1] * batched + (2, kernel.shape[-1]), jnp.float32)
    return jax.ffi.ffi_call(MOMENTS_TARGET, out)(kernel)


@jax.custom_batching.custom_vmap
def _moments(kernel: jax.Array) -> jax.Array:
    return _moments_call(kernel)


@_moments.def_vmap
def _moments_vmapped(axis_size, in_batched, kernel):
    return _moments_batched(kernel), True


@jax.custom_batching.custom_vmap
def _moments_batched(kernel: jax.Array) -> jax.Array:
    """(B, ..., C) → (B, 2, C) in one call."""
    return _moments_call(kernel, batched=True)


@_moments_batched.def_vmap
def _moments_batched_vmapped(axis_size, in_batched, kernel):
    stats = _moments_batched(kernel.reshape(-1, *kernel.shape[2:]))
    return stats.reshape(axis_size, -1, *stats.shape[1:]), True


def kernel_moments(kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``kernel`` float32 of rank >= 1 with at least one row, viewed as (K, C) with C its last
    dimension → (mean, var), each (C,) float32: every column's mean and biased variance over its K
    values. Not differentiable itself (zoo-core wraps it in a ``custom_vjp``)."""
    kernel = jnp.asarray(kernel)
    if kernel.ndim < 1 or not moments_supports(kernel.dtype):
        raise ValueError(f"kernel_moments: needs a float32 array of rank >= 1, got {kernel.dtype} {kernel.shape}")
    if kernel.size == 0 and kernel.shape[-1] != 0:
        raise ValueError(f"kernel_moments: the kernel {kernel.shape} has no rows to take moments over")
    stats = _moments(kernel)
    return stats[0], stats[1]
