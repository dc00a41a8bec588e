"""zoo-vit without torch: the registry rows, the model's shapes and options, gradients and the
weight mapping (including the position-embedding resampling) on abstract and tiny inputs."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.errors import InputError
from zoo_core.interop import apply_state_dict

from zoo_vit.model import ViTConfig, vision_transformer
from zoo_vit.variants import ARCHS, VARIANTS
from zoo_vit.weights import weight_mapping

TINY = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"


def tiny_model(**kwargs):
    """ViT-Ti/16 at 32x32 (a 2x2 patch grid): the real architecture at a few MFLOPs."""
    return zoo_core.create_model(TINY, img_size=32, **kwargs)


def shallow_model(in_chans=3, num_classes=1000, **arch):
    """Two ViT-Ti blocks at 32x32: the same code path as every variant, quick to compile."""
    config = ViTConfig(patch_size=16, embed_dim=192, depth=2, num_heads=3, **arch)
    return vision_transformer(config, img_size=32, in_chans=in_chans, num_classes=num_classes)


def random_params(model, seed=0):
    """Seeded values of the model's shapes (cheaper than compiling ``init`` for twelve blocks)."""
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda a: jnp.asarray(0.2 * rng.standard_normal(a.shape, np.float32)), params)
    return params, state


@pytest.fixture(scope="module")
def tiny():
    model = tiny_model()
    return model, *random_params(model)


def test_registry_lists_every_variant_with_timm_defaults():
    """The 145 architectures of timm's vision_transformer.py with pretrained tags; every row's
    architecture among them; an arch alone resolves to timm's first tag."""
    assert len(ARCHS) == 145 and {v.arch for v in VARIANTS} <= set(ARCHS)
    assert zoo_core.get_variant("vit_base_patch16_224").name == "vit_base_patch16_224.augreg2_in21k_ft_in1k"
    assert zoo_core.get_variant("vit_large_patch16_224").name == "vit_large_patch16_224.augreg_in21k_ft_in1k"
    assert zoo_core.get_variant("vit_small_patch14_dinov2").name == "vit_small_patch14_dinov2.lvd142m"


def test_variant_rows_carry_heads_sizes_and_licenses():
    """Head sizes, input sizes, data configs and licenses as timm's pretrained cfgs state them."""
    v = zoo_core.get_variant("vit_base_patch16_384.augreg_in21k_ft_in1k")
    assert (v.num_classes, v.num_features, v.input_size, v.crop_pct) == (1000, 768, (3, 384, 384), 1.0)
    assert v.mean == v.std == (0.5, 0.5, 0.5) and v.hf_hub_id == "timm/vit_base_patch16_384.augreg_in21k_ft_in1k"
    assert (v.first_conv, v.classifier) == ("patch_embed.proj", "head")
    assert zoo_core.default_num_classes("vit_base_patch16_224.augreg_in21k") == 21843
    assert zoo_core.default_num_classes("vit_base_patch16_224.orig_in21k") == 0
    assert zoo_core.default_num_classes("vit_small_patch16_224.dino") == 0
    assert zoo_core.get_variant("vit_large_patch16_224.mae").license.id == "CC-BY-NC-4.0"
    assert {"vit_base_patch16_224.bamboo", "vit_base_patch16_224.mae", "vit_huge_patch14_224.mae",
            "vit_large_patch16_224.mae"} <= set(zoo_core.list_variants("vit_*", commercial="no"))
    dinov2 = zoo_core.get_variant("vit_large_patch14_dinov2.lvd142m")
    assert dinov2.input_size == (3, 518, 518) and dinov2.arch_kwargs["init_values"] == 1e-5


def test_variant_table_imports_no_jax():
    """`zoo list` stays fast: the plugin entry point and the table import no JAX."""
    code = "import sys, zoo_vit.plugin; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_param_tree_mirrors_timm_module_names(tiny):
    """Keys as timm's state dict names them; the position embedding has one row per token."""
    model, params, state = tiny
    assert set(params) == {"patch_embed", "cls_token", "pos_embed", "norm_pre", "blocks", "norm", "fc_norm", "head"}
    assert params["norm_pre"] == {}  # timm's Identity without pre_norm
    assert params["patch_embed"]["proj"]["kernel"].shape == (16, 16, 3, 192)
    assert params["pos_embed"].shape == (1, 1 + 2 * 2, 192) and params["cls_token"].shape == (1, 1, 192)
    assert len(params["blocks"]) == 12
    assert set(params["blocks"]["0"]) == {"norm1", "attn", "ls1", "norm2", "mlp", "ls2"}
    assert params["blocks"]["0"]["attn"]["qkv"]["kernel"].shape == (192, 576)
    assert params["head"]["kernel"].shape == (192, 1000) and params["fc_norm"] == {}
    assert jax.tree_util.tree_leaves(state) == []


