"""abstract_init: the trees ``jax.eval_shape(model.init, key)`` gives, traced without the
random-number graphs."""

import jax
import pytest

import zoo_core
from zoo_core.nn import abstract_init, initializers
from zoo_core.nn.module import split_keys

ARCHS = ["resnet50", "resnetv2_50x1_bit", "convnext_tiny", "convnextv2_atto", "vit_small_patch16_224"]


def _installed(arch):
    try:
        return zoo_core.create_model(arch)
    except Exception as e:  # noqa: BLE001 - a family not installed in this environment
        pytest.skip(f"{arch}: {e}")


@pytest.mark.parametrize("arch", ARCHS)
def test_abstract_init_gives_the_trees_of_eval_shape(arch):
    model = _installed(arch)
    got = abstract_init(model)
    want = jax.eval_shape(model.init, jax.random.key(0))
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)


@pytest.mark.parametrize("arch", ARCHS)
def test_abstract_init_traces_no_random_numbers(arch):
    model = _installed(arch)
    token = initializers.SHAPES_ONLY.set(True)
    try:
        jaxpr = jax.make_jaxpr(lambda: model.init(jax.random.key(0)))()
    finally:
        initializers.SHAPES_ONLY.reset(token)
    assert not {e.primitive.name for e in jaxpr.jaxpr.eqns} & {"random_bits", "random_split", "threefry2x32", "pjit"}


def test_outside_abstract_init_keys_are_split_and_values_random():
    keys = split_keys(jax.random.key(0), 2)
    assert not (jax.random.key_data(keys[0]) == jax.random.key_data(keys[1])).all()
    assert float(abs(initializers.normal_init(1.0)(jax.random.key(0), (8,))).sum()) > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_zoo_families_give_their_trees_without_tracing(arch, monkeypatch):
    model = _installed(arch)
    want = jax.eval_shape(model.init, jax.random.key(0))

    def refuse(*args, **kwargs):
        raise AssertionError("abstract_init traced the model")

    monkeypatch.setattr(jax, "eval_shape", refuse)
    got = abstract_init(model)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    assert all(a == b for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)))


def test_a_model_that_draws_its_own_numbers_is_traced_instead():
    import attrs
    import jax.numpy as jnp

    from zoo_core.nn import Dense, Module

    @attrs.frozen
    class OwnDraw(Module):
        fc: Dense = Dense(3, 4)

        def init(self, key):
            params, state = super().init(key)
            params["token"] = jax.random.normal(key, (1, 4)) * 0.02  # not through zoo's initializers
            params["scaled"] = params["fc"]["kernel"] * 2.0  # arithmetic on a parameter
            return params, state

    got = abstract_init(OwnDraw())
    assert got[0]["token"] == jax.ShapeDtypeStruct((1, 4), jnp.float32)
    assert got[0]["scaled"] == got[0]["fc"]["kernel"] == jax.ShapeDtypeStruct((3, 4), jnp.float32)


def test_filled_gives_placeholders_with_the_dtype_jax_would_use():
    import jax.numpy as jnp
    import numpy as np

    token = initializers.SHAPES_ONLY.set(initializers.STRUCT)
    try:
        assert initializers.filled((2, np.int64(3)), 1.0) == jax.ShapeDtypeStruct((2, 3), jnp.float32)
        assert initializers.filled((4,), 0.0, jnp.float64).dtype == jax.dtypes.canonicalize_dtype(jnp.float64)
    finally:
        initializers.SHAPES_ONLY.reset(token)
    np.testing.assert_array_equal(initializers.filled((2,), 0.5), [0.5, 0.5])
