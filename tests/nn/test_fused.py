"""``nn.conv_affine`` / ``nn.conv_norm_act``: a conv and its BatchNorm (with residual and ReLU) as one op equals
the modules one after the other, in eval and in training, with and without the compiled pointwise and direct
(stem) kernels, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core import nn
from zoo_core.kernels import import_cpu_kernels

kernels = import_cpu_kernels()
COMPILED = kernels is not None and hasattr(kernels, "pointwise_supports")


def make(cin, cout, k, stride, *, bias=False, seed=0):
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)
    norm = nn.BatchNorm(cout)
    keys = jax.random.split(jax.random.key(seed), 6)
    cp, _ = conv.init(keys[0])
    npar = {"scale": 1 + 0.3 * jax.random.normal(keys[1], (cout,)), "bias": jax.random.normal(keys[2], (cout,))}
    nstate = {"mean": jax.random.normal(keys[3], (cout,)), "var": jax.random.uniform(keys[4], (cout,), minval=0.5,
                                                                                    maxval=2.0)}
    return conv, norm, (cp, npar), nstate


def modules(conv, norm, params, state, x, train, residual, relu):
    y, _ = conv.apply(params[0], {}, x)
    y, new = norm.apply(params[1], state, y, train=train)
    if residual is not None:
        y = y + residual
    return (jax.nn.relu(y) if relu else y), new


CASES = [  # (cin, cout, kernel, stride, H, W): the pointwise and direct (stem) kernels' cases and composed ones
    (24, 64, 1, 1, 9, 7), (32, 48, 1, 2, 9, 11), (16, 32, 3, 1, 8, 8), (16, 32, 3, 2, 9, 9), (8, 24, 1, 1, 5, 5),
    (3, 64, 7, 2, 20, 17), (3, 24, 7, 2, 11, 11),
]


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize(("relu", "residual"), [(False, False), (True, True)])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_eval_equals_the_modules(monkeypatch, case, relu, residual, kernels_on):
    if not kernels_on:
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    cin, cout, k, stride, h, w = case
    conv, norm, params, state = make(cin, cout, k, stride)
    x = jax.random.normal(jax.random.key(1), (2, h, w, cin))
    expected, _ = modules(conv, norm, params, state, x, False, None, False)
    res = jax.random.normal(jax.random.key(2), expected.shape) if residual else None
    expected, _ = modules(conv, norm, params, state, x, False, res, relu)
    got, new_state = jax.jit(lambda p, x, r: nn.conv_norm_act(conv, norm, p, state, x, residual=r, relu=relu))(
        params, x, res)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), new_state, state)


def test_train_mode_is_the_modules_with_new_statistics():
    conv, norm, params, state = make(16, 32, 1, 1)
    x = jax.random.normal(jax.random.key(1), (2, 6, 6, 16))
    expected, expected_state = modules(conv, norm, params, state, x, True, None, True)
    got, new_state = nn.conv_norm_act(conv, norm, params, state, x, train=True, relu=True)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    np.testing.assert_array_equal(np.asarray(new_state["mean"]), np.asarray(expected_state["mean"]))
    assert not np.allclose(np.asarray(new_state["mean"]), np.asarray(state["mean"]))


def test_conv_bias_folds_into_the_shift():
    conv, norm, params, state = make(16, 32, 1, 1, bias=True)
    params = ({**params[0], "bias": jnp.linspace(-1, 1, 32)}, params[1])
    x = jax.random.normal(jax.random.key(1), (1, 5, 5, 16))
    expected, _ = modules(conv, norm, params, state, x, False, None, True)
    got, _ = nn.conv_norm_act(conv, norm, params, state, x, relu=True)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_group_norm_goes_through_the_modules():
    conv = nn.Conv2d(16, 32, 1, bias=False)
    norm = nn.GroupNorm(8, 32)
    params = (conv.init(jax.random.key(0))[0], norm.init(jax.random.key(1))[0])
    x = jax.random.normal(jax.random.key(2), (2, 4, 4, 16))
    expected, _ = modules(conv, norm, params, {}, x, False, None, True)
    got, _ = nn.conv_norm_act(conv, norm, params, {}, x, relu=True)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_bfloat16_is_normalized_in_float32_and_cast_before_the_residual():
    conv, norm, params, state = make(16, 32, 1, 1)
    x = jax.random.normal(jax.random.key(1), (1, 5, 5, 16)).astype(jnp.bfloat16)
    params = (jax.tree.map(lambda a: a.astype(jnp.bfloat16), params[0]), params[1])
    res = jnp.ones((1, 5, 5, 32), jnp.bfloat16)
    expected, _ = modules(conv, norm, params, state, x, False, res, True)
    got, _ = nn.conv_norm_act(conv, norm, params, state, x, residual=res, relu=True)
    assert got.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(expected, np.float32))


@pytest.mark.parametrize(("cin", "k", "stride", "residual"), [(24, 1, 1, True), (24, 1, 2, True), (3, 7, 2, False)])
def test_gradients_equal_the_modules(cin, k, stride, residual):
    conv, norm, params, state = make(cin, 64, k, stride)
    x = jax.random.normal(jax.random.key(1), (2, 9, 9, cin))
    out_shape = modules(conv, norm, params, state, x, False, None, False)[0].shape
    res = jax.random.normal(jax.random.key(2), out_shape) if residual else None
    w = jax.random.normal(jax.random.key(3), out_shape)

    def loss(fn):
        return lambda p, x, r: jnp.sum(fn(p, x, r) * w)

    fused = loss(lambda p, x, r: nn.conv_norm_act(conv, norm, p, state, x, residual=r, relu=True)[0])
    plain = loss(lambda p, x, r: modules(conv, norm, p, state, x, False, r, True)[0])
    got = jax.jit(jax.grad(fused, argnums=(0, 1)))(params, x, res)
    expected = jax.grad(plain, argnums=(0, 1))(params, x, res)
    if residual:
        got += (jax.jit(jax.grad(fused, argnums=2))(params, x, res),)
        expected += (jax.grad(plain, argnums=2)(params, x, res),)
    for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not COMPILED or not hasattr(kernels, "direct_supports"),
                    reason="zoo-cpu-kernels without the pointwise and direct kernels")
@pytest.mark.parametrize(("cin", "k", "stride", "cout", "residual", "target"), [
    (16, 1, 1, 64, False, "pointwise"), (16, 1, 2, 64, True, "pointwise"), (32, 3, 1, 64, False, None),
    (16, 1, 1, 24, False, None), (3, 7, 2, 64, False, "direct"), (16, 3, 1, 64, False, "direct"),
    (3, 7, 2, 24, False, None), (32, 7, 2, 64, False, None),
    (3, 7, 2, 64, True, "direct")])  # with a residual: conv2d's direct conv, the affine and the add composed
def test_the_compiled_kernel_runs_where_it_covers_the_conv(cin, k, stride, cout, residual, target):
    conv, norm, params, state = make(cin, cout, k, stride)
    x = jnp.ones((1, 12, 12, cin))
    res = jnp.ones(modules(conv, norm, params, state, x, False, None, False)[0].shape) if residual else None
    fn = jax.jit(lambda p, x: nn.conv_norm_act(conv, norm, p, state, x, residual=res, relu=True)[0])
    hlo = fn.lower(params, x).compile().as_text()
    assert (kernels.POINTWISE_TARGET in hlo, kernels.DIRECT_TARGET in hlo) == (target == "pointwise",
                                                                                target == "direct")


def gated(conv, norm, params, state, x, train, residual, gate):
    """timm's order: conv, norm, the gate from the normalized output's channel means, residual, ReLU."""
    y, new = modules(conv, norm, params, state, x, train, None, False)
    y = y * gate(jnp.mean(y, axis=(1, 2)))[:, None, None, :]
    return jax.nn.relu(y + residual), new


def gates(cout):
    se = nn.se_block(cout, rd_channels=8)
    eca = nn.eca_module(cout)
    se_params = se.init(jax.random.key(7))[0]
    eca_params = {"conv": {"kernel": jnp.array([[[0.5, -1.0, 2.0, 0.3, -0.7][:eca.kernel_size]]])}}
    return {"se": lambda pooled: se.gate(se_params, pooled), "eca": lambda pooled: eca.gate(eca_params, pooled)}


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize("attn", ["se", "eca"])
@pytest.mark.parametrize("case", [(24, 64, 1, 1, 9, 7), (32, 48, 1, 2, 9, 11), (16, 32, 3, 1, 8, 8)],
                         ids=lambda c: "x".join(map(str, c)))
def test_a_gate_folded_into_the_norm_equals_the_modules(monkeypatch, case, attn, kernels_on):
    """SE / ECA after the norm: for a stride-1 1×1 conv the gate comes from the conv of the input's
    mean and folds into a per-image scale and shift; elsewhere it is applied to the output."""
    if not kernels_on:
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    cin, cout, k, stride, h, w = case
    conv, norm, params, state = make(cin, cout, k, stride)
    gate = gates(cout)[attn]
    x = jax.random.normal(jax.random.key(1), (3, h, w, cin)) + 0.5  # non-zero channel means
    out_shape = modules(conv, norm, params, state, x, False, None, False)[0].shape
    res = jax.random.normal(jax.random.key(2), out_shape)
    expected, _ = gated(conv, norm, params, state, x, False, res, gate)
    got, new_state = jax.jit(lambda p, x, r: nn.conv_norm_act(conv, norm, p, state, x, residual=r, relu=True,
                                                               gate=gate))(params, x, res)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), new_state, state)
    # training mode: batch statistics, the gate applied to the output as the modules do
    expected, expected_state = gated(conv, norm, params, state, x, True, res, gate)
    got, new_state = nn.conv_norm_act(conv, norm, params, state, x, train=True, residual=res, relu=True, gate=gate)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(new_state["mean"]), np.asarray(expected_state["mean"]))


def test_a_gate_folds_into_one_compiled_call_and_keeps_its_gradients():
    conv, norm, params, state = make(24, 64, 1, 1)
    gate = gates(64)["se"]
    x = jax.random.normal(jax.random.key(1), (2, 7, 7, 24))
    res = jax.random.normal(jax.random.key(2), (2, 7, 7, 64))
    w = jax.random.normal(jax.random.key(3), (2, 7, 7, 64))
    fused = jax.jit(lambda p, x, r: nn.conv_norm_act(conv, norm, p, state, x, residual=r, relu=True, gate=gate)[0])
    if COMPILED and getattr(kernels, "POINTWISE_PER_IMAGE", False):
        hlo = fused.lower(params, x, res).compile().as_text()
        root = [line for line in hlo.split("ENTRY")[-1].splitlines() if line.lstrip().startswith("ROOT")][0]
        assert "f32[2,7,7,64]" in root and kernels.POINTWISE_TARGET in root  # nothing after the conv's call
    got = jax.grad(lambda p, x, r: jnp.sum(fused(p, x, r) * w), argnums=(0, 1, 2))(params, x, res)
    expected = jax.grad(lambda p, x, r: jnp.sum(gated(conv, norm, p, state, x, False, r, gate)[0] * w),
                        argnums=(0, 1, 2))(params, x, res)
    for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize(("n", "residual"), [(64, True), (48, False), (20, True)])  # 20: not the kernel's case
def test_dense_affine_equals_the_composition(monkeypatch, n, residual, kernels_on):
    if not kernels_on:
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    keys = jax.random.split(jax.random.key(0), 5)
    x = jax.random.normal(keys[0], (2, 5, 7, 24))
    kernel = jax.random.normal(keys[1], (24, n)) / 5
    scale, shift = 1 + jax.random.normal(keys[2], (n,)) / 3, jax.random.normal(keys[3], (n,))
    res = jax.random.normal(keys[4], (2, 5, 7, n)) if residual else None
    expected = (x @ kernel) * scale + shift + (0 if res is None else res)
    fn = jax.jit(lambda x, k, s, b, r: nn.dense_affine(x, k, s, b, residual=r))
    np.testing.assert_allclose(np.asarray(fn(x, kernel, scale, shift, res)), np.asarray(expected), rtol=1e-5,
                               atol=1e-5)
    if kernels_on and COMPILED and n % 16 == 0:
        assert kernels.POINTWISE_TARGET in fn.lower(x, kernel, scale, shift, res).compile().as_text()
    w = jax.random.normal(jax.random.key(9), expected.shape)
    got = jax.grad(lambda *a: jnp.sum(fn(*a, res) * w), argnums=(0, 1, 2, 3))(x, kernel, scale, shift)
    want = jax.grad(lambda x, k, s, b: jnp.sum(((x @ k) * s + b) * w), argnums=(0, 1, 2, 3))(x, kernel, scale, shift)
    for g, e in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)


def test_dense_affine_in_bfloat16_composes():
    x = jax.random.normal(jax.random.key(0), (3, 16)).astype(jnp.bfloat16)
    kernel = jax.random.normal(jax.random.key(1), (16, 32)).astype(jnp.bfloat16)
    got = nn.dense_affine(x, kernel, jnp.full((32,), 2.0), jnp.ones((32,)))
    assert got.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(got, np.float32),
                                  np.asarray((x @ kernel) * jnp.bfloat16(2) + jnp.bfloat16(1), np.float32))


@pytest.mark.parametrize("kind", ["mlp", "grn_mlp", "mlp_no_bias", "mlp_norm"])
@pytest.mark.parametrize("layer_scale", [False, True])
def test_an_mlp_with_its_residual_equals_the_modules(kind, layer_scale):
    """``Mlp.apply_residual`` / ``GlobalResponseNormMlp.apply_residual`` (ConvNeXt's block tail):
    ``residual + gamma · mlp(x)`` through fused linear layers, equal to the modules."""
    block = {"mlp": nn.mlp(32, 64), "grn_mlp": nn.grn_mlp(32, 64), "mlp_no_bias": nn.mlp(32, 64, bias=False),
             "mlp_norm": nn.mlp(32, 64, norm=nn.LayerNorm(64))}[kind]  # an inner norm: the modules
    params, state = block.init(jax.random.key(0))
    params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(1), a.shape), params)
    x = jax.random.normal(jax.random.key(2), (2, 5, 5, 32))
    res = jax.random.normal(jax.random.key(3), (2, 5, 5, 32))
    gamma = jnp.linspace(0.5, 1.5, 32) if layer_scale else None
    y, _ = block.apply(params, state, x)
    expected = res + (y if gamma is None else y * gamma)
    got = jax.jit(lambda p, x, r: block.apply_residual(p, x, r, gamma))(params, x, res)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize(("bias", "gamma", "norm"), [(True, True, False), (False, False, True), (True, False, True)])
def test_a_gelu_mlp_is_one_call_equal_to_its_two_layers_with_their_gradients(monkeypatch, bias, gamma, norm,
                                                                             kernels_on):
    """``gelu_mlp_residual`` (an Mlp's ``apply_residual`` with the exact GELU) is fc1's and fc2's ``dense_layer``
    calls, bit for bit, gradients included (every leaf: x, both layers, the residual, the LayerScale, the
    norm); where zoo-cpu-kernels has ``pointwise_mlp`` the compiled program makes one call of it and none of
    the plain pointwise kernel, where the hidden activations are more than one of its chunks (else the two
    calls)."""
    from zoo_core.nn import fused

    monkeypatch.setenv("ZOO_CPU_KERNELS", "1" if kernels_on else "0")
    k = jax.random.split(jax.random.key(4), 9)
    x, res = 1 + jax.random.normal(k[0], (2, 64, 48, 48)), jax.random.normal(k[1], (2, 64, 48, 48))  # 1.2M hidden
    fc1, fc2 = {"kernel": jax.random.normal(k[2], (48, 192)) / 7}, {"kernel": jax.random.normal(k[3], (192, 48)) / 14}
    if bias:
        fc1["bias"], fc2["bias"] = jax.random.normal(k[4], (192,)), jax.random.normal(k[5], (48,))
    g = 1 + jax.random.normal(k[6], (48,)) / 4 if gamma else None
    ln = (1 + jax.random.normal(k[7], (48,)) / 3, jax.random.normal(k[8], (48,))) if norm else None

    def one(x, fc1, fc2, res, g, ln):
        return fused.gelu_mlp_residual(fc1, fc2, x, res, gamma=g, pre_norm=None if ln is None else (*ln, 1e-6))

    def two(x, fc1, fc2, res, g, ln):
        h = fused.first_layer(nn.gelu, fc1, x, None if ln is None else (*ln, 1e-6))
        return fused.dense_layer(fc2, h, gamma=g, residual=res)

    args = (x, fc1, fc2, res, g, ln)
    np.testing.assert_array_equal(np.asarray(jax.jit(one)(*args)), np.asarray(jax.jit(two)(*args)))
    loss = lambda f: lambda *args: jnp.sum(jnp.sin(f(*args)))  # noqa: E731
    got, want = (jax.jit(jax.grad(loss(f), argnums=range(6)))(*args) for f in (one, two))
    assert len(jax.tree.leaves(got)) == 4 + 2 * bias + gamma + 2 * norm
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    hlo = jax.jit(one).lower(*args).compile().as_text()
    compiled = kernels_on and getattr(import_cpu_kernels(), "POINTWISE_MLP", False)
    assert hlo.count('custom_call_target="zoo_pointwise_mlp"') == compiled
    assert hlo.count('custom_call_target="zoo_pointwise_conv2d"') == (0 if compiled else 2 * kernels_on)
    # hidden activations within one chunk (2 × 4 × 48 rows × 192): the two calls
    hlo = jax.jit(one).lower(x[:, :4], fc1, fc2, res[:, :4], g, ln).compile().as_text()
    assert "zoo_pointwise_mlp" not in hlo
    assert hlo.count('custom_call_target="zoo_pointwise_conv2d"') == 2 * bool(COMPILED and kernels_on)


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize(("batch", "hw", "folds"), [(1, (9, 8), True), (1, (4, 4), False), (1, (1, 40), True),
                                                    (3, (9, 8), False), (2, (4, 4), False)])
@pytest.mark.parametrize("layer_scale", [False, True])
def test_a_grn_goes_into_the_second_layer_and_equals_the_modules(monkeypatch, batch, hw, folds, layer_scale,
                                                                 kernels_on):
    """One image with more pixels than fc2 has outputs: the GRN goes into fc2's kernel rows and bias;
    otherwise into fc2's input prologue, per image. Never a pass of its own over the hidden activations;
    equal to the modules."""
    from zoo_core.nn import fused

    if not kernels_on:
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    block = nn.grn_mlp(32, 64)
    params, state = block.init(jax.random.key(0))
    params = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(jax.random.key(1), a.shape), params)
    x = jax.random.normal(jax.random.key(2), (batch, *hw, 32))
    res = jax.random.normal(jax.random.key(3), (batch, *hw, 32))
    gamma = jnp.linspace(0.5, 1.5, 32) if layer_scale else None
    y, _ = block.apply(params, state, x)
    expected = res + (y if gamma is None else y * gamma)
    applied, prologues = [], []  # the GRN module applied to the hidden activations; fc2 with a prologue
    apply, prologue = nn.GlobalResponseNorm.apply, fused._dense_affine_prologue
    monkeypatch.setattr(nn.GlobalResponseNorm, "apply", lambda *a, **k: applied.append(1) or apply(*a, **k))
    monkeypatch.setattr(fused, "_dense_affine_prologue", lambda *a, **k: prologues.append(1) or prologue(*a, **k))
    fn = jax.jit(lambda p, x, r: block.apply_residual(p, x, r, gamma))
    np.testing.assert_allclose(np.asarray(fn(params, x, res)), np.asarray(expected), rtol=1e-5, atol=1e-5)
    assert not applied and bool(prologues) != folds
    if kernels_on:  # fc2's call in the pointwise kernel takes the GRN as its prologue where it does not fold
        assert ("prologue = 1" in fn.lower(params, x, res).compile().as_text()) != folds


def test_dense_affine_with_a_prologue_equals_the_composition_with_its_gradients():
    """``dense_affine(x, ..., in_scale=a, in_shift=b)`` is ``dense_affine(x · a + b, ...)`` per image, values
    and gradients (the compiled call's VJP is the composition's)."""
    from zoo_core.nn import fused

    k = jax.random.split(jax.random.key(0), 7)
    x, res = jax.random.normal(k[0], (3, 4, 5, 24)), jax.random.normal(k[1], (3, 4, 5, 32))
    kernel, scale, shift = jax.random.normal(k[2], (24, 32)) / 5, jax.random.normal(k[3], (32,)), jax.random.normal(k[4], (32,))
    a, b = 1 + jax.random.normal(k[5], (3, 24)) / 3, jax.random.normal(k[6], (3, 24))

    def fused_fn(x, kernel, a, b, res):
        return fused.dense_affine(x, kernel, scale, shift, residual=res, gelu=True, in_scale=a, in_shift=b)

    def composed(x, kernel, a, b, res):
        xp = x * a[:, None, None] + b[:, None, None]
        return nn.gelu(xp @ kernel * scale + shift + res)

    args = (x, kernel, a, b, res)
    np.testing.assert_allclose(np.asarray(jax.jit(fused_fn)(*args)), np.asarray(composed(*args)), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda *args: jnp.sum(jnp.sin(f(*args)))  # noqa: E731
    grads = jax.grad(loss(fused_fn), argnums=range(5))(*args)
    want = jax.grad(loss(composed), argnums=range(5))(*args)
    for got, expected in zip(grads, want):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="in_scale"):
        fused.dense_affine(x, kernel, scale, shift, in_scale=a[:2], in_shift=b[:2])


def test_dense_affine_with_a_layer_norm_prologue_equals_the_composition_with_its_gradients():
    """``dense_affine(x, ..., in_scale=g, in_shift=b, in_norm_eps=e)`` is ``dense_affine(layer_norm(x, g, b,
    e), ...)``, values and gradients; a scale of the wrong shape is refused by name."""
    from zoo_core.nn import fused
    from zoo_core.nn.norm import layer_norm

    k = jax.random.split(jax.random.key(1), 7)
    x, res = 2 + 3 * jax.random.normal(k[0], (2, 9, 48)), jax.random.normal(k[1], (2, 9, 32))
    kernel, scale, shift = jax.random.normal(k[2], (48, 32)) / 5, jax.random.normal(k[3], (32,)), jax.random.normal(k[4], (32,))
    g, b = 1 + jax.random.normal(k[5], (48,)) / 3, jax.random.normal(k[6], (48,))

    def fused_fn(x, kernel, g, b, res):
        return fused.dense_affine(x, kernel, scale, shift, residual=res, gelu=True, in_scale=g, in_shift=b,
                                  in_norm_eps=1e-6)

    def composed(x, kernel, g, b, res):
        return nn.gelu(layer_norm(x, g, b, 1e-6) @ kernel * scale + shift + res)

    args = (x, kernel, g, b, res)
    np.testing.assert_allclose(np.asarray(jax.jit(fused_fn)(*args)), np.asarray(composed(*args)), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda *args: jnp.sum(jnp.sin(f(*args)))  # noqa: E731
    for got, expected in zip(jax.grad(loss(fused_fn), argnums=range(5))(*args),
                             jax.grad(loss(composed), argnums=range(5))(*args)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="in_scale must be the norm's"):
        fused.dense_affine(x, kernel, scale, shift, in_scale=g[None], in_shift=b, in_norm_eps=1e-6)


@pytest.mark.parametrize("kernels_on", [True, False])
def test_a_vit_block_takes_its_layer_norms_as_prologues(kernels_on, monkeypatch):
    """A ViT block's two LayerNorms go into qkv's and fc1's calls as their prologues (``prologue = 3`` in the
    compiled program where zoo-cpu-kernels has it, no LayerNorm of XLA's left); the block equals its modules
    applied one by one, gradients included."""
    from zoo_core.kernels import import_cpu_kernels
    from zoo_core.nn.transformer import vit_block

    monkeypatch.setenv("ZOO_CPU_KERNELS", "1" if kernels_on else "0")
    block = vit_block(64, 4, qkv_bias=True, init_values=0.1)
    params, state = block.init(jax.random.key(0))
    params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.key(1), p.shape), params)
    x = 1 + jax.random.normal(jax.random.key(2), (2, 17, 64))

    def by_modules(p, x):
        def sub(name, y):
            return getattr(block, name).apply(p[name], state[name], y)[0]
        x = x + sub("ls1", sub("attn", sub("norm1", x)))
        return x + sub("ls2", sub("mlp", sub("norm2", x)))

    def run(p, x):
        return block.apply(p, state, x)[0]

    np.testing.assert_allclose(np.asarray(jax.jit(run)(params, x)), np.asarray(by_modules(params, x)), rtol=1e-5,
                               atol=1e-5)
    w = jax.random.normal(jax.random.key(3), x.shape)
    got = jax.grad(lambda p, x: jnp.sum(run(p, x) * w), argnums=(0, 1))(params, x)
    want = jax.grad(lambda p, x: jnp.sum(by_modules(p, x) * w), argnums=(0, 1))(params, x)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
    hlo = jax.jit(run).lower(params, x).compile().as_text()
    compiled = kernels_on and getattr(import_cpu_kernels(), "POINTWISE_LAYERNORM", False)
    assert hlo.count("prologue = 3") == 2 * compiled


def test_dense_affine_keeps_a_sharded_batch_where_it_lies():
    """The rows go to the kernel as (batch, 1, rows per image, K): under jax.sharding each device
    computes its own images, with no all-gather of the activations."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from zoo_core import nn
        rng = np.random.default_rng(0)
        x, r = rng.standard_normal((8, 5, 5, 24), dtype=np.float32), rng.standard_normal((8, 5, 5, 32), dtype=np.float32)
        k, s, b = rng.standard_normal((24, 32), dtype=np.float32), np.ones(32, np.float32), np.zeros(32, np.float32)
        batch = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), P("b"))
        f = jax.jit(lambda x, r: nn.dense_affine(jax.lax.with_sharding_constraint(x, batch), k, s, b, residual=r))
        hlo = f.lower(x, r).compile().as_text()
        err = float(np.abs(np.asarray(f(x, r)) - (x @ k + r)).max())
        print(len(jax.devices()), "all-gather" in hlo, err < 1e-4)
    """)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["4", "False", "True"]


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize(("n", "residual"), [(80, False), (48, True), (20, False)])  # 20: not the kernel's case
def test_dense_affine_with_gelu_equals_the_composition(monkeypatch, n, residual, kernels_on):
    """``dense_affine(..., gelu=True)`` (an MLP's first layer): on the CPU the GELU is the pointwise
    kernel's epilogue, with no erf left in the compiled forward; values and gradients as composed."""
    if not kernels_on:
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    keys = jax.random.split(jax.random.key(0), 5)
    x = jax.random.normal(keys[0], (2, 5, 7, 24))
    kernel = jax.random.normal(keys[1], (24, n)) / 3
    scale, shift = 1 + jax.random.normal(keys[2], (n,)) / 3, 2 * jax.random.normal(keys[3], (n,))
    res = jax.random.normal(keys[4], (2, 5, 7, n)) if residual else None

    def composed(x, k, s, b):
        return nn.gelu((x @ k) * s + b + (0 if res is None else res))

    fn = jax.jit(lambda x, k, s, b, r: nn.dense_affine(x, k, s, b, residual=r, gelu=True))
    np.testing.assert_allclose(np.asarray(fn(x, kernel, scale, shift, res)), np.asarray(composed(x, kernel, scale, shift)),
                               rtol=1e-5, atol=1e-5)
    hlo = fn.lower(x, kernel, scale, shift, res).compile().as_text()
    if kernels_on and COMPILED and getattr(kernels, "POINTWISE_GELU", False) and n % 16 == 0:
        assert kernels.POINTWISE_TARGET in hlo and " erf(" not in hlo
    else:
        assert " erf(" in hlo
    w = jax.random.normal(jax.random.key(9), (2, 5, 7, n))
    got = jax.grad(lambda *a: jnp.sum(fn(*a, res) * w), argnums=(0, 1, 2, 3))(x, kernel, scale, shift)
    want = jax.grad(lambda *a: jnp.sum(composed(*a) * w), argnums=(0, 1, 2, 3))(x, kernel, scale, shift)
    for g, e in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)


