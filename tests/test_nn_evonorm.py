"""``zoo_core.nn.evonorm``: EvoNorm-S0 on NHWC. Fast checks of its definition without torch, and
(marked ``parity``) against timm's ``EvoNorm2dS0`` on NCHW: odd shapes, batch 1, one pixel, groups
and group_size, without the activation, and bfloat16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core.nn.evonorm import EvoNorm2dS0, group_std

SHAPES = [(2, 9, 11, 64), (1, 7, 7, 256), (3, 5, 13, 96), (1, 1, 1, 32), (2, 16, 16, 2048)]


def rand(shape, seed=0):
    # an offset and a scale per channel: group means and variances are not the trivial 0 and 1
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * rng.uniform(0.5, 3, shape[-1]) + rng.uniform(-2, 2, shape[-1])).astype(np.float32)


def rand_params(c, seed=0, act=True):
    rng = np.random.default_rng(seed)
    params = {"scale": 1 + 0.2 * rng.standard_normal(c), "bias": 0.2 * rng.standard_normal(c)}
    if act:
        params["v"] = 1 + 0.2 * rng.standard_normal(c)
    return {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}


def test_group_std_is_the_biased_std_of_each_group():
    """Per sample and group of contiguous channels, over H, W and the group's channels, plus eps."""
    x = rand((2, 5, 6, 12))
    std = group_std(jnp.asarray(x), groups=3, eps=1e-5)
    assert std.shape == (2, 1, 1, 12)
    groups = x.reshape(2, 30, 3, 4)
    expected = np.sqrt(groups.var(axis=(1, 3)) + 1e-5)  # (N, G)
    np.testing.assert_allclose(np.asarray(std)[:, 0, 0], np.repeat(expected, 4, axis=1), rtol=1e-5)
    with pytest.raises(ValueError, match="do not split"):
        group_std(jnp.asarray(x), groups=5)


def test_evonorm_s0_formula_init_and_no_state():
    """x · sigmoid(v x) / group_std · scale + bias; params ones / zeros / ones; state stays empty, train = eval."""
    layer = EvoNorm2dS0(64)
    params, state = layer.init(jax.random.key(0))
    assert set(params) == {"scale", "bias", "v"} and state == {}
    assert float(params["v"].min()) == 1.0 and float(jnp.abs(params["bias"]).max()) == 0.0
    x = jnp.asarray(rand((2, 4, 5, 64)))
    p = rand_params(64)
    y, new_state = jax.jit(layer.apply)(p, state, x)
    expected = x * jax.nn.sigmoid(x * p["v"]) / group_std(x, 32) * p["scale"] + p["bias"]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)  # jit vs eager rounding
    y_train, _ = jax.jit(lambda p, s, x: layer.apply(p, s, x, train=True))(p, state, x)
    np.testing.assert_array_equal(y, y_train)
    assert new_state == {}


def test_group_size_and_no_activation():
    """group_size=16 on 64 channels is 4 groups; apply_act=False has no ``v`` and is only the affine."""
    assert EvoNorm2dS0(64, group_size=16).num_groups == 4
    with pytest.raises(ValueError, match="group_size"):
        EvoNorm2dS0(64, group_size=24)
    with pytest.raises(ValueError, match="do not split"):
        EvoNorm2dS0(48)
    layer = EvoNorm2dS0(32, apply_act=False)
    params, _ = layer.init(jax.random.key(0))
    assert set(params) == {"scale", "bias"}
    x = jnp.asarray(rand((1, 3, 3, 32)))
    p = rand_params(32, act=False)
    np.testing.assert_allclose(layer.apply(p, {}, x)[0], x * p["scale"] + p["bias"], rtol=1e-6)


def test_grad_is_finite_on_a_constant_group():
    """A constant input has zero group variance: eps keeps the gradient finite."""
    layer = EvoNorm2dS0(32)
    params, _ = layer.init(jax.random.key(0))
    grads = jax.jit(jax.grad(lambda p, x: layer.apply(p, {}, x)[0].sum(), argnums=(0, 1)))(params, jnp.ones((1, 3, 3, 32)))
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))