def test_forward_shapes_tokens_pre_logits_and_logits(tiny):
    """Tokens with the class token first, pooled pre-logits, logits; apply = head(features)."""
    model, params, state = tiny
    x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
    tokens, _ = model.forward_features(params, state, x)
    assert tokens.shape == (2, 5, 192)
    pre = model.forward_head(params, tokens, pre_logits=True)
    np.testing.assert_array_equal(pre, tokens[:, 0])
    logits, _ = jax.jit(model.apply)(params, state, x)
    assert logits.shape == (2, 1000)
    np.testing.assert_allclose(logits, model.forward_head(params, tokens), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", [{}, {"init_values": 0.5, "reg_tokens": 2}, {"block_fn": "res_post"},
                                  {"block_fn": "parallel_scaling"}, {"global_pool": "avg"}],
                         ids=["token", "layer-scale-registers", "res-post", "parallel", "avg"])
def test_apply_runs_the_last_block_for_the_class_token_alone(monkeypatch, arch):
    """With the class token pooled, ``apply`` computes the last block past its qkv layer for that token only:
    the logits of ``forward_head(forward_features)``, in fewer FLOPs (XLA's count, without the FFI kernels it
    does not count into). Blocks without ``apply_first`` and the other pools compute every token."""
    monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    model = shallow_model(**arch)
    params, state = random_params(model)
    x = jax.random.normal(jax.random.key(5), (2, 32, 32, 3))
    full = jax.jit(lambda p, s, x: model.forward_head(p, model.forward_features(p, s, x)[0]))
    short = jax.jit(lambda p, s, x: model.apply(p, s, x)[0])
    np.testing.assert_allclose(short(params, state, x), full(params, state, x), rtol=1e-5, atol=1e-5)

    def flops(f):
        cost = f.lower(params, state, x).compile().cost_analysis()
        return (cost[0] if isinstance(cost, list) else cost)["flops"]

    # Two blocks over 5 tokens (7 with the registers); the last one's attention queries, proj and MLP on one.
    fewer = model.global_pool == "token" and model.blocks[-1].__class__.__name__ == "VitBlock"
    assert (flops(short) < 0.8 * flops(full)) if fewer else (flops(short) >= 0.99 * flops(full))


def test_init_draws_timm_initial_values():
    """cls_token ~ N(0, 1e-6), pos_embed ~ N(0, 0.02) (timm truncates at ±2, i.e. 100 std: not at all),
    LayerNorm at (1, 0), zero biases."""
    params, _ = jax.jit(shallow_model().init)(jax.random.key(0))
    assert float(jnp.abs(params["cls_token"]).max()) < 1e-5
    assert 0.015 < float(params["pos_embed"].std()) < 0.025
    np.testing.assert_array_equal(params["norm"]["scale"], 1.0)
    np.testing.assert_array_equal(params["blocks"]["1"]["attn"]["qkv"]["bias"], 0.0)
    np.testing.assert_array_equal(params["head"]["bias"], 0.0)


def test_num_classes_zero_and_in_chans():
    """num_classes=0: no classifier params, apply returns pooled features; in_chans sizes the stem."""
    model = tiny_model(num_classes=0, in_chans=1)
    assert model.num_classes == 0 and model.in_chans == 1
    model = shallow_model(num_classes=0, in_chans=1)
    params, state = random_params(model)
    assert params["head"] == {} and params["patch_embed"]["proj"]["kernel"].shape == (16, 16, 1, 192)
    y, _ = model.apply(params, state, jnp.ones((1, 32, 32, 1)))
    assert y.shape == (1, 192)


def test_average_pooling_moves_the_final_norm_after_the_pool():
    """global_pool='avg' uses fc_norm (after pooling) instead of norm, as timm's fc_norm=None rule;
    the pooled vector is the normalized mean of the patch tokens (class token left out)."""
    model = shallow_model(global_pool="avg", num_classes=0)
    params, state = random_params(model)
    assert params["norm"] == {} and set(params["fc_norm"]) == {"scale", "bias"}
    x = jax.random.normal(jax.random.key(2), (1, 32, 32, 3))
    tokens, _ = model.forward_features(params, state, x)
    pooled = model.forward_head(params, tokens)
    mean = tokens[:, 1:].mean(axis=1)
    expected = (mean - mean.mean(-1, keepdims=True)) / jnp.sqrt(mean.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(pooled, expected * params["fc_norm"]["scale"] + params["fc_norm"]["bias"],
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="global_pool"):
        tiny_model(global_pool="prr")


def test_layer_scale_variants_have_gammas():
    """DINOv2 rows build blocks with LayerScale ls1/ls2 gammas at init_values."""
    model = zoo_core.create_model("vit_small_patch14_dinov2.lvd142m", img_size=28)
    params = jax.eval_shape(model.init, jax.random.key(0))[0]
    assert params["blocks"]["0"]["ls1"]["gamma"].shape == (384,)
    assert params["pos_embed"].shape == (1, 1 + 2 * 2, 384)


def test_grad_flows_through_apply():
    """jax.grad of a loss on the logits reaches every parameter, tokens and embeddings included."""
    model = shallow_model()
    params, state = random_params(model)
    x = jax.random.normal(jax.random.key(3), (2, 32, 32, 3))

    def loss(p):
        return jnp.mean(model.apply(p, state, x)[0] ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)
    assert float(jnp.abs(grads["pos_embed"]).sum()) > 0 and float(jnp.abs(grads["cls_token"]).sum()) > 0
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))


