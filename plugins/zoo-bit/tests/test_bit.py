"""zoo-bit without torch, BiT: the registry rows, shapes, the fixed stem, head and stem options, train
mode, grad, and loading a checkpoint written in timm's layout from an offline HF cache (timm's own
ResNetV2 architectures: ``test_resnetv2.py``)."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core import nn
from zoo_core.interop import conv1x1_to_dense, conv_to_hwio, identity
from zoo_core.testing.checkpoints import timm_state_dict
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file
from zoo_core.testing.training import check_cross_entropy_grads

from zoo_bit.layers import Stem

WIDTHS = {"resnetv2_50x1_bit": 2048, "resnetv2_50x3_bit": 6144, "resnetv2_101x1_bit": 2048,
          "resnetv2_101x3_bit": 6144, "resnetv2_152x2_bit": 4096, "resnetv2_152x4_bit": 8192}


def x_nhwc(n=2, h=64, w=48, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32))


def zeros_like_init(model):
    """Zero-filled trees of the model's shapes: enough to check output shapes without a random init."""
    abstract = jax.eval_shape(model.init, jax.random.key(0))
    return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), abstract)


@pytest.fixture(scope="module")
def bit50():
    """resnetv2_50x1_bit (ImageNet-21k head), randomly initialized once for the module."""
    model = zoo_core.create_model("resnetv2_50x1_bit.goog_in21k")
    params, state = jax.jit(model.init)(jax.random.key(0))
    return model, params, state


def test_table_has_the_fifteen_bit_rows():
    """Six BiT architectures, 15 tags, all Apache-2.0 with a timm/ Hub repository and timm's stem/head names."""
    names = [n for n in zoo_core.list_variants(family="bit") if "_bit." in n]
    assert len(names) == 15
    rows = [zoo_core.get_variant(n) for n in names]
    assert {v.arch for v in rows} == set(WIDTHS)
    assert all(v.num_features == WIDTHS[v.arch] for v in rows)
    assert all(v.license.id == "Apache-2.0" and v.license.commercial == "yes" for v in rows)
    assert all((v.hf_hub_id, v.first_conv, v.classifier) == (f"timm/{v.name}", "stem.conv", "head.fc") for v in rows)
    assert all(v.mean == (0.5, 0.5, 0.5) and v.std == (0.5, 0.5, 0.5) for v in rows)
    assert zoo_core.get_family("resnetv2_50x1_bit").license_notes


def test_head_sizes_and_data_configs_per_tag():
    """21843 classes for goog_in21k; 448² fine-tunes (480² for 152x4); bicubic for the distillation rows."""
    assert zoo_core.default_num_classes("resnetv2_152x4_bit.goog_in21k") == 21843
    assert zoo_core.get_variant("resnetv2_152x4_bit.goog_in21k").resolved_label_names == "imagenet-21k-goog"
    ft = zoo_core.get_variant("resnetv2_101x3_bit.goog_in21k_ft_in1k")
    assert (ft.num_classes, ft.input_size, ft.pool_size, ft.crop_pct, ft.interpolation) == (
        1000, (3, 448, 448), (14, 14), 1.0, "bilinear")
    assert zoo_core.get_variant("resnetv2_152x4_bit.goog_in21k_ft_in1k").input_size == (3, 480, 480)
    teacher = zoo_core.get_variant("resnetv2_152x2_bit.goog_teacher_in21k_ft_in1k_384")
    assert (teacher.input_size, teacher.interpolation) == ((3, 384, 384), "bicubic")
    assert zoo_core.get_variant("resnetv2_50x1_bit").name == "resnetv2_50x1_bit.goog_distilled_in1k"
    assert zoo_core.get_variant("resnetv2_152x2_bit").name == "resnetv2_152x2_bit.goog_teacher_in21k_ft_in1k"


def test_variant_table_imports_no_jax():
    """The plugin's entry point and table are plain data: `zoo list` stays fast."""
    code = "import sys, zoo_bit.plugin; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("arch", ["resnetv2_50x1_bit", "resnetv2_50x3_bit"])
def test_shapes_and_tree_mirror_timm(arch):
    """Features (N, ⌈H/32⌉, ⌈W/32⌉, C), logits (N, 1000); keys named as timm's modules, widths × the factor."""
    wf = int(arch.split("x")[1][0])
    model = zoo_core.create_model(arch)
    params, state = zeros_like_init(model)
    assert set(params) == {"stem", "stages", "norm", "head"}
    assert params["stem"]["conv"]["kernel"].shape == (7, 7, 3, 64 * wf)
    block = params["stages"]["1"]["blocks"]["0"]
    assert set(block) == {"norm1", "conv1", "norm2", "conv2", "norm3", "conv3", "downsample"}
    assert block["downsample"]["conv"]["kernel"].shape == (1, 1, 256 * wf, 512 * wf)
    assert block["conv2"]["kernel"].shape == (3, 3, 128 * wf, 128 * wf)
    assert "downsample" not in params["stages"]["1"]["blocks"]["1"]
    assert params["head"]["fc"]["kernel"].shape == (WIDTHS[arch], 1000)
    assert jax.tree.leaves(state) == []
    features, _ = jax.jit(model.forward_features)(params, state, x_nhwc())
    assert features.shape == (2, 2, 2, WIDTHS[arch])
    assert model.forward_head(params, features, pre_logits=True).shape == (2, WIDTHS[arch])
    assert model.forward_head(params, features).shape == (2, 1000)


