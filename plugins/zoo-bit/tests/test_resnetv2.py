"""zoo-bit without torch, timm's own ResNetV2 architectures: the rows, the trees (deep stem, basic
blocks, average-pool shortcuts, BatchNorm state, EvoNorm), the ceil-mode average pool and the −inf
stem pool, BatchNorm's train mode, and the ``forward_intermediates`` contract."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.testing.training import check_cross_entropy_grads

from zoo_bit.layers import DownsampleAvg, DownsampleConv, avg_pool_ceil, stem_pool
from zoo_bit.model import ResNetV2, ResNetV2Config

NEW_ARCHS = {  # arch: (num_features, first_conv, tags)
    "resnetv2_18": (512, "stem.conv", 1), "resnetv2_18d": (512, "stem.conv1", 1),
    "resnetv2_34": (512, "stem.conv", 1), "resnetv2_34d": (512, "stem.conv1", 2),
    "resnetv2_50": (2048, "stem.conv", 1), "resnetv2_101": (2048, "stem.conv", 1),
    "resnetv2_50d_gn": (2048, "stem.conv1", 1), "resnetv2_50d_evos": (2048, "stem.conv1", 1),
}


def x_nhwc(n=2, h=32, w=40, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32))


def random_trees(model, seed=0):
    """Seeded (params, state) of the model's shapes drawn with numpy (``jax.jit(model.init)``
    compiles a random-number graph per leaf: a minute on a busy 2-core machine): kernels N(0, 1/fan_in),
    norm gains 1 + N(0, 0.2²), running variances U(0.5, 1.5), the rest N(0, 0.2²)."""
    rng = np.random.default_rng(seed)

    def leaf(path, a):
        name, shape = path[-1].key, a.shape
        if name == "var":
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2:
            value = rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
        elif name in ("scale", "v"):
            value = 1 + 0.2 * rng.standard_normal(shape)
        else:
            value = 0.2 * rng.standard_normal(shape)
        return jnp.asarray(value, a.dtype)

    return jax.tree_util.tree_map_with_path(leaf, zoo_core.nn.abstract_init(model))


@pytest.fixture(scope="module")
def r18d():
    """resnetv2_18d's code (deep stem, basic blocks, average-pool shortcuts, BatchNorm) at an eighth
    of its width and about half its depth, with random weights and running statistics (so that eval
    and train mode differ)."""
    config = ResNetV2Config(**{**zoo_core.get_variant("resnetv2_18d").arch_kwargs, "layers": (1, 2, 1, 1),
                               "channels": (8, 16, 24, 32), "stem_chs": 8})
    model = ResNetV2.create(config, num_classes=10)
    return (model, *random_trees(model))


def test_rows_of_timms_own_trainings():
    """24 rows in all; timm's 9 trainings over 8 architectures, Apache-2.0, bicubic, test size 288²
    (448² for the 384² fine-tune), ``stem.conv1`` as first conv for the deep stem."""
    names = zoo_core.list_variants(family="bit")
    assert len(names) == 24
    rows = [zoo_core.get_variant(n) for n in names if "_bit." not in n]
    assert [sum(v.arch == a for v in rows) for a in NEW_ARCHS] == [t for _, _, t in NEW_ARCHS.values()]
    for v in rows:
        assert (v.num_features, v.first_conv) == NEW_ARCHS[v.arch][:2], v.name
        assert (v.license.id, v.license.commercial, v.interpolation, v.classifier) == (
            "Apache-2.0", "yes", "bicubic", "head.fc"), v.name
    r384 = zoo_core.get_variant("resnetv2_34d.ra4_e3600_r384_in1k")
    assert (r384.input_size, r384.pool_size, r384.test_input_size, r384.crop_pct, r384.test_crop_pct) == (
        (3, 384, 384), (12, 12), (3, 448, 448), 1.0, None)
    assert zoo_core.get_variant("resnetv2_34d").name == "resnetv2_34d.ra4_e3600_r224_in1k"
    a1h = zoo_core.get_variant("resnetv2_101")
    assert (a1h.crop_pct, a1h.test_input_size, a1h.test_crop_pct) == (0.95, (3, 288, 288), 1.0)


def test_basic_deep_stem_tree_and_batchnorm_state():
    """resnetv2_18d: stem conv1/norm1/conv2/norm2/conv3 (32, 32, 64), basic blocks norm1/conv1/norm2/conv2;
    stage 0 has no shortcut conv (same width, stride 1), stages 1-3 an average-pool one; BatchNorm
    statistics in ``state`` wherever a norm is."""
    model = zoo_core.create_model("resnetv2_18d")
    params, state = zoo_core.nn.abstract_init(model)
    assert set(params["stem"]) == {"conv1", "norm1", "conv2", "norm2", "conv3"}
    assert [params["stem"][k]["kernel"].shape for k in ("conv1", "conv2", "conv3")] == [
        (3, 3, 3, 32), (3, 3, 32, 32), (3, 3, 32, 64)]
    assert set(params["stages"]["0"]["blocks"]["0"]) == {"norm1", "conv1", "norm2", "conv2"}
    block = params["stages"]["1"]["blocks"]["0"]
    assert block["downsample"]["conv"]["kernel"].shape == (1, 1, 64, 128)
    assert block["conv1"]["kernel"].shape == (3, 3, 64, 128) and "bias" not in block["conv1"]
    assert isinstance(model.stages[1].blocks[0].downsample, DownsampleAvg)
    assert set(state["stem"]["norm1"]) == {"mean", "var"} and set(state["norm"]) == {"mean", "var"}
    assert state["stages"]["3"]["blocks"]["1"]["norm2"]["var"].shape == (512,)
    assert params["head"]["fc"]["kernel"].shape == (512, 1000)


@pytest.mark.parametrize("arch", ["resnetv2_50", "resnetv2_50d_gn", "resnetv2_50d_evos"])
def test_bottleneck_trees(arch):
    """Bottlenecks of 64 → 256 first; the first block of each stage projects (a strided conv for
    resnetv2_50, an average pool + conv for the ``d`` variants); GroupNorm and EvoNorm keep no state,
    EvoNorm has its ``v``."""
    model = zoo_core.create_model(arch)
    params, state = zoo_core.nn.abstract_init(model)
    first = params["stages"]["0"]["blocks"]["0"]
    assert first["conv3"]["kernel"].shape == (1, 1, 64, 256)
    assert first["downsample"]["conv"]["kernel"].shape == (1, 1, 64, 256)
    shortcut = model.stages[2].blocks[0].downsample
    assert isinstance(shortcut, DownsampleConv if arch == "resnetv2_50" else DownsampleAvg)
    norm_leaves = set(params["stages"]["2"]["blocks"]["3"]["norm2"])
    assert norm_leaves == ({"scale", "bias", "v"} if arch.endswith("evos") else {"scale", "bias"})
    assert bool(jax.tree.leaves(state)) == (arch == "resnetv2_50")


def test_avg_pool_ceil_averages_what_an_odd_edge_has():
    """AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False): (5, 3) → (3, 2); edge windows average 1-2 pixels."""
    x = jnp.arange(15, dtype=jnp.float32).reshape(1, 5, 3, 1)
    y = np.asarray(avg_pool_ceil(x, 2))[0, :, :, 0]
    np.testing.assert_allclose(y, [[2, 3.5], [8, 9.5], [12.5, 14]])


def test_stem_pools():
    """BiT's fixed stem pads with zeros, the others with −inf: a negative map keeps its values."""
    x = -jnp.ones((1, 5, 5, 1))
    assert float(stem_pool(x, fixed=False).max()) == -1.0
    assert float(stem_pool(x, fixed=True).max()) == 0.0
    assert stem_pool(x, fixed=False).shape == stem_pool(x, fixed=True).shape == (1, 3, 3, 1)


