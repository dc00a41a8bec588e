"""The compiled 1×1 conv with its BatchNorm / residual / ReLU epilogue against a float64 numpy
reference (block and chunk tails, strides, both code paths, vmap, threads, sharding, arguments), and the
compiled MLP (``pointwise_mlp``) against the two calls it replaces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core.errors import ArgumentError

from zoo_cpu_kernels import pointwise
from zoo_cpu_kernels.pointwise import pointwise_conv2d, pointwise_mlp, pointwise_supports


def reference(x, kernel, scale, shift, residual, stride, relu):
    y = np.einsum("nhwc,co->nhwo", np.asarray(x, np.float64)[:, ::stride, ::stride], np.asarray(kernel, np.float64))
    scale, shift = np.asarray(scale, np.float64), np.asarray(shift, np.float64)
    if scale.ndim == 2:  # per image
        scale, shift = scale[:, None, None], shift[:, None, None]
    y = y * scale + shift
    if residual is not None:
        y = y + np.asarray(residual, np.float64)
    return np.maximum(y, 0) if relu else y


def data(n, h, w, cin, cout, stride=1, residual=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
    kernel = (rng.standard_normal((cin, cout)) / np.sqrt(cin)).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, cout).astype(np.float32)
    shift = rng.standard_normal(cout).astype(np.float32)
    out = (n, (h - 1) // stride + 1, (w - 1) // stride + 1, cout)
    res = rng.standard_normal(out).astype(np.float32) if residual else None
    return x, kernel, scale, shift, res


def close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


# (N, H, W, Cin, Cout, stride, residual, relu): pixel counts off every block (6, 8, 12, 16 and their
# 8/4/2/1 tails), the last channel block 16/32/48 wide, Cin 1/3/33/300 (300: chunks of 128 and a tail),
# stride 2 with odd H and W, one image and several
CASES = [(1, 1, 1, 1, 16, 1, False, False), (2, 5, 7, 3, 16, 1, True, True), (1, 3, 5, 33, 32, 1, False, True),
         (3, 4, 5, 300, 48, 1, True, False), (1, 7, 9, 33, 64, 1, True, True), (2, 6, 7, 3, 80, 1, False, True),
         (1, 5, 11, 300, 176, 1, True, True), (2, 9, 7, 33, 176, 2, True, True), (1, 5, 5, 1, 64, 2, False, False),
         (3, 7, 11, 300, 80, 2, False, True), (1, 1, 1, 3, 48, 2, True, False), (1, 13, 3, 64, 128, 2, True, True),
         (2, 9, 13, 40, 16, 1, True, True), (1, 7, 11, 8, 64, 1, False, True)]  # many short tiles, tile by tile


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:6])) + f"-r{c[6]:d}-relu{c[7]:d}")
def test_matches_the_float64_reference(case, portable):
    n, h, w, cin, cout, stride, residual, relu = case
    x, kernel, scale, shift, res = data(n, h, w, cin, cout, stride, residual)
    conv = jax.jit(lambda *a: pointwise._conv(*a, stride=stride, relu=relu, portable=portable))
    close(conv(x, kernel, scale, shift, res), reference(x, kernel, scale, shift, res, stride, relu))


# Kernels of 512 output channels or more, in tiles of 96 pixels or more, are read from a packed copy of
# each chunk: blocks 64 wide and a 16/48-wide last one, chunk tails, both item orders, stride 2, residual,
# per-image scale and shift, and the moments (the first register block of a packed chunk takes them).
# Over two or more such tiles, kernels that are wide, or at most 128 deep with rows >= 1 KiB apart, or
# 2 MiB or more are packed whole, block by block, before the tiles read them (`pack_blocks`): the last
# five cases (272 and 304 channels: a 16- and a 48-wide last block, 4 tiles, stride 2; a 2064 × 304
# kernel; 2 tiles block by block; 8192 pixels of a wide kernel: 9 tiles).
PACKED = [(2, 9, 11, 300, 528, 1, True, True), (1, 24, 26, 70, 560, 2, False, True),
          (4, 14, 14, 40, 512, 1, True, False), (1, 16, 16, 130, 1072, 1, False, False),
          (2, 20, 20, 70, 272, 1, True, True), (2, 41, 39, 33, 304, 2, False, True),
          (1, 20, 30, 2064, 304, 1, True, False), (2, 14, 14, 768, 560, 1, True, True),
          (2, 64, 64, 130, 528, 1, True, True)]


@pytest.mark.parametrize("case", PACKED, ids=lambda c: "x".join(map(str, c[:6])))
@pytest.mark.parametrize("cin_block", [64, 256])
def test_kernels_read_from_packed_copies(case, cin_block):
    n, h, w, cin, cout, stride, residual, relu = case
    x, kernel, scale, shift, res = data(n, h, w, cin, cout, stride, residual)
    conv = jax.jit(lambda *a: pointwise._conv(*a, stride=stride, relu=relu, cin_block=cin_block))
    close(conv(x, kernel, scale, shift, res), reference(x, kernel, scale, shift, res, stride, relu))
    scale, shift = per_image(n, cout)
    close(conv(x, kernel, scale, shift, res), reference(x, kernel, scale, shift, res, stride, relu))
    one_thread = pointwise._conv(x, kernel, scale, shift, res, stride=stride, relu=relu, cin_block=cin_block,
                                 max_threads=1)
    np.testing.assert_array_equal(np.asarray(one_thread), np.asarray(conv(x, kernel, scale, shift, res)))


@pytest.mark.parametrize("cin_block", [1, 7, 32])
def test_input_channel_chunks_keep_partial_sums(cin_block):
    x, kernel, scale, shift, res = data(2, 5, 6, 70, 112, residual=True)
    got = pointwise._conv(x, kernel, scale, shift, res, stride=1, relu=True, cin_block=cin_block)
    close(got, reference(x, kernel, scale, shift, res, 1, True))


def test_a_hwio_kernel_and_the_public_call():
    x, kernel, scale, shift, res = data(2, 7, 7, 24, 64, stride=2, residual=True)
    got = pointwise_conv2d(x, kernel.reshape(1, 1, 24, 64), scale, shift, res, stride=2, relu=True)
    close(got, reference(x, kernel, scale, shift, res, 2, True))
    fn = jax.jit(lambda x: pointwise_conv2d(x, kernel, scale, shift))
    assert pointwise.POINTWISE_TARGET in fn.lower(x).compile().as_text()


# ≥ 10 MFLOP: many items; 16 tiles and 6 tiles tile by tile (6: fewer floats read than block by block),
# 3 tiles block by block (the input fits in L2 and the kernel does not: `tile_major_reads_less`)
@pytest.mark.parametrize("shape", [(2, 28, 28, 96, 64), (2, 28, 28, 96, 192), (1, 16, 22, 1000, 400)],
                         ids=lambda c: "x".join(map(str, c)))
def test_threads_split_the_work_without_changing_it(shape):
    x, kernel, scale, shift, res = data(*shape, residual=True)
    calls = [pointwise._conv(x, kernel, scale, shift, res, stride=1, relu=True, max_threads=t) for t in (1, 0)]
    np.testing.assert_array_equal(np.asarray(calls[0]), np.asarray(calls[1]))
    close(calls[1], reference(x, kernel, scale, shift, res, 1, True))


@pytest.mark.parametrize("residual", [False, True])
def test_vmap_folds_the_batch(residual):
    x, kernel, scale, shift, res = data(3, 6, 5, 20, 32, stride=2, residual=residual)
    if residual:
        got = jax.vmap(lambda x, r: pointwise_conv2d(x, kernel, scale, shift, r, stride=2, relu=True))(
            x[:, None], res[:, None])
    else:
        got = jax.vmap(lambda x: pointwise_conv2d(x, kernel, scale, shift, stride=2, relu=True))(x[:, None])
    assert got.shape == (3, 1, 3, 3, 32)
    close(got[:, 0], reference(x, kernel, scale, shift, res, 2, True))


def per_image(n, cout, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, (n, cout)).astype(np.float32), rng.standard_normal((n, cout)).astype(np.float32)


# images whose pixel counts are not multiples of the blocks (6, 8, 12, 16), so blocks straddle two images
@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize("case", [(3, 5, 7, 33, 64, 1, True, True), (4, 3, 3, 8, 48, 1, False, False),
                                  (3, 9, 7, 300, 176, 2, True, True), (5, 1, 1, 16, 16, 1, True, False)],
                         ids=lambda c: "x".join(map(str, c[:6])))
def test_scale_and_shift_per_image(case, portable):
    n, h, w, cin, cout, stride, residual, relu = case
    x, kernel, _, _, res = data(n, h, w, cin, cout, stride, residual)
    scale, shift = per_image(n, cout)
    conv = jax.jit(lambda *a: pointwise._conv(*a, stride=stride, relu=relu, portable=portable))
    close(conv(x, kernel, scale, shift, res), reference(x, kernel, scale, shift, res, stride, relu))


def test_per_image_scale_under_vmap_folds_with_the_batch():
    x, kernel, _, _, res = data(6, 5, 5, 20, 32, residual=True)
    scale, shift = per_image(6, 32)
    want = reference(x, kernel, scale, shift, res, 1, True)
    xs, rs = x.reshape(2, 3, 5, 5, 20), res.reshape(2, 3, 5, 5, 32)
    # per-image scale and shift batched with x: (2, 3, Cout)
    got = jax.vmap(lambda x, r, s, b: pointwise_conv2d(x, kernel, s, b, r, relu=True))(
        xs, rs, scale.reshape(2, 3, 32), shift.reshape(2, 3, 32))
    close(got.reshape(want.shape), want)
    # one (3, Cout) for every batch element, and a shared (Cout,) that differs per batch element
    got = jax.vmap(lambda x, r: pointwise_conv2d(x, kernel, scale[:3], shift[:3], r, relu=True))(xs, rs)
    close(got[1], reference(x[3:], kernel, scale[:3], shift[:3], res[3:], 1, True))
    got = jax.vmap(lambda x, r, s: pointwise_conv2d(x, kernel, s, shift[0], r, relu=True))(xs, rs, scale[:2])
    close(got[1], reference(x[3:], kernel, scale[1], shift[0], res[3:], 1, True))


def test_vmap_over_weights_loops():
    x, kernel, scale, shift, _ = data(2, 4, 4, 8, 16)
    kernels = np.stack([kernel, 2 * kernel])
    got = jax.vmap(lambda k: pointwise_conv2d(x, k, scale, shift, relu=True))(kernels)
    for i in range(2):
        close(got[i], reference(x, kernels[i], scale, shift, None, 1, True))


def test_supports_names_exactly_the_covered_case():
    assert pointwise_supports(np.float32, np.float32, out_chans=64, stride=1)
    assert pointwise_supports(np.float32, np.float32, out_chans=16, stride=(2, 2))
    assert pointwise_supports(np.float32, np.float32, out_chans=96, stride=4, kernel_hw=(4, 4))
    assert not pointwise_supports(np.float32, np.float32, out_chans=96, stride=4, kernel_hw=(2, 2))
    assert not pointwise_supports(np.float32, np.float32, out_chans=96, stride=1, kernel_hw=(3, 3))
    assert not pointwise_supports(np.float32, np.float32, out_chans=24, stride=1)
    assert not pointwise_supports(np.float32, np.float32, out_chans=64, stride=3)
    assert not pointwise_supports(np.float32, np.float32, out_chans=64, stride=(1, 2))
    assert not pointwise_supports(jnp.bfloat16, np.float32, out_chans=64, stride=1)


@pytest.mark.parametrize(("change", "arg"), [
    ({"kernel": np.zeros((8, 24), np.float32)}, "kernel"),      # Cout not a multiple of 16
    ({"kernel": np.zeros((9, 16), np.float32)}, "kernel"),      # Cin differs from x's
    ({"x": jnp.zeros((1, 4, 4, 8), jnp.bfloat16)}, "x"),        # not float32
    ({"scale": np.zeros(32, np.float32)}, "scale"),
    ({"scale": np.zeros((2, 16), np.float32)}, "scale"),       # per image, but x has one image
    ({"shift": np.zeros((1, 16), np.float32)}, "shift"),       # per image, the scale shared
    ({"residual": np.zeros((1, 4, 4, 16), np.float32)}, "residual"),  # shaped as the stride-1 output
    ({"stride": 3}, "stride"),
    ({"kernel": np.zeros((3, 3, 8, 16), np.float32)}, "kernel"),  # a 3×3 kernel at stride 2: no patch conv
])
def test_bad_arguments_are_refused(change, arg):
    x, kernel, scale, shift, _ = data(1, 4, 4, 8, 16)
    kwargs = {"x": x, "kernel": kernel, "scale": scale, "shift": shift, "residual": None, "stride": 2, **change}
    with pytest.raises(ArgumentError, match=arg):
        pointwise_conv2d(**kwargs)


def on_four_devices(body: str) -> tuple[str, str, float]:
    """``body`` run in a fresh process on 4 host devices, after the imports, ``rng`` and a ``batch`` sharding
    over them; it prints its ``hlo`` and ``err``. Returns (devices, whether the HLO all-gathers, err)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from zoo_cpu_kernels.pointwise import pointwise_conv2d
        rng = np.random.default_rng(0)
        batch = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), P("b"))
    """) + textwrap.dedent(body) + 'print(len(jax.devices()), "all-gather" in hlo, err)\n'
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    devices, gathered, err = out.stdout.split()
    return devices, gathered, float(err)


def test_a_batch_sharded_over_devices_is_convolved_where_it_lies():
    """Under jax.sharding each device convolves its own images: no all-gather of the batch."""
    assert on_four_devices("""
        x = rng.standard_normal((8, 9, 9, 16), dtype=np.float32)
        k = rng.standard_normal((16, 32), dtype=np.float32)
        s, b = rng.standard_normal((2, 32), dtype=np.float32)
        r = rng.standard_normal((8, 5, 5, 32), dtype=np.float32)
        def f(x, r):
            return pointwise_conv2d(jax.lax.with_sharding_constraint(x, batch), k, s, b, r, stride=2, relu=True)
        hlo = jax.jit(f).lower(x, r).compile().as_text()
        one = pointwise_conv2d(x, k, s, b, r, stride=2, relu=True)
        err = float(np.abs(np.asarray(jax.jit(f)(x, r)) - one).max())
        s8, b8 = rng.standard_normal((2, 8, 32), dtype=np.float32)  # per image: sharded with the batch
        def g(x, r, s8, b8):
            return pointwise_conv2d(jax.lax.with_sharding_constraint(x, batch), k, s8, b8, r, stride=2, relu=True)
        hlo += jax.jit(g).lower(x, r, s8, b8).compile().as_text()
        one = pointwise_conv2d(x, k, s8, b8, r, stride=2, relu=True)
        err = max(err, float(np.abs(np.asarray(jax.jit(g)(x, r, s8, b8)) - one).max()))
    """) == ("4", "False", 0.0)


def gelu64(v):
    """The exact GELU in float64: 0.5 · v · (1 + erf(v / √2))."""
    from math import erf, sqrt

    return 0.5 * v * (1 + np.vectorize(erf)(v / sqrt(2)))


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize(("stride", "residual", "per"), [(1, False, False), (2, True, False), (1, False, True)])
def test_the_gelu_epilogue_matches_the_float64_reference(stride, residual, per, portable):
    """80 output channels (a block of 64 and a tail of 16), 35 pixels per image (blocks straddle the
    images), pre-activations spread to about ±12: erf's clamps at ±4·√2 and everything between."""
    x, kernel, scale, shift, res = data(2, 7, 5, 40, 80, stride, residual)
    if per:
        scale, shift = per_image(2, 80)
    shift = 4 * shift
    conv = jax.jit(lambda *a: pointwise._conv(*a, stride=stride, relu=False, gelu=True, portable=portable))
    got = conv(x, kernel, scale, shift, res)
    close(got, gelu64(reference(x, kernel, scale, shift, res, stride, relu=False)))


