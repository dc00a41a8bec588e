"""zoo-mixer without torch: the registry rows, the model's shapes and options, the block against
its formula, gradients, feature maps and the weight mapping, on abstract and tiny inputs."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.errors import InputError
from zoo_core.features import features_model

from zoo_mixer.model import MixerConfig, mlp_mixer
from zoo_mixer.variants import VARIANTS
from zoo_mixer.weights import weight_mapping

B16 = "mixer_b16_224.goog_in21k_ft_in1k"


def shallow_model(**kwargs):
    """Two 64-wide Mixer blocks at 32x32 (a 2x2 patch grid): every variant's code path, quick to compile."""
    return mlp_mixer(MixerConfig(patch_size=16, num_blocks=2, embed_dim=64), img_size=32, **kwargs)


def random_params(model, seed=0):
    """Seeded values of the model's shapes (timm's init zeroes the head, which would hide the backbone)."""
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda a: jnp.asarray(0.2 * rng.standard_normal(a.shape, np.float32)), params)
    return params, state


def test_registry_lists_every_variant_with_timm_defaults():
    """6 variants over 2 architectures; an arch alone resolves to timm's first tag."""
    assert zoo_core.list_variants(family="mixer") == sorted(v.name for v in VARIANTS)
    assert len(VARIANTS) == 6
    assert zoo_core.get_variant("mixer_b16_224").name == "mixer_b16_224.goog_in21k_ft_in1k"
    assert zoo_core.get_variant("mixer_l16_224").name == "mixer_l16_224.goog_in21k_ft_in1k"


def test_variant_rows_carry_heads_data_configs_and_licenses():
    """Head sizes, data configs and licenses as timm's pretrained cfgs state them."""
    v = zoo_core.get_variant(B16)
    assert (v.num_classes, v.num_features, v.input_size, v.crop_pct, v.interpolation) == (
        1000, 768, (3, 224, 224), 0.875, "bicubic")
    assert v.mean == v.std == (0.5, 0.5, 0.5) and v.hf_hub_id == "timm/mixer_b16_224.goog_in21k_ft_in1k"
    assert (v.first_conv, v.classifier) == ("stem.proj", "head")
    miil = zoo_core.get_variant("mixer_b16_224.miil_in21k")
    assert (miil.num_classes, miil.mean, miil.std, miil.interpolation) == (
        11221, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "bilinear")
    assert zoo_core.default_num_classes("mixer_l16_224.goog_in21k") == 21843
    assert zoo_core.get_variant("mixer_l16_224.goog_in21k").num_features == 1024
    assert {v.license.id for v in VARIANTS} == {"Apache-2.0"}
    assert zoo_core.list_variants("mixer_*", commercial="no") == []


def test_variant_table_imports_no_jax():
    """`zoo list` stays fast: the plugin entry point and the table import no JAX."""
    code = "import sys, zoo_mixer.plugin; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_param_tree_mirrors_timm_module_names():
    """Mixer-B/16 as built for 224x224: keys and shapes as timm's state dict (196 patch tokens)."""
    params, state = jax.eval_shape(zoo_core.create_model(B16).init, jax.random.key(0))
    assert set(params) == {"stem", "blocks", "norm", "head"} and len(params["blocks"]) == 12
    assert params["stem"]["proj"]["kernel"].shape == (16, 16, 3, 768)
    block = params["blocks"]["11"]
    assert set(block) == {"norm1", "mlp_tokens", "norm2", "mlp_channels"}
    assert block["mlp_tokens"]["fc1"]["kernel"].shape == (196, 384)
    assert block["mlp_tokens"]["fc2"]["kernel"].shape == (384, 196)
    assert block["mlp_channels"]["fc1"]["kernel"].shape == (768, 3072)
    assert params["head"]["kernel"].shape == (768, 1000)
    assert jax.tree_util.tree_leaves(state) == []


def test_mapping_names_every_leaf_by_timm_key():
    """Every leaf gets exactly one timm key, derived from its path with no rule."""
    model = zoo_core.create_model(B16)
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    mapping = weight_mapping(zoo_core.get_variant(B16), model, params, state)
    keys = {key for key, _, _ in mapping}
    assert len(keys) == len(mapping) == len(jax.tree_util.tree_leaves(params)) == 2 + 12 * 12 + 2 + 2
    assert {"stem.proj.weight", "blocks.0.mlp_tokens.fc1.weight", "blocks.11.mlp_channels.fc2.bias",
            "blocks.5.norm2.weight", "norm.bias", "head.weight"} <= keys


