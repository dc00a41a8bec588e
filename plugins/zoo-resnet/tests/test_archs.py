"""zoo-resnet's architecture options without torch: trees named as timm's modules for each stem,
shortcut, attention and anti-aliasing option, the pruned widths, the ``layers`` override and the
``forward_intermediates`` contract. Shapes come from ``abstract_init`` / ``jax.eval_shape`` (no
weights computed), forward passes only on the smallest networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core.nn import abstract_init

ONE = (1, 1, 1, 1)


def x_nhwc(n=1, h=64, w=64, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32))


def trees(name, **kwargs):
    model = zoo_core.create_model(name, **kwargs)
    return model, *abstract_init(model)


def shape(tree, path):
    for key in path.split("/"):
        tree = tree[key]
    return tuple(tree.shape)


@pytest.mark.parametrize("name,stem", [
    ("resnet50", {"conv1/kernel": (7, 7, 3, 64)}),
    ("resnet50c", {"conv1/0/kernel": (3, 3, 3, 32), "conv1/3/kernel": (3, 3, 32, 32), "conv1/6/kernel": (3, 3, 32, 64)}),
    ("resnet50s", {"conv1/0/kernel": (3, 3, 3, 64), "conv1/6/kernel": (3, 3, 64, 128), "bn1/scale": (128,)}),
    ("resnet26t", {"conv1/0/kernel": (3, 3, 3, 24), "conv1/3/kernel": (3, 3, 24, 32), "conv1/4/scale": (32,)}),
    ("resnetrs50", {"maxpool/0/kernel": (3, 3, 64, 64), "maxpool/1/scale": (64,)}),
])
def test_stems_mirror_timm(name, stem):
    """The 7×7 stem, the deep stems (c: 32-32-64, s: 64-64-128, t: 24-32-64) as ``conv1/0…6`` and
    ResNet-RS's conv pool as ``maxpool/0``, ``/1``."""
    _, params, _ = trees(name)
    for path, expected in stem.items():
        assert shape(params, path) == expected, path


def test_shortcuts_grouped_convs_and_attention_mirror_timm():
    """avg_down: ``downsample/1`` conv and ``/2`` norm after a pool with no leaves; SENet-154's 3×3
    projection; ResNeXt's (3, 3, 4, 128) grouped kernel; SE ``fc1``/``fc2``; ECA ``conv`` (1, 1, k)."""
    _, params, state = trees("resnet50d")
    assert shape(params, "layer2/0/downsample/1/kernel") == (1, 1, 256, 512) and params["layer2"]["0"]["downsample"]["0"] == {}
    assert shape(state, "layer2/0/downsample/2/var") == (512,)
    _, params, _ = trees("senet154", layers=ONE)
    assert shape(params, "layer2/0/downsample/0/kernel") == (3, 3, 256, 512)
    assert shape(params, "layer1/0/conv1/kernel") == (1, 1, 128, 128)  # width 256 halved (block_reduce_first=2)
    _, params, _ = trees("resnext50_32x4d", layers=ONE)
    assert shape(params, "layer1/0/conv2/kernel") == (3, 3, 4, 128)
    _, params, _ = trees("seresnet50", layers=ONE)
    assert shape(params, "layer4/0/se/fc1/kernel") == (1, 1, 2048, 128) and shape(params, "layer4/0/se/fc2/bias") == (2048,)
    _, params, _ = trees("resnetrs50", layers=ONE)
    assert shape(params, "layer1/0/se/fc1/kernel") == (1, 1, 256, 64)  # SE ratio 1/4
    _, params, _ = trees("ecaresnet50d", layers=ONE)
    assert shape(params, "layer1/0/se/conv/kernel") == (1, 1, 5) and shape(params, "layer4/0/se/conv/kernel") == (1, 1, 7)


def test_pruned_widths_and_feature_info():
    """ecaresnet50d_pruned: per-block widths from timm's pruned config, the ECA kernel of the unpruned
    width, and feature_info's channels at the pruned stage widths."""
    model, params, _ = trees("ecaresnet50d_pruned")
    assert shape(params, "layer1/0/conv1/kernel") == (1, 1, 64, 47)
    assert shape(params, "layer1/0/conv2/kernel") == (3, 3, 47, 18)
    assert shape(params, "layer1/0/se/conv/kernel") == (1, 1, 5)
    assert shape(params, "fc/kernel") == (2022, 1000) and model.num_features == 2022
    assert [i.num_chs for i in model.feature_info()] == [64, 19, 171, 818, 2022]
    with pytest.raises(zoo_core.ArgumentError, match="pruned"):
        zoo_core.create_model("ecaresnet50d_pruned", layers=ONE)