def test_the_gelu_curve_as_close_as_float32_allows():
    """Through an identity kernel the output is GELU of the input itself: across [-12, 12] the fused
    GELU is as close to the float64 one as float32 allows, and within 2e-6 of ``zoo_core.nn.gelu`` as
    XLA computes it."""
    from zoo_core.nn import gelu

    v = np.linspace(-12, 12, 16 * 1001, dtype=np.float32).reshape(1, 1, -1, 16)
    eye, ones, zeros = np.eye(16, dtype=np.float32), np.ones(16, np.float32), np.zeros(16, np.float32)
    got = np.asarray(pointwise_conv2d(v, eye, ones, zeros, gelu=True), np.float64)
    want = gelu64(v.astype(np.float64))
    # float32's own bound: an ulp of the result, and an ulp of 1 in 1 + erf, times 0.5·|v| (where Φ(v)
    # is small, 1 + erf(v/√2) cancels); XLA's float32 GELU reaches 2.0 of these units, the kernel 2.2
    units = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64) + np.abs(v) * 2.0**-24
    err = np.abs(got - want)
    assert np.all(err <= 4 * units), f"{np.max(err / units):.1f} units at worst"
    np.testing.assert_allclose(got, np.asarray(jax.jit(gelu)(v), np.float64), rtol=0, atol=2e-6)