def test_relu_and_gelu_together_are_refused():
    x = jnp.ones((1, 2, 2, 8))
    with pytest.raises(ValueError, match="relu and gelu"):
        nn.conv_affine(x, jnp.ones((1, 1, 8, 16)), jnp.ones(16), jnp.zeros(16), relu=True, gelu=True)


def test_dense_affine_lowers_to_a_dot_off_the_cpu():
    """On other backends ``dense_affine`` is XLA's matmul (not the 1×1 conv the CPU path lowers to)."""
    x, kernel = jnp.ones((2, 9, 24)), jnp.ones((24, 32))
    fn = jax.jit(lambda x, k: nn.dense_affine(x, k, jnp.ones((32,)), jnp.zeros((32,)), gelu=True))
    text = fn.trace(x, kernel).lower(lowering_platforms=("cuda",)).as_text()
    assert "dot_general" in text and "convolution" not in text
    if COMPILED:
        assert kernels.POINTWISE_TARGET not in text


def unfused_vit_block(block, params, state, x):
    def sublayer(name, y):
        return getattr(block, name).apply(params[name], state[name], y)[0]

    x = x + sublayer("ls1", sublayer("attn", sublayer("norm1", x)))
    return x + sublayer("ls2", sublayer("mlp", sublayer("norm2", x)))