def test_input_errors_name_the_problem(tiny):
    """NCHW input and a size the model is not built for fail with what to do."""
    model, params, state = tiny
    with pytest.raises(InputError, match="NCHW"):
        model.apply(params, state, jnp.zeros((1, 3, 32, 32)))
    with pytest.raises(InputError, match="img_size"):
        model.apply(params, state, jnp.zeros((1, 48, 48, 3)))


def test_mapping_covers_every_leaf_with_timm_keys():
    """Every leaf gets exactly one timm key; the special ones are named as timm names them."""
    model = tiny_model()
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    mapping = weight_mapping(zoo_core.get_variant(TINY), model, params, state)
    keys = {key for key, _, _ in mapping}
    assert len(keys) == len(mapping) == len(jax.tree_util.tree_leaves(params))
    assert {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.11.attn.qkv.weight", "norm.weight",
            "head.weight", "head.bias", "blocks.3.mlp.fc2.bias"} <= keys
    assert "blocks.0.ls1.gamma" not in keys  # no LayerScale in AugReg models


def test_pos_embed_is_resampled_to_the_model_grid_on_load():
    """A 224 checkpoint's (1, 197, D) pos_embed becomes (1, 1 + 2·2, D) for a 32x32 model: the class
    row kept, the patch grid resampled; a checkpoint already at the model's grid passes unchanged."""
    variant = zoo_core.get_variant(TINY)
    model = tiny_model()
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    (transform,) = [t for key, _, t in weight_mapping(variant, model, params, state) if key == "pos_embed"]
    posemb = np.random.default_rng(0).standard_normal((1, 197, 192)).astype(np.float32)
    resampled = transform(posemb)
    assert resampled.shape == (1, 5, 192)
    np.testing.assert_array_equal(resampled[:, 0], posemb[:, 0])
    # a constant grid stays constant under a normalized interpolation
    constant = np.concatenate([posemb[:, :1], np.full((1, 196, 192), 0.25, np.float32)], axis=1)
    np.testing.assert_allclose(transform(constant)[:, 1:], 0.25, rtol=1e-5)
    already = np.zeros((1, 5, 192), np.float32)
    assert transform(already) is already


def test_load_writes_a_resampled_checkpoint_strictly():
    """apply_state_dict accepts a full-size timm-layout state dict for a 32x32 model, every key used."""
    variant = zoo_core.get_variant(TINY)
    model = tiny_model()
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    mapping = weight_mapping(variant, model, params, state)
    rng = np.random.default_rng(0)
    full = zoo_core.create_model(TINY)
    full_params = jax.eval_shape(full.init, jax.random.key(0))[0]
    sd = {}
    for key, path, _ in weight_mapping(variant, full, full_params, {}):
        leaf = full_params
        for k in path[1:]:
            leaf = leaf[k]
        shape = leaf.shape
        if len(shape) == 4:
            shape = (shape[3], shape[2], shape[0], shape[1])
        elif len(shape) == 2:
            shape = shape[::-1]
        sd[key] = rng.standard_normal(shape).astype(np.float32)
    tree = apply_state_dict({"params": params, "state": state}, sd, mapping)
    assert tree["params"]["pos_embed"].shape == (1, 5, 192)
    np.testing.assert_array_equal(tree["params"]["head"]["kernel"], sd["head.weight"].T)


