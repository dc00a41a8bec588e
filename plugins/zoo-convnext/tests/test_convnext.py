"""zoo-convnext without torch: the registry rows and licenses, shapes, head and stem options, the
tree layout, grad, and loading a checkpoint written in timm's layout from an offline HF cache."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.interop import conv_to_hwio, identity, linear_to_dense
from zoo_core.testing.checkpoints import timm_state_dict
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file
from zoo_core.testing.training import check_cross_entropy_grads

from zoo_convnext.model import ConvNeXt, ConvNeXtConfig

ARCH_TAG_COUNTS = {"convnext_tiny": 5, "convnext_small": 5, "convnext_base": 5, "convnext_large": 5,
                   "convnext_xlarge": 3}
#: A small ConvNeXt (3×3 depthwise kernels: the 7×7 path is tested in tests/nn/test_depthwise.py):
#: every other code path of the real ones, compiled in seconds.
MINI = ConvNeXtConfig((1, 1, 1, 1), (8, 16, 24, 32), kernel_size=3)


def x_nhwc(n=2, h=64, w=64, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32))


def zeros_like_init(model):
    """Zero-filled trees of the model's shapes: enough to check output shapes without a random init."""
    abstract = jax.eval_shape(model.init, jax.random.key(0))
    return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), abstract)


def test_table_has_the_fb_and_dinov3_tags_of_the_five_architectures():
    """23 rows: 5 tags each for tiny/small/base/large, 3 for xlarge (no in1k, no DINOv3), all on timm/ repos."""
    names = zoo_core.list_variants(family="convnext")
    assert len(names) == sum(ARCH_TAG_COUNTS.values()) == 23
    for arch, count in ARCH_TAG_COUNTS.items():
        rows = [zoo_core.get_variant(n) for n in names if n.split(".")[0] == arch]
        assert len(rows) == count
        assert all(v.hf_hub_id == f"timm/{v.name}" and (v.first_conv, v.classifier) == ("stem.0", "head.fc")
                   for v in rows)


def test_arch_alone_means_the_first_fb_tag():
    """timm's own in12k tags (its defaults for tiny/small) are not here: the first fb tag in timm's order is."""
    assert zoo_core.get_variant("convnext_tiny").name == "convnext_tiny.fb_in22k_ft_in1k"
    assert zoo_core.get_variant("convnext_xlarge").name == "convnext_xlarge.fb_in22k_ft_in1k"


def test_dinov3_rows_carry_meta_license_and_no_head():
    """The four DINOv3 encoders: DINOv3 License, commercial use under conditions, 0 classes; the
    note says so on the row itself and in the family's license notes."""
    dinov3 = zoo_core.list_variants(family="convnext", commercial="conditions")
    assert dinov3 == sorted(f"convnext_{a}.dinov3_lvd1689m" for a in ("tiny", "small", "base", "large"))
    for name in dinov3:
        v = zoo_core.get_variant(name)
        assert v.license.id == "DINOv3 License" and "dinov3-license" in v.license.url
        assert "DINOv3 License" in v.notes and v.num_classes == 0 and v.crop_pct == 1.0
    assert any("DINOv3" in note for note in zoo_core.get_family("convnext_tiny").license_notes)
    fb = zoo_core.get_variant("convnext_base.fb_in22k")
    assert (fb.license.id, fb.license.commercial, fb.num_classes) == ("Apache-2.0", "yes", 21841)


def test_data_configs_are_per_tag():
    """384 fine-tunes: 384², pool 12×12, crop 1.0 squash; 224 fine-tunes test at 288²."""
    v384 = zoo_core.get_variant("convnext_large.fb_in22k_ft_in1k_384")
    assert (v384.input_size, v384.pool_size, v384.crop_pct, v384.crop_mode) == ((3, 384, 384), (12, 12), 1.0, "squash")
    v224 = zoo_core.get_variant("convnext_small.fb_in1k")
    assert (v224.test_input_size, v224.test_crop_pct, v224.crop_pct) == ((3, 288, 288), 1.0, 0.875)


def test_variant_table_imports_no_jax():
    """The plugin's entry point and table are plain data: `zoo list` stays fast."""
    code = "import sys, zoo_convnext.plugin; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("arch,dims,depths", [
    ("convnext_tiny", (96, 192, 384, 768), (3, 3, 9, 3)),
    ("convnext_xlarge", (256, 512, 1024, 2048), (3, 3, 27, 3)),
])
def test_tree_mirrors_timm_module_names(arch, dims, depths):
    """stem/0|1, stages/i/downsample/0|1 (none in stage 0), stages/i/blocks/j/{conv_dw, norm, mlp, gamma}, head/norm|fc."""
    params, state = jax.eval_shape(zoo_core.create_model(arch).init, jax.random.key(0))
    assert set(params) == {"stem", "stages", "head"} and set(params["head"]) == {"norm", "fc"}
    assert params["stem"]["0"]["kernel"].shape == (4, 4, 3, dims[0])
    assert params["stages"]["0"]["downsample"] == {}
    assert params["stages"]["2"]["downsample"]["1"]["kernel"].shape == (2, 2, dims[1], dims[2])
    assert [len(params["stages"][str(i)]["blocks"]) for i in range(4)] == list(depths)
    block = params["stages"]["3"]["blocks"]["2"]
    assert set(block) == {"conv_dw", "norm", "mlp", "gamma"}
    assert block["conv_dw"]["kernel"].shape == (7, 7, 1, dims[3])
    assert block["mlp"]["fc1"]["kernel"].shape == (dims[3], 4 * dims[3])
    assert block["gamma"].shape == (dims[3],)
    assert jax.tree.leaves(state) == []


