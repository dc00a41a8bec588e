"""``StdConv2d``'s fold (standardizing the conv's output instead of its kernel) against direct
standardization, values and gradients; which cases take it; ``kernel_moments`` with and without
zoo-cpu-kernels' compiled pass."""

import functools
import importlib.util
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core.kernels import import_cpu_kernels
from zoo_core.nn.conv import conv2d
from zoo_core.nn.std_conv import StdConv2d, kernel_moments, standardize_kernel

kernels = import_cpu_kernels()
COMPILED = kernels is not None and importlib.util.find_spec("zoo_cpu_kernels.moments") is not None
FUSED = kernels is not None and importlib.util.find_spec("zoo_cpu_kernels.conv_moments") is not None

CASES = [  # (in, out, kernel, stride, padding, (N, H, W))
    (8, 16, 1, 1, "", (2, 6, 5)),  # 1x1
    (8, 32, 3, 1, "", (1, 7, 9)),  # 3x3 stride 1 (the compiled dense 3x3 conv on CPU)
    (6, 16, 3, 2, "", (2, 9, 8)),  # 3x3 stride 2, odd and even sides
    (3, 16, 7, 2, 3, (1, 17, 15)),  # BiT's stem: 7x7 stride 2 padding 3
    (5, 12, 3, 2, "same", (1, 10, 7)),  # TF/timm dynamic "same": the extra pixel bottom/right
]


def fold_and_direct(layer, monkeypatch):
    """``layer.apply`` forced onto the fold and onto direct standardization."""
    def forced(fold):
        def apply(params, x):
            with monkeypatch.context() as m:
                m.setattr(StdConv2d, "_fold_pays", lambda *a: fold)
                return layer.apply(params, {}, x)[0]
        return jax.jit(apply)
    return forced(True), forced(False)


def make(cin, cout, k, stride, padding, nhw, *, bias=True, mean=0.0, seed=0):
    layer = StdConv2d(cin, cout, k, stride=stride, padding=padding, bias=bias, eps=1e-8)
    rng = np.random.default_rng(seed)
    params = {"kernel": jnp.asarray(rng.standard_normal(layer.kernel_shape, dtype=np.float32) * 0.1 + mean)}
    if bias:
        params["bias"] = jnp.asarray(rng.standard_normal(cout, dtype=np.float32))
    x = jnp.asarray(rng.standard_normal((nhw[0], nhw[1], nhw[2], cin), dtype=np.float32))
    return layer, params, x


@pytest.mark.parametrize("cin,cout,k,stride,padding,nhw", CASES)
def test_fold_equals_direct_values_and_gradients(cin, cout, k, stride, padding, nhw, monkeypatch):
    layer, params, x = make(cin, cout, k, stride, padding, nhw)
    fold, direct = fold_and_direct(layer, monkeypatch)
    y_fold, y_direct = fold(params, x), direct(params, x)
    assert y_fold.shape == y_direct.shape
    np.testing.assert_allclose(y_fold, y_direct, rtol=1e-5, atol=1e-5)
    cotangent = jnp.asarray(np.random.default_rng(1).standard_normal(y_fold.shape, dtype=np.float32))

    def grads(apply):
        return jax.grad(lambda p, x: jnp.sum(apply(p, x) * cotangent), argnums=(0, 1))(params, x)

    (gp_fold, gx_fold), (gp_direct, gx_direct) = grads(fold), grads(direct)
    np.testing.assert_allclose(gx_fold, gx_direct, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gp_fold["bias"], gp_direct["bias"], rtol=1e-5, atol=1e-5)
    # each entry of the kernel's gradient is a difference of terms as large as its largest entry (~200
    # here: the standardization's projection, times 1 / std = 10), so a small entry carries their float32
    # rounding: atol relative to the largest entry (measured: at most 3.4e-7 of it)
    scale = float(jnp.abs(gp_direct["kernel"]).max())
    np.testing.assert_allclose(gp_fold["kernel"], gp_direct["kernel"], rtol=1e-5, atol=1e-6 * scale)