def test_relu_and_gelu_together_are_refused():
    x, kernel, scale, shift, _ = data(1, 4, 4, 8, 16)
    with pytest.raises(ValueError, match="relu and gelu"):
        pointwise_conv2d(x, kernel, scale, shift, relu=True, gelu=True)


def patch_reference(x, kernel, scale, shift, residual, stride, gelu):
    """``lax.conv`` VALID with the (s, s, Cin, Cout) kernel at stride s, in float64, then the epilogue."""
    n, h, w, cin = x.shape
    oh, ow = h // stride, w // stride
    patches = np.asarray(x, np.float64)[:, :oh * stride, :ow * stride].reshape(n, oh, stride, ow, stride, cin)
    y = np.einsum("nhiwjc,ijco->nhwo", patches, np.asarray(kernel, np.float64))
    scale, shift = np.asarray(scale, np.float64), np.asarray(shift, np.float64)
    if scale.ndim == 2:
        scale, shift = scale[:, None, None], shift[:, None, None]
    y = y * scale + shift + (0 if residual is None else np.asarray(residual, np.float64))
    return gelu64(y) if gelu else y


# (N, H, W, Cin, Cout, stride, cin_block): ConvNeXt's stem (4 × 4 on the image) and downsamples (2 × 2), ViT's
# 16 × 16 patches, images that are no multiple of the patch (the last rows and columns not read), patch rows
# longer than a chunk (chunks end at each patch row's end) and shorter, a wide kernel (packed), several tiles.
PATCH_CASES = [(2, 16, 16, 3, 96, 4, 256), (1, 10, 9, 3, 32, 4, 256), (2, 8, 8, 96, 192, 2, 256),
               (1, 7, 9, 40, 48, 2, 32), (1, 14, 14, 24, 80, 2, 5), (1, 32, 48, 3, 64, 16, 256),
               (1, 28, 28, 192, 528, 2, 128), (3, 30, 26, 16, 64, 2, 256), (1, 12, 12, 8, 16, 3, 7)]


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize("case", PATCH_CASES, ids=lambda c: "x".join(map(str, c)))
def test_a_patch_conv_matches_the_float64_reference(case, portable):
    n, h, w, cin, cout, stride, cin_block = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
    kernel = (rng.standard_normal((stride, stride, cin, cout)) / np.sqrt(stride * stride * cin)).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, cout).astype(np.float32)
    shift = rng.standard_normal(cout).astype(np.float32)
    res = rng.standard_normal((n, h // stride, w // stride, cout)).astype(np.float32)
    conv = jax.jit(lambda *a: pointwise._conv(*a, stride=stride, relu=False, gelu=True, cin_block=cin_block,
                                              portable=portable))
    got = conv(x, kernel, scale, shift, res)
    assert got.shape == (n, h // stride, w // stride, cout)
    close(got, patch_reference(x, kernel, scale, shift, res, stride, True))
    plain = pointwise_conv2d(x, kernel, scale, shift, stride=stride)  # the public call, no residual or activation
    close(plain, patch_reference(x, kernel, scale, shift, None, stride, False))


def test_a_patch_conv_over_threads_and_per_image_scales():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 56, 56, 96), dtype=np.float32)
    kernel = (rng.standard_normal((2, 2, 96, 192)) / 20).astype(np.float32)
    scale, shift = (rng.standard_normal((4, 192)).astype(np.float32) for _ in range(2))
    calls = [pointwise._conv(x, kernel, scale, shift, None, stride=2, relu=True, max_threads=t) for t in (1, 0)]
    np.testing.assert_array_equal(np.asarray(calls[0]), np.asarray(calls[1]))
    close(calls[1], np.maximum(patch_reference(x, kernel, scale, shift, None, 2, False), 0))


def test_a_patch_kernel_must_match_its_stride():
    x = np.zeros((1, 8, 8, 4), np.float32)
    with pytest.raises(ArgumentError, match="kernel"):
        pointwise_conv2d(x, np.zeros((4, 4, 4, 16), np.float32), np.ones(16, np.float32), np.zeros(16, np.float32),
                         stride=2)


def prologue_reference(x, kernel, scale, shift, residual, in_scale, in_shift, in_relu, relu=False):
    a = np.asarray(in_scale, np.float64)
    b = np.asarray(in_shift, np.float64)
    a, b = (v[:, None, None] if v.ndim == 2 else v for v in (a, b))
    xp = np.asarray(x, np.float64) * a + b
    return reference(np.maximum(xp, 0) if in_relu else xp, kernel, scale, shift, residual, 1, relu)


# (N, H, W, Cin, Cout, residual, in_relu, per-image in_scale, cin_block): images straddling register blocks and
# tiles, chunk tails (Cin 300 at 128), a packed wide kernel in small and large tiles, several tiles per image
PROLOGUE_CASES = [(2, 5, 7, 33, 64, True, True, True, 256), (3, 4, 5, 300, 48, False, False, True, 128),
                  (1, 7, 7, 200, 512, True, False, True, 64), (2, 16, 16, 64, 528, False, True, False, 256),
                  (4, 3, 3, 8, 16, True, False, True, 256), (1, 28, 28, 96, 96, True, True, True, 256)]


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize("case", PROLOGUE_CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"-r{c[5]:d}-relu{c[6]:d}")
def test_an_input_prologue_matches_the_float64_reference(case, portable):
    """relu?(x · in_scale + in_shift) per image and input channel, applied to each tile before the GEMM reads it."""
    n, h, w, cin, cout, residual, in_relu, per, cin_block = case
    x, kernel, scale, shift, res = data(n, h, w, cin, cout, 1, residual)
    rng = np.random.default_rng(7)
    a = rng.uniform(0.2, 2.0, (n, cin) if per else (cin,)).astype(np.float32)
    b = rng.standard_normal((n, cin)).astype(np.float32)
    conv = jax.jit(lambda *args: pointwise._conv(*args, stride=1, relu=True, cin_block=cin_block, portable=portable,
                                                 in_scale=a, in_shift=b, in_relu=in_relu))
    close(conv(x, kernel, scale, shift, res), prologue_reference(x, kernel, scale, shift, res, a, b, in_relu, True))


def test_an_input_prologue_over_threads_under_vmap_and_in_the_public_call():
    x, kernel, scale, shift, res = data(2, 28, 28, 96, 192, residual=True)
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.5, 1.5, (2, 96)).astype(np.float32), rng.standard_normal((2, 96)).astype(np.float32)
    calls = [pointwise._conv(x, kernel, scale, shift, res, stride=1, relu=False, max_threads=t, in_scale=a,
                             in_shift=b) for t in (1, 0)]
    np.testing.assert_array_equal(np.asarray(calls[0]), np.asarray(calls[1]))
    want = prologue_reference(x, kernel, scale, shift, res, a, b, False)
    close(calls[1], want)
    # a batch of inputs and prologues folds into N, per image
    got = jax.vmap(lambda x, r, a: pointwise_conv2d(x, kernel, scale, shift, r, in_scale=a, in_shift=b[0]))(
        x[:, None], res[:, None], a[:, None])
    close(got[:, 0], prologue_reference(x, kernel, scale, shift, res, a, b[:1], False))
    # with the GELU epilogue, through the public call
    got = pointwise_conv2d(x, kernel, scale, shift, in_scale=a, in_shift=b, gelu=True)
    close(got, gelu64(prologue_reference(x, kernel, scale, shift, None, a, b, False)))


