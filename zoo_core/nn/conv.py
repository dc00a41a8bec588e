"""2D convolution on NHWC inputs with HWIO kernels (``torch.nn.Conv2d``).

State-dict keys: ``<prefix>.weight`` (PyTorch OIHW, mapped with ``interop.conv_to_hwio``) onto
``kernel``; ``<prefix>.bias`` onto ``bias``.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import jax
import jax.numpy as jnp
from jax import lax

from zoo_core.nn import initializers as inits
from zoo_core.nn.module import Module, split_keys

Padding = int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]] | str


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def get_padding(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """timm's symmetric default padding: ``((stride - 1) + dilation * (kernel_size - 1)) // 2``."""
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


def resolve_padding(padding: Padding, kernel, stride, dilation) -> str | list[tuple[int, int]]:
    """Turn a padding spec into what ``lax.conv_general_dilated`` takes.

    ``int`` or ``(ph, pw)``: symmetric, as PyTorch. ``((top, bottom), (left, right))``: explicit.
    ``"same"``: TensorFlow/timm ``pad_same`` (the extra pixel goes bottom/right). ``"valid"``: none.
    ``""``: timm's default symmetric padding from ``get_padding``.
    """
    if isinstance(padding, str):
        if padding.lower() == "same":
            return "SAME"
        if padding.lower() == "valid":
            return "VALID"
        if padding == "":
            kh, kw = kernel
            return [(get_padding(kh, stride[0], dilation[0]),) * 2, (get_padding(kw, stride[1], dilation[1]),) * 2]
        raise ValueError(f"unknown padding {padding!r}: use an int, a pair, 'same', 'valid' or ''")
    if isinstance(padding, int):
        return [(padding, padding), (padding, padding)]
    if isinstance(padding[0], int):
        return [(padding[0], padding[0]), (padding[1], padding[1])]
    return [tuple(padding[0]), tuple(padding[1])]


def explicit_pads(pads, in_hw, kernel_hw, stride, dilation) -> tuple[tuple[int, int], tuple[int, int]]:
    """``"SAME"``/``"VALID"`` (as ``lax``) or ``((top, bottom), (left, right))`` as explicit int
    pairs, for an input of spatial size ``in_hw`` (the compiled kernels take explicit padding)."""
    if isinstance(pads, str):
        dilated = tuple((k - 1) * d + 1 for k, d in zip(kernel_hw, dilation))
        pads = lax.padtype_to_pads(in_hw, dilated, stride, pads.upper())
    (top, bottom), (left, right) = pads
    return (int(top), int(bottom)), (int(left), int(right))


def output_hw(in_hw, kernel_hw, stride, pads, dilation) -> tuple[int, int]:
    """A conv's output height and width for explicit ``pads`` (may be zero or negative: nothing to compute)."""
    return tuple((size + lo + hi - (k - 1) * d - 1) // s + 1
                 for size, k, s, (lo, hi), d in zip(in_hw, kernel_hw, stride, pads, dilation))


def dense_conv(x: jax.Array, kernel: jax.Array, *, window_strides, padding, rhs_dilation=(1, 1),
               dimension_numbers=("NHWC", "HWIO", "NHWC"), precision: Any = None) -> jax.Array:
    """``lax.conv_general_dilated`` of an NHWC input with an HWIO kernel (the same keyword arguments),
    except on the CPU where a spatial side of ``x`` is shorter than the kernel's (dilated) side: there it
    is one matmul over the input's patches (``_patch_matrix_conv``).

    XLA's CPU backend takes a slow path for such a conv, 10-100× the matmul's time and worse as the
    channels grow (a 3×3 conv of (8, 2, 2, 512): 69 against 1.3 ms; a 7×7 one of (8, 6, 6, 512): 5.6 s
    against 57 ms): a ResNet's last stage on a 64-pixel image, or its last two on a 32-pixel one. The
    patches are the kernel's taps times the input, small where the input is. GPU and TPU keep
    ``lax``'s conv."""
    if tuple(dimension_numbers) != ("NHWC", "HWIO", "NHWC"):
        raise ValueError(f"dense_conv: NHWC input and HWIO kernel only, got {dimension_numbers}")
    stride, dilation = pair(window_strides), pair(rhs_dilation)
    conv = functools.partial(lax.conv_general_dilated, window_strides=stride, padding=padding,
                             rhs_dilation=dilation, dimension_numbers=dimension_numbers, precision=precision)
    extent = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:2], dilation)]
    if x.ndim != 4 or all(side >= e for side, e in zip(x.shape[1:3], extent)):
        return conv(x, kernel)
    pads = explicit_pads(padding, x.shape[1:3], kernel.shape[:2], stride, dilation)
    out = output_hw(x.shape[1:3], kernel.shape[:2], stride, pads, dilation)
    if min(out) <= 0:  # nothing to compute
        return conv(x, kernel)
    patches = functools.partial(_patch_matrix_conv, stride=stride, pads=pads, dilation=dilation, out_hw=out,
                                precision=precision)
    return lax.platform_dependent(x, kernel, cpu=patches, default=conv)


