"""Layout transforms, with adapt_input_conv checked against hand-computed values."""

import numpy as np
import pytest

from zoo_core.interop import (
    adapt_input_conv,
    axis_reverse,
    compose,
    conv1x1_to_dense,
    conv_to_hwio,
    identity,
    linear_to_dense,
    pyperm,
)


def hwio(values_per_in_channel, kh=1, kw=1, out=1):
    """An HWIO kernel whose input channel i holds the constant values_per_in_channel[i]."""
    v = np.asarray(values_per_in_channel, np.float32)
    return np.broadcast_to(v[None, None, :, None], (kh, kw, len(v), out)).copy()


def test_conv_to_hwio_moves_oihw_axes():
    w = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    out = conv_to_hwio(w)
    assert out.shape == (4, 5, 3, 2)
    assert out[1, 2, 0, 1] == w[1, 0, 1, 2]


def test_linear_and_conv1x1_to_dense_transpose():
    w = np.arange(6).reshape(2, 3)
    assert linear_to_dense(w).shape == (3, 2) and linear_to_dense(w)[2, 1] == w[1, 2]
    assert np.array_equal(conv1x1_to_dense(w[:, :, None, None]), w.T)
    with pytest.raises(ValueError, match=r"\(O, I, 1, 1\)"):
        conv1x1_to_dense(np.zeros((2, 3, 3, 3)))


def test_axis_reverse_pyperm_and_compose():
    a = np.zeros((2, 3, 4))
    assert axis_reverse(a).shape == (4, 3, 2)
    assert pyperm((1, 0, 2))(a).shape == (3, 2, 4)
    assert compose(pyperm((1, 0, 2)), axis_reverse)(a).shape == (4, 2, 3)
    assert compose(identity, identity) is identity
    with pytest.raises(ValueError, match="rank 3"):
        pyperm((1, 0))(a)


def test_adapt_input_conv_to_one_channel_sums_rgb():
    out = adapt_input_conv(1)(hwio([1.0, 2.0, 4.0]))
    assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == 7.0


def test_adapt_input_conv_to_one_channel_sums_each_rgb_group_of_space_to_depth_stems():
    out = adapt_input_conv(1)(hwio([1, 2, 3, 10, 20, 30]))
    assert out[0, 0, :, 0].tolist() == [6.0, 60.0]


def test_adapt_input_conv_to_four_channels_tiles_and_rescales():
    out = adapt_input_conv(4)(hwio([1.0, 2.0, 4.0]))
    np.testing.assert_allclose(out[0, 0, :, 0], np.array([1, 2, 4, 1]) * 3 / 4)


def test_adapt_input_conv_to_seven_channels_truncates_the_third_copy():
    out = adapt_input_conv(7)(hwio([3.0, 6.0, 9.0]))
    np.testing.assert_allclose(out[0, 0, :, 0], np.array([3, 6, 9, 3, 6, 9, 3]) * 3 / 7)


def test_adapt_input_conv_keeps_a_matching_kernel_and_refuses_what_timm_refuses():
    k = hwio([1.0, 2.0])
    assert adapt_input_conv(2)(k) is k
    with pytest.raises(ValueError, match="can only become 1 channel"):
        adapt_input_conv(5)(k)
    with pytest.raises(ValueError, match="groups of 3"):
        adapt_input_conv(1)(hwio([1, 2, 3, 4]))


def test_adapt_input_conv_preserves_dtype_and_spatial_layout():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((7, 5, 3, 8)).astype(np.float16)
    out = adapt_input_conv(1)(k)
    assert out.dtype == np.float16 and out.shape == (7, 5, 1, 8)
    np.testing.assert_allclose(out[..., 0, :], k.astype(np.float32).sum(axis=2), rtol=1e-2)


def test_pure_permutations_carry_their_axes_and_compose_into_one():
    from zoo_core.interop.transforms import axis_reverse, compose, conv_to_hwio, identity, linear_to_dense, pyperm

    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    assert identity.axes is None and linear_to_dense.axes == (1, 0)
    for transform in (conv_to_hwio, pyperm((1, 0, 3, 2)), compose(conv_to_hwio, pyperm((3, 1, 0, 2))),
                      compose(pyperm((1, 2, 3, 0)), conv_to_hwio, pyperm((0, 1, 3, 2)))):
        np.testing.assert_array_equal(np.transpose(a, transform.axes), transform(a))
    assert not hasattr(axis_reverse, "axes")  # rank-dependent: applied to the array as read
    assert not hasattr(compose(conv_to_hwio, lambda x: x * 2), "axes")


def test_conv1x1_to_dense_is_a_permutation_then_a_squeeze():
    from zoo_core.interop.transforms import compose, conv1x1_to_dense, pyperm

    w = np.random.default_rng(0).standard_normal((6, 5, 1, 1))
    permuted = np.transpose(w, conv1x1_to_dense.axes)
    np.testing.assert_array_equal(np.squeeze(permuted, conv1x1_to_dense.squeeze_axes), conv1x1_to_dense(w))
    # a composition with it is applied to the array as read: its axes would not describe the result
    assert not hasattr(compose(pyperm((0, 1, 3, 2)), conv1x1_to_dense), "axes")