def test_shapes_any_input_size():
    """Fully convolutional: (N, H, W, 3) → features (N, H/32, W/32, 768) for non-square sizes too."""
    model = zoo_core.create_model("convnext_tiny")
    params, state = zeros_like_init(model)
    features, _ = jax.jit(model.forward_features)(params, state, x_nhwc(h=96, w=64))
    assert features.shape == (2, 3, 2, 768)
    assert model.forward_head(params, features, pre_logits=True).shape == (2, 768)
    assert model.forward_head(params, features).shape == (2, 1000)


def test_init_follows_timm():
    """trunc-normal(0.02) convs and linears, zero biases, LayerNorms 1/0, LayerScale gamma 1e-6."""
    model = ConvNeXt.create(MINI)
    params, _ = jax.jit(model.init)(jax.random.key(0))
    block = params["stages"]["3"]["blocks"]["0"]
    assert float(jnp.abs(block["gamma"] - 1e-6).max()) == 0.0
    assert float(block["norm"]["scale"].min()) == 1.0 and float(jnp.abs(block["mlp"]["fc2"]["bias"]).max()) == 0.0
    assert float(jnp.std(block["mlp"]["fc1"]["kernel"])) == pytest.approx(0.02, rel=0.15)
    assert float(jnp.std(block["conv_dw"]["kernel"])) == pytest.approx(0.02, rel=0.15)


def test_num_classes_zero_and_n():
    """0: no fc params, apply returns the normalized pooled features; 10: a (768, 10) head."""
    model = zoo_core.create_model("convnext_tiny", num_classes=0)
    params, state = zeros_like_init(model)
    assert set(params["head"]) == {"norm"}
    assert jax.jit(model.apply)(params, state, x_nhwc(h=32, w=32))[0].shape == (2, 768)
    params10, _ = jax.eval_shape(zoo_core.create_model("convnext_tiny", num_classes=10).init, jax.random.key(0))
    assert params10["head"]["fc"]["kernel"].shape == (768, 10)
    assert zoo_core.create_model("convnext_tiny.dinov3_lvd1689m").num_classes == 0


@pytest.mark.parametrize("in_chans", [1, 4])
def test_in_chans(in_chans):
    """The patchify stem takes ``in_chans`` channels; other channel counts are refused."""
    model = zoo_core.create_model("convnext_tiny", in_chans=in_chans)
    params, state = zeros_like_init(model)
    assert params["stem"]["0"]["kernel"].shape == (4, 4, in_chans, 96)
    assert jax.jit(model.apply)(params, state, x_nhwc(c=in_chans, h=32, w=32))[0].shape == (2, 1000)
    with pytest.raises(zoo_core.InputError):
        model.apply(params, state, x_nhwc(c=3 if in_chans != 3 else 1))


def test_grad_through_apply():
    """jax.grad of a cross-entropy reaches every parameter, finite; train mode is the eval function."""
    model = ConvNeXt.create(MINI, num_classes=5)
    abstract = jax.eval_shape(model.init, jax.random.key(0))
    rng = np.random.default_rng(0)  # not the init: gamma 1e-6 and zero biases would hide dead paths
    params, state = jax.tree.map(lambda a: jnp.asarray(0.1 * rng.standard_normal(a.shape), jnp.float32), abstract)
    x = x_nhwc(h=64, w=32)
    grads = check_cross_entropy_grads(model, params, state, x, jnp.array([1, 3]))
    assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))
    apply = jax.jit(model.apply, static_argnames="train")
    np.testing.assert_array_equal(apply(params, state, x, train=True)[0], apply(params, state, x)[0])


def test_mapping_uses_timm_key_names():
    """Mechanical mapping: ``stages.1.blocks.2.gamma`` → params/stages/1/blocks/2/gamma, conv OIHW → HWIO,
    Linear (out, in) → (in, out); timm's convnext_tiny has 182 state-dict keys."""
    model = zoo_core.create_model("convnext_tiny")
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    variant = zoo_core.get_variant("convnext_tiny")
    mapping = {key: (path, t) for key, path, t in zoo_core.get_family("convnext_tiny").mapping()(variant, model, params, state)}
    assert len(mapping) == 182
    assert mapping["stages.1.blocks.2.gamma"] == (("params", "stages", "1", "blocks", "2", "gamma"), identity)
    assert mapping["stages.0.blocks.0.conv_dw.weight"][1] is conv_to_hwio
    assert mapping["stages.3.downsample.0.weight"][0] == ("params", "stages", "3", "downsample", "0", "scale")
    assert mapping["stages.2.blocks.8.mlp.fc2.weight"][1] is linear_to_dense
    assert mapping["head.fc.weight"] == (("params", "head", "fc", "kernel"), linear_to_dense)


def test_create_pretrained_loads_a_timm_layout_checkpoint_offline(tmp_path):
    """A checkpoint in timm's layout (from our trees through the mapping), in an HF cache, loads back
    onto the same trees offline; no DINOv3 head is expected or loaded."""
    name = "convnext_tiny.dinov3_lvd1689m"
    model = zoo_core.create_model(name)
    params, state = jax.jit(model.init)(jax.random.key(1))
    sd = timm_state_dict(name, model, params, state)
    assert "head.fc.weight" not in sd and sd["stages.0.blocks.0.conv_dw.weight"].shape == (96, 1, 7, 7)
    write_cached_file(tmp_path, f"timm/{name}", "model.safetensors", safetensors_bytes(sd))
    _, load = zoo_core.create_pretrained(name, cache_dir=tmp_path, local_files_only=True)
    loaded = load()
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), loaded, (params, state)))