def test_train_mode_updates_batchnorm_statistics(r18d):
    """train=True normalizes with batch statistics and returns updated running statistics (momentum
    0.1) in a state of the same structure; eval leaves the state as it is."""
    model, params, state = r18d
    x = x_nhwc()
    y_eval, eval_state = jax.jit(model.apply)(params, state, x)
    y_train, new_state = jax.jit(lambda p, s, x: model.apply(p, s, x, train=True))(params, state, x)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), eval_state, state))
    assert not np.allclose(y_eval, y_train, atol=1e-3)
    # the stem's first norm sees conv1's output: its new mean is 0.9 · old + 0.1 · batch mean
    h, _ = model.stem.conv1.apply(params["stem"]["conv1"], {}, x)
    expected = 0.9 * state["stem"]["norm1"]["mean"] + 0.1 * h.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(new_state["stem"]["norm1"]["mean"], expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(new_state["norm"]["var"], state["norm"]["var"])


def test_grad_through_train_mode(r18d):
    """jax.grad of a train-mode loss reaches every parameter, finite."""
    model, params, state = r18d
    check_cross_entropy_grads(model, params, state, x_nhwc(), jnp.array([1, 3]), train=True)


def test_forward_intermediates_contract(r18d):
    """Maps in the order asked, NHWC at strides 2-32; ``final=True`` adds forward_features' output and
    gives the same maps (with ``stop_early``: the last asked stage's output, as timm's); without it,
    stages past the last index do not run (their train-mode state is returned unchanged);
    ``norm=True`` puts the final norm on the last stage's map only."""
    model, params, state = r18d
    x = x_nhwc(n=1, h=64, w=64)
    fi = jax.jit(model.forward_intermediates, static_argnames=("indices", "norm", "final", "stop_early", "train"))
    maps, _ = fi(params, state, x, indices=(3, 0, 1))
    assert [m.shape for m in maps] == [(1, 4, 4, 24), (1, 32, 32, 8), (1, 16, 16, 8)]
    (all_maps, features), _ = fi(params, state, x, indices=(0, 1, 2, 3, 4), final=True)
    for a, b in zip(maps, [all_maps[3], all_maps[0], all_maps[1]]):
        np.testing.assert_array_equal(a, b)
    # the same arithmetic in another jitted graph: equal to float32 rounding
    np.testing.assert_allclose(features, jax.jit(model.forward_features)(params, state, x)[0], rtol=1e-5, atol=1e-5)
    (cut_maps, cut), _ = fi(params, state, x, indices=(1, 2), final=True, stop_early=True)  # timm's stop_early
    np.testing.assert_array_equal(cut, cut_maps[1])
    np.testing.assert_array_equal(cut, all_maps[2])
    normed, _ = fi(params, state, x, indices=(3, 4), norm=True)
    np.testing.assert_array_equal(normed[0], all_maps[3])
    np.testing.assert_allclose(normed[1], features, rtol=1e-5, atol=1e-5)
    _, train_state = fi(params, state, x, indices=(1,), train=True)  # stages.0 only
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()),
                                     (train_state["stages"]["1"], train_state["norm"]), (state["stages"]["1"], state["norm"])))
    assert not np.allclose(train_state["stages"]["0"]["blocks"]["0"]["norm1"]["mean"],
                           state["stages"]["0"]["blocks"]["0"]["norm1"]["mean"])


