"""Layout transforms as records: adapt_input_conv against hand-computed values, permutations for the
fast reader, each inverse undoing its transform, and plain functions still taken."""

import numpy as np
import pytest

from zoo_core.interop import (
    AdaptInputConv,
    Compose,
    Custom,
    Identity,
    NotInvertibleError,
    Permute,
    Reshape,
    Reverse,
    adapt_input_conv,
    as_transform,
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


def test_pure_permutations_say_so_and_compose_into_one():
    """``permutation(ndim)`` is what the transform does to an array of that rank, for the loader's
    one-copy read; a composition of permutations is one permutation."""
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    assert identity.permutation(4) == (0, 1, 2, 3) and linear_to_dense.permutation(2) == (1, 0)
    for transform in (conv_to_hwio, pyperm((1, 0, 3, 2)), axis_reverse, compose(conv_to_hwio, pyperm((3, 1, 0, 2))),
                      compose(pyperm((1, 2, 3, 0)), conv_to_hwio, pyperm((0, 1, 3, 2))), compose(axis_reverse, identity)):
        np.testing.assert_array_equal(np.transpose(a, transform.permutation(4)), transform(a))
        assert transform.squeeze_axes == ()
    assert axis_reverse.permutation(3) == (2, 1, 0)  # rank-generic
    assert conv_to_hwio.permutation(3) is None  # a rank it does not take: applied (and refused) as read
    assert compose(conv_to_hwio, lambda x: x * 2).permutation(4) is None
    assert adapt_input_conv(1).permutation(4) is None


def test_conv1x1_to_dense_is_a_permutation_then_a_squeeze():
    w = np.random.default_rng(0).standard_normal((6, 5, 1, 1))
    permuted = np.transpose(w, conv1x1_to_dense.permutation(4))
    np.testing.assert_array_equal(np.squeeze(permuted, conv1x1_to_dense.squeeze_axes), conv1x1_to_dense(w))
    # a composition with it is applied to the array as read: its permutation would not describe the result
    assert compose(pyperm((0, 1, 3, 2)), conv1x1_to_dense).permutation(4) is None


RNG = np.random.default_rng(0)
INVERTIBLE = [
    (identity, (2, 3)),
    (axis_reverse, (2, 3, 4)),
    (conv_to_hwio, (8, 3, 5, 7)),
    (linear_to_dense, (4, 6)),
    (conv1x1_to_dense, (6, 5, 1, 1)),
    (pyperm((2, 0, 1)), (2, 3, 4)),
    (Permute((1, 2, 0), squeeze=(0,)), (5, 1, 3)),
    (Reshape((-1,), source=(1, 1, 1, -1)), (1, 1, 1, 9)),
    (Reshape((2, 6), source=(3, 4)), (3, 4)),
    (Custom(lambda a: a * 2, inverse=lambda a: a / 2, name="double"), (3, 2)),
    (Custom(np.negative, inverse=np.negative), (3,)),
    (Custom(np.ascontiguousarray, inverse=identity), (3, 2)),
    (compose(conv_to_hwio, pyperm((3, 1, 0, 2))), (8, 3, 5, 7)),
    (compose(conv1x1_to_dense, Reshape((-1,), source=(5, -1)), axis_reverse), (6, 5, 1, 1)),
]


@pytest.mark.parametrize("transform,shape", INVERTIBLE, ids=[str(t) for t, _ in INVERTIBLE])
def test_each_inverse_undoes_its_transform_on_random_arrays(transform, shape):
    """``t.inverse()(t(a)) == a`` exactly, in the stored shape; the inverse of the inverse is the
    transform again (equal, and equally named)."""
    a = RNG.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(transform.inverse()(transform(a)), a)
    assert transform.inverse()(transform(a)).shape == shape
    if not isinstance(transform, Custom):
        assert transform.inverse().inverse() == transform and str(transform.inverse().inverse()) == str(transform)


def test_inverses_of_the_layout_helpers_give_pytorchs_layout():
    """HWIO → OIHW, (in, out) → (out, in), dense (I, O) → 1×1 conv (O, I, 1, 1), each named after
    its forward transform."""
    assert conv_to_hwio.inverse() == pyperm((3, 2, 0, 1)) and str(conv_to_hwio.inverse()) == "conv_to_hwio.inverse()"
    assert linear_to_dense.inverse() == linear_to_dense
    assert conv1x1_to_dense.inverse()(np.zeros((5, 6))).shape == (6, 5, 1, 1)
    assert conv1x1_to_dense.inverse().permutation(2) is None  # it inserts axes: not a pure permutation
    assert compose(conv_to_hwio, axis_reverse).inverse() == Compose(axis_reverse, conv_to_hwio.inverse())


@pytest.mark.parametrize("transform,why", [
    (adapt_input_conv(1), "sums or tiles"),
    (Custom(np.negative), r"Custom\(fn, inverse=...\)"),
    (Reshape((-1,)), "input shape is unknown"),
    (Reshape((-1,), source=(-1, -1)), "input shape is unknown"),
    (compose(conv_to_hwio, adapt_input_conv(4)), "adapt_input_conv\\(4\\) has no inverse"),
])
def test_a_transform_without_inverse_raises_naming_itself(transform, why):
    with pytest.raises(NotInvertibleError, match=why):
        transform.inverse()


def test_records_are_hashable_values_named_in_errors():
    """Equal records are equal and hash alike whatever their name; a name shows in ``str`` and
    in the rank errors of today's helpers."""
    assert pyperm((2, 3, 1, 0)) == conv_to_hwio and hash(pyperm((2, 3, 1, 0))) == hash(conv_to_hwio)
    assert conv_to_hwio != conv1x1_to_dense and len({identity, Identity(), axis_reverse, Reverse()}) == 2
    assert adapt_input_conv(3) == AdaptInputConv(3) != AdaptInputConv(1)
    assert str(compose(conv_to_hwio, adapt_input_conv(1))) == "adapt_input_conv(1) ∘ conv_to_hwio"
    with pytest.raises(ValueError, match=r"conv_to_hwio: expected an OIHW conv weight of rank 4, got shape \(3, 4\)"):
        conv_to_hwio(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"linear_to_dense: .*rank 2, got shape \(3,\)"):
        linear_to_dense(np.zeros(3))
    with pytest.raises(ValueError, match=r"adapt_input_conv\(1\): expected an HWIO kernel of rank 4"):
        adapt_input_conv(1)(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="not a permutation"):
        Permute((0, 0))


def test_a_plain_function_is_wrapped_as_a_custom_transform_without_inverse():
    """The old way of writing a transform (a function of an array) keeps working wherever a
    transform is taken, named after the function."""

    def halve(a):
        return a / 2

    wrapped = as_transform(halve)
    assert wrapped == Custom(halve) and str(wrapped) == "halve" and wrapped.permutation(1) is None
    np.testing.assert_array_equal(wrapped(np.ones(2)), np.full(2, 0.5))
    assert as_transform(conv_to_hwio) is conv_to_hwio and as_transform(None) is identity
    assert compose(halve, identity) == Custom(halve)
    with pytest.raises(NotInvertibleError, match="halve has no inverse"):
        wrapped.inverse()
    with pytest.raises(TypeError, match="not a transform: 3"):
        as_transform(3)
