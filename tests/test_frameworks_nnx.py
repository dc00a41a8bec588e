"""zoo models as Flax NNX modules: same outputs, gradients and BatchNorm updates as ``model.apply``,
NNX's transforms and filters, pretrained loading, and the fine-tune example against the same
fine-tune written with ``model.apply``. tinynet weights served by the loopback Hub."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("flax")
pytest.importorskip("optax")

from flax import nnx  # noqa: E402
from frameworks_common import NAME, X, assert_trees_close, loss_of, reference_finetune, serve_tinynet  # noqa: E402, I001

import zoo_core  # noqa: E402
from zoo_core.frameworks.nnx import ZooModule  # noqa: E402

from tinynet_weights import tinynet_state_dict  # noqa: E402


@pytest.mark.parametrize("train", [False, True])
def test_outputs_grads_and_state_match_apply(train):
    model = zoo_core.create_model("tinynet_s")
    module = ZooModule(model, rngs=nnx.Rngs(0))
    params, state = module.trees()
    assert jax.tree.structure(params) == jax.tree.structure(jax.eval_shape(model.init, jax.random.key(0))[0])
    if train:
        module.train()
    assert module.train_mode is train

    @nnx.jit
    def step(module, x):
        return nnx.value_and_grad(lambda m: loss_of(m(x)))(module)

    loss, grads = step(module, X)

    def ref(p):
        logits, new_state = model.apply(p, state, X, train=train)
        return loss_of(logits), new_state

    (ref_loss, ref_state), ref_grads = jax.jit(jax.value_and_grad(ref, has_aux=True))(params)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    flat = {path[1:]: v[...] for path, v in nnx.to_flat_state(grads)}
    ref_flat = {tuple(k.key for k in path): g for path, g in jax.tree_util.tree_leaves_with_path(ref_grads)}
    assert_trees_close(flat, ref_flat)
    assert_trees_close(module.trees()[1], ref_state)
    moved = [bool(np.any(a != b)) for a, b in zip(jax.tree.leaves(module.trees()[1]), jax.tree.leaves(state))]
    assert all(moved) if train else not any(moved)


def test_features_head_and_intermediates():
    model = zoo_core.create_model("tinynet_s")
    module = ZooModule(model, rngs=nnx.Rngs(0))
    params, state = module.trees()
    features = module.forward_features(X)
    np.testing.assert_allclose(features, model.forward_features(params, state, X)[0], rtol=1e-6)
    np.testing.assert_allclose(module.forward_head(features), model.apply(params, state, X)[0], rtol=1e-6)
    np.testing.assert_allclose(module.forward_head(features, pre_logits=True), features.mean(axis=(1, 2)), rtol=1e-5)
    maps = module.forward_intermediates(X, intermediates_only=True)
    assert [m.shape for m in maps] == [(2, 8, 8, 8), (2, 4, 4, 16)]
    (last,) = module.forward_intermediates(X, [-1], intermediates_only=True)
    np.testing.assert_allclose(last, features, rtol=1e-6)


def test_split_merge_and_filters():
    module = ZooModule(zoo_core.create_model("tinynet_s"), rngs=nnx.Rngs(0))
    graphdef, params, stats = nnx.split(module, nnx.Param, nnx.BatchStat)
    assert ("params", "stem", "conv", "kernel") in dict(nnx.to_flat_state(params))
    assert set(dict(nnx.to_flat_state(stats))) == {("batch_stats", s, "bn", k) for s in ("stem", "stage")
                                                   for k in ("mean", "var")}
    head = nnx.state(module, nnx.All(nnx.Param, nnx.PathContains("fc")))
    assert {p[-1] for p in dict(nnx.to_flat_state(head))} == {"kernel", "bias"}
    merged = nnx.merge(graphdef, params, stats)
    assert_trees_close(merged.trees(), module.trees(), rtol=0, atol=0)
    np.testing.assert_array_equal(merged(X), module(X))


def test_pretrained_before_and_after_construction(zoo_hub):
    serve_tinynet(zoo_hub)
    sd = tinynet_state_dict()
    module = ZooModule.from_pretrained(NAME)
    np.testing.assert_array_equal(module.trees()[0]["fc"]["bias"], sd["fc.bias"])
    # built randomly first, weights written later through a loader made for a larger tree
    module = ZooModule(zoo_core.create_model(NAME, num_classes=0), rngs=nnx.Rngs(3))
    _, load = zoo_core.create_pretrained(NAME, num_classes=0, prefix=("encoder", "backbone"))
    module.load_pretrained(load)
    params, state = module.trees()
    np.testing.assert_array_equal(params["stem"]["bn"]["scale"], sd["stem.bn.weight"])
    np.testing.assert_array_equal(state["stage"]["bn"]["var"], sd["stage.bn.running_var"])


def load_example(name: str):
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"zoo_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("frozen", [False, True])
def test_example_finetune_matches_apply(zoo_hub, frozen, capsys):
    """The example's fine-tune (an NNX Classifier, nnx.Optimizer, nnx.jit) lowers the loss and
    gives the losses, weights and BatchNorm statistics of the same fine-tune written against
    ``model.apply`` from the same starting trees."""
    serve_tinynet(zoo_hub)
    example = load_example("finetune_nnx")
    steps, size = 3, 8
    model, losses = example.finetune(NAME, steps=steps, image_size=size, freeze_backbone=frozen)
    assert losses[-1] < losses[0]

    start = example.Classifier(NAME, 10, rngs=nnx.Rngs(0))   # the example's seed: its starting point
    params, state = start.backbone.trees()
    head = {"kernel": start.head.kernel[...], "bias": start.head.bias[...]}
    images, labels = example.toy_batch(jax.random.key(1), batch=4, image_size=size, num_classes=10)
    ref_losses, ref_params, ref_state, ref_head = reference_finetune(
        start.backbone.model, params, state, head, images, labels, steps=steps, learning_rate=1e-3,
        train=not frozen, frozen=frozen)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert_trees_close(model.backbone.trees(), (ref_params, ref_state), rtol=1e-5, atol=1e-6)
    assert_trees_close({"kernel": model.head.kernel[...], "bias": model.head.bias[...]}, ref_head, rtol=1e-5,
                       atol=1e-6)
    if frozen:
        assert_trees_close(model.backbone.trees(), (params, state), rtol=0, atol=0)
    example.main(["--variant", NAME, "--steps", "2", "--image-size", "8"])
    assert f"{NAME}: loss" in capsys.readouterr().out