def test_fixed_stem_pads_with_zeros_before_the_max_pool():
    """timm's ConstantPad2d(1, 0.) + MaxPool2d(3, 2): border windows see 0, so negative maps give 0 there."""
    stem = Stem(nn.Identity(), fixed=True)
    y, _ = stem.apply({"conv": {}}, {"conv": {}}, -jnp.ones((1, 5, 7, 2)))
    assert y.shape == (1, 3, 4, 2)
    expected = np.array([[0, 0, 0, 0], [0, -1, -1, 0], [0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(np.asarray(y[0, :, :, 0]), expected)


def test_init_follows_timm(bit50):
    """Kaiming-normal (fan-out) convs, GroupNorm weight 1 / bias 0, head normal(0.01) with zero bias."""
    _, params, _ = bit50
    std = float(jnp.std(params["stages"]["3"]["blocks"]["0"]["conv2"]["kernel"]))
    assert std == pytest.approx((2 / (3 * 3 * 512)) ** 0.5, rel=0.05)
    assert float(params["norm"]["scale"].min()) == 1.0 and float(jnp.abs(params["norm"]["bias"]).max()) == 0.0
    assert float(jnp.std(params["head"]["fc"]["kernel"])) == pytest.approx(0.01, rel=0.05)
    assert float(jnp.abs(params["head"]["fc"]["bias"]).max()) == 0.0


def test_num_classes_zero_and_n():
    """0: an empty head, apply returns pooled features; 10: a (2048, 10) head."""
    model = zoo_core.create_model("resnetv2_50x1_bit", num_classes=0)
    params, state = zeros_like_init(model)
    assert params["head"] == {}
    assert jax.jit(model.apply)(params, state, x_nhwc(h=32, w=32))[0].shape == (2, 2048)
    params10, _ = jax.eval_shape(zoo_core.create_model("resnetv2_50x1_bit", num_classes=10).init, jax.random.key(0))
    assert params10["head"]["fc"]["kernel"].shape == (2048, 10)


@pytest.mark.parametrize("in_chans", [1, 4])
def test_in_chans(in_chans):
    """The stem conv takes ``in_chans`` channels; a 3-channel input is refused."""
    model = zoo_core.create_model("resnetv2_50x1_bit", in_chans=in_chans)
    params, state = zeros_like_init(model)
    assert params["stem"]["conv"]["kernel"].shape == (7, 7, in_chans, 64)
    assert jax.jit(model.apply)(params, state, x_nhwc(h=32, w=32, c=in_chans))[0].shape == (2, 1000)
    with pytest.raises(zoo_core.InputError):
        model.apply(params, state, x_nhwc(c=3))


def test_train_mode_is_eval_mode(bit50):
    """GroupNorm keeps no statistics and BiT has no dropout: train=True gives the same output and state."""
    model, params, state = bit50
    x = x_nhwc(h=32, w=32)
    y_eval, _ = jax.jit(model.apply)(params, state, x)
    y_train, train_state = jax.jit(lambda p, s, x: model.apply(p, s, x, train=True))(params, state, x)
    np.testing.assert_array_equal(np.asarray(y_eval), np.asarray(y_train))
    assert jax.tree.structure(train_state) == jax.tree.structure(state)


def test_grad_through_apply(bit50):
    """jax.grad of a loss reaches every parameter, finite, stem included (through the standardization)."""
    model, params, state = bit50
    grads = check_cross_entropy_grads(model, params, state, x_nhwc(h=32, w=32), jnp.array([1, 3]))
    assert float(jnp.abs(grads["stem"]["conv"]["kernel"]).max()) > 0


def test_mapping_uses_timm_key_names():
    """``head.fc.weight`` (O, I, 1, 1) → params/head/fc/kernel via conv1x1_to_dense; the rest is mechanical."""
    model = zoo_core.create_model("resnetv2_50x1_bit")
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    variant = zoo_core.get_variant("resnetv2_50x1_bit")
    mapping = {key: (path, t) for key, path, t in zoo_core.get_family(variant.name).mapping()(variant, model, params, state)}
    assert len(mapping) == 153
    assert mapping["head.fc.weight"] == (("params", "head", "fc", "kernel"), conv1x1_to_dense)
    assert mapping["stages.2.blocks.0.downsample.conv.weight"] == (
        ("params", "stages", "2", "blocks", "0", "downsample", "conv", "kernel"), conv_to_hwio)
    assert mapping["stages.3.blocks.2.norm3.weight"][0] == ("params", "stages", "3", "blocks", "2", "norm3", "scale")
    assert mapping["norm.bias"] == (("params", "norm", "bias"), identity)


def test_create_pretrained_loads_a_timm_layout_checkpoint_offline(bit50, tmp_path):
    """A checkpoint in timm's layout (1×1-conv head included), placed in an HF cache, loads back onto the same trees."""
    model, params, state = bit50
    variant = zoo_core.get_variant("resnetv2_50x1_bit.goog_in21k")
    sd = timm_state_dict(variant.name, model, params, state)
    assert sd["head.fc.weight"].shape == (21843, 2048, 1, 1)
    write_cached_file(tmp_path, variant.hf_hub_id, "model.safetensors", safetensors_bytes(sd))
    _, load = zoo_core.create_pretrained(variant.name, cache_dir=tmp_path, local_files_only=True)
    loaded_params, _ = load()
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), loaded_params, params))


