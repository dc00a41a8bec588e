"""zoo-convnextv2 without torch: the registry rows and their license, the tree (GRN, no LayerScale),
the 1×1-conv weight layout of the small sizes, the FCMAE checkpoint fix-up, shapes and grad."""

import subprocess
import sys

import attrs
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.interop import conv1x1_to_dense, conv_to_hwio, identity, linear_to_dense
from zoo_core.testing.checkpoints import timm_state_dict
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file

from zoo_convnext.model import ConvNeXt, ConvNeXtConfig
from zoo_convnextv2.variants import ARCHS

pytestmark = pytest.mark.filterwarnings("ignore::zoo_core.builtin_hooks.NonCommercialWeightsWarning")

ARCH_TAG_COUNTS = {"convnextv2_atto": 2, "convnextv2_femto": 2, "convnextv2_pico": 2, "convnextv2_nano": 4,
                   "convnextv2_tiny": 4, "convnextv2_base": 4, "convnextv2_large": 4, "convnextv2_huge": 4}


def x_nhwc(n=2, h=64, w=64, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32))


def test_table_has_every_timm_tag_of_the_eight_architectures():
    """26 rows on timm/ repos; the FCMAE encoders have no classifier, every fine-tune 1000 classes."""
    names = zoo_core.list_variants(family="convnextv2")
    assert len(names) == sum(ARCH_TAG_COUNTS.values()) == 26
    for arch, count in ARCH_TAG_COUNTS.items():
        rows = [zoo_core.get_variant(n) for n in names if n.split(".")[0] == arch]
        assert len(rows) == count and all(v.hf_hub_id == f"timm/{v.name}" for v in rows)
        assert all(v.num_classes == (0 if v.tag == "fcmae" else 1000) for v in rows)
    assert zoo_core.get_variant("convnextv2_huge.fcmae_ft_in22k_in1k_512").input_size == (3, 512, 512)


def test_every_row_is_non_commercial():
    """CC-BY-NC-4.0 on every row, so a commercial='no' filter lists the whole family."""
    names = zoo_core.list_variants(family="convnextv2")
    assert zoo_core.list_variants(family="convnextv2", commercial="no") == names
    assert {zoo_core.get_variant(n).license.id for n in names} == {"CC-BY-NC-4.0"}
    assert any("non-commercial" in note.lower() for note in zoo_core.get_family("convnextv2_atto").license_notes)


@pytest.mark.parametrize("arch,default", [("convnextv2_atto", "fcmae_ft_in1k"), ("convnextv2_tiny", "fcmae_ft_in22k_in1k"),
                                          ("convnextv2_huge", "fcmae_ft_in22k_in1k_384")])
def test_arch_alone_means_timms_default_tag(arch, default):
    assert zoo_core.get_variant(arch).name == f"{arch}.{default}"


def test_variant_table_imports_no_jax():
    """The plugin's entry point, table and checkpoint hook are plain data: `zoo list` stays fast."""
    code = "import sys, zoo_convnextv2.plugin; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tree_has_grn_and_no_layer_scale():
    """Blocks: conv_dw, norm, mlp/{fc1, grn, fc2}; GRN scale/bias (hidden,) start at zero (identity)."""
    model = zoo_core.create_model("convnextv2_atto")
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    block = params["stages"]["2"]["blocks"]["5"]
    assert set(block) == {"conv_dw", "norm", "mlp"} and set(block["mlp"]) == {"fc1", "grn", "fc2"}
    assert block["mlp"]["grn"]["scale"].shape == block["mlp"]["grn"]["bias"].shape == (640,)
    assert model.num_features == 320
    first_block = ConvNeXt.create(ConvNeXtConfig(**ARCHS["convnextv2_atto"])).stages[0].blocks[0]
    grn_params, _ = first_block.mlp.grn.init(jax.random.key(0))
    assert float(jnp.abs(grn_params["scale"]).max()) == 0.0


@pytest.mark.parametrize("arch,fc_transform", [("convnextv2_nano", conv1x1_to_dense), ("convnextv2_tiny", linear_to_dense)])
def test_mlp_weight_layout_follows_timms_conv_mlp(arch, fc_transform):
    """atto … nano: timm's MLP is 1×1 convs, (out, in, 1, 1) → (in, out); tiny … huge: nn.Linear."""
    model = zoo_core.create_model(arch)
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    variant = zoo_core.get_variant(arch)
    mapping = {k: (p, t) for k, p, t in zoo_core.get_family(arch).mapping()(variant, model, params, state)}
    assert mapping["stages.1.blocks.1.mlp.fc1.weight"][1] is fc_transform
    assert mapping["stages.1.blocks.1.mlp.grn.weight"] == (
        ("params", "stages", "1", "blocks", "1", "mlp", "grn", "scale"), identity)
    assert mapping["stages.0.blocks.0.conv_dw.weight"][1] is conv_to_hwio
    assert "stages.0.blocks.0.gamma" not in mapping