def test_features_only_deep_stem():
    """features_only on a deep-stem model: timm's feature_info, the stem feature being ``stem.conv3``."""
    model = zoo_core.create_model("resnetv2_50d_evos", features_only=True, out_indices=(0, -1))
    assert [(i.num_chs, i.reduction, i.module) for i in model.feature_info()] == [
        (64, 2, "stem.conv3"), (2048, 32, "stages.3")]
    assert [(i.num_chs, i.module) for i in zoo_core.create_model("resnetv2_34", features_only=True).feature_info()] == [
        (64, "stem.conv"), (64, "stages.0"), (128, "stages.1"), (256, "stages.2"), (512, "stages.3")]


def test_mapping_key_counts():
    """One leaf per timm key (``num_batches_tracked`` aside): BatchNorm's statistics from ``state`` in
    resnetv2_18d, EvoNorm's ``v`` in resnetv2_50d_evos."""
    for arch, count in (("resnetv2_18d", 100), ("resnetv2_50d_evos", 210)):
        model = zoo_core.create_model(arch)
        params, state = zoo_core.nn.abstract_init(model)
        variant = zoo_core.get_variant(arch)
        mapping = zoo_core.get_family(arch).mapping()(variant, model, params, state)
        keys = {key for key, _, _ in mapping}
        assert len(mapping) == count, (arch, len(mapping))
        assert ("stem.norm1.running_var" in keys) == (arch == "resnetv2_18d")
        assert ("stages.3.blocks.2.norm3.v" in keys) == (arch == "resnetv2_50d_evos")