def test_fold_keeps_a_kernel_whose_mean_is_ten_times_its_std(monkeypatch):
    layer, params, x = make(16, 32, 3, 1, "", (1, 8, 8), bias=False, mean=1.0)  # std 0.1, mean 1
    fold, direct = fold_and_direct(layer, monkeypatch)
    y_fold, y_direct = fold(params, x), direct(params, x)
    # conv(x, w) - m · S(x) cancels terms ~10× the result: an output near zero keeps their float32
    # rounding, so atol is relative to the largest output (measured: at most 3e-6 of it)
    np.testing.assert_allclose(y_fold, y_direct, rtol=1e-4, atol=1e-5 * float(jnp.abs(y_direct).max()))


def test_fold_is_taken_where_the_kernel_outweighs_the_activations():
    big = StdConv2d(256, 256, 3)
    kernel = jnp.zeros(big.kernel_shape, jnp.float32)
    conv = functools.partial(conv2d, padding="")
    assert big._fold_pays(jnp.zeros((1, 7, 7, 256), jnp.float32), kernel, conv)
    assert not big._fold_pays(jnp.zeros((8, 112, 112, 256), jnp.float32), kernel, conv)


@pytest.mark.parametrize("what", ["groups", "bfloat16"])
def test_groups_and_bfloat16_take_the_direct_path(what):
    groups = 4 if what == "groups" else 1
    dtype = jnp.bfloat16 if what == "bfloat16" else jnp.float32
    layer = StdConv2d(64, 64, 3, groups=groups, eps=1e-8)
    rng = np.random.default_rng(0)
    kernel = jnp.asarray(rng.standard_normal(layer.kernel_shape, dtype=np.float32)).astype(dtype)
    x = jnp.asarray(rng.standard_normal((1, 3, 3, 64), dtype=np.float32)).astype(dtype)
    conv = functools.partial(conv2d, padding="")
    assert not layer._fold_pays(x, kernel, conv)
    dense = StdConv2d(64, 64, 3)  # the same sizes, float32 and no groups, fold
    assert dense._fold_pays(x.astype(jnp.float32), jnp.zeros(dense.kernel_shape, jnp.float32), conv)
    y, _ = layer.apply({"kernel": kernel}, {}, x)
    expected = conv(x, standardize_kernel(kernel, 1e-8), groups=groups)
    np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(expected, np.float32))


MOMENT_SHAPES = [(1, 1, 1, 7), (3, 3, 5, 1), (3, 3, 8, 24), (1, 1, 9, 1000), (3, 3, 512, 40), (13,)]


