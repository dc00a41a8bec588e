"""``nn.conv2d`` on the CPU: the dense 3×3 convs, unpadded 1×1 and patch convs and a stem's conv on few input channels run as
zoo-cpu-kernels' compiled kernels where installed (and as ``lax.conv`` with ``ZOO_CPU_KERNELS=0``),
with ``lax.conv``'s values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from zoo_core import nn
from zoo_core.kernels import import_cpu_kernels

kernels = import_cpu_kernels()
COMPILED = kernels is not None and hasattr(kernels, "direct_supports")

# (cin, cout, kernel, stride, padding, H, W, the kernel that runs it): ResNet's stem and 3×3 convs, 1×1 convs,
# a 'same'-padded and an unpadded stem-like conv, ConvNeXt's patch stem (4 × 4 / 4, an image no multiple of 4) and
# downsample (2 × 2 / 2), and convs no compiled kernel covers (24 outputs: no multiple of 16)
CASES = [
    (3, 64, 7, 2, 3, 23, 20, "direct"), (3, 32, 5, 1, "same", 9, 11, "direct"), (4, 96, 4, 4, 0, 16, 12, "pointwise"),
    (3, 16, 3, 2, 0, 9, 9, "direct"), (32, 64, 3, 1, 1, 8, 9, "dense3x3"), (32, 64, 7, 2, 3, 12, 12, None),
    (3, 24, 7, 2, 3, 12, 12, None), (32, 64, 1, 1, 0, 7, 9, "pointwise"), (24, 48, 1, 2, 0, 9, 8, "pointwise"),
    (16, 24, 1, 1, 0, 5, 5, None), (16, 32, 1, 3, 0, 7, 7, None),
    (3, 32, 4, 4, "valid", 18, 17, "pointwise"), (16, 32, 2, 2, 0, 9, 8, "pointwise"), (8, 24, 2, 2, 0, 6, 6, None),
]


def lax_conv(x, kernel, stride, padding):
    pads = nn.conv.resolve_padding(padding, kernel.shape[:2], (stride, stride), (1, 1))
    return lax.conv_general_dilated(x, kernel, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    precision="highest")


@pytest.mark.parametrize("enabled", ["1", "0"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:7])))
def test_values_gradients_and_the_kernel_that_runs(monkeypatch, case, enabled):
    monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
    cin, cout, k, stride, padding, h, w, target = case
    keys = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(keys[0], (2, h, w, cin))
    kernel = jax.random.normal(keys[1], (k, k, cin, cout)) / np.sqrt(k * k * cin)

    def ours(x, kernel):
        return nn.conv2d(x, kernel, stride=stride, padding=padding)

    want = lax_conv(x, kernel, stride, padding)
    np.testing.assert_allclose(np.asarray(jax.jit(ours)(x, kernel)), np.asarray(want), rtol=1e-5, atol=1e-5)
    weights = jax.random.normal(keys[2], want.shape)
    got = jax.jit(jax.grad(lambda x, k: jnp.sum(ours(x, k) * weights), argnums=(0, 1)))(x, kernel)
    expected = jax.grad(lambda x, k: jnp.sum(lax_conv(x, k, stride, padding) * weights), argnums=(0, 1))(x, kernel)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)
    if COMPILED:
        hlo = jax.jit(ours).lower(x, kernel).compile().as_text()
        ran = {"direct": kernels.DIRECT_TARGET in hlo, "dense3x3": kernels.DENSE3X3_TARGET in hlo,
               "pointwise": kernels.POINTWISE_TARGET in hlo}
        assert ran == {name: enabled == "1" and name == target for name in ran}


# An input side shorter than the kernel's (dilated) side, where XLA's CPU conv is 10-100× slow: (cin, cout, kernel,
# stride, padding, dilation, groups, H, W). A ResNet's last stage on a 64-pixel image (2 × 2), a strided one, a
# one-row input, a dilated 3×3 (extent 5) on 4 × 4, a 'same' 7×7 on 6 × 6, a grouped one (the super-block path).
SMALL = [
    (32, 48, 3, 1, 1, 1, 1, 2, 2), (32, 48, 3, 2, 1, 1, 1, 2, 3), (16, 32, 3, 1, 1, 1, 1, 1, 5),
    (16, 32, 3, 1, 2, 2, 1, 4, 4), (8, 16, 7, 1, "same", 1, 1, 6, 6), (64, 64, 3, 1, 1, 1, 8, 2, 2),
]


@pytest.mark.parametrize("enabled", ["1", "0"])
@pytest.mark.parametrize("case", SMALL, ids=lambda c: "x".join(map(str, c)))
def test_an_input_smaller_than_the_kernel_is_one_matmul_on_the_cpu(monkeypatch, case, enabled):
    monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
    cin, cout, k, stride, padding, dilation, groups, h, w = case
    keys = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(keys[0], (2, h, w, cin))
    kernel = jax.random.normal(keys[1], (k, k, cin // groups, cout)) / np.sqrt(k * k * cin // groups)

    def ours(x, kernel):
        return nn.conv2d(x, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def reference(x, kernel):
        pads = nn.conv.resolve_padding(padding, kernel.shape[:2], (stride, stride), (dilation, dilation))
        return lax.conv_general_dilated(x, kernel, (stride, stride), pads, rhs_dilation=(dilation, dilation),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups,
                                        precision="highest")

    want = reference(x, kernel)
    np.testing.assert_allclose(np.asarray(jax.jit(ours)(x, kernel)), np.asarray(want), rtol=1e-5, atol=1e-5)
    weights = jax.random.normal(keys[2], want.shape)
    got = jax.jit(jax.grad(lambda x, k: jnp.sum(ours(x, k) * weights), argnums=(0, 1)))(x, kernel)
    expected = jax.grad(lambda x, k: jnp.sum(reference(x, k) * weights), argnums=(0, 1))(x, kernel)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)
    # Neither the forward nor its gradient leaves an XLA convolution on the CPU (the compiled kernels may run it)
    for fn in (ours, jax.grad(lambda x, k: jnp.sum(ours(x, k) * weights), argnums=(0, 1))):
        assert "convolution(" not in jax.jit(fn).lower(x, kernel).compile().as_text()


def test_an_input_as_large_as_the_kernel_stays_an_xla_conv(monkeypatch):
    monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    x, kernel = jnp.ones((1, 3, 3, 8)), jnp.ones((3, 3, 8, 8))
    hlo = jax.jit(lambda x, k: nn.conv2d(x, k, padding=1)).lower(x, kernel).compile().as_text()
    assert "convolution(" in hlo