def test_bfloat16_keeps_its_dtype_with_float32_statistics():
    """A bfloat16 input gives bfloat16 output within bfloat16 rounding of the float32 result."""
    layer = EvoNorm2dS0(64)
    x = jnp.asarray(rand((1, 6, 6, 64)))
    p = rand_params(64)
    y16, _ = layer.apply(p, {}, x.astype(jnp.bfloat16))
    y32, _ = layer.apply(p, {}, x)
    assert y16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y16, np.float32), y32, rtol=3e-2, atol=3e-2)


def _timm_layer(c, seed, **kwargs):
    torch = pytest.importorskip("torch")
    pytest.importorskip("timm")
    from timm.layers import EvoNorm2dS0 as TimmEvoNorm2dS0

    from zoo_core.testing.parity import randomize_torch_module

    ref = TimmEvoNorm2dS0(c, **kwargs)
    randomize_torch_module(ref, seed=seed)
    params = {"scale": ref.weight.detach().numpy(), "bias": ref.bias.detach().numpy()}
    if ref.v is not None:
        params["v"] = ref.v.detach().numpy()
    return torch, ref, params


@pytest.mark.parity
@pytest.mark.parametrize("shape", SHAPES)
def test_evonorm_s0_matches_timm(shape):
    """Ours on NHWC equals timm's on NCHW (randomized weight, bias and v) at 1e-5."""
    from zoo_core.testing.parity import assert_close, to_nchw, to_nhwc

    torch, ref, params = _timm_layer(shape[-1], seed=shape[-1])
    x = rand(shape)
    with torch.no_grad():
        expected = to_nhwc(ref(torch.from_numpy(to_nchw(x))))
    y, _ = jax.jit(EvoNorm2dS0(shape[-1]).apply)(params, {}, jnp.asarray(x))
    assert_close(y, expected, rtol=1e-5, atol=1e-5, name=f"EvoNorm2dS0 {shape}")


@pytest.mark.parity
@pytest.mark.parametrize("kwargs", [dict(groups=8), dict(group_size=16), dict(apply_act=False), dict(eps=1e-3)])
def test_evonorm_s0_options_match_timm(kwargs):
    """groups, group_size, apply_act=False and eps mean what they mean in timm."""
    from zoo_core.testing.parity import assert_close, to_nchw, to_nhwc

    torch, ref, params = _timm_layer(64, seed=3, **kwargs)
    x = rand((2, 7, 5, 64), seed=3)
    with torch.no_grad():
        expected = to_nhwc(ref(torch.from_numpy(to_nchw(x))))
    y, _ = EvoNorm2dS0(64, **kwargs).apply(params, {}, jnp.asarray(x))
    assert_close(y, expected, rtol=1e-5, atol=1e-5, name=f"EvoNorm2dS0 {kwargs}")


@pytest.mark.parity
def test_evonorm_s0_gradient_matches_timm():
    """The input and parameter gradients of sum(y · w) equal torch's autograd."""
    from zoo_core.testing.parity import assert_close, to_nchw, to_nhwc

    torch, ref, params = _timm_layer(64, seed=5)
    x = rand((2, 5, 6, 64), seed=5)
    w = rand((2, 5, 6, 64), seed=6)
    xt = torch.from_numpy(to_nchw(x)).requires_grad_(True)
    (ref(xt) * torch.from_numpy(to_nchw(w))).sum().backward()
    layer = EvoNorm2dS0(64)
    gp, gx = jax.grad(lambda p, x: (layer.apply(p, {}, x)[0] * w).sum(), argnums=(0, 1))(params, jnp.asarray(x))
    assert_close(gx, to_nhwc(xt.grad), rtol=1e-4, atol=1e-5, name="dL/dx")
    for ours, theirs in (("scale", ref.weight), ("bias", ref.bias), ("v", ref.v)):
        assert_close(gp[ours], theirs.grad.numpy(), rtol=1e-4, atol=1e-4, name=f"dL/d{ours}")
