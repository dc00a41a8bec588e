"""zoo-resnet without torch: the registry rows, shapes, head and stem options, train mode, grad,
and loading a checkpoint written in timm's layout from an offline HF cache."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.interop import conv_to_hwio, linear_to_dense
from zoo_core.testing.checkpoints import timm_state_dict
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file
from zoo_core.testing.training import check_cross_entropy_grads

ARCH_TAG_COUNTS = {"resnet18": 7, "resnet34": 7, "resnet50": 19, "resnet101": 7, "resnet152": 7, "resnet50d": 6,
                   "resnext50_32x4d": 10, "resnext101_32x8d": 5, "seresnextaa101d_32x8d": 4, "resnetrs420": 1}


def x_nhwc(n=2, h=32, w=32, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32))


def test_table_has_every_timm_tag_of_resnet_py():
    """150 rows over 64 architectures, every one with a timm/ Hub repository; a deep stem's first conv is conv1.0."""
    names = zoo_core.list_variants(family="resnet")
    assert len(names) == 150 and len({n.split(".")[0] for n in names}) == 64
    for arch, count in ARCH_TAG_COUNTS.items():
        assert len([n for n in names if n.split(".")[0] == arch]) == count, arch
    for v in map(zoo_core.get_variant, names):
        deep = "deep" in v.arch_kwargs.get("stem_type", "")
        assert v.hf_hub_id == f"timm/{v.name}" and v.classifier == "fc", v.name
        assert v.first_conv == ("conv1.0" if deep else "conv1"), v.name


@pytest.mark.parametrize("arch,default", [("resnet18", "a1_in1k"), ("resnet50", "a1_in1k"),
                                          ("resnet101", "a1h_in1k"), ("resnet152", "a1h_in1k"),
                                          ("resnet50d", "ra2_in1k"), ("resnext50_32x4d", "a1h_in1k"),
                                          ("seresnextaa101d_32x8d", "sw_in12k_ft_in1k_288")])
def test_arch_alone_means_timms_default_tag(arch, default):
    """The first tag in timm's default_cfgs is the default, as in timm."""
    assert zoo_core.get_variant(arch).name == f"{arch}.{default}"


def test_licenses_follow_the_weight_source():
    """torchvision: BSD-3-Clause; Facebook SSL/SWSL/WSL: CC-BY-NC-4.0 (no commercial use); timm,
    Gluon, MIIL and the TF ResNet-RS ports: Apache-2.0; Bamboo: unspecified, not cleared for commercial use."""
    def license_of(name):
        return zoo_core.get_variant(name).license

    assert license_of("resnet50.tv2_in1k").id == "BSD-3-Clause"
    assert license_of("resnext101_32x8d.fb_wsl_ig1b_ft_in1k").id == "CC-BY-NC-4.0"
    assert license_of("resnet50.fb_ssl_yfcc100m_ft_in1k").commercial == "no"
    assert license_of("resnet101.gluon_in1k").id == license_of("resnetrs50.tf_in1k").id == "Apache-2.0"
    assert license_of("ecaresnet50d.miil_in1k").commercial == "yes"
    assert license_of("resnet50.bamboo").commercial == "no"
    no = zoo_core.list_variants(family="resnet", commercial="no")
    assert len(no) == 16 and all(n.split(".")[1].startswith("fb_") for n in no if n != "resnet50.bamboo")
    assert zoo_core.get_family("resnet50").license_notes


def test_data_configs_are_per_tag():
    """Tags carry their own input size, crop and interpolation (a3: 160², tv2: 176² → 224² test)."""
    a3 = zoo_core.get_variant("resnet50.a3_in1k")
    assert (a3.input_size, a3.test_input_size, a3.pool_size, a3.crop_pct) == ((3, 160, 160), (3, 224, 224), (5, 5), 0.95)
    tv2 = zoo_core.get_variant("resnet152.tv2_in1k")
    assert (tv2.input_size, tv2.test_crop_pct, tv2.interpolation) == ((3, 176, 176), 0.965, "bilinear")
    assert zoo_core.get_variant("resnet34.ra4_e3600_r224_in1k").mean == (0.5, 0.5, 0.5)
    assert zoo_core.default_num_classes("resnet50.bamboo") == 0
    assert zoo_core.default_num_classes("seresnextaa201d_32x8d.sw_in12k") == 11821
    rs = zoo_core.get_variant("resnetrs420")
    assert (rs.input_size, rs.test_input_size, rs.crop_pct) == ((3, 320, 320), (3, 416, 416), 1.0)