def timm_layout_checkpoint(name, params, state):
    return timm_state_dict(name, zoo_core.create_model(name), params, state)


@pytest.fixture(scope="module")
def atto_fcmae_trees():
    """convnextv2_atto.fcmae trees with every leaf distinct from its init (head norm included)."""
    model = zoo_core.create_model("convnextv2_atto.fcmae")
    abstract = jax.eval_shape(model.init, jax.random.key(0))
    rng = np.random.default_rng(0)
    return jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape, dtype=np.float32)), abstract)


def test_fcmae_checkpoint_without_head_norm_loads_with_identity_norm(atto_fcmae_trees, tmp_path):
    """The FCMAE files timm loads non-strictly (no ``head.norm``): the plugin's checkpoint hook
    supplies weight 1 / bias 0, the rest loads as written."""
    name = "convnextv2_atto.fcmae"
    params, state = atto_fcmae_trees
    sd = timm_layout_checkpoint(name, params, state)
    assert sd.pop("head.norm.weight").shape == sd.pop("head.norm.bias").shape == (320,)
    write_cached_file(tmp_path, f"timm/{name}", "model.safetensors", safetensors_bytes(sd))
    _, load = zoo_core.create_pretrained(name, cache_dir=tmp_path, local_files_only=True)
    loaded, _ = load()
    np.testing.assert_array_equal(loaded["head"]["norm"]["scale"], np.ones(320, np.float32))
    np.testing.assert_array_equal(loaded["head"]["norm"]["bias"], np.zeros(320, np.float32))
    np.testing.assert_array_equal(loaded["stages"]["3"]["blocks"]["1"]["mlp"]["fc2"]["kernel"],
                                  params["stages"]["3"]["blocks"]["1"]["mlp"]["fc2"]["kernel"])


def test_fcmae_checkpoint_with_head_norm_loads_it(atto_fcmae_trees, tmp_path):
    """A file that has ``head.norm`` is used as it is: every leaf loads back exactly."""
    name = "convnextv2_atto.fcmae"
    params, state = atto_fcmae_trees
    write_cached_file(tmp_path, f"timm/{name}", "model.safetensors",
                      safetensors_bytes(timm_layout_checkpoint(name, params, state)))
    _, load = zoo_core.create_pretrained(name, cache_dir=tmp_path, local_files_only=True)
    loaded = load()
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), loaded, (params, state)))


def test_encoder_shapes(atto_fcmae_trees):
    """(N, H, W, 3) → (N, 320) pooled features for the encoder, (N, H/32, W/32, 320) unpooled."""
    model = zoo_core.create_model("convnextv2_atto.fcmae")
    params, state = atto_fcmae_trees
    x = x_nhwc(h=64, w=96)
    features, _ = jax.jit(model.forward_features)(params, state, x)
    assert features.shape == (2, 2, 3, 320)
    assert model.forward_head(params, features).shape == (2, 320)


def test_grad_through_grn():
    """jax.grad reaches every parameter of a small V2 network (GRN, no LayerScale), finite."""
    config = attrs.evolve(ConvNeXtConfig(**ARCHS["convnextv2_atto"]), depths=(1, 1, 1, 1), dims=(8, 16, 24, 32),
                          kernel_sizes=3)
    model = ConvNeXt.create(config, num_classes=0)
    abstract = jax.eval_shape(model.init, jax.random.key(0))
    rng = np.random.default_rng(0)
    params, state = jax.tree.map(lambda a: jnp.asarray(0.1 * rng.standard_normal(a.shape), jnp.float32), abstract)
    x = x_nhwc(h=64, w=32)
    grads = jax.jit(jax.grad(lambda p: jnp.sum(model.apply(p, state, x)[0] ** 2)))(params)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert all(bool(jnp.isfinite(g).all()) and float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))


def test_features_only_returns_the_four_stage_maps(atto_fcmae_trees):
    """features_only on the encoder's trees: four NHWC maps at strides 4..32 with timm's feature_info,
    the last equal to forward_features; an index past the four fails naming the variant."""
    model = zoo_core.create_model("convnextv2_atto.fcmae", features_only=True)
    assert [(i.num_chs, i.reduction, i.module) for i in model.feature_info()] == [
        (40, 4, "stages.0"), (80, 8, "stages.1"), (160, 16, "stages.2"), (320, 32, "stages.3")]
    params, state = atto_fcmae_trees
    x = x_nhwc(n=1, h=64, w=96)
    maps, _ = jax.jit(model.apply)(params, state, x)
    assert [m.shape for m in maps] == [(1, 16, 24, 40), (1, 8, 12, 80), (1, 4, 6, 160), (1, 2, 3, 320)]
    features, _ = jax.jit(model.model.forward_features)(params, state, x)
    np.testing.assert_allclose(maps[-1], features, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"convnextv2_atto.fcmae: out_indices \(0, 4\) has 4, outside the 4"):
        zoo_core.create_model("convnextv2_atto.fcmae", features_only=True, out_indices=(0, 4))