def _patch_matrix_conv(x: jax.Array, kernel: jax.Array, *, stride, pads, dilation, out_hw, precision) -> jax.Array:
    """The conv as (N·OH·OW, kh·kw·Cin) patches times the (kh·kw·Cin, Cout) kernel: one strided slice of
    the padded input per tap, side by side in the kernel's (i, j, c) order."""
    kh, kw, cin, cout = kernel.shape
    n = x.shape[0]
    (top, bottom), (left, right) = pads
    xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)))
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    taps = [lax.slice(xp, (0, i * dh, j * dw, 0), (n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, cin),
                      (1, sh, sw, 1))
            for i in range(kh) for j in range(kw)]
    cols = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
    return lax.dot_general(cols, kernel.reshape(kh * kw * cin, cout), (((3,), (0,)), ((), ())), precision=precision)


def conv2d(
    x: jax.Array,
    kernel: jax.Array,
    *,
    stride=1,
    padding: Padding = 0,
    dilation=1,
    groups: int = 1,
    precision: Any = None,
) -> jax.Array:
    """Convolve ``x`` (N, H, W, Cin) with ``kernel`` (kh, kw, Cin // groups, Cout) → (N, H', W', Cout).

    A depthwise conv (``groups == Cin``) goes through ``nn.depthwise.depthwise_conv2d``, which
    picks the fastest exact formulation for the backend; any other grouped conv through
    ``nn.grouped.grouped_conv2d`` (super-blocks of block-diagonal dense convs, or a compiled kernel, on CPU).
    A dense 3×3 conv with padding 1 runs on the CPU as zoo-cpu-kernels' compiled kernel when it is
    installed (float32, stride 1 or 2), and a stem's conv on few input channels (ResNet's 7×7 stride 2
    on the image) as its direct conv; 1×1 and patchify convs as its pointwise kernel (float32, Cout a
    multiple of 16), elsewhere as one matmul (``_patchify_conv``).
    """
    stride, dilation = pair(stride), pair(dilation)
    pads = resolve_padding(padding, kernel.shape[:2], stride, dilation)
    cin = x.shape[-1]
    if groups > 1 and groups == cin and kernel.shape[2] == 1:
        from zoo_core.nn.depthwise import depthwise_conv2d

        return depthwise_conv2d(x, kernel, stride=stride, padding=pads, dilation=dilation, precision=precision)
    if groups == 1 and _is_patchify(kernel.shape[:2], stride, pads, dilation):
        kernel = kernel.astype(x.dtype)
        if _pointwise_covers(x, kernel, stride):
            patchify = functools.partial(_patchify_conv, stride=stride, precision=precision)
            call = functools.partial(_pointwise_call, stride[0])
            return lax.platform_dependent(x, kernel, cpu=functools.partial(with_reference_vjp, patchify, call),
                                          default=patchify)
        return _patchify_conv(x, kernel, stride, precision)
    conv = functools.partial(dense_conv, window_strides=stride, padding=pads, rhs_dilation=dilation,
                             precision=precision)
    if 1 < groups:
        from zoo_core.nn.grouped import grouped_conv2d

        return grouped_conv2d(x, kernel, groups=groups, stride=stride, pads=pads, dilation=dilation,
                              precision=precision)
    kernel = kernel.astype(x.dtype)
    if _dense3x3_covers(x, kernel, stride, dilation, pads):
        call = functools.partial(_dense3x3_call, stride[0])
        return lax.platform_dependent(x, kernel, cpu=functools.partial(with_reference_vjp, conv, call), default=conv)
    if direct_covers(x, kernel, stride, dilation, pads):
        call = functools.partial(_direct_call, stride[0], explicit_pads(pads, x.shape[1:3], kernel.shape[:2], stride,
                                                                        dilation))
        return lax.platform_dependent(x, kernel, cpu=functools.partial(with_reference_vjp, conv, call), default=conv)
    return conv(x, kernel)


