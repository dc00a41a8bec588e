"""Weight-layout transforms: frozen records, each a ``numpy array -> numpy array`` callable.

PyTorch stores conv kernels OIHW and linear weights (out, in); zoo keeps conv kernels HWIO and
dense kernels (in, out) for NHWC inputs. A mapping's triple ``(timm_key, path, transform)`` says
how the checkpoint's tensor becomes the leaf; ``transform.inverse()`` says how the leaf goes back
to the checkpoint's layout (``zoo_core.interop.to_state_dict``).

Every transform is a value: hashable, comparable, with a readable ``name`` (also its ``str``) used
in error messages, and two answers for the loader:

- ``permutation(ndim)``: the axes it permutes an array of rank ``ndim`` by when it is a pure
  permutation, else ``None``. The loader then reads the tensor straight into its new layout
  (``SafetensorsFile.read_permuted``) instead of reading it and copying it again;
- ``squeeze_axes``: the size-1 axes of that permuted array that are then dropped
  (``conv1x1_to_dense``).

``inverse()`` returns the transform that undoes it, or raises ``NotInvertibleError`` naming it
where none exists (``AdaptInputConv``, a ``Custom`` function given no inverse, a ``Reshape``
that does not know its input's shape). A plain function still works wherever a transform is
taken: ``as_transform`` wraps it in a ``Custom`` with no inverse.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from zoo_core.errors import NotInvertibleError

INVERSE_SUFFIX = ".inverse()"


def _axes(values: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _inverse_name(name: str) -> str:
    """``name.inverse()``, and back: the inverse of an inverse reads as the original."""
    return name[: -len(INVERSE_SUFFIX)] if name.endswith(INVERSE_SUFFIX) else f"{name}{INVERSE_SUFFIX}"


class Transform(abc.ABC):
    """A layout transform: ``t(a) -> np.ndarray``; see the module's docstring."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """How errors and ``str`` show it (``conv_to_hwio``, ``pyperm(1, 0)``)."""

    @abc.abstractmethod
    def __call__(self, a: np.ndarray) -> np.ndarray:
        """The array in the new layout (a view where numpy can make one)."""

    def permutation(self, ndim: int) -> tuple[int, ...] | None:
        """The axes an array of rank ``ndim`` is transposed by (then ``squeeze_axes`` dropped),
        when that is all this transform does; ``None`` otherwise."""
        return None

    @property
    def squeeze_axes(self) -> tuple[int, ...]:
        """The size-1 axes dropped after ``permutation``."""
        return ()

    def inverse(self) -> Transform:
        """The transform that undoes this one; raises ``NotInvertibleError`` where none exists."""
        raise NotInvertibleError(f"{self.name} has no inverse")

    def __str__(self) -> str:
        return self.name

    @property
    def __name__(self) -> str:  # code written when transforms were plain functions reads this
        return self.name


@attrs.frozen
class Identity(Transform):
    """Leave the array as stored."""

    name = "identity"

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return a

    def permutation(self, ndim: int) -> tuple[int, ...]:
        return tuple(range(ndim))

    def inverse(self) -> Identity:
        return self


@attrs.frozen
class Reverse(Transform):
    """Reverse every axis of an array of any rank: (d1, ..., dn) → (dn, ..., d1)."""

    name = "axis_reverse"

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return np.transpose(a, self.permutation(a.ndim))

    def permutation(self, ndim: int) -> tuple[int, ...]:
        return tuple(range(ndim - 1, -1, -1))

    def inverse(self) -> Reverse:
        return self


