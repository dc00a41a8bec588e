"""The compiled direct conv (a stem's conv on few input channels) with its affine / ReLU epilogue
against a float64 numpy reference (pixel and channel tails, strides, paddings, kernel shapes, both
code paths, threads, vmap, sharding, arguments)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core.errors import ArgumentError

from zoo_cpu_kernels import direct
from zoo_cpu_kernels.direct import direct_conv2d, direct_supports


def reference(x, kernel, scale, shift, stride, pads, relu):
    x = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)))
    kernel = np.asarray(kernel, np.float64)
    kh, kw = kernel.shape[:2]
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            window = x[:, i:i + (oh - 1) * stride + 1:stride, j:j + (ow - 1) * stride + 1:stride]
            y += np.einsum("nhwc,co->nhwo", window, kernel[i, j])
    y = y * (1.0 if scale is None else np.asarray(scale, np.float64)) + (0.0 if shift is None else
                                                                           np.asarray(shift, np.float64))
    return np.maximum(y, 0) if relu else y


def data(n, h, w, cin, kh, kw, cout, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
    kernel = (rng.standard_normal((kh, kw, cin, cout)) / np.sqrt(kh * kw * cin)).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, cout).astype(np.float32)
    shift = rng.standard_normal(cout).astype(np.float32)
    return x, kernel, scale, shift


def close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


# (N, H, W, Cin, KH, KW, Cout, stride, pads, relu): ResNet's stem (7×7 / 2, padding 3) on a small and
# an odd image; output rows of 1-23 pixels (blocks of 6, 8, 12, 16 and their 8/4/2/1 tails); the last
# channel block 16/32/48 wide and several blocks; non-square kernels, stride 1/3/4, uneven padding,
# one input channel and a row of exactly DIRECT_MAX_ROW floats
CASES = [(2, 32, 32, 3, 7, 7, 64, 2, ((3, 3), (3, 3)), True), (1, 29, 23, 3, 7, 7, 64, 2, ((3, 3), (3, 3)), False),
         (3, 9, 11, 3, 3, 5, 16, 1, ((1, 1), (2, 2)), True), (1, 12, 45, 4, 4, 4, 96, 4, ((0, 0), (0, 3)), False),
         (2, 9, 9, 1, 3, 3, 48, 3, ((2, 0), (1, 2)), True), (1, 7, 47, 3, 7, 7, 80, 1, ((3, 3), (3, 3)), True),
         (1, 6, 6, 8, 2, 8, 32, 1, ((0, 1), (1, 1)), False), (2, 5, 33, 2, 1, 1, 176, 2, ((0, 0), (0, 0)), True)]


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:8])) + f"-relu{c[9]:d}")
def test_matches_the_float64_reference(case, portable):
    n, h, w, cin, kh, kw, cout, stride, pads, relu = case
    x, kernel, scale, shift = data(n, h, w, cin, kh, kw, cout)
    conv = jax.jit(lambda *a: direct._conv(*a, stride=stride, pads=pads, relu=relu, portable=portable))
    close(conv(x, kernel, scale, shift), reference(x, kernel, scale, shift, stride, pads, relu))


def test_the_public_call_defaults_to_the_plain_conv():
    x, kernel, _, _ = data(2, 20, 20, 3, 7, 7, 64)
    pads = ((3, 3), (3, 3))
    got = direct_conv2d(x, kernel, stride=2, pads=pads)
    want = jax.lax.conv_general_dilated(x, kernel, (2, 2), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        precision="highest")
    close(got, np.asarray(want, np.float64))
    fn = jax.jit(lambda x: direct_conv2d(x, kernel, stride=2, pads=pads))
    assert direct.DIRECT_TARGET in fn.lower(x).compile().as_text()


@pytest.mark.parametrize("cout", [64, 192])  # one channel block, several
def test_threads_split_the_work_without_changing_it(cout):
    x, kernel, scale, shift = data(2, 40, 40, 3, 7, 7, cout)  # ≥ 10 MFLOP: many items
    calls = [direct._conv(x, kernel, scale, shift, stride=2, pads=((3, 3), (3, 3)), relu=True, max_threads=t)
             for t in (1, 0)]
    np.testing.assert_array_equal(np.asarray(calls[0]), np.asarray(calls[1]))
    close(calls[1], reference(x, kernel, scale, shift, 2, ((3, 3), (3, 3)), True))


def test_vmap_folds_the_batch_and_loops_over_weights():
    x, kernel, scale, shift = data(3, 10, 9, 3, 7, 7, 32)
    pads = ((3, 3), (3, 3))
    got = jax.vmap(lambda x: direct_conv2d(x, kernel, scale, shift, stride=2, pads=pads, relu=True))(x[:, None])
    assert got.shape == (3, 1, 5, 5, 32)
    close(got[:, 0], reference(x, kernel, scale, shift, 2, pads, True))
    kernels = np.stack([kernel, -kernel])
    got = jax.vmap(lambda k: direct_conv2d(x, k, scale, shift, stride=2, pads=pads))(kernels)
    for i in range(2):
        close(got[i], reference(x, kernels[i], scale, shift, 2, pads, False))


def test_supports_names_exactly_the_covered_case():
    assert direct_supports(np.float32, np.float32, kernel_shape=(7, 7, 3, 64), stride=(2, 2), dilation=(1, 1))
    assert direct_supports(np.float32, np.float32, kernel_shape=(4, 16, 4, 16), stride=(4, 4), dilation=(1, 1))
    assert not direct_supports(np.float32, np.float32, kernel_shape=(7, 7, 3, 24), stride=(2, 2), dilation=(1, 1))
    assert not direct_supports(np.float32, np.float32, kernel_shape=(3, 3, 64, 64), stride=(1, 1), dilation=(1, 1))
    assert not direct_supports(np.float32, np.float32, kernel_shape=(7, 7, 3, 64), stride=(1, 2), dilation=(1, 1))
    assert not direct_supports(np.float32, np.float32, kernel_shape=(7, 7, 3, 64), stride=(2, 2), dilation=(2, 2))
    assert not direct_supports(jnp.bfloat16, np.float32, kernel_shape=(7, 7, 3, 64), stride=(2, 2), dilation=(1, 1))


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"kernel": np.zeros((7, 7, 3, 24), np.float32)}, ArgumentError, "kernel"),  # Cout not a multiple of 16
    ({"kernel": np.zeros((7, 7, 4, 16), np.float32)}, ArgumentError, "kernel"),  # Cin differs from x's
    ({"x": jnp.zeros((1, 8, 8, 3), jnp.bfloat16)}, ArgumentError, "x"),          # not float32
    ({"scale": np.zeros(32, np.float32)}, ArgumentError, "scale"),
    ({"stride": 0}, ArgumentError, "stride"),
    ({"pads": ((-1, 0), (0, 0))}, ValueError, "non-negative"),
    ({"pads": ((0, 0), (0, 0))}, ValueError, "smaller than the kernel"),
])
def test_bad_arguments_are_refused(change, error, match):
    x, kernel, scale, shift = data(1, 5, 5, 3, 7, 7, 16)
    kwargs = {"x": x, "kernel": kernel, "scale": scale, "shift": shift, "stride": 2, "pads": ((3, 3), (3, 3)),
              **change}
    with pytest.raises(error, match=match):
        direct_conv2d(**kwargs)


def test_a_batch_sharded_over_devices_is_convolved_where_it_lies(computed_where_it_lies):
    """Under jax.sharding each device convolves its own images: no all-gather of the batch."""
    computed_where_it_lies("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from zoo_cpu_kernels.direct import direct_conv2d
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 16, 16, 3), dtype=np.float32)
        k = rng.standard_normal((7, 7, 3, 32), dtype=np.float32)
        s, b = rng.standard_normal((2, 32), dtype=np.float32)
        batch = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), P("b"))
        def f(x):
            return direct_conv2d(jax.lax.with_sharding_constraint(x, batch), k, s, b, stride=2, pads=((3, 3), (3, 3)),
                                 relu=True)
        hlo = jax.jit(f).lower(x).compile().as_text()
        one = direct_conv2d(x, k, s, b, stride=2, pads=((3, 3), (3, 3)), relu=True)
        print(len(jax.devices()), "all-gather" in hlo, float(np.abs(np.asarray(jax.jit(f)(x)) - one).max()))
    """)