@pytest.mark.parametrize("change, arg", [
    ({"in_shift": None}, "in_shift"),                            # one without the other
    ({"in_scale": np.ones((3, 8), np.float32)}, "in_scale"),    # three rows for two images
    ({"in_shift": np.ones((2, 9), np.float32)}, "in_shift"),    # nine channels for eight
    ({"in_scale": np.ones(8, np.int32)}, "in_scale"),           # integers
    ({"stride": 2}, "stride"),                                  # a prologue at stride 2
])
def test_a_bad_prologue_is_refused(change, arg):
    x, kernel, scale, shift, _ = data(2, 4, 4, 8, 16)
    kwargs = {"in_scale": np.ones((2, 8), np.float32), "in_shift": np.zeros((2, 8), np.float32), **change}
    with pytest.raises(ArgumentError, match=arg):
        pointwise_conv2d(x, kernel, scale, shift, **kwargs)


def layer_norm_reference(x, kernel, scale, shift, residual, gamma, beta, eps, gelu=False):
    x64 = np.asarray(x, np.float64)
    mean = x64.mean(-1, keepdims=True)
    normed = (x64 - mean) / np.sqrt(((x64 - mean) ** 2).mean(-1, keepdims=True) + eps) * gamma + beta
    y = reference(normed, kernel, scale, shift, residual, 1, False)
    return gelu64(y) if gelu else y


