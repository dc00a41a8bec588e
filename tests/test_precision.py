"""``dtype=``: bfloat16 / float16 compute with float32 params, on the tinynet test family."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.precision import Precision, cast_floating, resolve_dtype

from tinynet_weights import tinynet_bytes

X = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)


def _dtypes(tree):
    return {leaf.dtype for leaf in jax.tree_util.tree_leaves(tree) if hasattr(leaf, "dtype")}


def _bf16_ops(model, params, state):
    """The bfloat16 convolutions and dots in the lowered (StableHLO) program of ``model.apply``."""
    text = jax.jit(model.apply).lower(params, state, X).as_text()
    return [line for line in text.splitlines()
            if re.search(r"stablehlo\.(convolution|dot_general)", line) and "bf16" in line]


def test_params_and_state_stay_float32_from_init_and_load(hub):
    """init() and the pretrained load() of a bfloat16 model make float32 params and state,
    identical to the float32 model's."""
    hub.add_file("zoo-test/tinynet_s.zoo_in1k", "model.safetensors", tinynet_bytes())
    model = zoo_core.create_model("tinynet_s", dtype=jnp.bfloat16)
    params, state = model.init(jax.random.key(0))
    assert _dtypes(params) == _dtypes(state) == {jnp.dtype(jnp.float32)}
    bf16, load = zoo_core.create_pretrained("tinynet_s", dtype="bfloat16")
    f32, load32 = zoo_core.create_pretrained("tinynet_s")
    loaded, loaded_state = load()
    assert _dtypes(loaded) == _dtypes(loaded_state) == {jnp.dtype(jnp.float32)}
    jax.tree_util.tree_map(np.testing.assert_array_equal, (loaded, loaded_state), load32())
    assert isinstance(bf16, Precision) and bf16.num_classes == f32.num_classes == 10


def test_outputs_are_float32_and_close_to_float32_compute():
    """apply, forward_features and forward_head return float32, within bfloat16 rounding of the
    float32 model's outputs and not bit-equal to them (the compute really is reduced)."""
    f32 = zoo_core.create_model("tinynet_s")
    bf16 = zoo_core.create_model("tinynet_s", dtype="bfloat16")
    params, state = f32.init(jax.random.key(0))
    y32, _ = f32.apply(params, state, X)
    y, new_state = bf16.apply(params, state, X)
    feats, _ = bf16.forward_features(params, state, X)
    pre = bf16.forward_head(params, feats, pre_logits=True)
    for out in (y, feats, pre, bf16.forward_head(params, feats)):
        assert out.dtype == jnp.float32
    assert y.shape == y32.shape == (2, 10) and pre.shape == (2, 16)
    scale = float(jnp.abs(y32).max())
    assert float(jnp.abs(y - y32).max()) < 0.05 * scale
    assert not np.array_equal(np.asarray(y), np.asarray(y32))
    assert _dtypes(new_state) == {jnp.dtype(jnp.float32)}


def test_compute_happens_in_bfloat16():
    """The lowered program of a bfloat16 model convolves and multiplies in bf16; the float32
    model's has no bf16 op at all."""
    bf16 = zoo_core.create_model("tinynet_s", dtype=jnp.bfloat16)
    params, state = bf16.init(jax.random.key(0))
    ops = _bf16_ops(bf16, params, state)
    assert sum("convolution" in op for op in ops) == 2 and sum("dot_general" in op for op in ops) == 1
    f32 = zoo_core.create_model("tinynet_s")
    assert "bf16" not in jax.jit(f32.apply).lower(params, state, X).as_text()


def test_float16_and_float32_options():
    """float16 computes in f16 with float32 outputs; "float32" (like None) gives the plain model."""
    f16 = zoo_core.create_model("tinynet_s", dtype="float16")
    params, state = f16.init(jax.random.key(0))
    assert "f16" in jax.jit(f16.apply).lower(params, state, X).as_text().replace("bf16", "")
    assert f16.apply(params, state, X)[0].dtype == jnp.float32
    assert not isinstance(zoo_core.create_model("tinynet_s", dtype="float32"), Precision)
    assert not isinstance(zoo_core.create_model("tinynet_s", dtype=None), Precision)


