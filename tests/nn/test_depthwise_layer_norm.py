"""``nn.depthwise_layer_norm``: ConvNeXt's depthwise conv and the LayerNorm after it as one op equals the two
modules one after the other (values and gradients), runs as zoo-cpu-kernels' fused call where that covers the
configuration, and as the modules where it does not."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core import nn
from zoo_core.kernels import import_cpu_kernels

kernels = import_cpu_kernels()
COMPILED = kernels is not None and hasattr(kernels, "depthwise_layernorm")


def make(chans, k, *, eps=1e-6, bias=True, seed=0):
    conv = nn.Conv2d(chans, chans, k, padding=k // 2, groups=chans, bias=bias)
    norm = nn.LayerNorm(chans, eps=eps)
    keys = jax.random.split(jax.random.key(seed), 4)
    conv_params, _ = conv.init(keys[0])
    if bias:
        conv_params["bias"] = 3.0 + jax.random.normal(keys[1], (chans,))  # an offset the mean must take out
    norm_params = {"scale": 1 + 0.3 * jax.random.normal(keys[2], (chans,)), "bias": jax.random.normal(keys[3], (chans,))}
    return conv, norm, {"conv": conv_params, "norm": norm_params}


def modules(conv, norm, params, x):
    y, _ = conv.apply(params["conv"], {}, x)
    return norm.apply(params["norm"], {}, y)[0]


def fused(conv, norm):
    return jax.jit(lambda p, x: nn.depthwise_layer_norm(conv, norm, p, x))


# (C, kernel, H, W): ConvNeXt's 7×7 at its stage widths (reduced), channels that are no multiple of 16
# (the 8-wide and one-at-a-time tails of the conv and of the norm), an image smaller than the kernel.
CASES = [(96, 7, 9, 8), (48, 7, 5, 11), (20, 3, 6, 6), (8, 7, 7, 7), (3, 3, 4, 5), (200, 7, 3, 2), (64, 7, 1, 1)]


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_equals_the_modules(monkeypatch, case, kernels_on):
    if not kernels_on:
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    chans, k, h, w = case
    conv, norm, params = make(chans, k)
    x = 2.0 + jax.random.normal(jax.random.key(1), (2, h, w, chans))
    expected = modules(conv, norm, params, x)
    got = fused(conv, norm)(params, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("eps", [1e-6, 0.5])
def test_eps_is_the_norms(eps):
    conv, norm, params = make(32, 3, eps=eps)
    x = 0.1 * jax.random.normal(jax.random.key(2), (1, 5, 5, 32))  # small variance: eps matters
    np.testing.assert_allclose(np.asarray(fused(conv, norm)(params, x)), np.asarray(modules(conv, norm, params, x)),
                               rtol=2e-5, atol=2e-5)


def test_gradients_equal_the_modules():
    conv, norm, params = make(24, 7)
    x = jax.random.normal(jax.random.key(3), (2, 6, 5, 24))
    w = jax.random.normal(jax.random.key(4), (2, 6, 5, 24))

    def loss(f):
        return lambda p, x: jnp.sum(f(p, x) * w)

    got = jax.grad(loss(lambda p, x: nn.depthwise_layer_norm(conv, norm, p, x)), argnums=(0, 1))(params, x)
    expected = jax.grad(loss(lambda p, x: modules(conv, norm, p, x)), argnums=(0, 1))(params, x)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4),
                 got, expected)


def test_a_batch_under_vmap_equals_the_modules():
    conv, norm, params = make(32, 7)
    x = jax.random.normal(jax.random.key(5), (3, 2, 6, 6, 32))
    got = jax.vmap(lambda x: nn.depthwise_layer_norm(conv, norm, params, x))(x)
    expected = jax.vmap(lambda x: modules(conv, norm, params, x))(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=2e-5, atol=2e-5)


@pytest.mark.skipif(not COMPILED, reason="zoo-cpu-kernels with the fused depthwise LayerNorm is not installed")
@pytest.mark.parametrize(("what", "fuses"), [("covered", True), ("kernels off", False), ("bfloat16", False),
                                             ("no conv bias", False), ("norm without bias", False)])
def test_the_fused_call_runs_where_it_covers_the_pair(monkeypatch, what, fuses):
    conv, norm, params = make(32, 7, bias=what != "no conv bias")
    dtype = jnp.bfloat16 if what == "bfloat16" else jnp.float32
    if what == "kernels off":
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    if what == "norm without bias":
        norm = nn.LayerNorm(32, eps=1e-6, bias=False)
        params["norm"].pop("bias")
    if what == "bfloat16":
        params = jax.tree.map(lambda a: a.astype(dtype), params)
    x = jnp.ones((1, 8, 8, 32), dtype)
    hlo = fused(conv, norm).lower(params, x).compile().as_text()
    assert (kernels.DEPTHWISE_LAYERNORM_TARGET in hlo) == fuses
    assert (kernels.TARGET in hlo) == (not fuses and what != "kernels off" and what != "bfloat16")
    got = fused(conv, norm)(params, x)
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(modules(conv, norm, params, x), np.float32),
                               rtol=2e-2 if what == "bfloat16" else 2e-5, atol=2e-2 if what == "bfloat16" else 2e-5)


@pytest.mark.skipif(not COMPILED, reason="zoo-cpu-kernels with the fused depthwise LayerNorm is not installed")
def test_the_kernel_refuses_a_params_array_of_the_wrong_shape():
    from zoo_cpu_kernels import _depthwise_layernorm_call

    x = jnp.ones((1, 4, 4, 16))
    with pytest.raises(Exception, match="KH·KW \\+ 3"):
        jax.jit(lambda x, p: _depthwise_layernorm_call(x, p, (((1, 1), (1, 1)), (3, 3), 1e-6)))(
            x, jnp.ones((11, 16))).block_until_ready()