def _dense3x3_covers(x: jax.Array, kernel: jax.Array, stride, dilation, pads) -> bool:
    """Whether zoo-cpu-kernels is installed (and not turned off with ``ZOO_CPU_KERNELS=0``) and its
    dense 3×3 kernel computes this conv (float32, padding 1, stride 1 or 2, Cout a multiple of 16)."""
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    return (kernels is not None and hasattr(kernels, "dense3x3_supports") and not isinstance(pads, str)
            and kernels.dense3x3_supports(x.dtype, kernel.dtype, kernel_shape=kernel.shape, stride=stride,
                                          dilation=dilation, pads=pads))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def with_reference_vjp(reference, call, *args):
    """``call(*args)`` (a compiled kernel's FFI call) with the gradients of ``reference(*args)``,
    the pure-JAX formulation of what the kernel computes (the kernels themselves have no autodiff
    rule)."""
    return call(*args)


def _with_reference_vjp_fwd(reference, call, *args):
    return call(*args), args


def _with_reference_vjp_bwd(reference, call, args, grad):
    return jax.vjp(reference, *args)[1](grad)


with_reference_vjp.defvjp(_with_reference_vjp_fwd, _with_reference_vjp_bwd)


def _dense3x3_call(stride: int, x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The CPU's dense 3×3 conv as zoo-cpu-kernels' FFI call (ResNet's and BiT's 3×3 convs: XLA's own
    runs them up to 2-3× slower on 2 cores)."""
    from zoo_core.kernels import cpu_kernels

    return cpu_kernels().dense3x3_conv2d(x, kernel, stride=stride)


def _pointwise_covers(x: jax.Array, kernel: jax.Array, stride) -> bool:
    """Whether zoo-cpu-kernels' pointwise kernel computes this unpadded 1×1 conv (float32, stride 1
    or 2, Cout a multiple of 16: BiT's 1×1 convs, which have no BatchNorm to go with them) or patch conv
    (its kernel as large as its stride: ConvNeXt's stem and downsamples, ViT's patch embedding)."""
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    kernel_hw = tuple(kernel.shape[:2])
    if kernels is None or not hasattr(kernels, "pointwise_supports") or stride[0] != stride[1]:
        return False
    if kernel_hw == (1, 1):
        return stride[0] in (1, 2) and kernels.pointwise_supports(x.dtype, kernel.dtype, out_chans=kernel.shape[3],
                                                                  stride=stride[0])
    return (getattr(kernels, "POINTWISE_PATCH", False) and kernel_hw == tuple(stride)
            and kernels.pointwise_supports(x.dtype, kernel.dtype, out_chans=kernel.shape[3], stride=stride[0],
                                           kernel_hw=kernel_hw))


def _pointwise_call(stride: int, x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The CPU's 1×1 or patch conv as zoo-cpu-kernels' pointwise FFI call (scale 1, shift 0)."""
    from zoo_core.kernels import cpu_kernels

    ones, zeros = jnp.ones(kernel.shape[3], jnp.float32), jnp.zeros(kernel.shape[3], jnp.float32)
    return cpu_kernels().pointwise_conv2d(x, kernel, ones, zeros, stride=stride)


def direct_covers(x: jax.Array, kernel: jax.Array, stride, dilation, pads) -> bool:
    """Whether zoo-cpu-kernels' direct conv computes this conv (float32, dilation 1, the same stride
    both ways, non-negative padding, few input channels: a stem such as ResNet's 7×7 on the image,
    which XLA's CPU convs run at a third of the machine's rate)."""
    from zoo_core.kernels import cpu_kernels

    kernels = cpu_kernels()
    if kernels is None or not hasattr(kernels, "direct_supports"):
        return False
    if not isinstance(pads, str) and min(v for p in pads for v in p) < 0:
        return False
    return kernels.direct_supports(x.dtype, kernel.dtype, kernel_shape=kernel.shape, stride=stride, dilation=dilation)


def _direct_call(stride: int, pads, x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The CPU's stem conv as zoo-cpu-kernels' direct-conv FFI call."""
    from zoo_core.kernels import cpu_kernels

    return cpu_kernels().direct_conv2d(x, kernel, stride=stride, pads=pads)


def block_diagonal_kernel(kernel: jax.Array, groups: int) -> jax.Array:
    """A grouped HWIO kernel (kh, kw, Cin / g, Cout) as the dense (kh, kw, Cin, Cout) kernel whose
    (Cin / g) × (Cout / g) diagonal blocks are the groups' kernels and every other entry zero."""
    kh, kw, cg, cout = kernel.shape
    per_group = kernel.reshape(kh, kw, cg, groups, cout // groups)
    eye = jnp.eye(groups, dtype=kernel.dtype)
    return jnp.einsum("hwigo,Gg->hwGigo", per_group, eye).reshape(kh, kw, groups * cg, cout)


def _is_patchify(kernel_hw, stride, pads, dilation) -> bool:
    """A conv that reads each input pixel at most once: no padding, no dilation, and a stride equal
    to the kernel (a 1×1 conv with stride 1, a 4×4 stem with stride 4, ViT's 16×16 patches) or a
    1×1 kernel with any stride (a ResNet downsample shortcut)."""
    no_pad = pads == "VALID" or (pads == "SAME" and tuple(kernel_hw) == (1, 1) and tuple(stride) == (1, 1)) or (
        not isinstance(pads, str) and all(p == (0, 0) for p in map(tuple, pads)))
    return (no_pad and tuple(dilation) == (1, 1)
            and (tuple(stride) == tuple(kernel_hw) or tuple(kernel_hw) == (1, 1)))


def _patchify_conv(x: jax.Array, kernel: jax.Array, stride: tuple[int, int], precision: Any) -> jax.Array:
    """``_is_patchify`` convs as one matmul over non-overlapping patches: XLA's CPU backend runs
    ``lax.conv`` with a 1×1 kernel 2-3× slower than the same product as a ``dot``; on GPU they are
    the same cuDNN/cuBLAS work. Rows and columns a strided VALID conv would not reach are cropped."""
    kh, kw, cin, cout = kernel.shape
    n, h, w, _ = x.shape
    if (kh, kw) == (1, 1):
        sh, sw = stride
        return lax.dot_general(x[:, ::sh, ::sw], kernel[0, 0], (((3,), (0,)), ((), ())), precision=precision)
    ho, wo = h // kh, w // kw
    patches = x[:, : ho * kh, : wo * kw].reshape(n, ho, kh, wo, kw, cin).transpose(0, 1, 3, 2, 4, 5)
    return lax.dot_general(patches.reshape(n, ho, wo, kh * kw * cin), kernel.reshape(kh * kw * cin, cout),
                           (((3,), (0,)), ((), ())), precision=precision)


@attrs.frozen
class Conv2d(Module):
    """``torch.nn.Conv2d`` on NHWC: params ``kernel`` (kh, kw, in // groups, out), ``bias`` (out,)."""

    in_chans: int
    out_chans: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: Padding = 0
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    bias: bool = True
    kernel_init: Any = inits.torch_default
    bias_init: Any = None

    def __attrs_post_init__(self):
        if self.in_chans % self.groups or self.out_chans % self.groups:
            raise ValueError(
                f"Conv2d: in_chans {self.in_chans} and out_chans {self.out_chans} must both divide by groups {self.groups}"
            )

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        kh, kw = pair(self.kernel_size)
        return (kh, kw, self.in_chans // self.groups, self.out_chans)

    def init(self, key):
        k_kernel, k_bias = split_keys(key, 2)
        params = {"kernel": self.kernel_init(k_kernel, self.kernel_shape)}
        if self.bias:
            fan_in = inits.fans(self.kernel_shape)[0]
            bias_init = self.bias_init or inits.torch_default_bias(fan_in)
            params["bias"] = bias_init(k_bias, (self.out_chans,))
        return params, {}

    def apply(self, params, state, x, *, train=False):
        y = conv2d(
            x,
            params["kernel"],
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )
        if self.bias:
            y = y + params["bias"].astype(y.dtype)
        return y, state
