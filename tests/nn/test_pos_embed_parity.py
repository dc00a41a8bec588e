"""``zoo_core.nn.resample_abs_pos_embed`` and ``interpolation_matrix`` against timm's
``resample_abs_pos_embed`` and ``torch.nn.functional.interpolate``."""

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from timm.layers import resample_abs_pos_embed as timm_resample  # noqa: E402

from zoo_core.nn.pos_embed import interpolation_matrix, resample_abs_pos_embed  # noqa: E402
from zoo_core.testing.parity import assert_close  # noqa: E402

pytestmark = pytest.mark.parity

# ~1e-6 absolute on unit-scale values: PyTorch computes the source positions and weights in
# float32, we in float64 (measured max 6.3e-6 over these cases); atol 1e-5 is well inside 1e-4.
ATOL = 1e-5


@pytest.mark.parametrize("mode,antialias,align_corners", list(itertools.product(
    ["bilinear", "bicubic"], [False, True], [None, True])))
@pytest.mark.parametrize("in_size,out_size", [(14, 24), (24, 14), (7, 7), (14, 37), (37, 16), (3, 5), (5, 2), (16, 1)])
def test_interpolation_matrix_matches_torch_interpolate(mode, antialias, align_corners, in_size, out_size):
    """One axis of F.interpolate as a matrix: up and down, antialiased or not, both corner modes."""
    x = np.random.default_rng(in_size * 100 + out_size).standard_normal((1, 2, in_size, 3)).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(x), size=(out_size, 3), mode=mode, antialias=antialias,
                             align_corners=align_corners).numpy()
    weights = interpolation_matrix(in_size, out_size, mode, antialias=antialias, align_corners=align_corners)
    assert_close(np.einsum("oi,ncid->ncod", weights, x), expected, rtol=0, atol=ATOL, name="interpolated")


@pytest.mark.parametrize("old,new,prefix,kwargs", [
    ((14, 14), (24, 24), 1, {}),                                  # ViT-B/16 224 → 384
    ((14, 14), (10, 10), 1, {}),                                  # 224 → 160, downsampled with antialias
    ((37, 37), (8, 8), 1, {}),                                    # DINOv2 518 → 112
    ((7, 7), (12, 5), 1, {}),                                     # non-square target
    ((6, 9), (9, 6), 0, {}),                                      # non-square source, no prefix token
    ((16, 16), (14, 14), 2, {"interpolation": "bilinear", "antialias": False}),  # FlexiViT's setting
    ((8, 8), (11, 11), 1, {"interpolation": "bilinear", "antialias": False, "align_corners": True}),  # RADIO's
    ((14, 14), (14, 14), 1, {}),                                  # same grid: unchanged
])
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_resample_abs_pos_embed_matches_timm(old, new, prefix, kwargs, backend):
    """Prefix tokens kept, the grid interpolated as timm does, from numpy (loading) or JAX arrays."""
    dim = 8
    posemb = 0.2 * np.random.default_rng(0).standard_normal((1, prefix + old[0] * old[1], dim)).astype(np.float32)
    expected = timm_resample(torch.from_numpy(posemb), new_size=list(new), old_size=list(old),
                             num_prefix_tokens=prefix, **kwargs).numpy()
    source = posemb if backend == "numpy" else jnp.asarray(posemb)
    ours = resample_abs_pos_embed(source, new, old_size=old, num_prefix_tokens=prefix, **kwargs)
    assert isinstance(ours, np.ndarray if backend == "numpy" else jax.Array)
    assert_close(ours, expected, rtol=0, atol=ATOL, name="resampled pos_embed")
    np.testing.assert_array_equal(np.asarray(ours)[:, :prefix], posemb[:, :prefix])


def test_resample_abs_pos_embed_assumes_a_square_source_grid():
    """Without ``old_size`` the source grid is square, as in timm; a matching square target is a no-op."""
    posemb = np.random.default_rng(1).standard_normal((1, 1 + 12 * 12, 4)).astype(np.float32)
    expected = timm_resample(torch.from_numpy(posemb), new_size=[7, 9]).numpy()
    assert_close(resample_abs_pos_embed(posemb, (7, 9)), expected, rtol=0, atol=ATOL, name="resampled pos_embed")
    assert resample_abs_pos_embed(posemb, (12, 12)) is posemb


def test_resample_abs_pos_embed_is_jit_and_grad_friendly():
    """Static shapes: it runs under jit and differentiates (gradients flow to every source row)."""
    posemb = jnp.asarray(np.random.default_rng(2).standard_normal((1, 1 + 4 * 4, 3)), jnp.float32)
    fn = jax.jit(lambda p: resample_abs_pos_embed(p, (6, 6), num_prefix_tokens=1).sum())
    grad = jax.grad(fn)(posemb)
    assert grad.shape == posemb.shape and bool(jnp.all(grad != 0))