def test_variant_table_imports_no_jax():
    """The plugin's entry point and table are plain data: `zoo list` stays fast."""
    code = "import sys, zoo_resnet.plugin; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def resnet18():
    """resnet18, randomly initialized once for the module (first RNG compiles are slow on CPU)."""
    model = zoo_core.create_model("resnet18")
    params, state = jax.jit(model.init)(jax.random.key(0))
    return model, params, state


def zeros_like_init(model):
    """Zero-filled trees of the model's shapes: enough to check output shapes without a random init."""
    abstract = jax.eval_shape(model.init, jax.random.key(0))
    return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), abstract)


@pytest.mark.parametrize("arch,num_features,block_keys", [
    ("resnet18", 512, {"conv1", "bn1", "conv2", "bn2", "downsample"}),
    ("resnet50", 2048, {"conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "downsample"}),
])
def test_shapes_and_tree_mirror_timm(arch, num_features, block_keys):
    """Logits (N, 1000), features (N, ⌈H/32⌉, ⌈W/32⌉, C); keys named as timm's modules."""
    model = zoo_core.create_model(arch)
    params, state = zeros_like_init(model)
    assert set(params) == {"conv1", "bn1", "maxpool", "layer1", "layer2", "layer3", "layer4", "fc"}
    assert params["maxpool"] == state["maxpool"] == {}  # a pool: no leaves, as timm's maxpool
    assert set(params["layer2"]["0"]) == block_keys
    assert params["layer2"]["0"]["downsample"]["0"]["kernel"].shape == (1, 1, num_features // 8, num_features // 4)
    assert state["layer4"]["1"]["bn2"]["var"].shape == (512,)  # planes of the last stage
    features, _ = jax.jit(model.forward_features)(params, state, x_nhwc(h=64, w=40))
    assert features.shape == (2, 2, 2, num_features)
    assert model.forward_head(params, features, pre_logits=True).shape == (2, num_features)
    assert model.forward_head(params, features).shape == (2, 1000)


def test_init_follows_timm(resnet18):
    """Kaiming-normal (fan-out) convs, BN weight 1 / bias 0 / var 1, the last BN of each block zeroed."""
    _, params, state = resnet18
    block = params["layer1"]["1"]
    assert float(jnp.abs(block["bn2"]["scale"]).max()) == 0.0
    assert float(block["bn1"]["scale"].min()) == 1.0 and float(jnp.abs(block["bn1"]["bias"]).max()) == 0.0
    std = float(jnp.std(params["layer4"]["0"]["conv2"]["kernel"]))
    assert std == pytest.approx((2 / (3 * 3 * 512)) ** 0.5, rel=0.05)
    assert float(state["bn1"]["var"].min()) == 1.0


def test_num_classes_zero_and_n():
    """0: no fc params, apply returns pooled features; 10: a (2048, 10) head."""
    model = zoo_core.create_model("resnet18", num_classes=0)
    params, state = zeros_like_init(model)
    assert "fc" not in params
    assert jax.jit(model.apply)(params, state, x_nhwc())[0].shape == (2, 512)
    params10, _ = jax.eval_shape(zoo_core.create_model("resnet50", num_classes=10).init, jax.random.key(0))
    assert params10["fc"]["kernel"].shape == (2048, 10)


@pytest.mark.parametrize("in_chans", [1, 4])
def test_in_chans(in_chans):
    """The stem conv takes ``in_chans`` channels; other channel counts are refused with a hint."""
    model = zoo_core.create_model("resnet18", in_chans=in_chans)
    params, state = zeros_like_init(model)
    assert params["conv1"]["kernel"].shape == (7, 7, in_chans, 64)
    assert jax.jit(model.apply)(params, state, x_nhwc(c=in_chans))[0].shape == (2, 1000)
    with pytest.raises(zoo_core.InputError):
        model.apply(params, state, x_nhwc(c=3))


def test_train_mode_updates_batchnorm_statistics_only_in_train(resnet18):
    """train=True returns new running statistics with the same tree structure; eval leaves them as they are."""
    model, params, state = resnet18
    x = x_nhwc()
    _, eval_state = jax.jit(model.apply)(params, state, x)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), eval_state, state))
    _, train_state = jax.jit(lambda p, s, x: model.apply(p, s, x, train=True))(params, state, x)
    assert jax.tree.structure(train_state) == jax.tree.structure(state)
    assert not np.allclose(train_state["bn1"]["mean"], state["bn1"]["mean"])
    assert not np.allclose(train_state["layer4"]["1"]["bn2"]["var"], state["layer4"]["1"]["bn2"]["var"])