# (N, H, W, Cin, Cout, residual, cin_block): ViT-S's qkv rows in one image and two, a channel tail past the last
# vector of 16 (Cin 40), chunk tails (Cin 300 at 128), a packed wide kernel, a mean far from zero
LAYERNORM_CASES = [(1, 1, 197, 384, 1152, False, 256), (2, 1, 50, 384, 1536, True, 256),
                   (3, 2, 5, 40, 48, True, 256), (2, 3, 7, 300, 64, False, 128), (1, 7, 7, 768, 528, True, 256)]


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize("case", LAYERNORM_CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"-r{c[5]:d}")
def test_a_layer_norm_prologue_matches_the_float64_reference(case, portable):
    """LayerNorm(x) over Cin · in_scale + in_shift, applied to each tile before the GEMM reads it."""
    n, h, w, cin, cout, residual, cin_block = case
    x, kernel, scale, shift, res = data(n, h, w, cin, cout, 1, residual)
    rng = np.random.default_rng(11)
    x = x * 3.0 + 5.0
    gamma = rng.uniform(0.2, 2.0, cin).astype(np.float32)
    beta = rng.standard_normal(cin).astype(np.float32)
    conv = jax.jit(lambda *args: pointwise._conv(*args, stride=1, relu=False, gelu=True, cin_block=cin_block,
                                                 portable=portable, in_scale=gamma, in_shift=beta, in_norm_eps=1e-6))
    close(conv(x, kernel, scale, shift, res),
          layer_norm_reference(x, kernel, scale, shift, res, gamma, beta, 1e-6, gelu=True))
    threads = [pointwise._conv(x, kernel, scale, shift, res, stride=1, relu=False, max_threads=t, in_scale=gamma,
                               in_shift=beta, in_norm_eps=1e-6) for t in (1, 0)]
    np.testing.assert_array_equal(np.asarray(threads[0]), np.asarray(threads[1]))


