"""Weight-layout transforms: ``numpy array -> numpy array`` functions used in mappings.

PyTorch stores conv kernels OIHW and linear weights (out, in); zoo keeps conv kernels HWIO and
dense kernels (in, out) for NHWC inputs.

A transform that only permutes axes carries the permutation as its ``axes`` attribute (``identity``
has ``axes = None``); the loader then reads the tensor straight into its new layout
(``SafetensorsFile.read_permuted``) instead of reading it and copying it again. One that then
drops size-1 axes of the permuted array also carries those axes as ``squeeze_axes``
(``conv1x1_to_dense``). Any other transform is applied to the array as read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Transform = Callable[[np.ndarray], np.ndarray]


def identity(a: np.ndarray) -> np.ndarray:
    """Leave the array as stored."""
    return a


identity.axes = None


def axis_reverse(a: np.ndarray) -> np.ndarray:
    """Reverse every axis: (d1, ..., dn) → (dn, ..., d1)."""
    return np.transpose(a, tuple(range(a.ndim - 1, -1, -1)))


def pyperm(perm: Sequence[int]) -> Transform:
    """A transform that permutes axes with ``perm`` (as ``np.transpose``)."""
    perm = tuple(int(p) for p in perm)

    def transform(a: np.ndarray) -> np.ndarray:
        if a.ndim != len(perm):
            raise ValueError(f"pyperm{perm}: array of rank {a.ndim} {a.shape}, expected rank {len(perm)}")
        return np.transpose(a, perm)

    transform.__name__ = f"pyperm{perm}"
    transform.axes = perm
    return transform


def conv_to_hwio(a: np.ndarray) -> np.ndarray:
    """PyTorch conv weight (O, I, kH, kW) → HWIO (kH, kW, I, O)."""
    if a.ndim != 4:
        raise ValueError(f"conv_to_hwio: expected an OIHW conv weight of rank 4, got shape {a.shape}")
    return np.transpose(a, (2, 3, 1, 0))


conv_to_hwio.axes = (2, 3, 1, 0)


def linear_to_dense(a: np.ndarray) -> np.ndarray:
    """PyTorch linear weight (out, in) → (in, out)."""
    if a.ndim != 2:
        raise ValueError(f"linear_to_dense: expected a (out, in) weight of rank 2, got shape {a.shape}")
    return np.transpose(a)


linear_to_dense.axes = (1, 0)


def conv1x1_to_dense(a: np.ndarray) -> np.ndarray:
    """PyTorch 1×1 conv weight (O, I, 1, 1) → dense (I, O): a 1×1 conv head as a dense layer."""
    if a.ndim != 4 or a.shape[2:] != (1, 1):
        raise ValueError(f"conv1x1_to_dense: expected a (O, I, 1, 1) weight, got shape {a.shape}")
    return np.transpose(a[:, :, 0, 0])


conv1x1_to_dense.axes = (2, 3, 1, 0)  # (1, 1, I, O), then the two unit axes go
conv1x1_to_dense.squeeze_axes = (0, 1)


def adapt_input_conv(in_chans: int) -> Transform:
    """timm's ``adapt_input_conv`` on an HWIO stem kernel (kH, kW, I, O) → (kH, kW, in_chans, O).

    - ``in_chans == I``: unchanged.
    - ``in_chans == 1``: sum over I; if ``I > 3`` (space-to-depth stems, ``I % 3 == 0``) sum each
      group of 3 consecutive input channels instead, giving ``I // 3`` channels.
    - otherwise, with ``I == 3``: tile the RGB kernel over ``ceil(in_chans / 3)`` copies, keep the
      first ``in_chans``, and scale by ``3 / in_chans``.
    - anything else raises, as timm does.
    """

    def transform(a: np.ndarray) -> np.ndarray:
        if a.ndim != 4:
            raise ValueError(f"adapt_input_conv({in_chans}): expected an HWIO kernel of rank 4, got shape {a.shape}")
        dtype = a.dtype
        w = a.astype(np.float32)
        kh, kw, i, o = w.shape
        if in_chans == i:
            return a
        if in_chans == 1:
            if i > 3:
                if i % 3:
                    raise ValueError(f"adapt_input_conv(1): {i} input channels do not split into RGB groups of 3")
                w = w.reshape(kh, kw, i // 3, 3, o).sum(axis=3)
            else:
                w = w.sum(axis=2, keepdims=True)
        else:
            if i != 3:
                raise ValueError(
                    f"adapt_input_conv({in_chans}): a stem with {i} input channels can only become 1 channel "
                    "(timm supports no other conversion)"
                )
            repeat = math.ceil(in_chans / 3)
            w = np.tile(w, (1, 1, repeat, 1))[:, :, :in_chans, :] * (3.0 / float(in_chans))
        return w.astype(dtype)

    transform.__name__ = f"adapt_input_conv({in_chans})"
    return transform


def compose(*transforms: Transform) -> Transform:
    """Apply ``transforms`` left to right."""
    fns = [t for t in transforms if t is not identity]
    if not fns:
        return identity
    if len(fns) == 1:
        return fns[0]

    def transform(a: np.ndarray) -> np.ndarray:
        for fn in fns:
            a = fn(a)
        return a

    transform.__name__ = " ∘ ".join(getattr(f, "__name__", repr(f)) for f in reversed(fns))
    perms = [getattr(f, "axes", False) for f in fns]
    squeezes = any(getattr(f, "squeeze_axes", ()) for f in fns)
    if not squeezes and all(isinstance(p, tuple) for p in perms) and len({len(p) for p in perms}) == 1:
        axes = perms[0]
        for p in perms[1:]:  # transposing by q after p is transposing by p[q]
            axes = tuple(axes[i] for i in p)
        transform.axes = axes
    return transform