@pytest.mark.parametrize("shape", MOMENT_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("enabled", ["1", "0"])
def test_kernel_moments_equal_float64(shape, enabled, monkeypatch):
    """Compiled (where installed) and pure JAX (``ZOO_CPU_KERNELS=0``) alike, a large mean included."""
    monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
    kernel = np.random.default_rng(2).standard_normal(shape).astype(np.float32) * 0.05 + 3.0
    mean, var = jax.jit(lambda k: kernel_moments(k))(jnp.asarray(kernel))  # a new trace per setting
    k64 = kernel.reshape(-1, shape[-1]).astype(np.float64)
    np.testing.assert_allclose(np.asarray(mean), k64.mean(0), rtol=1e-6, atol=0)
    np.testing.assert_allclose(np.asarray(var), k64.var(0), rtol=1e-5, atol=1e-12)


def _lowered(kernel) -> str:
    return jax.jit(lambda k: kernel_moments(k)).lower(kernel).as_text()  # a new trace per call


@pytest.mark.skipif(not COMPILED, reason="zoo-cpu-kernels without the moments pass")
def test_kernel_moments_use_the_compiled_pass_unless_turned_off(monkeypatch):
    from zoo_cpu_kernels.moments import MOMENTS_TARGET

    monkeypatch.setenv("ZOO_CPU_KERNELS", "1")
    kernel = jnp.ones((3, 3, 4, 8), jnp.float32)
    assert MOMENTS_TARGET in _lowered(kernel)
    assert MOMENTS_TARGET not in _lowered(kernel.astype(jnp.bfloat16))
    monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    assert MOMENTS_TARGET not in _lowered(kernel)


def test_kernel_moments_gradient_and_vmap_match_pure_jax(monkeypatch):
    rng = np.random.default_rng(3)
    kernels_ = jnp.asarray(rng.standard_normal((3, 3, 3, 6, 5), dtype=np.float32) + 2.0)
    weights = jnp.asarray(rng.standard_normal((2, 5), dtype=np.float32))

    def loss(k):
        mean, var = kernel_moments(k)
        return jnp.sum(mean * weights[0] + var * weights[1])

    results = {}
    for enabled in ("1", "0"):
        monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
        results[enabled] = (jax.jit(jax.grad(lambda k: loss(k)))(kernels_[0]),
                            jax.jit(jax.vmap(lambda k: kernel_moments(k)))(kernels_))
    np.testing.assert_allclose(results["1"][0], results["0"][0], rtol=1e-5, atol=1e-5)
    for a, b in zip(results["1"][1], results["0"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    mean, var = results["1"][1]
    k64 = np.asarray(kernels_, np.float64).reshape(3, -1, 5)
    np.testing.assert_allclose(mean, k64.mean(1), rtol=1e-6)
    np.testing.assert_allclose(var, k64.var(1), rtol=1e-5)


@pytest.mark.skipif(not COMPILED, reason="zoo-cpu-kernels without the moments pass")
def test_the_fold_writes_nothing_kernel_sized(monkeypatch):
    """With the compiled moments the fold reads the kernel in place: no op of the compiled program
    has a kernel-sized result (the pure-JAX moments write ``kernel - shift``)."""
    layer, params, x = make(64, 48, 3, 1, "", (1, 3, 3), bias=False)

    def kernel_sized(enabled):
        monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
        fold, _ = fold_and_direct(layer, monkeypatch)  # a new trace per setting
        hlo = fold.lower(params, x).compile().as_text()
        results = (re.search(r"= f32\[([\d,]+)\]", line) for line in hlo.splitlines() if " parameter(" not in line)
        return [m[0] for m in results if m and math.prod(map(int, m[1].split(","))) == 3 * 3 * 64 * 48]

    assert kernel_sized("1") == []
    assert kernel_sized("0") != []  # the check sees what it looks for


@pytest.mark.skipif(not FUSED, reason="zoo-cpu-kernels without the conv that takes its kernel's moments")
@pytest.mark.parametrize(("k", "stride"), [(3, 1), (3, 2), (1, 1), (1, 2)])
def test_the_fold_takes_the_moments_inside_the_conv(k, stride, monkeypatch):
    """On the CPU the fold's 3×3 and 1×1 convs take their kernel's moments as they read it (one FFI
    call, no separate moments pass), with the values and gradients of the direct standardization."""
    from zoo_cpu_kernels.conv_moments import DENSE3X3_MOMENTS_TARGET, POINTWISE_MOMENTS_TARGET
    from zoo_cpu_kernels.moments import MOMENTS_TARGET

    layer, params, x = make(24, 48, k, stride, "", (2, 9, 8))
    fold, direct = fold_and_direct(layer, monkeypatch)
    hlo = fold.lower(params, x).compile().as_text()
    assert (DENSE3X3_MOMENTS_TARGET if k == 3 else POINTWISE_MOMENTS_TARGET) in hlo
    assert MOMENTS_TARGET not in hlo
    # outputs up to ~50 here (K = 216 standardized weights): float32 sums of that size differ between the
    # fold and the direct path by up to 9.5e-7 of the largest output, with the separate moments pass as
    # with these (measured), so atol is relative to it
    atol = 2e-6 * float(jnp.abs(direct(params, x)).max())
    np.testing.assert_allclose(fold(params, x), direct(params, x), rtol=1e-5, atol=atol)
    cotangent = jnp.asarray(np.random.default_rng(1).standard_normal(fold(params, x).shape, dtype=np.float32))
    grad_fold, grad_direct = (jax.grad(lambda p: jnp.sum(f(p, x) * cotangent))(params) for f in (fold, direct))
    scale = float(jnp.abs(grad_direct["kernel"]).max())  # as in test_fold_equals_direct_values_and_gradients
    np.testing.assert_allclose(grad_fold["kernel"], grad_direct["kernel"], rtol=1e-5, atol=1e-6 * scale)
    monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    fold_off, _ = fold_and_direct(layer, monkeypatch)  # a new trace
    assert DENSE3X3_MOMENTS_TARGET not in fold_off.lower(params, x).compile().as_text()
    np.testing.assert_allclose(fold_off(params, x), direct(params, x), rtol=1e-5, atol=atol)


@pytest.mark.parametrize("cin,cout,k,stride,padding,nhw", CASES)
@pytest.mark.parametrize("fold", [True, False, None])
def test_apply_raw_and_finish_fold_are_apply(cin, cout, k, stride, padding, nhw, fold):
    """``finish_fold(*apply_raw(...))`` is ``apply`` whether the fold is forced, refused or left to the
    rule, with the channel sums of ``x`` given or taken; ``folds`` says which it was."""
    from zoo_core.nn.std_conv import finish_fold

    layer, params, x = make(cin, cout, k, stride, padding, nhw, bias=False)
    want, _ = layer.apply(params, {}, x)
    y, folded = layer.apply_raw(params, x, fold=fold)
    assert (folded is not None) == layer.folds(x, fold=fold)
    if fold is not None:
        assert (folded is not None) is fold
    np.testing.assert_allclose(finish_fold(y, folded), want, rtol=1e-5, atol=1e-5)
    y2, folded2 = layer.apply_raw(params, x, jnp.sum(x, axis=-1), fold=fold)
    np.testing.assert_allclose(finish_fold(y2, folded2), want, rtol=1e-5, atol=1e-5)


def test_with_a_bias_apply_raw_returns_the_finished_output():
    layer, params, x = make(8, 16, 3, 1, "", (1, 5, 5), bias=True)
    y, folded = layer.apply_raw(params, x, fold=True)
    assert folded is None and not layer.folds(x, fold=True)
    np.testing.assert_allclose(y, layer.apply(params, {}, x)[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("hw,k,stride,padding,dilation", [
    ((7, 7), 3, 1, "", 1), ((8, 9), 3, 2, "", 1), ((7, 7), 1, 2, "", 1), ((9, 9), 3, 1, "same", 1),
    ((10, 7), 3, 2, "same", 1), ((9, 9), 3, 1, 2, 2), ((12, 11), 5, 1, "", 1), ((8, 8), 3, 1, ((0, 2), (1, 0)), 1),
    ((6, 6), (1, 3), 1, "", 1)])
def test_window_sums_are_the_one_channel_conv_of_ones(hw, k, stride, padding, dilation):
    from zoo_core.nn.std_conv import window_sums

    s = jnp.asarray(np.random.default_rng(0).standard_normal((2, *hw), dtype=np.float32))
    kh, kw = (k, k) if isinstance(k, int) else k
    want = conv2d(s[..., None], jnp.ones((kh, kw, 1, 1)), stride=stride, padding=padding, dilation=dilation)
    got = window_sums(s, (kh, kw), stride=stride, padding=padding, dilation=dilation)
    assert got.shape == want.shape[:-1]
    np.testing.assert_allclose(got, want[..., 0], rtol=1e-6, atol=1e-5)