def test_grad_through_apply(resnet18):
    """jax.grad of a train-mode loss reaches every parameter, finite, stem included."""
    model, params, state = resnet18
    grads = check_cross_entropy_grads(model, params, state, x_nhwc(), jnp.array([1, 3]))
    assert float(jnp.abs(grads["conv1"]["kernel"]).max()) > 0
    assert float(jnp.abs(grads["fc"]["kernel"]).max()) > 0


def test_mapping_uses_timm_key_names():
    """Mechanical mapping: ``layer2.0.downsample.0.weight`` → params/layer2/0/downsample/0/kernel (OIHW → HWIO)."""
    model = zoo_core.create_model("resnet18")
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    variant = zoo_core.get_variant("resnet18")
    mapping = {key: (path, t) for key, path, t in zoo_core.get_family("resnet18").mapping()(variant, model, params, state)}
    assert len(mapping) == 102  # timm's 122 state-dict keys less 20 num_batches_tracked
    assert mapping["layer2.0.downsample.0.weight"] == (("params", "layer2", "0", "downsample", "0", "kernel"), conv_to_hwio)
    assert mapping["layer3.1.bn2.running_var"][0] == ("state", "layer3", "1", "bn2", "var")
    assert mapping["fc.weight"] == (("params", "fc", "kernel"), linear_to_dense)


def test_create_pretrained_loads_a_timm_layout_checkpoint_offline(resnet18, tmp_path):
    """A checkpoint in timm's layout, placed in an HF cache, loads back onto the same trees offline."""
    model, params, state = resnet18
    state = jax.tree.map(lambda a: a + 0.5, state)
    sd = timm_state_dict("resnet18.tv_in1k", model, params, state)
    sd["bn1.num_batches_tracked"] = np.array(3, dtype=np.int64)
    write_cached_file(tmp_path, "timm/resnet18.tv_in1k", "model.safetensors", safetensors_bytes(sd))
    _, load = zoo_core.create_pretrained("resnet18.tv_in1k", cache_dir=tmp_path, local_files_only=True)
    loaded_params, loaded_state = load()
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), (loaded_params, loaded_state), (params, state)))


def test_features_only_returns_act1_and_the_four_stages():
    """features_only: five NHWC maps (act1, layer1..4) at strides 2..32 with timm's feature_info; a
    subset equals those maps of the full list; an index past the five fails naming the variant."""
    model = zoo_core.create_model("resnet50", features_only=True)
    assert [(i.num_chs, i.reduction, i.module) for i in model.feature_info()] == [
        (64, 2, "act1"), (256, 4, "layer1"), (512, 8, "layer2"), (1024, 16, "layer3"), (2048, 32, "layer4")]
    params, state = model.init(jax.random.key(0))
    x = x_nhwc(n=1, h=64, w=96)
    maps, _ = jax.jit(model.apply)(params, state, x)
    assert [m.shape for m in maps] == [(1, 32, 48, 64), (1, 16, 24, 256), (1, 8, 12, 512), (1, 4, 6, 1024),
                                       (1, 2, 3, 2048)]
    subset = zoo_core.create_model("resnet50", features_only=True, out_indices=(0, -2))
    assert [i.module for i in subset.feature_info()] == ["act1", "layer3"]
    picked, _ = jax.jit(subset.apply)(params, state, x)
    np.testing.assert_array_equal(picked[0], maps[0])
    np.testing.assert_allclose(picked[1], maps[3], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"resnet50.a1_in1k: out_indices \(5,\) has 5, outside the 5 feature maps"):
        zoo_core.create_model("resnet50", features_only=True, out_indices=(5,))