def test_features_only_returns_the_stem_conv_and_the_four_stages():
    """features_only: five NHWC maps (stem.conv before the pool, stages.0..3 before the final norm)
    at strides 2..32 with timm's feature_info; the last equals forward_features before its norm;
    a duplicated index fails naming the variant."""
    model = zoo_core.create_model("resnetv2_50x1_bit", features_only=True)
    assert [(i.num_chs, i.reduction, i.module) for i in model.feature_info()] == [
        (64, 2, "stem.conv"), (256, 4, "stages.0"), (512, 8, "stages.1"), (1024, 16, "stages.2"),
        (2048, 32, "stages.3")]
    full = zoo_core.create_model("resnetv2_50x1_bit", num_classes=0)
    params, state = jax.jit(full.init)(jax.random.key(0))
    x = x_nhwc(n=1)
    maps, _ = jax.jit(model.apply)(params, state, x)
    assert [m.shape for m in maps] == [(1, 32, 24, 64), (1, 16, 12, 256), (1, 8, 6, 512), (1, 4, 3, 1024),
                                       (1, 2, 2, 2048)]
    features, _ = jax.jit(full.forward_features)(params, state, x)
    normed = full.norm.apply(params["norm"], state["norm"], maps[-1])[0]
    np.testing.assert_allclose(normed, features, rtol=1e-5, atol=1e-5)
    assert not np.allclose(maps[-1], features, atol=1e-3)
    with pytest.raises(ValueError, match=r"resnetv2_50x1_bit.goog_distilled_in1k: out_indices \(4, -1\) names a feature map twice"):
        zoo_core.create_model("resnetv2_50x1_bit", features_only=True, out_indices=(4, -1))


@pytest.mark.parametrize("stride,project,in_chans", [(1, False, 128), (2, True, 64), (1, True, 64)])
@pytest.mark.parametrize("enabled", ["1", "0"])
def test_the_folded_block_equals_its_modules_one_by_one(stride, project, in_chans, enabled, monkeypatch):
    """A GroupNorm BiT block passes each conv's raw output and folded standardization to the norm after it
    (``StdConv2d.apply_raw``, ``nn.group_norm_act``) and each norm's channel sums to the conv after it; the
    result and its gradients are the modules applied one by one (``NormAct.apply``, ``StdConv2d.apply``),
    and on the CPU with zoo-cpu-kernels every norm is one call and no kernel is standardized on its own."""
    from zoo_core.kernels import import_cpu_kernels
    from zoo_core.nn.std_conv import finish_fold

    from zoo_bit.layers import PreActBottleneck

    monkeypatch.setenv("ZOO_CPU_KERNELS", enabled)
    block = PreActBottleneck.create(in_chans, 128, stride, project=project)
    params, state = block.init(jax.random.key(0))
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(1), p.shape), params)
    x = x_nhwc(2, 10, 9, in_chans, seed=3) + 0.5

    def one_by_one(p, x):
        def norm(name, y):
            return getattr(block, name).apply(p[name], {}, y)[0]

        def conv(name, y, params=None):
            module = block.downsample.conv if name == "downsample" else getattr(block, name)
            return finish_fold(*module.apply_raw(params or p[name], y, fold=False))

        pre = norm("norm1", x)
        shortcut = conv("downsample", pre, p["downsample"]["conv"]) if project else x
        y = conv("conv2", norm("norm2", conv("conv1", pre)))
        return conv("conv3", norm("norm3", y)) + shortcut

    got = jax.jit(lambda p, x: block.apply(p, state, x)[0])(params, x)
    want = one_by_one(params, x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4)
    w = jax.random.normal(jax.random.key(2), got.shape)
    g_got = jax.grad(lambda p, x: jnp.sum(block.apply(p, state, x)[0] * w), argnums=(0, 1))(params, x)
    g_want = jax.grad(lambda p, x: jnp.sum(one_by_one(p, x) * w), argnums=(0, 1))(params, x)
    for a, b in zip(jax.tree.leaves(g_got), jax.tree.leaves(g_want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-3 * float(jnp.abs(b).max()))
    hlo = jax.jit(lambda p, x: block.apply(p, state, x)[0]).lower(params, x).compile().as_text()
    compiled = enabled == "1" and import_cpu_kernels() is not None
    assert hlo.count('custom_call_target="zoo_group_norm_act"') == 3 * compiled
    assert ('custom_call_target="zoo_kernel_moments"' in hlo) is False
