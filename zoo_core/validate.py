"""Checks for the arguments of zoo's public API, each raising ``ArgumentError``.

Every checker takes ``where`` (the variant's name, or the function's where there is no variant),
the argument's name and its value; it returns the value in its canonical form (a Python ``int``
for a numpy integer, a tuple for a list) or raises an ``ArgumentError`` whose message names all
three and what is allowed. A ``bool`` is never an int or a float here: ``num_classes=True`` is
refused, not read as 1. No JAX import: the checks run before any model is built.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import reprlib
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from zoo_core.errors import ArgumentError

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60



def _is_bool(value: Any) -> bool:
    """Python's or numpy's bool (numpy is not imported for this: if it is not loaded yet, no value
    can be one of its bools, and ``zoo list`` stays free of numpy)."""
    if isinstance(value, bool):
        return True
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.bool_)

def show(value: Any) -> str:
    """``repr(value)``, shortened for long strings, sequences and arrays."""
    return _repr.repr(value)


def refuse(where: str, arg: str, value: Any, allowed: str) -> ArgumentError:
    """The ``ArgumentError`` for ``arg=value`` given to ``where``, saying what is ``allowed``."""
    return ArgumentError(f"{where}: {arg}={show(value)} is not allowed: expected {allowed}")


def is_int(value: Any) -> bool:
    """An integer (Python's or numpy's) that is not a bool."""
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def is_real(value: Any) -> bool:
    """A finite real number (int or float, Python's or numpy's) that is not a bool."""
    if not isinstance(value, numbers.Real) or _is_bool(value):
        return False
    return is_int(value) or math.isfinite(value)


def _bounds(min: int | float | None, max: int | float | None) -> str:
    if min is not None and max is not None:
        return f" in [{min}, {max}]"
    if min is not None:
        return f" ≥ {min}"
    return f" ≤ {max}" if max is not None else ""


def check_int(where: str, arg: str, value: Any, *, min: int | None = None, max: int | None = None,
              allow_none: bool = False) -> int | None:
    """``value`` as a Python int within ``[min, max]`` (``None`` passes where ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not is_int(value) or (min is not None and value < min) or (max is not None and value > max):
        allowed = f"an int{_bounds(min, max)}" + (" or None" if allow_none else "")
        raise refuse(where, arg, value, allowed)
    return int(value)


def check_bool(where: str, arg: str, value: Any, *, allow_none: bool = False) -> bool | None:
    """``value`` as a bool: ``True``/``False`` (numpy's too), or ``None`` where ``allow_none``."""
    if value is None and allow_none:
        return None
    if not _is_bool(value):
        raise refuse(where, arg, value, "True or False" + (" or None" if allow_none else ""))
    return bool(value)


def check_real(where: str, arg: str, value: Any, *, above: float | None = None, max: float | None = None,
               allow_none: bool = False) -> float | None:
    """``value`` as a finite float, ``> above`` and ``≤ max`` where given (``None`` where ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not is_real(value) or (above is not None and value <= above) or (max is not None and value > max):
        low = f" > {above}" if above is not None else ""
        high = f" and ≤ {max}" if max is not None else ""
        raise refuse(where, arg, value, f"a finite number{low}{high}" + (" or None" if allow_none else ""))
    return float(value)


def check_str(where: str, arg: str, value: Any, *, allow_none: bool = False) -> str | None:
    """``value`` as a non-empty str (``None`` where ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value:
        raise refuse(where, arg, value, "a non-empty str" + (" or None" if allow_none else ""))
    return value


def check_choice(where: str, arg: str, value: Any, choices: Collection[str]) -> str:
    """``value``, one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise refuse(where, arg, value, f"one of {', '.join(map(repr, choices))}")
    return value


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def check_ints(where: str, arg: str, value: Any, *, length: int, min: int | None = None) -> tuple[int, ...]:
    """``value``, a tuple or list of ``length`` ints ``≥ min``, as a tuple of Python ints."""
    if not _is_sequence(value) or len(value) != length or not all(is_int(v) and (min is None or v >= min)
                                                                  for v in value):
        raise refuse(where, arg, value, f"a tuple of {length} ints{_bounds(min, None)}")
    return tuple(int(v) for v in value)


def check_size(where: str, arg: str, value: Any, *, min: int = 1, allow_none: bool = False,
               why: str = "") -> tuple[int, int] | None:
    """An image size: an int ``s`` (→ ``(s, s)``) or a pair ``(H, W)``, each ``≥ min`` (``why``
    says where the minimum comes from, e.g. the patch size); ``None`` where ``allow_none``."""
    if value is None and allow_none:
        return None
    size = (value, value) if is_int(value) else value
    if not _is_sequence(size) or len(size) != 2 or not all(is_int(v) and v >= min for v in size):
        allowed = f"an int ≥ {min} or a pair (H, W) of ints ≥ {min}{why}" + (" or None" if allow_none else "")
        raise refuse(where, arg, value, allowed)
    return int(size[0]), int(size[1])


def check_reals(where: str, arg: str, value: Any, *, lengths: Collection[int] | None = None,
                above: float | None = None) -> tuple[float, ...]:
    """``value``, a non-empty tuple or list of finite numbers (each ``> above`` where given) whose
    length is one of ``lengths`` (any where None), as a tuple of floats."""
    if (not _is_sequence(value) or not value or (lengths is not None and len(value) not in lengths)
            or not all(is_real(v) and (above is None or v > above) for v in value)):
        sizes = " or ".join(map(str, sorted(set(lengths)))) + " " if lengths is not None else ""
        allowed = f"a non-empty tuple of {sizes}finite numbers" + (f" > {above}" if above is not None else "")
        raise refuse(where, arg, value, allowed)
    return tuple(float(v) for v in value)


def check_keys(where: str, arg: str, value: Any) -> tuple[str, ...]:
    """A key path such as ``prefix``: a tuple or list of str keys, as a tuple (a bare str is refused:
    ``"backbone"`` would otherwise read as the keys ``b``, ``a``, …)."""
    if not isinstance(value, (tuple, list)) or not all(isinstance(k, str) for k in value):
        raise refuse(where, arg, value, "a tuple or list of str keys, e.g. ('backbone',)")
    return tuple(value)


def check_path(where: str, arg: str, value: Any, *, allow_none: bool = False) -> str | os.PathLike | None:
    """``value``, a non-empty str or ``os.PathLike`` (``None`` where ``allow_none``); returned as given."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise refuse(where, arg, value, "a file path (str or os.PathLike)" + (" or None" if allow_none else ""))
    return value


def check_mapping(where: str, arg: str, value: Any, *, allow_none: bool = False) -> Mapping | None:
    """``value``, a mapping (``None`` where ``allow_none``)."""
    if not (isinstance(value, Mapping) or (value is None and allow_none)):
        raise refuse(where, arg, value, "a mapping" + (" or None" if allow_none else ""))
    return value


def check_keywords(where: str, function: Callable, kwargs: Mapping[str, Any], *, positional: int = 0,
                   taken: Collection[str] = (), taker: str = "it") -> None:
    """Refuse the names in ``kwargs`` that ``function`` does not accept as keywords, before calling
    it with ``positional`` leading positional arguments, the keywords ``taken`` (neither is offered
    in the message) and ``kwargs``; ``taker`` names ``function`` in the message. A function with
    ``**kwargs``, or whose signature cannot be read, accepts everything."""
    try:
        parameters = list(inspect.signature(function).parameters.values())[positional:]
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    accepted = [p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    offered = [name for name in accepted if name not in taken]
    for name in kwargs:
        if name not in offered:
            takes = f"takes {', '.join(offered)}" if offered else "takes no further keyword arguments"
            raise ArgumentError(f"{where}: unknown keyword argument {name}={show(kwargs[name])}: {taker} {takes}")


__all__ = ["check_bool", "check_choice", "check_int", "check_ints", "check_keys", "check_keywords", "check_mapping",
           "check_path", "check_real", "check_reals", "check_size", "check_str", "is_int", "is_real", "refuse", "show"]