def test_features_only_returns_every_block_as_a_patch_map():
    """features_only: one (N, gh, gw, D) map per block (patch tokens in row-major order, class token
    dropped, before the final norm) with timm's feature_info; the final norm of the last map is
    forward_features' patch tokens; asking for more maps than blocks fails naming the variant;
    without out_indices, timm's default for ViT: the last 3 blocks."""
    default = zoo_core.create_model(TINY, img_size=(32, 48), features_only=True)
    assert [i.module for i in default.feature_info()] == ["blocks.9", "blocks.10", "blocks.11"]
    model = zoo_core.create_model(TINY, img_size=(32, 48), features_only=True, out_indices=12)
    assert [(i.num_chs, i.reduction, i.module) for i in model.feature_info()] == [
        (192, 16, f"blocks.{i}") for i in range(12)]
    full = zoo_core.create_model(TINY, img_size=(32, 48), num_classes=0)
    params, state = random_params(full)
    x = jax.random.normal(jax.random.key(1), (2, 32, 48, 3))
    maps, _ = jax.jit(model.apply)(params, state, x)
    assert [m.shape for m in maps] == [(2, 2, 3, 192)] * 12
    tokens, _ = jax.jit(full.forward_features)(params, state, x)
    normed, _ = full.norm.apply(params["norm"], {}, maps[-1])
    np.testing.assert_allclose(normed, tokens[:, 1:].reshape(2, 2, 3, 192), rtol=1e-5, atol=1e-5)
    last_two = zoo_core.create_model(TINY, img_size=(32, 48), features_only=True, out_indices=2)
    assert [i.module for i in last_two.feature_info()] == ["blocks.10", "blocks.11"]
    with pytest.raises(ValueError, match=f"{TINY}: out_indices=13 asks for the last 13 of 12 feature maps"):
        zoo_core.create_model(TINY, features_only=True, out_indices=13)


def test_every_architecture_builds_with_timms_num_features():
    """Each of the 145 architectures builds (no parameters drawn) with num_features = embed_dim."""
    from zoo_vit.archs import num_features
    from zoo_vit.model import build_model

    for arch, kwargs in ARCHS.items():
        variant = next(v for v in VARIANTS if v.arch == arch)
        model = build_model(variant, in_chans=3, num_classes=0)
        assert model.num_features == num_features(kwargs) == variant.num_features, arch
        assert len(model.blocks) == kwargs["depth"], arch


def test_architecture_overrides_are_checked():
    """The builder takes timm's architecture arguments by name; a wrong name, value or a combination
    timm refuses raises ArgumentError naming the variant."""
    model = zoo_core.create_model(TINY, depth=2, embed_dim=64, num_heads=4, global_pool="map", class_token=False)
    assert len(model.blocks) == 2 and model.num_features == 64 and model.attn_pool is not None
    for kwargs, match in [(dict(depht=2), "unknown keyword argument depht"),
                          (dict(global_pool="token", class_token=False), "needs the class token"),
                          (dict(embed_dim=100), "does not split into num_heads=3"),
                          (dict(norm_layer="batchnorm"), "norm_layer='batchnorm' is not allowed"),
                          (dict(reg_tokens=-1), "reg_tokens=-1")]:
        with pytest.raises(ValueError, match=match) as info:
            zoo_core.create_model(TINY, **kwargs)
        assert TINY in str(info.value)


def test_forward_intermediates_forms():
    """The family method and the public wrapper: NHWC / NLC maps, prefix tokens, final features,
    computing no block past the last index without final; dynamic_img_size at another size."""
    from zoo_core.features import forward_intermediates

    model = shallow_model(reg_tokens=2, no_embed_class=True, num_classes=0)
    params, state = random_params(model)
    x = jax.random.normal(jax.random.key(4), (1, 32, 32, 3))
    (final, maps), _ = forward_intermediates(model, params, state, x)
    tokens, _ = model.forward_features(params, state, x)
    np.testing.assert_allclose(final, tokens, rtol=1e-6)
    assert [m.shape for m in maps] == [(1, 2, 2, 192)] * 2
    nlc, _ = forward_intermediates(model, params, state, x, [0], output_fmt="NLC", return_prefix_tokens=True,
                                   intermediates_only=True)
    assert nlc[0][0].shape == (1, 4, 192) and nlc[0][1].shape == (1, 3, 192)
    np.testing.assert_allclose(nlc[0][0].reshape(1, 2, 2, 192), maps[0], rtol=1e-6)
    with pytest.raises(ValueError, match="timm's NCHW is zoo's NHWC"):
        forward_intermediates(model, params, state, x, output_fmt="NCHW")
    dynamic = shallow_model(dynamic_img_size=True, class_token=False, global_pool="avg")
    params, state = random_params(dynamic)
    y, _ = dynamic.apply(params, state, jax.random.normal(jax.random.key(5), (1, 48, 64, 3)))
    maps, _ = forward_intermediates(dynamic, params, state, jnp.ones((1, 48, 64, 3)), 1, intermediates_only=True)
    assert y.shape == (1, 1000) and maps[0].shape == (1, 3, 4, 192)
    with pytest.raises(InputError, match="not divisible by the patch size"):
        dynamic.apply(params, state, jnp.ones((1, 40, 64, 3)))