def test_block_is_token_then_channel_mixing():
    """A MixerBlock equals its formula: x + MLP over tokens of LN(x)ᵀ, then + MLP over channels."""
    model = shallow_model()
    params, state = random_params(model)
    block, p = model.blocks[0], params["blocks"]["0"]
    x = jax.random.normal(jax.random.key(1), (2, 4, 64))

    def layer_norm(v, norm):
        mean, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
        return (v - mean) / np.sqrt(var + 1e-6) * norm["scale"] + norm["bias"]

    def mlp(v, m):
        h = jax.nn.gelu(v @ m["fc1"]["kernel"] + m["fc1"]["bias"], approximate=False)
        return h @ m["fc2"]["kernel"] + m["fc2"]["bias"]

    expected = x + mlp(layer_norm(x, p["norm1"]).swapaxes(1, 2), p["mlp_tokens"]).swapaxes(1, 2)
    expected = expected + mlp(layer_norm(expected, p["norm2"]), p["mlp_channels"])
    y, _ = block.apply(p, state["blocks"]["0"], x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_forward_shapes_tokens_pre_logits_and_logits():
    """Tokens (N, T, D), pre-logits their mean, logits; apply = head(features)."""
    model = shallow_model()
    params, state = random_params(model)
    x = jax.random.normal(jax.random.key(2), (2, 32, 32, 3))
    tokens, _ = model.forward_features(params, state, x)
    assert tokens.shape == (2, 4, 64)
    np.testing.assert_allclose(model.forward_head(params, tokens, pre_logits=True), tokens.mean(axis=1), rtol=1e-6)
    logits, _ = jax.jit(model.apply)(params, state, x)
    assert logits.shape == (2, 1000)
    np.testing.assert_allclose(logits, model.forward_head(params, tokens), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("in_chans,num_classes", [(1, 0), (4, 7)])
def test_num_classes_and_in_chans(in_chans, num_classes):
    """num_classes=0: no classifier params, apply returns pooled features; N: an N-way head;
    in_chans sizes the patch projection."""
    model = shallow_model(num_classes=num_classes, in_chans=in_chans)
    params, state = random_params(model)
    assert params["stem"]["proj"]["kernel"].shape == (16, 16, in_chans, 64)
    assert (params["head"] == {}) == (num_classes == 0)
    y, _ = model.apply(params, state, jnp.ones((1, 32, 32, in_chans)))
    assert y.shape == (1, num_classes or 64)
    built = zoo_core.create_model(B16, num_classes=num_classes, in_chans=in_chans)
    assert (built.num_classes, built.in_chans, built.num_features) == (num_classes, in_chans, 768)


def test_init_draws_timm_initial_values():
    """timm's Mixer init: zero head, LayerNorm at (1, 0), Xavier-uniform MLP kernels, ~1e-6 MLP biases."""
    model = shallow_model()
    params, _ = jax.jit(model.init)(jax.random.key(0))
    np.testing.assert_array_equal(params["head"]["kernel"], 0.0)
    np.testing.assert_array_equal(params["norm"]["scale"], 1.0)
    np.testing.assert_array_equal(params["stem"]["proj"]["bias"], 0.0)
    fc1 = params["blocks"]["1"]["mlp_channels"]["fc1"]
    assert float(jnp.abs(fc1["kernel"]).max()) <= np.sqrt(6 / (64 + 256))
    assert 0 < float(jnp.abs(fc1["bias"]).max()) < 1e-5


def test_grad_flows_through_apply():
    """jax.grad of a loss on the logits reaches every parameter, finite."""
    model = shallow_model()
    params, state = random_params(model)
    x = jax.random.normal(jax.random.key(3), (2, 32, 32, 3))

    def loss(p):
        return jnp.mean(model.apply(p, state, x)[0] ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0
               for g in jax.tree_util.tree_leaves(grads))


def test_feature_maps_are_block_outputs_on_the_patch_grid():
    """One feature point per block at stride 16; the maps are (N, H/16, W/16, D) and the last,
    normalized and flattened back, is forward_features' tokens."""
    info = zoo_core.create_model(B16).feature_info()
    assert [(f.num_chs, f.reduction, f.module) for f in info[::11]] == [(768, 16, "blocks.0"), (768, 16, "blocks.11")]
    model = shallow_model()
    params, state = random_params(model)
    x = jax.random.normal(jax.random.key(4), (2, 32, 32, 3))
    backbone = features_model(model, "shallow", out_indices=(0, -1))
    maps, _ = backbone.apply(params, state, x)
    assert [m.shape for m in maps] == [(2, 2, 2, 64), (2, 2, 2, 64)]
    tokens, _ = model.forward_features(params, state, x)
    normed, _ = model.norm.apply(params["norm"], {}, maps[1].reshape(2, 4, 64))
    np.testing.assert_allclose(normed, tokens, rtol=1e-5, atol=1e-5)


def test_input_errors_name_the_problem():
    """NCHW input and a size the model is not built for fail with what to do."""
    model = shallow_model()
    params, state = random_params(model)
    with pytest.raises(InputError, match="NCHW"):
        model.apply(params, state, jnp.zeros((1, 3, 32, 32)))
    with pytest.raises(InputError, match="img_size"):
        model.apply(params, state, jnp.zeros((1, 48, 48, 3)))
