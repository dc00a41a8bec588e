"""Depthwise convolution (``groups == in_chans``), exact on every backend and fast on CPU.

XLA's CPU backend lowers a grouped ``lax.conv_general_dilated`` through a generic path: a 7×7
depthwise conv on (8, 56, 56, 96) takes ~180 ms there, against ~4 ms in PyTorch. Written as a
sum of ``kh·kw`` shifted, per-channel-scaled copies of the padded input, the same conv is one
fused elementwise loop that XLA vectorizes over channels. ``depthwise_conv2d`` picks the
formulation per backend with ``lax.platform_dependent``: the shifted sum on CPU, ``lax.conv`` on
GPU and TPU (where cuDNN / the TPU compiler have real depthwise kernels). Both compute the same
function; they differ only in float32 rounding order (≤ 1e-5 relative on unit-scale inputs).

The shifted sum keeps ``kh`` independent partial sums (one per kernel row, added at the end), so
the CPU's FMA units are not serialized on a single 49-long dependency chain, and it loops over
blocks of 8 channels: each block's taps stay in L1, and the loop body stays one fusion whatever
surrounds the conv in a model. Its backward pass is its own (``_cpu_depthwise``): the
input gradient is the same shifted sum with the flipped kernel, the kernel gradient an FFT
cross-correlation. See ``benchmarks/bench_depthwise.py`` for the measurements behind these choices.

Where the optional package ``zoo-cpu-kernels`` is installed, the CPU path (forward and input
gradient) hands the float32, stride-1, multiplier-1 case — every depthwise conv of ConvNeXt — to
its compiled kernel, an XLA FFI call 1.5–5× faster than the shifted sum (by shape and CPU:
``benchmarks/bench_depthwise.py``). ``ZOO_CPU_KERNELS=0`` turns it off; every other case keeps the
shifted sum.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from zoo_core.kernels import cpu_kernels, import_cpu_kernels
from zoo_core.nn.conv import explicit_pads, output_hw, pair

#: Kernels with more taps than this go through ``lax.conv`` on every backend: the unrolled sum
#: would grow the program (and its compile time) with the kernel area.
MAX_SHIFTED_TAPS = 81

#: Channels per iteration of the CPU formulation's loop: 8 float32, one AVX vector.
CHANNEL_BLOCK = 8

Padding = str | tuple[tuple[int, int], tuple[int, int]] | list


def depthwise_conv2d(x: jax.Array, kernel: jax.Array, *, stride=(1, 1), padding: Padding = ((0, 0), (0, 0)),
                     dilation=(1, 1), precision=None, cpu_kernel: bool | None = None) -> jax.Array:
    """Depthwise conv: ``x`` (N, H, W, C), ``kernel`` (kh, kw, 1, C·m) → (N, H', W', C·m).

    Output channel ``c·m + r`` convolves input channel ``c`` with ``kernel[..., c·m + r]``
    (``torch.nn.Conv2d(C, C·m, groups=C)``). ``stride`` and ``dilation`` are ints or pairs;
    ``padding`` is ``"SAME"``, ``"VALID"`` or ``((top, bottom), (left, right))`` (negative values
    crop, as in ``lax``). ``precision`` applies to the ``lax.conv`` path (GPU/TPU). On CPU the
    conv has a custom VJP: ``jax.grad``/``jax.vjp`` work, forward mode (``jax.jvp``) does not.

    ``cpu_kernel``: on the CPU, use zoo-cpu-kernels' compiled kernel where it covers the case
    (``None``, the default: when it is installed and ``ZOO_CPU_KERNELS`` is not ``0``, read when
    the calling function is traced; ``False``: never, the pure-JAX shifted sum).
    """
    stride, dilation = pair(stride), pair(dilation)
    kh, kw, kernel_in, out_chans = kernel.shape
    chans = x.shape[-1]
    if x.ndim != 4 or kernel_in != 1 or out_chans % chans:
        raise ValueError(f"depthwise_conv2d: needs x (N, H, W, C) and kernel (kh, kw, 1, C·m); "
                         f"got x {x.shape} and kernel {kernel.shape}")
    pads = explicit_pads(padding, x.shape[1:3], (kh, kw), stride, dilation)
    reference = functools.partial(_lax_depthwise, stride=stride, pads=pads, dilation=dilation, precision=precision)
    out_hw = output_hw(x.shape[1:3], (kh, kw), stride, pads, dilation)
    if kh * kw > MAX_SHIFTED_TAPS or min(out_hw) <= 0:
        return reference(x, kernel)
    compiled = (cpu_kernel is not False) and cpu_kernels() is not None
    shifted = functools.partial(_cpu_depthwise, stride=stride, pads=pads, dilation=dilation, compiled=compiled)
    return lax.platform_dependent(x, kernel, cpu=shifted, default=reference)


def _lax_depthwise(x, kernel, *, stride, pads, dilation, precision):
    return lax.conv_general_dilated(
        x, kernel.astype(x.dtype), window_strides=stride, padding=pads, rhs_dilation=dilation,
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=x.shape[-1], precision=precision,
    )


def _cpu_sum(x, kernel, *, stride, pads, dilation, compiled: bool):
    """The CPU conv: the compiled kernel where allowed and it covers the case, else the shifted sum."""
    kernels = import_cpu_kernels() if compiled else None
    if kernels is not None and kernels.supports(x.dtype, kernel.dtype, stride=stride, dilation=dilation, pads=pads,
                                                multiplier=kernel.shape[-1] // x.shape[-1]):
        return kernels.depthwise_conv2d(x, kernel, pads)
    return _shifted_sum_depthwise(x, kernel, stride=stride, pads=pads, dilation=dilation)


def _shifted_sum_depthwise(x, kernel, *, stride, pads, dilation):
    """The conv as ``Σ_ij kernel[i, j] · x_padded[i·dh + sh·y, j·dw + sw·x]``, float32 accumulation.

    The sum runs as a loop over blocks of ``CHANNEL_BLOCK`` channels (when C divides into more
    than one): each block's taps stay in L1 for all of its pixels, and the loop body is a fusion of
    its own. Inlined into a larger program, the same sum over all channels gets split by XLA's
    fusion passes into slices and kernel broadcasts materialized at full activation size (in
    convnext_tiny: 640 MB of temporaries instead of 200 MB, and 35% slower).
    """
    kh, kw, _, out_chans = kernel.shape
    n, h, w, chans = x.shape
    acc_dtype = jnp.promote_types(x.dtype, jnp.float32)
    xa = x.astype(acc_dtype)
    if out_chans > chans:  # channel multiplier m: output channel c·m + r reads input channel c
        xa = jnp.repeat(xa, out_chans // chans, axis=-1)
    (top, bottom), (left, right) = pads
    xp = lax.pad(xa, jnp.zeros((), acc_dtype), ((0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)))
    out_h, out_w = output_hw((h, w), (kh, kw), stride, pads, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    k = kernel[:, :, 0, :].astype(acc_dtype)

    def shifted_sum(xp, k):
        """(N, Hp, Wp, B) and (kh, kw, B) → (N, H', W', B): one partial sum per kernel row, so the
        FMAs are not serialized on a single kh·kw-long dependency chain."""
        def tap(i, j):
            limit = (n, i * dh + (out_h - 1) * sh + 1, j * dw + (out_w - 1) * sw + 1, xp.shape[3])
            return lax.slice(xp, (0, i * dh, j * dw, 0), limit, (1, sh, sw, 1)) * k[i, j]

        rows = [functools.reduce(jnp.add, (tap(i, j) for j in range(kw))) for i in range(kh)]
        return functools.reduce(jnp.add, rows)

    block = CHANNEL_BLOCK
    if out_chans % block or out_chans == block:
        return shifted_sum(xp, k).astype(x.dtype)

    def block_step(b, out):
        xb = lax.dynamic_slice_in_dim(xp, b * block, block, axis=3)
        kb = lax.dynamic_slice_in_dim(k, b * block, block, axis=2)
        return lax.dynamic_update_slice_in_dim(out, shifted_sum(xb, kb), b * block, axis=3)

    out = lax.fori_loop(0, out_chans // block, block_step, jnp.zeros((n, out_h, out_w, out_chans), acc_dtype))
    return out.astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _cpu_depthwise(x, kernel, stride, pads, dilation, compiled):
    """The shifted sum, with a backward pass built from the same fast pieces (what XLA derives
    from the sum itself is ~50× slower and takes seconds to compile)."""
    return _cpu_sum(x, kernel, stride=stride, pads=pads, dilation=dilation, compiled=compiled)


def _cpu_depthwise_fwd(x, kernel, stride, pads, dilation, compiled):
    return _cpu_depthwise(x, kernel, stride, pads, dilation, compiled), (x, kernel)


def _cpu_depthwise_bwd(stride, pads, dilation, compiled, residuals, grad):
    x, kernel = residuals
    return (_input_grad(grad, kernel, x.shape, stride=stride, pads=pads, dilation=dilation,
                        compiled=compiled).astype(x.dtype),
            _kernel_grad(x, grad, kernel.shape, stride=stride, pads=pads, dilation=dilation).astype(kernel.dtype))


_cpu_depthwise.defvjp(_cpu_depthwise_fwd, _cpu_depthwise_bwd)


def _input_grad(grad, kernel, in_shape, *, stride, pads, dilation, compiled=False):
    """∂L/∂x: the transposed conv, as a stride-1 shifted sum of the stride-dilated ``grad`` with the
    flipped kernel (padding as ``lax``'s conv transpose rule), summed over the channel multiplier."""
    n, h, w, chans = in_shape
    kh, kw, _, out_chans = kernel.shape
    (sh, sw), (dh, dw) = stride, dilation
    zero = jnp.zeros((), grad.dtype)
    dilated = lax.pad(grad, zero, ((0, 0, 0), (0, 0, sh - 1), (0, 0, sw - 1), (0, 0, 0)))
    grad_pads = []
    for size, k, d, (lo, _), out in zip((h, w), (kh, kw), (dh, dw), pads, dilated.shape[1:3]):
        span = (k - 1) * d + 1
        before = span - 1 - lo
        grad_pads.append((before, size + span - 1 - out - before))
    flipped = kernel[::-1, ::-1]
    per_output = _cpu_sum(dilated, flipped, stride=(1, 1), pads=tuple(grad_pads), dilation=dilation,
                          compiled=compiled)
    return per_output.reshape(n, h, w, chans, out_chans // chans).sum(-1)


def _kernel_grad(x, grad, kernel_shape, *, stride, pads, dilation):
    """∂L/∂kernel[i, j, 0, o] = Σ_{n,y,x} grad[n, y, x, o] · x_padded[n, sh·y + dh·i, sw·x + dw·j, o // m]:
    per (image, channel) a cross-correlation evaluated at the kh×kw kernel offsets, computed with
    FFTs over (H, W) (a direct sum is 49 full passes over the activations, ~10× slower here)."""
    kh, kw, _, out_chans = kernel_shape
    (sh, sw), (dh, dw) = stride, dilation
    acc_dtype = jnp.promote_types(x.dtype, jnp.float32)
    xa = x.astype(acc_dtype)
    if out_chans > x.shape[-1]:
        xa = jnp.repeat(xa, out_chans // x.shape[-1], axis=-1)
    (top, bottom), (left, right) = pads
    zero = jnp.zeros((), acc_dtype)
    xp = lax.pad(xa, zero, ((0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)))
    g = lax.pad(grad.astype(acc_dtype), zero, ((0, 0, 0), (0, 0, sh - 1), (0, 0, sw - 1), (0, 0, 0)))
    size = xp.shape[1:3]
    # (N, H, W, C) → (N, C, H, W): the FFT runs over the two minor axes.
    spectrum_x = jnp.fft.rfft2(xp.transpose(0, 3, 1, 2), s=size)
    spectrum_g = jnp.fft.rfft2(g.transpose(0, 3, 1, 2), s=size)
    correlation = jnp.fft.irfft2(jnp.sum(spectrum_x * jnp.conj(spectrum_g), axis=0), s=size)
    offsets = correlation[:, : (kh - 1) * dh + 1 : dh, : (kw - 1) * dw + 1 : dw]
    return offsets.transpose(1, 2, 0)[:, :, None, :]