def test_layers_override_builds_the_same_blocks_shallower():
    """``layers`` as timm's create_model kwarg: fewer blocks, the same stem, shortcuts and head;
    other lengths, zeros and unknown keywords are refused, naming the variant."""
    _, full, _ = trees("resnetrs420")
    _, small, _ = trees("resnetrs420", layers=ONE)
    assert [len(full[f"layer{i}"]) for i in range(1, 5)] == [4, 44, 87, 4]
    assert [len(small[f"layer{i}"]) for i in range(1, 5)] == [1, 1, 1, 1]
    assert jax.tree.map(lambda a: a.shape, small["layer3"]["0"]) == jax.tree.map(lambda a: a.shape, full["layer3"]["0"])
    for bad in [(1, 1, 1), (1, 0, 1, 1), "1111"]:
        with pytest.raises(zoo_core.ArgumentError, match="resnetrs420.tf_in1k: layers="):
            zoo_core.create_model("resnetrs420", layers=bad)


def test_forward_intermediates_contract():
    """Maps at the asked indices, in order, NHWC at timm's reductions; ``final=True`` also returns
    ``forward_features``' output; without it no stage past the last index is computed."""
    model = zoo_core.create_model("test_resnet", num_classes=0)
    params, state = jax.jit(model.init)(jax.random.key(0))
    x = x_nhwc()

    @jax.jit
    def run(params, state, x):
        early = model.forward_intermediates(params, state, x, (3, 0))
        final = model.forward_intermediates(params, state, x, (1,), final=True, norm=True)
        return early, final, model.forward_features(params, state, x)[0]

    (maps, _), ((maps_final, features), new_state), expected = run(params, state, x)
    assert [m.shape for m in maps] == [(1, 4, 4, 192), (1, 32, 32, 32)]
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    assert maps_final[0].shape == (1, 16, 16, 32) and jax.tree.structure(new_state) == jax.tree.structure(state)
    # through timm's signature: every point; stop_early's features are where the network stops
    from zoo_core.features import forward_intermediates

    every, _ = jax.jit(lambda p, s, x: forward_intermediates(model, p, s, x, intermediates_only=True))(params, state, x)
    assert [m.shape[1] for m in every] == [32, 16, 8, 4, 2]
    (cut, _), _ = jax.jit(lambda p, s, x: forward_intermediates(model, p, s, x, (0, 1), stop_early=True))(
        params, state, x)
    np.testing.assert_allclose(cut, every[1], rtol=1e-6)
    # train mode, stopping after layer1: its statistics move, layer2's are returned as they came
    _, early_state = jax.jit(lambda p, s, x: model.forward_intermediates(p, s, x, (1,), train=True))(params, state, x)
    assert jax.tree.structure(early_state) == jax.tree.structure(state)
    assert not np.allclose(early_state["layer1"]["0"]["bn1"]["mean"], state["layer1"]["0"]["bn1"]["mean"])
    np.testing.assert_array_equal(early_state["layer2"]["0"]["bn1"]["mean"], state["layer2"]["0"]["bn1"]["mean"])
    assert [(i.num_chs, i.reduction) for i in model.feature_info()] == [(32, 2), (32, 4), (48, 8), (192, 16), (96, 32)]


@pytest.mark.parametrize("name", ["resnetaa50", "resnetblur50", "resnet50_gn", "ecaresnetlight", "senet154"])
def test_options_run_in_train_mode(name):
    """Every option's train-mode forward runs and gives (N, classes) and a state of the same
    structure (shapes only: ``jax.eval_shape``)."""
    model = zoo_core.create_model(name, layers=ONE)
    params, state = abstract_init(model)
    out, new_state = jax.eval_shape(lambda p, s, x: model.apply(p, s, x, train=True), params, state,
                                    jax.ShapeDtypeStruct((2, 64, 64, 3), jnp.float32))
    assert out.shape == (2, 1000) and jax.tree.structure(new_state) == jax.tree.structure(state)
