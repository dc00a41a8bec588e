"""A conv that also returns its kernel's per-output-channel moments, taken as it reads the kernel
(BiT's weight standardization folded into the conv's output: ``zoo_core.nn.StdConv2d`` calls this on
the CPU).

``conv2d_with_moments(x, kernel, stride=)`` is the dense 3×3 conv with padding 1 (``dense3x3.cc``,
target ``zoo_dense3x3_moments``) or the unpadded 1×1 conv (``pointwise.cc``, target
``zoo_pointwise_moments``) of the raw kernel, and ``(2, Cout)``: each output channel's mean and biased
variance over (kh, kw, Cin), as ``kernel_moments`` computes them (sums of ``w - w[0, o]``, here in
float32 over runs of 8 rows and in double across runs: the mean within ~1e-7 of the channel's
spread, as the separate pass). The first register block of one work item per block of 64
output channels adds the kernel vectors it loads to those sums, so the kernel is read from memory
once for both, where a
separate moments pass reads every weight once more (at batch 1 the weights are most of what a conv
reads). Under jax.sharding the conv splits along the batch and the moments are whole on every
device; under ``jax.vmap`` a batch of inputs folds into N and a batch of kernels loops.
No autodiff rule: zoo-core adds the VJP.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from zoo_cpu_kernels import DENSE3X3_CIN_BLOCK, _batch_sharded, _lib, dense3x3_supports
from zoo_cpu_kernels.pointwise import POINTWISE_CIN_BLOCK, pointwise_supports

DENSE3X3_MOMENTS_TARGET = "zoo_dense3x3_moments"
POINTWISE_MOMENTS_TARGET = "zoo_pointwise_moments"

jax.ffi.register_ffi_target(DENSE3X3_MOMENTS_TARGET, jax.ffi.pycapsule(_lib.ZooDense3x3Moments), platform="cpu")
jax.ffi.register_ffi_target(POINTWISE_MOMENTS_TARGET, jax.ffi.pycapsule(_lib.ZooPointwiseMoments), platform="cpu")


def conv_moments_supports(x_dtype, kernel_dtype, *, kernel_shape, stride, dilation=(1, 1), pads) -> bool:
    """Whether ``conv2d_with_moments`` computes this case: float32, at least one input channel, and
    either a (3, 3, Cin, Cout) kernel that ``dense3x3_supports`` takes (padding 1) or a
    (1, 1, Cin, Cout) kernel without padding that ``pointwise_supports`` takes (stride 1 or 2, Cout a
    multiple of 16)."""
    if len(kernel_shape) != 4 or kernel_shape[2] < 1 or tuple(dilation) != (1, 1):
        return False
    pads = tuple(tuple(int(v) for v in p) for p in pads)
    if tuple(kernel_shape[:2]) == (1, 1):
        return (pads == ((0, 0), (0, 0)) and tuple(stride) in ((1, 1), (2, 2))
                and pointwise_supports(x_dtype, kernel_dtype, out_chans=kernel_shape[3], stride=tuple(stride)))
    return dense3x3_supports(x_dtype, kernel_dtype, kernel_shape=kernel_shape, stride=stride, dilation=dilation,
                             pads=pads)


def _call(x: jax.Array, kernel: jax.Array, config) -> tuple[jax.Array, jax.Array]:
    stride, portable = config
    n, h, w, _ = x.shape
    cout = kernel.shape[3]
    out = (jax.ShapeDtypeStruct((n, (h - 1) // stride + 1, (w - 1) // stride + 1, cout), x.dtype),
           jax.ShapeDtypeStruct((2, cout), jnp.float32))
    common = {"stride": np.int64(stride), "max_threads": np.int64(0), "portable": np.int64(portable)}
    if kernel.shape[:2] == (1, 1):
        ones, zeros = jnp.ones(cout, jnp.float32), jnp.zeros(cout, jnp.float32)
        return jax.ffi.ffi_call(POINTWISE_MOMENTS_TARGET, out, vmap_method="sequential")(
            x, kernel.reshape(kernel.shape[2:]), ones, zeros, relu=np.int64(0), gelu=np.int64(0),
            has_residual=np.int64(0), cin_block=np.int64(POINTWISE_CIN_BLOCK), prologue=np.int64(0),
            prologue_eps=np.float32(0), **common)
    return jax.ffi.ffi_call(DENSE3X3_MOMENTS_TARGET, out, vmap_method="sequential")(
        x, kernel, cin_block=np.int64(DENSE3X3_CIN_BLOCK), **common)


@functools.partial(custom_partitioning, static_argnums=(2,))
def _partitioned(x: jax.Array, kernel: jax.Array, config) -> tuple[jax.Array, jax.Array]:
    return _call(x, kernel, config)


def _infer(config, mesh, arg_shapes, result_shape):
    return _batch_sharded(mesh, arg_shapes[0].sharding), NamedSharding(mesh, P())


def _partition(config, mesh, arg_shapes, result_shape):
    batch, whole = _batch_sharded(mesh, arg_shapes[0].sharding), NamedSharding(mesh, P())
    return mesh, lambda x, kernel: _call(x, kernel, config), (batch, whole), (batch, whole)


_partitioned.def_partition(partition=_partition, infer_sharding_from_operands=_infer,
                           sharding_rule="n h w c, i j c o -> n p q o, t o",
                           need_replication_factors=("h", "w", "c", "i", "j", "o", "p", "q", "t"))


@functools.cache
def _batchable(config):
    """The partitioned call with a batching rule: a batch of inputs folds into N (one set of
    moments); a batch of kernels loops."""

    @jax.custom_batching.custom_vmap
    def conv(x, kernel):
        return _partitioned(x, kernel, config)

    @conv.def_vmap
    def _vmapped(axis_size, in_batched, x, kernel):
        x_batched, kernel_batched = in_batched
        if not kernel_batched:
            y, moments = conv(x.reshape(-1, *x.shape[2:]), kernel)
            return (y.reshape(axis_size, -1, *y.shape[1:]), moments), (True, False)
        if not x_batched:
            x = jnp.broadcast_to(x, (axis_size, *x.shape))
        return lax.map(lambda pair: conv(*pair), (x, kernel)), (True, True)

    return conv


def conv2d_with_moments(x: jax.Array, kernel: jax.Array, *, stride: int = 1,
                        portable: bool = False) -> tuple[jax.Array, jax.Array]:
    """``x`` (N, H, W, Cin) float32, ``kernel`` (3, 3, Cin, Cout) (padding 1) or (1, 1, Cin, Cout)
    (no padding) float32, Cout a multiple of 16, ``stride`` 1 or 2 → ``(y, moments)``: ``y`` the conv
    (N, (H - 1) // stride + 1, (W - 1) // stride + 1, Cout) of the kernel as given, ``moments``
    (2, Cout) its per-output-channel mean (row 0) and biased variance (row 1) over (kh, kw, Cin).
    ``portable`` takes the plain loops an older CPU would (for tests). Not differentiable itself."""
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    stride = int(stride)
    pads = ((1, 1), (1, 1)) if kernel.shape[:2] == (3, 3) else ((0, 0), (0, 0))
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[2] != x.shape[3] or not conv_moments_supports(
            x.dtype, kernel.dtype, kernel_shape=kernel.shape, stride=(stride, stride), pads=pads):
        raise ValueError(f"conv2d_with_moments: needs float32 x (N, H, W, Cin) and a float32 (3, 3, Cin, Cout) or "
                         f"(1, 1, Cin, Cout) kernel with Cin >= 1 and Cout a multiple of 16, stride 1 or 2; got x "
                         f"{x.dtype} {x.shape}, kernel {kernel.dtype} {kernel.shape}, stride {stride}")
    return _batchable((stride, int(bool(portable))))(x, kernel)