@pytest.mark.parametrize("change, message", [({"in_relu": True}, "no in_relu"), ({"in_norm_eps": -1.0}, "eps >= 0"),
                                             ({"in_shift": None}, "in_shift")])
def test_a_bad_layer_norm_prologue_is_refused(change, message):
    x, kernel, scale, shift, _ = data(2, 4, 4, 16, 16)
    kwargs = {"in_scale": np.ones(16, np.float32), "in_shift": np.zeros(16, np.float32), "in_norm_eps": 1e-6,
              **change}
    with pytest.raises((ArgumentError, ValueError), match=message):
        pointwise_conv2d(x, kernel, scale, shift, **kwargs)


def test_a_prologue_over_a_sharded_batch_stays_where_it_lies():
    """Under jax.sharding the prologue's rows split with the batch: no all-gather."""
    assert on_four_devices("""
        x = rng.standard_normal((8, 5, 5, 16), dtype=np.float32)
        k = rng.standard_normal((16, 32), dtype=np.float32)
        s, b = rng.standard_normal((2, 32), dtype=np.float32)
        a, c = rng.standard_normal((2, 8, 16), dtype=np.float32)
        def f(x, a, c):
            return pointwise_conv2d(jax.lax.with_sharding_constraint(x, batch), k, s, b, in_scale=a, in_shift=c)
        hlo = jax.jit(f).lower(x, a, c).compile().as_text()
        one = pointwise_conv2d(x, k, s, b, in_scale=a, in_shift=c)
        err = float(np.abs(np.asarray(jax.jit(f)(x, a, c)) - one).max())
    """) == ("4", "False", 0.0)


