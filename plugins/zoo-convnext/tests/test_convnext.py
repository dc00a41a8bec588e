"""zoo-convnext without torch: the registry rows and licenses, shapes, head and stem options, the
tree layout, grad, and loading a checkpoint written in timm's layout from an offline HF cache."""

import subprocess
import sys

import attrs
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.interop import conv_to_hwio, identity, linear_to_dense
from zoo_core.nn import abstract_init
from zoo_core.testing.checkpoints import timm_state_dict
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file
from zoo_core.testing.training import check_cross_entropy_grads

from zoo_convnext.layers import SimpleNorm
from zoo_convnext.model import ConvNeXt, ConvNeXtConfig

ARCH_TAG_COUNTS = {"convnext_tiny": 9, "convnext_small": 9, "convnext_base": 16, "convnext_large": 5,
                   "convnext_xlarge": 3, "convnext_large_mlp": 10, "convnext_xxlarge": 4, "convnext_nano": 6,
                   "convnext_zepto_rms": 1, "convnext_zepto_rms_ols": 1, "convnext_atto": 1, "convnext_atto_ols": 1,
                   "convnext_femto": 1, "convnext_femto_ols": 1, "convnext_pico": 1, "convnext_pico_ols": 1,
                   "convnext_nano_ols": 1, "convnext_tiny_hnf": 1, "test_convnext": 1, "test_convnext2": 1,
                   "test_convnext3": 1}
#: A small ConvNeXt (3×3 depthwise kernels: the 7×7 path is tested in tests/nn/test_depthwise.py):
#: every other code path of the real ones, compiled in seconds.
MINI = ConvNeXtConfig((1, 1, 1, 1), (8, 16, 24, 32), kernel_sizes=3)


def x_nhwc(n=2, h=64, w=64, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32))


def zeros_like_init(model):
    """Zero-filled trees of the model's shapes: enough to check output shapes without a random init."""
    abstract = jax.eval_shape(model.init, jax.random.key(0))
    return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), abstract)


def test_table_has_every_v1_tag_of_timm():
    """75 rows over 21 architectures (timm's 76 v1 tags less the untrained convnext_atto_rms), all on timm/ repos."""
    names = zoo_core.list_variants(family="convnext")
    assert len(names) == sum(ARCH_TAG_COUNTS.values()) == 75
    for arch, count in ARCH_TAG_COUNTS.items():
        rows = [zoo_core.get_variant(n) for n in names if n.split(".")[0] == arch]
        assert len(rows) == count, arch
        assert all(v.hf_hub_id == f"timm/{v.name}" and (v.first_conv, v.classifier) == ("stem.0", "head.fc")
                   for v in rows)
    assert not any(n.startswith("convnextv2") for n in names)


def test_arch_alone_means_timms_default_tag():
    """timm's first tag per architecture: its own in12k fine-tunes for tiny and small, fb for base … xlarge."""
    assert zoo_core.get_variant("convnext_tiny").name == "convnext_tiny.in12k_ft_in1k"
    assert zoo_core.get_variant("convnext_small").name == "convnext_small.in12k_ft_in1k"
    assert zoo_core.get_variant("convnext_base").name == "convnext_base.fb_in22k_ft_in1k"
    assert zoo_core.get_variant("convnext_nano").name == "convnext_nano.in12k_ft_in1k"
    assert zoo_core.get_variant("convnext_xxlarge").name == "convnext_xxlarge.clip_laion2b_soup_ft_in1k"


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


def test_eupe_rows_are_flagged_non_commercial():
    """The three EUPE encoders: FAIR Noncommercial Research License, commercial use "no", 256², no head."""
    eupe = zoo_core.list_variants(family="convnext", commercial="no")
    assert eupe == sorted(f"convnext_{a}.eupe_lvd1689m" for a in ("tiny", "small", "base"))
    for name in eupe:
        v = zoo_core.get_variant(name)
        assert v.license.id == "FAIR Noncommercial Research License" and "no commercial use" in v.license.note
        assert (v.num_classes, v.input_size, v.pool_size) == (0, (3, 256, 256), (8, 8))
        assert "no commercial use" in v.notes


def test_clip_rows_state_their_origin_and_embedding_heads():
    """clip_* rows: the OpenCLIP origin in the license note; the towers' heads are the CLIP embedding
    sizes (base 640, large_mlp 768, xxlarge 1024) with OpenAI CLIP's mean/std."""
    clip = [zoo_core.get_variant(n) for n in zoo_core.list_variants(family="convnext") if ".clip_" in n]
    assert len(clip) == 24 and all("OpenCLIP" in v.license.note and "MIT" in v.license.note for v in clip)
    assert all(v.mean == (0.48145466, 0.4578275, 0.40821073) for v in clip)
    towers = {v.name: v.num_classes for v in clip if "_ft" not in v.tag or v.tag.endswith(("ft_320", "ft_soup_320"))}
    assert set(towers.values()) == {640, 768, 1024} and len(towers) == 10
    assert zoo_core.get_variant("convnext_large_mlp.clip_laion2b_augreg").num_features == 1536


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


