"""Resampling learned absolute position embeddings to a new patch grid.

| ours | timm / torch |
| --- | --- |
| ``resample_abs_pos_embed`` | ``timm.layers.resample_abs_pos_embed`` (what ViT's ``checkpoint_filter_fn`` does on load) |
| ``interpolation_matrix`` | one axis of ``torch.nn.functional.interpolate`` (``bilinear`` / ``bicubic``, with or without ``antialias``, ``align_corners``) |

``F.interpolate`` in these modes is separable: each output row is a fixed weighted sum of input
rows, then the same along columns. ``interpolation_matrix`` builds those weights exactly as
PyTorch's CPU kernels do (source-index formula, cubic coefficient ``A = -0.75`` without
antialias and ``-0.5`` with it, edge clamping or weight renormalisation), so resampling is two
small matmuls with static shapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter ``a`` (support [-2, 2])."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - np.abs(x), 0.0)


def _source_scale(in_size: int, out_size: int, align_corners: bool) -> float:
    """PyTorch's ``area_pixel_compute_scale`` when ``F.interpolate`` is given a ``size``."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return in_size / out_size


def interpolation_matrix(in_size: int, out_size: int, mode: str = "bicubic", *, antialias: bool = False,
                         align_corners: bool | None = None) -> np.ndarray:
    """The (out_size, in_size) float64 matrix ``M`` with ``F.interpolate(x, ...)`` along one axis
    equal to ``M @ x`` along that axis, for ``mode`` ``"bilinear"`` or ``"bicubic"``."""
    if mode not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolation_matrix: mode {mode!r} is not supported (use 'bilinear' or 'bicubic')")
    align = bool(align_corners)
    scale = _source_scale(in_size, out_size, align)
    out = np.arange(out_size, dtype=np.float64)
    weights = np.zeros((out_size, in_size), np.float64)
    rows = np.arange(out_size)[:, None]
    if antialias:
        # PyTorch's _compute_index_ranges_weights (the PIL-style filter): the kernel widens by the
        # downscaling factor, taps outside the input are dropped and the rest renormalised.
        interp_size = 4 if mode == "bicubic" else 2
        support = interp_size / 2 * scale if scale >= 1.0 else interp_size / 2
        inv_scale = 1.0 / scale if scale >= 1.0 else 1.0
        for i in range(out_size):
            center = scale * (i + 0.5)
            lo = max(int(center - support + 0.5), 0)
            hi = min(int(center + support + 0.5), in_size)
            taps = (np.arange(lo, hi) - center + 0.5) * inv_scale
            w = _cubic(taps, -0.5) if mode == "bicubic" else _triangle(taps)
            total = w.sum()
            weights[i, lo:hi] = w / total if total != 0 else w
        return weights
    src = scale * out if align else scale * (out + 0.5) - 0.5
    if mode == "bilinear":
        src = np.maximum(src, 0.0)
        i0 = np.floor(src).astype(np.int64)
        lam = src - i0
        i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
        np.add.at(weights, (rows[:, 0], i0), 1.0 - lam)
        np.add.at(weights, (rows[:, 0], i1), lam)
        return weights
    # bicubic: four taps around floor(src), coefficients with A = -0.75, indices clamped to the edge.
    i0 = np.floor(src).astype(np.int64)
    t = src - i0
    coefficients = np.stack([_cubic(t + 1, -0.75), _cubic(t, -0.75), _cubic(1 - t, -0.75), _cubic(2 - t, -0.75)], 1)
    index = np.clip(i0[:, None] + np.arange(-1, 3)[None, :], 0, in_size - 1)
    np.add.at(weights, (np.broadcast_to(rows, index.shape), index), coefficients)
    return weights


def resample_abs_pos_embed(
    posemb: jax.Array | np.ndarray,
    new_size: Sequence[int],
    old_size: Sequence[int] | None = None,
    num_prefix_tokens: int = 1,
    interpolation: str = "bicubic",
    antialias: bool = True,
    align_corners: bool | None = None,
) -> jax.Array | np.ndarray:
    """timm's ``resample_abs_pos_embed``: (1, prefix + gh·gw, D) → (1, prefix + new_h·new_w, D).

    The first ``num_prefix_tokens`` rows (class token …) are kept; the rest, a row-major
    ``old_size`` grid (square when not given), is interpolated to ``new_size`` in float32 with
    timm's defaults (bicubic, antialiased). Returned unchanged when the sizes already agree, as timm
    does. A numpy input gives a numpy output (the weight-loading path), a JAX array a JAX array.
    """
    num_pos_tokens = posemb.shape[1]
    new_size = (int(new_size[0]), int(new_size[1]))
    if new_size[0] * new_size[1] + num_prefix_tokens == num_pos_tokens:
        if old_size is not None and tuple(old_size) == new_size:
            return posemb
        if old_size is None and new_size[0] == new_size[1]:
            return posemb
    if old_size is None:
        side = int(math.sqrt(num_pos_tokens - num_prefix_tokens))
        old_size = (side, side)
    rows = interpolation_matrix(old_size[0], new_size[0], interpolation, antialias=antialias,
                                align_corners=align_corners)
    cols = interpolation_matrix(old_size[1], new_size[1], interpolation, antialias=antialias,
                                align_corners=align_corners)
    xp = np if isinstance(posemb, np.ndarray) else jnp
    prefix, grid = posemb[:, :num_prefix_tokens], posemb[:, num_prefix_tokens:]
    grid = grid.astype(xp.float32).reshape(old_size[0], old_size[1], -1)
    kwargs = {} if xp is np else {"precision": jax.lax.Precision.HIGHEST}
    grid = xp.einsum("yh,hwd->ywd", rows.astype(np.float32), grid, **kwargs)
    grid = xp.einsum("xw,ywd->yxd", cols.astype(np.float32), grid, **kwargs)
    grid = grid.reshape(1, new_size[0] * new_size[1], -1).astype(posemb.dtype)
    return xp.concatenate([prefix, grid], axis=1)
