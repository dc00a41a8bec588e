"""``max_pool2d``'s sliced CPU formulation against ``reduce_window``: the same maxima, the same
derivatives (reverse and forward mode, ties included), a constant pad value equal to padding first,
and neither a ``reduce-window`` nor a padded copy of the input left on CPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core import nn
from zoo_core.nn import pool

CASES = [  # (H, W, kernel, stride, padding)
    (9, 9, 3, 2, 1),
    (10, 7, 3, 2, 1),
    (8, 8, 2, 2, 0),
    (11, 13, 3, 1, 1),
    (12, 12, 5, 3, 2),
    (7, 9, (3, 2), (2, 1), ((1, 0), (0, 1))),
]


@pytest.mark.parametrize(("h", "w", "k", "s", "p"), CASES)
def test_sliced_equals_reduce_window(h, w, k, s, p):
    x = jax.random.normal(jax.random.key(0), (2, h, w, 5))
    k2, s2 = pool.pair(k), pool.pair(s)
    pads = tuple(tuple(v) for v in pool._pads(p))
    expected = pool._reduce_window_max(x, k2, s2, pads)
    np.testing.assert_array_equal(np.asarray(jax.jit(nn.max_pool2d, static_argnums=(1, 2, 3))(x, k, s, p)), expected)
    np.testing.assert_array_equal(np.asarray(pool._sliced_max(x, k2, s2, pads)), expected)


def test_derivatives_are_reduce_windows_with_ties():
    # ReLU'd maps tie at 0 in most windows: the gradient must still go where reduce_window sends it
    x = jax.nn.relu(jax.random.normal(jax.random.key(1), (2, 10, 10, 4)))
    w = jax.random.normal(jax.random.key(2), (2, 5, 5, 4))
    args = ((3, 3), (2, 2), ((1, 1), (1, 1)))

    def loss(f):
        return lambda x: jnp.sum(f(x, *args) * w)

    got = jax.jit(jax.grad(loss(lambda x, *a: pool._max_pool(x, *a, -np.inf))))(x)
    expected = jax.grad(loss(pool._reduce_window_max))(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    t = jax.random.normal(jax.random.key(3), x.shape)
    _, got_t = jax.jvp(lambda x: pool._max_pool(x, *args, -np.inf), (x,), (t,))
    _, expected_t = jax.jvp(lambda x: pool._reduce_window_max(x, *args), (x,), (t,))
    np.testing.assert_array_equal(np.asarray(got_t), np.asarray(expected_t))


def test_cpu_program_has_no_reduce_window_and_keeps_dtype():
    x = jnp.ones((1, 8, 8, 3), jnp.bfloat16)
    assert nn.max_pool2d(x, 3, 2, 1).dtype == jnp.bfloat16
    hlo = jax.jit(lambda x: nn.max_pool2d(x, 3, 2, 1)).lower(x).compile().as_text()
    assert "reduce-window" not in hlo
    # a large window keeps reduce_window
    big = jax.jit(lambda x: nn.max_pool2d(x, 7, 1, 3)).lower(x).compile().as_text()
    assert "reduce-window" in big


@pytest.mark.parametrize(("h", "w", "k", "s", "p"), CASES)
@pytest.mark.parametrize("pad_value", [0.0, 0.5])
def test_a_pad_value_is_padding_first(h, w, k, s, p, pad_value):
    """``pad_value=v`` equals ``jnp.pad(x, constant_values=v)`` then an unpadded pool, values and gradients."""
    x = jax.random.normal(jax.random.key(0), (2, h, w, 5))
    pads = tuple(tuple(v) for v in pool._pads(p))

    def padded_first(x):
        return nn.max_pool2d(jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=pad_value), k, s)

    def ours(x):
        return nn.max_pool2d(x, k, s, p, pad_value=pad_value)

    np.testing.assert_array_equal(np.asarray(jax.jit(ours)(x)), np.asarray(padded_first(x)))
    w = jax.random.normal(jax.random.key(1), padded_first(x).shape)
    got = jax.jit(jax.grad(lambda x: jnp.sum(ours(x) * w)))(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(jax.grad(lambda x: jnp.sum(padded_first(x) * w))(x)))


def test_the_padded_input_is_never_written_out():
    """The stem pool reads its input in one fusion: no pad of the whole input before the slices."""
    x = jnp.ones((2, 16, 16, 8))
    for pad_value in (-np.inf, 0.0):
        hlo = jax.jit(lambda x: nn.max_pool2d(x, 3, 2, 1, pad_value=pad_value)).lower(x).compile().as_text()
        assert "f32[2,18,18,8]" not in hlo