@attrs.frozen
class Permute(Transform):
    """``np.transpose(a, axes)``, then the size-1 ``squeeze`` axes of the result dropped.

    ``expand`` inserts size-1 axes before the permutation (``np.expand_dims``): it makes the
    inverse of a squeezing permutation a ``Permute`` too. ``layout`` describes the expected input
    in error messages (``"an OIHW conv weight of rank 4"``); it and ``name`` take no part in
    equality. The input must have rank ``len(axes) - len(expand)``.
    """

    axes: tuple[int, ...] = attrs.field(converter=_axes)
    squeeze: tuple[int, ...] = attrs.field(default=(), converter=_axes)
    expand: tuple[int, ...] = attrs.field(default=(), converter=_axes)
    name: str = attrs.field(default=attrs.Factory(lambda self: self._default_name(), takes_self=True), eq=False)
    layout: str = attrs.field(default="", eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        n = len(self.axes)
        if sorted(self.axes) != list(range(n)):
            raise ValueError(f"Permute: {self.axes} is not a permutation of {n} axes")
        for label, extra in (("squeeze", self.squeeze), ("expand", self.expand)):
            if any(not 0 <= i < n for i in extra) or len(set(extra)) != len(extra):
                raise ValueError(f"Permute{self.axes}: {label} axes {extra} are not distinct axes of rank {n}")

    def _default_name(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in (("squeeze", self.squeeze), ("expand", self.expand)) if v)
        return f"Permute({self.axes}{extra})" if extra else f"pyperm{self.axes}"

    @property
    def rank(self) -> int:
        """The rank of the input it takes."""
        return len(self.axes) - len(self.expand)

    def __call__(self, a: np.ndarray) -> np.ndarray:
        if a.ndim != self.rank:
            raise ValueError(f"{self.name}: expected {self._expected()}, got shape {a.shape} (rank {a.ndim})")
        out = np.expand_dims(a, self.expand) if self.expand else a
        out = np.transpose(out, self.axes)
        if not self.squeeze:
            return out
        if any(out.shape[i] != 1 for i in self.squeeze):
            raise ValueError(f"{self.name}: expected {self._expected()}, got shape {a.shape}")
        return np.squeeze(out, self.squeeze)

    def _expected(self) -> str:
        if self.layout:
            return self.layout
        unit = f" whose permuted axes {self.squeeze} have size 1" if self.squeeze else ""
        return f"an array of rank {self.rank}{unit}"

    def permutation(self, ndim: int) -> tuple[int, ...] | None:
        return self.axes if not self.expand and ndim == len(self.axes) else None

    @property
    def squeeze_axes(self) -> tuple[int, ...]:
        return self.squeeze

    def inverse(self) -> Permute:
        """Expand the squeezed axes, transpose back, squeeze the expanded ones."""
        return Permute(tuple(np.argsort(self.axes)), squeeze=self.expand, expand=self.squeeze,
                       name=_inverse_name(self.name))


def _fits(shape: tuple[int, ...], pattern: tuple[int, ...]) -> bool:
    return len(shape) == len(pattern) and all(p in (-1, s) for s, p in zip(shape, pattern, strict=True))


@attrs.frozen
class Reshape(Transform):
    """``np.reshape(a, shape)`` (one ``-1`` allowed). ``source``, the input's shape (``-1``: any
    size), is checked when given and makes the inverse ``Reshape(source, source=shape)``."""

    shape: tuple[int, ...] = attrs.field(converter=_axes)
    source: tuple[int, ...] | None = attrs.field(default=None, converter=attrs.converters.optional(_axes))
    name: str = attrs.field(default=attrs.Factory(lambda self: f"reshape{self.shape}", takes_self=True), eq=False)

    def __attrs_post_init__(self) -> None:
        if self.shape.count(-1) > 1:
            raise ValueError(f"{self.name}: more than one -1 in the shape")

    def __call__(self, a: np.ndarray) -> np.ndarray:
        if self.source is not None and not _fits(tuple(a.shape), self.source):
            raise ValueError(f"{self.name}: expected shape {self.source} (-1: any size), got {a.shape}")
        return np.reshape(a, self.shape)

    def inverse(self) -> Reshape:
        if self.source is None or self.source.count(-1) > 1:
            raise NotInvertibleError(f"{self.name} has no inverse: its input shape is unknown "
                                     "(give source=..., with at most one -1)")
        return Reshape(self.source, source=self.shape, name=_inverse_name(self.name))


def _function_name(self: Custom) -> str:
    return getattr(self.fn, "__name__", repr(self.fn))


@attrs.frozen
class Custom(Transform):
    """Any other function of an array, with its inverse when one is given (a function or a
    ``Transform``); ``name`` defaults to the function's ``__name__``."""

    fn: Callable[[np.ndarray], np.ndarray]
    _inverse: Callable[[np.ndarray], np.ndarray] | None = None
    name: str = attrs.field(default=attrs.Factory(_function_name, takes_self=True), eq=False)

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return self.fn(a)

    def inverse(self) -> Transform:
        if self._inverse is None:
            raise NotInvertibleError(f"{self.name} has no inverse: a custom function given none (Custom(fn, inverse=...))")
        if isinstance(self._inverse, Transform):
            return self._inverse
        return Custom(self._inverse, inverse=self.fn, name=_inverse_name(self.name))


@attrs.frozen
class AdaptInputConv(Transform):
    """timm's ``adapt_input_conv`` on an HWIO stem kernel (kH, kW, I, O) → (kH, kW, in_chans, O).

    - ``in_chans == I``: unchanged.
    - ``in_chans == 1``: sum over I; if ``I > 3`` (space-to-depth stems, ``I % 3 == 0``) sum each
      group of 3 consecutive input channels instead, giving ``I // 3`` channels.
    - otherwise, with ``I == 3``: tile the RGB kernel over ``ceil(in_chans / 3)`` copies, keep the
      first ``in_chans``, and scale by ``3 / in_chans``.
    - anything else raises, as timm does.

    No inverse: summing or tiling loses the original channels.
    """

    in_chans: int = attrs.field(converter=int)

    @property
    def name(self) -> str:
        return f"adapt_input_conv({self.in_chans})"

    def __call__(self, a: np.ndarray) -> np.ndarray:
        if a.ndim != 4:
            raise ValueError(f"{self.name}: expected an HWIO kernel of rank 4, got shape {a.shape}")
        kh, kw, i, o = a.shape
        if self.in_chans == i:
            return a
        w = a.astype(np.float32)
        if self.in_chans == 1:
            if i > 3:
                if i % 3:
                    raise ValueError(f"{self.name}: {i} input channels do not split into RGB groups of 3")
                w = w.reshape(kh, kw, i // 3, 3, o).sum(axis=3)
            else:
                w = w.sum(axis=2, keepdims=True)
        else:
            if i != 3:
                raise ValueError(f"{self.name}: a stem with {i} input channels can only become 1 channel "
                                 "(timm supports no other conversion)")
            repeat = math.ceil(self.in_chans / 3)
            w = np.tile(w, (1, 1, repeat, 1))[:, :, : self.in_chans, :] * (3.0 / float(self.in_chans))
        return w.astype(a.dtype)

    def inverse(self) -> Transform:
        raise NotInvertibleError(f"{self.name} has no inverse: it sums or tiles the stem's input channels")


@attrs.frozen(init=False)
class Compose(Transform):
    """Apply ``transforms`` left to right. A pure permutation when every part is one and none
    squeezes; its inverse is the parts' inverses in reverse order."""

    transforms: tuple[Transform, ...]

    def __init__(self, *transforms: Transform | Callable[[np.ndarray], np.ndarray]):
        self.__attrs_init__(tuple(as_transform(t) for t in transforms))

    @property
    def name(self) -> str:
        return " ∘ ".join(t.name for t in reversed(self.transforms))

    def __call__(self, a: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            a = t(a)
        return a

    def permutation(self, ndim: int) -> tuple[int, ...] | None:
        axes = tuple(range(ndim))
        for t in self.transforms:
            p = t.permutation(ndim)
            if p is None or t.squeeze_axes:
                return None
            axes = tuple(axes[i] for i in p)  # transposing by p after axes is transposing by axes[p]
        return axes

    def inverse(self) -> Compose:
        return Compose(*(t.inverse() for t in reversed(self.transforms)))


def as_transform(x: Any) -> Transform:
    """``x`` as a ``Transform``: a record as it is, ``None`` as ``identity``, a plain function of
    a numpy array (the way transforms were written before they were records) as ``Custom(x)``,
    with no inverse."""
    if isinstance(x, Transform):
        return x
    if x is None:
        return identity
    if callable(x):
        return Custom(x)
    raise TypeError(f"not a transform: {x!r} (a zoo_core.interop.transforms.Transform or a function of an array)")


identity = Identity()
axis_reverse = Reverse()
conv_to_hwio = Permute((2, 3, 1, 0), name="conv_to_hwio", layout="an OIHW conv weight of rank 4")
"""PyTorch conv weight (O, I, kH, kW) → HWIO (kH, kW, I, O)."""
linear_to_dense = Permute((1, 0), name="linear_to_dense", layout="a (out, in) weight of rank 2")
"""PyTorch linear weight (out, in) → (in, out)."""
conv1x1_to_dense = Permute((2, 3, 1, 0), squeeze=(0, 1), name="conv1x1_to_dense", layout="a (O, I, 1, 1) weight")
"""PyTorch 1×1 conv weight (O, I, 1, 1) → dense (I, O): a 1×1 conv head as a dense layer."""


def pyperm(perm: Sequence[int]) -> Permute:
    """The transform that permutes axes with ``perm`` (as ``np.transpose``)."""
    return Permute(perm)


def adapt_input_conv(in_chans: int) -> AdaptInputConv:
    """``AdaptInputConv(in_chans)``: timm's stem adaptation to ``in_chans`` input channels."""
    return AdaptInputConv(in_chans)


def compose(*transforms: Transform | Callable[[np.ndarray], np.ndarray] | None) -> Transform:
    """Apply ``transforms`` left to right: nested compositions are flattened and identities
    dropped, so none left gives ``identity`` and one gives itself."""
    parts: list[Transform] = []
    for t in map(as_transform, transforms):
        parts.extend(t.transforms if isinstance(t, Compose) else (t,))
    parts = [t for t in parts if t != identity]
    if not parts:
        return identity
    return parts[0] if len(parts) == 1 else Compose(*parts)