def test_train_mode_state_round_trips_in_float32():
    """With train=True the updated BatchNorm statistics come back float32, with the structure
    they went in with, and equal to float32 compute's within bfloat16 rounding."""
    f32 = zoo_core.create_model("tinynet_s")
    bf16 = zoo_core.create_model("tinynet_s", dtype=jnp.bfloat16)
    params, state = f32.init(jax.random.key(0))
    step = jax.jit(lambda p, s: bf16.apply(p, s, X, train=True))
    _, new_state = step(params, state)
    _, again = step(params, new_state)  # fed back in unchanged
    assert jax.tree_util.tree_structure(again) == jax.tree_util.tree_structure(state)
    assert _dtypes(again) == {jnp.dtype(jnp.float32)}
    _, ref_state = f32.apply(params, state, X, train=True)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-2), new_state, ref_state)


@pytest.mark.parametrize("train,tolerance", [(False, 0.06), (True, 0.15)])
def test_grad_is_float32_and_close_to_float32_grad(train, tolerance):
    """jax.grad through a bfloat16 model gives float32 gradients for the float32 params, finite
    and close (relative L2 per leaf) to those of float32 compute. Measured worst leaf: 4.5% in
    eval mode; 10.5% in train mode, the stem kernel, whose gradient behind train-mode BatchNorm
    on a 2-image batch is a difference of nearly equal terms."""
    f32 = zoo_core.create_model("tinynet_s")
    bf16 = zoo_core.create_model("tinynet_s", dtype=jnp.bfloat16)
    params, state = f32.init(jax.random.key(0))

    def loss(model):
        return lambda p: jnp.mean(jnp.square(model.apply(p, state, X, train=train)[0]))

    grads = jax.jit(jax.grad(loss(bf16)))(params)
    ref = jax.jit(jax.grad(loss(f32)))(params)
    assert _dtypes(grads) == {jnp.dtype(jnp.float32)}
    for g, r in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref)):
        assert np.isfinite(g).all()
        assert np.linalg.norm(g - r) <= tolerance * np.linalg.norm(r)


def test_features_only_model_computes_in_bfloat16():
    """A features_only bfloat16 model returns float32 maps, keeps feature_info, and its params
    load as the backbone's."""
    model = zoo_core.create_model("tinynet_s", features_only=True, dtype="bfloat16")
    assert [f.num_chs for f in model.feature_info()] == [8, 16]
    params, state = model.init(jax.random.key(0))
    maps, _ = model.apply(params, state, X)
    assert [m.dtype for m in maps] == [jnp.float32, jnp.float32]
    assert [m.shape for m in maps] == [(2, 8, 8, 8), (2, 4, 4, 16)]
    assert "bf16" in jax.jit(model.apply).lower(params, state, X).as_text()
    assert model.architecture is model.inner.model  # what load_weights maps against: the backbone


def test_features_only_pretrained_loads_in_bfloat16(hub):
    """create_pretrained(features_only=True, dtype=bfloat16) loads the released weights into its
    backbone and its last map is the float32 model's within bfloat16 rounding."""
    hub.add_file("zoo-test/tinynet_s.zoo_in1k", "model.safetensors", tinynet_bytes())
    model, load = zoo_core.create_pretrained("tinynet_s", features_only=True, out_indices=(-1,), dtype="bfloat16")
    full, load_full = zoo_core.create_pretrained("tinynet_s")
    (maps, _), (feats, _) = model.apply(*load(), X), full.forward_features(*load_full(), X)
    np.testing.assert_allclose(maps[-1], feats, atol=0.03 * float(jnp.abs(feats).max()))


@pytest.mark.parametrize("dtype", ["int8", "bf16", jnp.int32, "complex64", object])
def test_bad_dtype_names_the_variant_and_the_dtype(dtype):
    """An unsupported dtype fails at create time, naming the variant and the dtype given."""
    with pytest.raises(ValueError, match=rf"tinynet_s.zoo_in1k: dtype=.*{re.escape(str(dtype)[:5])}.*bfloat16"):
        zoo_core.create_model("tinynet_s", dtype=dtype)
    with pytest.raises(ValueError, match=r"tinynet_s.zoo_in1k: dtype="):
        zoo_core.create_pretrained("tinynet_s", dtype=dtype)


def test_resolve_and_cast_helpers():
    """resolve_dtype accepts names and jnp types; cast_floating leaves integer leaves alone."""
    assert resolve_dtype("m", "bfloat16") == resolve_dtype("m", jnp.bfloat16) == jnp.dtype(jnp.bfloat16)
    assert resolve_dtype("m", None) is None
    tree = cast_floating({"a": jnp.ones(2), "n": jnp.arange(2)}, jnp.bfloat16)
    assert tree["a"].dtype == jnp.bfloat16 and tree["n"].dtype == jnp.int32