# The MLP: fc1 with its GELU, then fc2 with its residual, in one call.

def layers(k, d, o, seed=1):
    rng = np.random.default_rng(seed)
    fc1 = ((rng.standard_normal((k, d)) / np.sqrt(k)).astype(np.float32), rng.uniform(0.5, 1.5, d).astype(np.float32),
           rng.standard_normal(d).astype(np.float32))
    fc2 = ((rng.standard_normal((d, o)) / np.sqrt(d)).astype(np.float32), rng.uniform(0.5, 1.5, o).astype(np.float32),
           rng.standard_normal(o).astype(np.float32))
    return fc1, fc2


def two_calls(x, fc1, fc2, res, norm, **kw):
    pro = {} if norm is None else {"in_scale": norm[0], "in_shift": norm[1], "in_norm_eps": norm[2]}
    h = pointwise_conv2d(x, *fc1, gelu=True, **pro)
    return pointwise_conv2d(h, *fc2, res)


def mlp64(x, fc1, fc2, res, norm):
    if norm is None:
        h = gelu64(reference(x, *fc1, None, 1, False))
    else:
        h = layer_norm_reference(x, *fc1, None, norm[0], norm[1], norm[2], gelu=True)
    return reference(h, *fc2, res, 1, False)


# (N, H, W, K, D, O, residual, norm, chunk_floats): chunks of 6 rows and more with a short last one, chunks that
# straddle images, a K tail past the last vector (40), a wide hidden layer packed whole (D 1024), one chunk for
# all the rows (the default 2^20), a ViT's token rows under a LayerNorm
MLP_CASES = [(2, 5, 7, 48, 192, 48, True, False, 6 * 192), (3, 4, 5, 40, 160, 32, False, False, 17 * 160),
             (1, 14, 14, 64, 1024, 64, True, False, 48 * 1024), (2, 9, 9, 96, 384, 96, True, False, 1 << 20),
             (2, 1, 197, 64, 256, 64, True, True, 100 * 256), (3, 2, 5, 40, 48, 48, False, True, 12 * 48)]


@pytest.mark.parametrize("portable", [False, True], ids=["avx512", "portable"])
@pytest.mark.parametrize("case", MLP_CASES, ids=lambda c: "x".join(map(str, c[:6])) + f"-r{c[6]:d}-ln{c[7]:d}-{c[8]}")
def test_the_mlp_is_the_two_layers_bit_for_bit(case, portable):
    n, h, w, k, d, o, residual, norm, chunk = case
    x, _, _, _, _ = data(n, h, w, k, 16)
    res = np.random.default_rng(5).standard_normal((n, h, w, o)).astype(np.float32) if residual else None
    fc1, fc2 = layers(k, d, o)
    ln = None
    if norm:
        rng = np.random.default_rng(9)
        x = x * 3.0 + 5.0  # a mean far from zero
        ln = (rng.uniform(0.2, 2.0, k).astype(np.float32), rng.standard_normal(k).astype(np.float32), 1e-6)
    got = jax.jit(lambda x, r: pointwise_mlp(x, fc1, fc2, r, norm=ln, chunk_floats=chunk, portable=portable))(x, res)
    if not portable:  # the portable path sums in the same order too, but the two calls here take the AVX-512 one
        np.testing.assert_array_equal(np.asarray(got), np.asarray(two_calls(x, fc1, fc2, res, ln)))
    np.testing.assert_allclose(np.asarray(got), mlp64(x, fc1, fc2, res, ln), rtol=2e-5, atol=2e-5)