@pytest.mark.parametrize("arch,stem,head", [
    ("convnext_atto_ols", {"0": (3, 3, 3, 24), "1": (3, 3, 24, 40)}, {"norm", "fc"}),
    ("convnext_nano_ols", {"0": (3, 3, 3, 80), "1": (3, 3, 80, 80)}, {"norm", "fc"}),
    ("convnext_zepto_rms_ols", {"0": (3, 3, 3, 32), "2": (3, 3, 32, 32)}, {"norm", "fc"}),
    ("convnext_tiny_hnf", {"0": (4, 4, 3, 96)}, {"fc"}),
    ("convnext_large_mlp", {"0": (4, 4, 3, 192)}, {"norm", "pre_logits", "fc"}),
])
def test_option_trees_follow_timms_modules(arch, stem, head):
    """_ols stems (two 3×3 s2 convs; overlap_act's GELU at index 1), hnf's norm_pre and bare fc head,
    large_mlp's head.pre_logits.fc: the tree keys are timm's module names."""
    params, _ = abstract_init(zoo_core.create_model(arch))
    assert {k: v["kernel"].shape for k, v in params["stem"].items() if "kernel" in v} == stem
    assert set(params["head"]) == head
    assert ("norm_pre" in params) == arch.endswith("_hnf")
    if arch == "convnext_large_mlp":
        assert params["head"]["pre_logits"]["fc"]["kernel"].shape == (1536, 1536)
    if "rms" in arch:  # SimpleNorm: a weight, no bias
        assert set(params["stages"]["1"]["blocks"]["0"]["norm"]) == {"scale"}


def test_simple_norm_is_x_over_unbiased_std():
    """timm's SimpleNorm: x · rsqrt(var_unbiased(x) + eps) · weight, no centering, no bias."""
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 16)).astype(np.float32) + 0.5
    scale = np.linspace(0.5, 1.5, 16, dtype=np.float32)
    y, _ = SimpleNorm(16, eps=1e-6).apply({"scale": jnp.asarray(scale)}, {}, jnp.asarray(x))
    expected = x / np.sqrt(x.var(axis=-1, ddof=1, keepdims=True) + 1e-6) * scale
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_norm_eps_per_architecture():
    """xxlarge and the test models: eps 1e-5 in every norm; the others timm's 1e-6."""
    model = zoo_core.create_model("convnext_xxlarge", depths=(1, 1, 1, 1), dims=(8, 16, 24, 32))
    eps = {model.stem.layers[1].eps, model.stages[1].downsample.layers[0].eps, model.stages[3].blocks[0].norm.eps,
           model.head.norm.eps}
    assert eps == {1e-5}
    assert zoo_core.create_model("convnext_atto").stages[0].blocks[0].norm.eps == 1e-6


def test_builder_overrides_as_timm_kwargs():
    """depths/dims/kernel_sizes/ls_init_value/head_hidden_size/norm_eps override the row (timm's
    create_model kwargs); bad values and unknown keywords raise ArgumentError naming the variant."""
    model = zoo_core.create_model("convnext_large_mlp", depths=(1, 1, 2, 1), dims=(8, 16, 24, 32), kernel_sizes=3)
    assert (len(model.stages[2].blocks), model.num_features, model.stages[0].blocks[0].conv_dw.kernel_size) == (
        2, 1536, 3)
    assert zoo_core.create_model("convnext_large_mlp", head_hidden_size=None, dims=(8, 16, 24, 32)).num_features == 32
    for kwargs, match in [(dict(depths=(1, 1, 1)), "depths"), (dict(kernel_sizes=4), "kernel_sizes"),
                          (dict(norm_eps=0), "norm_eps"), (dict(stem_type="patch"), "stem_type")]:
        with pytest.raises(zoo_core.ArgumentError, match=f"convnext_large_mlp.*{match}"):
            zoo_core.create_model("convnext_large_mlp", **kwargs)
    with pytest.raises(zoo_core.ArgumentError, match="convnext_tiny_hnf.*head_hidden_size"):
        zoo_core.create_model("convnext_tiny_hnf", head_hidden_size=64)


@pytest.mark.parametrize("config", [MINI, attrs.evolve(MINI, head_norm_first=True, stem_type="overlap_tiered")])
def test_forward_intermediates_contract(config):
    """Maps in the order asked, NHWC at strides 4 … 32; final=True adds forward_features's output (with
    stop_early, the cut network's); norm=True passes the last map through norm_pre (hnf) and is a no-op
    elsewhere; feature_info as timm's."""
    model = ConvNeXt.create(config, num_classes=0)
    abstract = jax.eval_shape(model.init, jax.random.key(0))
    rng = np.random.default_rng(0)
    params, state = jax.tree.map(lambda a: jnp.asarray(1 + 0.1 * rng.standard_normal(a.shape), jnp.float32), abstract)
    x = x_nhwc(n=1, h=64, w=96)
    assert [(i.num_chs, i.reduction) for i in model.feature_info()] == [(8, 4), (16, 8), (24, 16), (32, 32)]
    maps, _ = model.forward_intermediates(params, state, x, (3, 0))
    assert [m.shape for m in maps] == [(1, 2, 3, 32), (1, 16, 24, 8)]
    (maps_n, features), _ = model.forward_intermediates(params, state, x, (1, 3), norm=True, final=True)
    expected, _ = model.forward_features(params, state, x)
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(maps_n[1], expected if config.head_norm_first else maps[0], rtol=1e-6, atol=1e-6)
    assert not config.head_norm_first or float(jnp.abs(maps_n[1] - maps[0]).max()) > 1e-3
    (early, cut), _ = model.forward_intermediates(params, state, x, (0, 1), final=True, stop_early=True)
    assert cut.shape == (1, 8, 12, 16) and early[1] is cut  # stop_early: the network cut after stage 1
