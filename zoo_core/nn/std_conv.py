"""Convolution with Weight Standardization (BiT ResNetV2, NFNet-style stems).

Paper: `Micro-Batch Training with Batch-Channel Normalization and Weight Standardization`
(https://arxiv.org/abs/1903.10520).

| ours | timm | state-dict keys → leaves |
| --- | --- | --- |
| ``StdConv2d`` | ``timm.layers.StdConv2d`` | ``weight`` (OIHW, ``conv_to_hwio``) → ``kernel``; ``bias`` → ``bias`` |
| ``std_conv(...)`` | ``partial(StdConv2d, eps=1e-8)`` as BiT builds it | as ``StdConv2d`` |

timm standardizes the weight at every forward with
``F.batch_norm(weight.reshape(1, out, -1), None, None, training=True, momentum=0., eps=eps)``:
each output channel's kernel is centred and divided by ``sqrt(var + eps)``, with the *biased*
variance over (in, kh, kw). The stored weight stays unstandardized, so the released checkpoint maps
onto ``kernel`` unchanged.

Standardizing costs passes over every weight at every call, which dominates a small batch (BiT-50
at batch 1 on a 2-core CPU: 55 of 88 ms, most of it XLA writing kernel-sized temporaries into
freshly page-faulted memory). Where the weights outweigh the activations and the dtype is float32,
``StdConv2d`` takes each channel's statistics in one pass (``kernel_moments``: zoo-cpu-kernels'
compiled pass on the CPU, which writes nothing kernel-sized) and applies them to the conv's output
instead: ``conv(x, (w - m) * r) = r * (conv(x, w) - m * S(x))``, with ``S(x)`` the sum of ``x`` over
each output pixel's window and all input channels (a one-channel conv). On the CPU the fold's 3×3 and
1×1 convs take the statistics as they read the kernel (``conv2d_with_kernel_moments``), so the
weights are read from memory once. The two agree up to float32 rounding (tests/nn/test_std_conv.py);
``StdConv2d._fold_pays`` says where the fold is taken.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import attrs
import jax
import jax.numpy as jnp

from zoo_core.nn import initializers as inits
from zoo_core.nn.conv import Padding, conv2d, dense_conv, explicit_pads, pair, resolve_padding, with_reference_vjp
from zoo_core.nn.module import Module


def kernel_moments(kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each output channel's mean and biased variance over (kh, kw, in) of an HWIO kernel (any array
    of rank >= 1: over all but its last axis), each (out,), in at least float32, from one pass over
    the kernel: the sums of ``kernel - shift`` and of its square, the shift being the channel's first
    value, so the variance does not cancel away when the mean is large against the spread.

    On the CPU, for a float32 kernel, it is zoo-cpu-kernels' compiled pass when that is installed
    (and not turned off with ``ZOO_CPU_KERNELS=0``): XLA would write ``kernel - shift`` out as a
    kernel-sized temporary, which costs more than the sums. Gradients are the pure-JAX version's."""
    if _compiled_moments_cover(kernel):
        return jax.lax.platform_dependent(kernel, cpu=_compiled_moments, default=_jax_moments)
    return _jax_moments(kernel)