def test_the_mlp_over_threads_chunks_and_vmap():
    x, _, _, _, res = data(2, 28, 28, 96, 96, residual=True)
    fc1, fc2 = layers(96, 384, 96)
    one = pointwise_mlp(x, fc1, fc2, res, max_threads=1)
    np.testing.assert_array_equal(np.asarray(one), np.asarray(pointwise_mlp(x, fc1, fc2, res)))
    np.testing.assert_array_equal(np.asarray(one), np.asarray(pointwise_mlp(x, fc1, fc2, res, chunk_floats=384 * 90)))
    # a batch of inputs and residuals folds into N
    got = jax.vmap(lambda x, r: pointwise_mlp(x, fc1, fc2, r))(x[:, None], res[:, None])
    np.testing.assert_array_equal(np.asarray(got[:, 0]), np.asarray(one))
    # a batch of weights loops: each image its own fc2 scale
    s2 = np.stack([fc2[1], 2 * fc2[1]])
    got = jax.vmap(lambda x, r, s: pointwise_mlp(x, fc1, (fc2[0], s, fc2[2]), r))(x[:, None], res[:, None], s2)
    for i in range(2):
        want = pointwise_mlp(x[i:i + 1], fc1, (fc2[0], s2[i], fc2[2]), res[i:i + 1])
        np.testing.assert_array_equal(np.asarray(got[i]), np.asarray(want))


def test_the_mlp_over_a_sharded_batch_stays_where_it_lies():
    """Under jax.sharding each device runs the MLP on its own images: no all-gather of the batch."""
    assert on_four_devices("""
        from zoo_cpu_kernels.pointwise import pointwise_mlp
        x = rng.standard_normal((8, 5, 5, 16), dtype=np.float32)
        r = rng.standard_normal((8, 5, 5, 16), dtype=np.float32)
        k1, k2 = rng.standard_normal((16, 64), dtype=np.float32), rng.standard_normal((64, 16), dtype=np.float32)
        s1, b1 = rng.standard_normal((2, 64), dtype=np.float32)
        s2, b2, g, c = rng.standard_normal((4, 16), dtype=np.float32)
        def f(x, r):
            return pointwise_mlp(jax.lax.with_sharding_constraint(x, batch), (k1, s1, b1), (k2, s2, b2), r,
                                 norm=(g, c, 1e-5))
        hlo = jax.jit(f).lower(x, r).compile().as_text()
        one = pointwise_mlp(x, (k1, s1, b1), (k2, s2, b2), r, norm=(g, c, 1e-5))
        err = float(np.abs(np.asarray(jax.jit(f)(x, r)) - one).max())
    """) == ("4", "False", 0.0)


@pytest.mark.parametrize("change, arg", [
    ({"fc1": "kernel"}, "fc1"),                                                  # not a triple
    ({"fc1": (np.ones((9, 32), np.float32), np.ones(32, np.float32), np.ones(32, np.float32))}, "fc1 kernel"),
    ({"fc2": (np.ones((32, 24), np.float32), np.ones(24, np.float32), np.ones(24, np.float32))}, "fc2 kernel"),
    ({"fc2": (np.ones((32, 16), np.float32), np.ones(15, np.float32), np.ones(16, np.float32))}, "fc2 scale"),
    ({"residual": np.ones((2, 4, 4, 8), np.float32)}, "residual"),                # the input's width, not fc2's
    ({"norm": (np.ones(8, np.float32), np.ones(8, np.float32), -1.0)}, "norm"),   # a negative eps
    ({"norm": (np.ones(9, np.float32), np.ones(8, np.float32), 1e-6)}, "norm scale"),
    ({"chunk_floats": 0}, "chunk_floats"),
])
def test_bad_mlp_arguments_are_refused(change, arg):
    x = np.ones((2, 4, 4, 8), np.float32)
    kwargs = {"fc1": (np.ones((8, 32), np.float32), np.ones(32, np.float32), np.zeros(32, np.float32)),
              "fc2": (np.ones((32, 16), np.float32), np.ones(16, np.float32), np.zeros(16, np.float32)), **change}
    with pytest.raises(ArgumentError, match=arg):
        pointwise_mlp(x, **kwargs)
