"""Grouped convolution (``1 < groups < in_chans``, ResNeXt's 3×3 convs), exact on every backend and
fast on CPU.

XLA's CPU backend runs ``lax.conv_general_dilated`` with ``feature_group_count`` through a slow
generic path (YNNPACK in jax 0.10): ResNeXt-50's layer1 conv ((8, 56, 56, 128), 32 groups of 4
channels) takes ~100 ms there, against ~3 ms in PyTorch (oneDNN). On the CPU, ``grouped_conv2d``
splits the channels into *super-blocks* of about ``SUPER_BLOCK`` input channels (whole groups)
and runs each as one dense conv whose kernel is block-diagonal: the groups' kernels on the
diagonal, exact zeros elsewhere. Each output is the same sum as the grouped conv's plus exact
zeros, at ``SUPER_BLOCK / cg`` times the multiply-adds, but in XLA's fast dense conv: ~12 ms for
the layer1 conv above. GPU and TPU keep ``feature_group_count`` (cuDNN and the TPU compiler have
real grouped kernels); ``lax.platform_dependent`` picks per backend.

Formulations measured on the CPU (``benchmarks/bench_grouped.py``), slower than the super-blocks
at every ResNeXt shape: ``feature_group_count`` (4-10×); one dense conv over all channels (what
zoo did up to 128 channels; the waste grows with the width); super-blocks of 16 or 64 channels,
or of one group each (no waste, but 32 tiny convs); a batched ``einsum`` over the groups per
kernel tap; im2col per group with one batched matmul (5-20×: XLA's CPU dot is slow with the
groups as a batch axis and 4-32 channels to contract).

Where the optional package ``zoo-cpu-kernels`` is installed, the float32 cases its compiled kernel
covers (dilation 1; groups of 2, 4 or 8 channels in and out, or of a multiple of 8 output
channels) run as one XLA FFI call instead, 1.5-6× faster than the super-blocks and, core for core,
0.9-2.5× the speed of PyTorch's oneDNN. Its backward pass is the super-block formulation's
gradient, except the input gradient of stride-1 convs: a compiled grouped conv again.
``ZOO_CPU_KERNELS=0`` turns it off.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from zoo_core import validate
from zoo_core.kernels import cpu_kernels, import_cpu_kernels
from zoo_core.nn.conv import block_diagonal_kernel, dense_conv, explicit_pads, pair

#: Input channels per super-block on the CPU: ``max(SUPER_BLOCK, cg)`` rounded to whole groups.
#: 32 was the fastest at every ResNeXt-50 shape (cg 4-32, batch 8); 16 ties at cg 16, 64 and one
#: dense conv over 128 channels take 1.5-3× as long.
SUPER_BLOCK = 32

#: More super-blocks than this run forward as a ``lax.map`` over them instead of one conv each in
#: the program: the same speed at ResNeXt-50's 14² and 7² shapes (16 and 32 super-blocks), where
#: the unrolled convs took 0.7 and 1.3 s to compile each (the whole model: 7-8 s; with the map 4 s;
#: before this module 2 s); at the larger shapes (4 and 8 super-blocks) the map's layout copies
#: cost 30-150% more time. The backward pass is unrolled in every case (see ``_mapped``).
MAX_UNROLLED_BLOCKS = 8

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")

Pads = str | tuple[tuple[int, int], tuple[int, int]] | list


def grouped_conv2d(x: jax.Array, kernel: jax.Array, *, groups: int, stride=(1, 1), pads: Pads = ((0, 0), (0, 0)),
                   dilation=(1, 1), precision=None, cpu_kernel: bool | None = None) -> jax.Array:
    """Grouped conv: ``x`` (N, H, W, Cin), ``kernel`` (kh, kw, Cin / groups, Cout) → (N, H', W', Cout),
    as ``lax.conv_general_dilated(..., feature_group_count=groups)`` (``torch.nn.Conv2d(groups=...)``).

    ``stride`` and ``dilation`` are ints or pairs; ``pads`` is ``"SAME"``, ``"VALID"`` or
    ``((top, bottom), (left, right))``. The kernel is cast to ``x``'s dtype. ``cpu_kernel``: on the
    CPU, use zoo-cpu-kernels' compiled kernel where it covers the case (``None``, the default: when
    it is installed and ``ZOO_CPU_KERNELS`` is not ``0``, read when the caller is traced;
    ``False``: never, the pure-JAX super-blocks).
    """
    where = "grouped_conv2d"
    groups = validate.check_int(where, "groups", groups, min=1)
    if x.ndim != 4 or kernel.ndim != 4:
        raise validate.refuse(where, "kernel", kernel.shape, f"(kh, kw, Cin / groups, Cout) for x (N, H, W, Cin); "
                              f"x has shape {x.shape}")
    cin, (kh, kw, cig, cout) = x.shape[-1], kernel.shape
    if cin % groups or cout % groups or cig * groups != cin:
        raise validate.refuse(where, "groups", groups, f"a divisor of Cin {cin} and Cout {cout} with "
                              f"Cin / groups = {cig} (kernel {kernel.shape})")
    stride, dilation = pair(stride), pair(dilation)
    pads = explicit_pads(pads, x.shape[1:3], (kh, kw), stride, dilation)
    kernel = kernel.astype(x.dtype)
    # The super-blocks' dense convs as dense_conv (on the CPU, one matmul where the input is smaller than the
    # kernel); elsewhere XLA's grouped conv.
    conv = functools.partial(dense_conv, window_strides=stride, padding=pads, rhs_dilation=dilation,
                             dimension_numbers=DIMENSION_NUMBERS, precision=precision)
    if groups == 1:
        return conv(x, kernel)
    reference = functools.partial(lax.conv_general_dilated, window_strides=stride, padding=pads,
                                  rhs_dilation=dilation, dimension_numbers=DIMENSION_NUMBERS, precision=precision,
                                  feature_group_count=groups)
    split = functools.partial(super_block_conv, conv=conv, groups=groups)
    compiled = (cpu_kernel is not False) and cpu_kernels() is not None
    if compiled and _kernel_covers(x, kernel, groups=groups, stride=stride, pads=pads, dilation=dilation):
        cpu = functools.partial(_compiled_conv, stride=stride, pads=pads, groups=groups, fallback=split)
    else:
        cpu = split
    return lax.platform_dependent(x, kernel, cpu=cpu, default=reference)


def super_block_groups(groups: int, cig: int, block: int = SUPER_BLOCK) -> int:
    """Groups per super-block: the largest divisor of ``groups`` whose channels fit in ``block``
    (at least one group)."""
    fit = max(1, block // cig)
    return max(d for d in range(1, min(fit, groups) + 1) if groups % d == 0)


def super_block_conv(x: jax.Array, kernel: jax.Array, *, conv, groups: int, block: int = SUPER_BLOCK) -> jax.Array:
    """``conv`` (a dense ``lax.conv_general_dilated`` with stride, padding etc. bound) of ``groups``
    groups as one dense conv per super-block of ``super_block_groups`` groups, with the
    super-block's block-diagonal kernel, concatenated over the output channels: unrolled up to
    ``MAX_UNROLLED_BLOCKS`` super-blocks, a ``lax.map`` over them beyond (with the unrolled
    formulation's gradient)."""
    per = super_block_groups(groups, kernel.shape[2], block)
    if groups // per <= MAX_UNROLLED_BLOCKS:
        return _unrolled(x, kernel, conv, groups, per)
    return _mapped(x, kernel, conv, groups, per)


def _unrolled(x, kernel, conv, groups: int, per: int) -> jax.Array:
    kh, kw, cig, cout = kernel.shape
    blocks, in_block, out_block = groups // per, per * cig, per * cout // groups
    if blocks == 1:
        return conv(x, block_diagonal_kernel(kernel, groups))
    outs = [conv(x[..., b * in_block:(b + 1) * in_block],
                 block_diagonal_kernel(kernel[..., b * out_block:(b + 1) * out_block], per))
            for b in range(blocks)]
    return jnp.concatenate(outs, axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _mapped(x, kernel, conv, groups: int, per: int) -> jax.Array:
    """``_unrolled`` as a ``lax.map`` over the super-blocks. Its gradient is ``_unrolled``'s: what
    JAX derives for the map (a scan) is 10-20× slower on the CPU (ResNeXt-50's 14² conv, batch 8:
    440 ms against 20 ms)."""
    kh, kw, cig, cout = kernel.shape
    blocks = groups // per
    xs = jnp.moveaxis(x.reshape(*x.shape[:3], blocks, per * cig), 3, 0)
    kernels = jnp.moveaxis(kernel.reshape(kh, kw, cig, blocks, per * cout // groups), 3, 0)
    ys = lax.map(lambda pair: conv(pair[0], block_diagonal_kernel(pair[1], per)), (xs, kernels))
    return jnp.moveaxis(ys, 0, 3).reshape(*ys.shape[1:4], cout)


def _mapped_fwd(x, kernel, conv, groups, per):
    return _mapped(x, kernel, conv, groups, per), (x, kernel)


def _mapped_bwd(conv, groups, per, residuals, grad):
    _, vjp = jax.vjp(lambda x, kernel: _unrolled(x, kernel, conv, groups, per), *residuals)
    return vjp(grad)


_mapped.defvjp(_mapped_fwd, _mapped_bwd)


def _kernel_covers(x, kernel, *, groups, stride, pads, dilation) -> bool:
    kernels = import_cpu_kernels()
    return kernels is not None and hasattr(kernels, "grouped_supports") and kernels.grouped_supports(
        x.dtype, kernel.dtype, groups=groups, in_chans=x.shape[-1], out_chans=kernel.shape[-1], stride=stride,
        dilation=dilation, pads=pads)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _compiled_conv(x, kernel, stride, pads, groups, fallback):
    """zoo-cpu-kernels' grouped conv. Backward: the kernel gradient is ``fallback``'s (the
    super-blocks'); the input gradient too, except at stride 1, where it is the compiled kernel's
    conv of the gradient with the transposed kernel (``_transposed``) wherever the kernel covers that."""
    return import_cpu_kernels().grouped_conv2d(x, kernel, groups=groups, stride=stride, pads=pads)


def _compiled_conv_fwd(x, kernel, stride, pads, groups, fallback):
    return _compiled_conv(x, kernel, stride, pads, groups, fallback), (x, kernel)


def _compiled_conv_bwd(stride, pads, groups, fallback, residuals, grad):
    x, kernel = residuals
    _, vjp = jax.vjp(fallback, x, kernel)
    x_grad, kernel_grad = vjp(grad)  # XLA drops the part of this that goes unused
    transposed = _transposed(kernel, groups, stride, pads)
    if transposed is not None and _kernel_covers(grad, transposed[0], groups=groups, stride=stride,
                                                 pads=transposed[1], dilation=(1, 1)):
        x_grad = import_cpu_kernels().grouped_conv2d(grad, transposed[0], groups=groups, stride=stride,
                                                     pads=transposed[1])
    return x_grad, kernel_grad


def _transposed(kernel, groups, stride, pads):
    """For a stride-1 conv, the grouped conv that maps its output gradient to its input gradient:
    each group's kernel flipped in space with its in and out channels swapped, (kh, kw, cog, Cin),
    and the padding ``(k - 1 - before, k - 1 - after)``; ``None`` for a stride or a padding where
    that does not hold."""
    kh, kw, cig, cout = kernel.shape
    if tuple(stride) != (1, 1) or any(p > k - 1 for (lo, hi), k in zip(pads, (kh, kw)) for p in (lo, hi)):
        return None
    per_group = kernel[::-1, ::-1].reshape(kh, kw, cig, groups, cout // groups)
    flipped = per_group.transpose(0, 1, 4, 3, 2).reshape(kh, kw, cout // groups, groups * cig)
    return flipped, tuple((k - 1 - lo, k - 1 - hi) for (lo, hi), k in zip(pads, (kh, kw)))


_compiled_conv.defvjp(_compiled_conv_fwd, _compiled_conv_bwd)