@pytest.mark.parametrize(("init_values", "qkv_bias", "attn_norm", "mlp_norm", "fused"),
                         [(None, True, False, False, 4), (1e-1, False, False, False, 4), (1e-1, True, True, False, 4),
                          (None, True, False, True, 2)])  # an inner MLP norm: the MLP as its modules
def test_a_vit_block_through_its_fused_branches_equals_the_modules(init_values, qkv_bias, attn_norm, mlp_norm, fused):
    """``VitBlock.apply`` runs each branch's linear layers as ``dense_affine`` calls (on the CPU the
    pointwise kernel: qkv, proj + LayerScale + residual, fc1 + GELU, fc2 + LayerScale + residual) and
    equals the modules one after the other; in bfloat16 it is the modules."""
    block = nn.vit_block(64, 4, qkv_bias=qkv_bias, init_values=init_values, scale_attn_norm=attn_norm,
                         scale_mlp_norm=mlp_norm)
    params, state = block.init(jax.random.key(0))
    params = jax.tree.map(lambda a: a + 0.05 * jax.random.normal(jax.random.key(1), a.shape), params)
    x = jax.random.normal(jax.random.key(2), (2, 17, 64))
    fn = jax.jit(lambda p, x: block.apply(p, state, x)[0])
    np.testing.assert_allclose(np.asarray(fn(params, x)), np.asarray(unfused_vit_block(block, params, state, x)),
                               rtol=1e-5, atol=1e-5)
    if COMPILED:
        assert fn.lower(params, x).compile().as_text().count(f'custom_call_target="{kernels.POINTWISE_TARGET}"') == fused
    xb = x.astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(block.apply(params, state, xb)[0], np.float32),
                                  np.asarray(unfused_vit_block(block, params, state, xb), np.float32))