def _jax_moments(kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
    k = kernel.astype(jnp.promote_types(kernel.dtype, jnp.float32))
    k = k.reshape(-1, k.shape[-1])
    d = k - k[:1]
    s1 = jnp.mean(d, axis=0)
    s2 = jnp.mean(jnp.square(d), axis=0)
    return k[0] + s1, jnp.maximum(s2 - jnp.square(s1), 0.0)


def _compiled_moments_cover(kernel: jax.Array) -> bool:
    """Whether zoo-cpu-kernels is installed and enabled and its moments pass takes this kernel."""
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    if kernels is None or kernel.ndim < 1 or kernel.size == 0:
        return False
    try:
        from zoo_cpu_kernels import moments
    except ImportError:  # an older zoo-cpu-kernels without the moments pass
        return False
    return moments.moments_supports(kernel.dtype)


@jax.custom_vjp
def _compiled_moments(kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
    from zoo_cpu_kernels import moments

    return moments.kernel_moments(kernel)


def _compiled_moments_fwd(kernel):
    mean, var = _compiled_moments(kernel)
    return (mean, var), (kernel, mean)


def _compiled_moments_bwd(residuals, grads):
    """d mean / dw = 1 / K and d var / dw = 2 (w - mean) / K, K the values per channel."""
    kernel, mean = residuals
    g_mean, g_var = grads
    count = kernel.size // kernel.shape[-1]
    return ((g_mean + 2.0 * g_var * (kernel - mean)) / count,)


_compiled_moments.defvjp(_compiled_moments_fwd, _compiled_moments_bwd)


def conv2d_with_kernel_moments(x: jax.Array, kernel: jax.Array, *, stride=1, padding: Padding = 0,
                               dilation=1) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(conv2d(x, kernel, ...), *kernel_moments(kernel))``: a dense conv of the raw kernel and its
    per-output-channel mean and biased variance, each (out,).

    On the CPU, for the convs zoo-cpu-kernels' ``conv2d_with_moments`` takes (float32 3×3 with padding 1
    and unpadded 1×1, stride 1 or 2, 16·k output channels), both come from one call that takes the
    moments as it reads the kernel, so the weights are read from memory once, not twice (BiT at batch 1,
    where the weights are most of what its convs read). Gradients are those of the pure-JAX conv and
    moments."""
    stride, dilation = pair(stride), pair(dilation)
    pads = resolve_padding(padding, kernel.shape[:2], stride, dilation)
    if _fused_moments_cover(x, kernel, stride, dilation, pads):
        reference = functools.partial(_conv_and_moments, stride=stride, pads=pads, dilation=dilation)
        fused = functools.partial(_fused_conv_and_moments, stride[0])
        return jax.lax.platform_dependent(x, kernel, cpu=functools.partial(with_reference_vjp, reference, fused),
                                          default=reference)
    return conv2d(x, kernel, stride=stride, padding=pads, dilation=dilation), *kernel_moments(kernel)


def _conv_and_moments(x, kernel, *, stride, pads, dilation):
    y = dense_conv(x, kernel, window_strides=stride, padding=pads, rhs_dilation=dilation)
    return (y, *_jax_moments(kernel))


def _fused_conv_and_moments(stride: int, x, kernel):
    """The CPU's conv and kernel moments as zoo-cpu-kernels' one FFI call."""
    from zoo_core.kernels import cpu_kernels

    y, moments = cpu_kernels().conv2d_with_moments(x, kernel, stride=stride)
    return y, moments[0], moments[1]


def _fused_moments_cover(x: jax.Array, kernel: jax.Array, stride, dilation, pads) -> bool:
    """Whether zoo-cpu-kernels is installed and enabled and its ``conv2d_with_moments`` takes this conv."""
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    if kernels is None or not hasattr(kernels, "conv_moments_supports") or isinstance(pads, str):
        return False
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[2] != x.shape[-1] or stride[0] != stride[1]:
        return False
    return kernels.conv_moments_supports(x.dtype, kernel.dtype, kernel_shape=kernel.shape, stride=stride,
                                         dilation=dilation, pads=pads)


def standardize_kernel(kernel: jax.Array, eps: float) -> jax.Array:
    """Weight-standardize an HWIO kernel (kh, kw, in, out) per output channel: zero mean and unit
    (biased) variance over (kh, kw, in), ``eps`` added to the variance. Computed in at least float32."""
    mean, var = kernel_moments(kernel)
    k = kernel.astype(mean.dtype)
    return ((k - mean) * jax.lax.rsqrt(var + eps)).astype(kernel.dtype)


@attrs.frozen
class StdConv2d(Module):
    """timm's ``StdConv2d`` on NHWC: a ``Conv2d`` whose kernel is standardized at each call.

    (N, H, W, in_chans) → (N, H', W', out_chans). Params ``kernel`` (kh, kw, in // groups, out) and,
    with ``bias=True``, ``bias`` (out,). ``padding=""`` is timm's default symmetric padding
    ``get_padding(kernel_size, stride, dilation)``; ``eps`` defaults to timm's 1e-6.
    """

    in_chans: int
    out_chans: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: Padding = ""
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    bias: bool = False
    eps: float = 1e-6
    kernel_init: Any = inits.torch_default

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        kh, kw = pair(self.kernel_size)
        return (kh, kw, self.in_chans // self.groups, self.out_chans)

    def init(self, key):
        params = {"kernel": self.kernel_init(key, self.kernel_shape)}
        if self.bias:
            params["bias"] = inits.filled((self.out_chans,), 0.0)
        return params, {}

    def apply(self, params, state, x, *, train=False):
        y, fold = self.apply_raw(params, x)
        return finish_fold(y, fold), state

    def folds(self, x: jax.Array | jax.ShapeDtypeStruct, kernel: jax.Array | None = None, *,
              fold: bool | None = None) -> bool:
        """Whether ``apply_raw(..., fold=fold)`` on an input shaped as ``x`` leaves the standardization to
        its output (never with a bias)."""
        kernel = jax.ShapeDtypeStruct(self.kernel_shape, jnp.float32) if kernel is None else kernel
        if self.bias:
            return False
        if fold:
            return self.groups == 1 and x.dtype == kernel.dtype == jnp.float32
        conv = functools.partial(conv2d, stride=self.stride, padding=self.padding, dilation=self.dilation)
        return fold is None and self._fold_pays(x, kernel, conv)

    def apply_raw(self, params, x: jax.Array, x_sums: jax.Array | None = None, *,
                  fold: bool | None = None) -> tuple[jax.Array, Fold | None]:
        """The conv, its standardization possibly left undone: ``(y, fold)`` with ``finish_fold(y, fold)``
        the output of ``apply``. Where the fold pays (``folds``) ``y`` is the conv of the raw kernel and
        ``fold = (window_sums, mean, var, eps)``: the window sums (N, H', W') of ``x`` over each output
        pixel's window and all input channels, the kernel's per-output-channel moments (out,), the eps.
        Else (and with a bias) ``y`` is the finished output and ``fold`` is ``None``. ``x_sums`` (N, H, W), each pixel's
        sum of ``x`` over its channels, saves that reduction where the caller has it (a norm that
        emitted it: ``zoo_core.nn.group_norm_act``). ``fold=True`` folds wherever it can (float32, no
        groups), for a caller that finishes the fold at no cost of its own (a norm that takes it)."""
        conv = functools.partial(conv2d, stride=self.stride, padding=self.padding, dilation=self.dilation)
        kernel = params["kernel"]
        can_fold = self.groups == 1 and x.dtype == kernel.dtype == jnp.float32
        if (can_fold and fold) or (fold is None and self._fold_pays(x, kernel, conv)):
            y, mean, var = conv2d_with_kernel_moments(x, kernel, stride=self.stride, padding=self.padding,
                                                      dilation=self.dilation)
            if x_sums is None:
                x_sums = jnp.sum(x, axis=-1)
            fold = (window_sums(x_sums.astype(x.dtype), kernel.shape[:2], stride=self.stride,
                                padding=self.padding, dilation=self.dilation), mean, var, self.eps)
            if not self.bias:
                return y, fold
            return finish_fold(y, fold) + params["bias"].astype(y.dtype), None
        y = conv(x, standardize_kernel(kernel, self.eps), groups=self.groups)
        if self.bias:
            y = y + params["bias"].astype(y.dtype)
        return y, None

    def _fold_pays(self, x: jax.Array, kernel: jax.Array, conv) -> bool:
        """Whether to standardize the conv's output rather than its kernel: float32, no groups, and
        ``3 · kernel.size > x.size + 2 · out.size``. The fold costs one read of the kernel (the
        compiled moments; none beyond the conv's own where the conv takes them), a read of ``x`` for
        the window sums and an elementwise pass over the output; the direct path a moments pass and a
        written standardized kernel, each kernel-sized temporary page-faulted afresh at every call.
        Measured on BiT-50 (random init, 2-core AMD EPYC with AVX-512, shared and noisy; min of 10-25
        alternating runs in one process): batch 1, 51 ms
        with every layer direct, 36-41 ms with this rule, 37-43 ms folding every layer; batch 8,
        287 / 273 / 320 ms; with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` batch 1 44 / 41 / 41 ms
        and batch 8 248 / 260 / 321 ms (medians 411 / 309 / 347). Coefficients 1 and 12 in place of 3
        measured the same or slower. Per layer, the fold wins on BiT's stage 3-4 convs (up to
        0.8 of 3.3 ms on a 3×3 512 → 512 conv at 7×7) and loses on the stem and stage 1 (7×7 3 → 64:
        3.3 against 1.4 ms), where the kernel is small against the activations. With the moments taken
        inside the convs, coefficient 1 measured as 3 (BiT-50 on a 2-core Zen 4 EPYC, medians: batch 1
        53.1 / 53.1 ms, batch 8 473 / 454 ms) and 0.5 slower (66 / 522 ms)."""
        if self.groups != 1 or x.dtype != jnp.float32 or kernel.dtype != jnp.float32:
            return False
        out = jax.eval_shape(conv, x, kernel)
        return 3 * kernel.size > x.size + 2 * math.prod(out.shape)


def window_sums(x_sums: jax.Array, kernel_hw, *, stride=1, padding: Padding = "", dilation=1) -> jax.Array:
    """``x_sums`` (N, H, W) summed over each output pixel's window of a conv with a ``kernel_hw`` kernel
    and this stride, padding (zeros) and dilation → (N, H', W'): the ``S(x)`` of ``StdConv2d``'s fold,
    given each pixel's channel sum of ``x``. Up to 3×3 windows as shifted strided slices added up (one
    XLA loop), where a one-channel ``lax.conv`` took ~45 µs per BiT layer at batch 1; larger through
    that conv."""
    kh, kw = pair(kernel_hw)
    stride, dilation = pair(stride), pair(dilation)
    pads = explicit_pads(resolve_padding(padding, (kh, kw), stride, dilation), x_sums.shape[1:3], (kh, kw), stride,
                         dilation)
    if kh * kw > 9:
        ones = jnp.ones((kh, kw, 1, 1), x_sums.dtype)
        return conv2d(x_sums[..., None], ones, stride=stride, padding=pads, dilation=dilation)[..., 0]
    (top, bottom), (left, right) = pads
    padded = jax.lax.pad(x_sums, jnp.zeros((), x_sums.dtype), ((0, 0, 0), (top, bottom, 0), (left, right, 0)))
    h, w = padded.shape[1:]
    oh = (h - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    ow = (w - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    taps = [padded[:, i * dilation[0]: i * dilation[0] + (oh - 1) * stride[0] + 1: stride[0],
                   j * dilation[1]: j * dilation[1] + (ow - 1) * stride[1] + 1: stride[1]]
            for i in range(kh) for j in range(kw)]
    return functools.reduce(jnp.add, taps)


#: A folded weight standardization (``StdConv2d.apply_raw``): the window sums (N, H', W') of the conv's
#: input, the raw kernel's per-output-channel mean and biased variance (out,), and the eps.
Fold = tuple[jax.Array, jax.Array, jax.Array, float]


def finish_fold(y: jax.Array, fold: Fold | None) -> jax.Array:
    """The standardized conv's output from ``StdConv2d.apply_raw``'s ``(y, fold)``:
    ``(y - window_sums · mean) / sqrt(var + eps)``, or ``y`` where ``fold`` is ``None``."""
    if fold is None:
        return y
    window_sums, mean, var, eps = fold
    return (y - window_sums[..., None] * mean) * jax.lax.rsqrt(var + eps)


def std_conv(in_chans: int, out_chans: int, kernel_size: int | tuple[int, int], *, stride=1, padding: Padding = "",
             dilation=1, groups: int = 1, bias: bool = False, eps: float = 1e-8,
             kernel_init: Any = inits.kaiming_normal_fan_out) -> StdConv2d:
    """BiT's convolution: ``StdConv2d`` with ``eps=1e-8`` (timm's ``partial(StdConv2d, eps=1e-8)``)
    and timm ResNetV2's ``kaiming_normal_(mode='fan_out')`` initialization."""
    return StdConv2d(in_chans, out_chans, kernel_size, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, bias=bias, eps=eps, kernel_init=kernel_init)
