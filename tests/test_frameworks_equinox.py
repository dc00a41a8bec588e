"""zoo models as Equinox modules: same outputs, gradients and BatchNorm updates as ``model.apply``,
Equinox's filtered transforms, pretrained loading, and the fine-tune example against the same
fine-tune written with ``model.apply``. tinynet weights served by the loopback Hub."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("equinox")
pytest.importorskip("optax")

import equinox as eqx  # noqa: E402
from frameworks_common import NAME, X, assert_trees_close, loss_of, reference_finetune, serve_tinynet  # noqa: E402, I001

import zoo_core  # noqa: E402
from zoo_core.frameworks.equinox import ZooModel, load_pretrained  # noqa: E402

from tinynet_weights import tinynet_state_dict  # noqa: E402


@pytest.mark.parametrize("train", [False, True])
def test_outputs_grads_and_state_match_apply(train):
    model = zoo_core.create_model("tinynet_s")
    module, state = eqx.nn.make_with_state(ZooModel)(model, key=jax.random.key(0))
    params, zoo_state = module.trees(state)
    assert_trees_close((params, zoo_state), jax.jit(model.init)(jax.random.key(0)), rtol=0, atol=0)
    if not train:
        module = eqx.nn.inference_mode(module)
    diff, static = eqx.partition(module, eqx.is_inexact_array)
    assert jax.tree.structure(diff.params) == jax.tree.structure(params)   # the params, nothing else
    assert not [x for x in jax.tree.leaves(eqx.filter(module, eqx.is_array)) if x is not None
                and all(x is not p for p in jax.tree.leaves(params))]

    @eqx.filter_jit
    def step(module, state):
        def loss(module):
            logits, new_state = module(X, state)
            return loss_of(logits), new_state
        return eqx.filter_value_and_grad(loss, has_aux=True)(module)

    (loss, new_state), grads = step(module, state)

    def ref(p):
        logits, new_state = model.apply(p, zoo_state, X, train=train)
        return loss_of(logits), new_state

    (ref_loss, ref_state), ref_grads = jax.jit(jax.value_and_grad(ref, has_aux=True))(params)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    assert_trees_close(grads.params, ref_grads)
    assert_trees_close(module.trees(new_state)[1], ref_state)
    moved = [bool(np.any(a != b)) for a, b in zip(jax.tree.leaves(module.trees(new_state)[1]),
                                                  jax.tree.leaves(zoo_state))]
    assert all(moved) if train else not any(moved)
    grads_only = eqx.filter_grad(lambda m: loss_of(m(X, new_state, inference=True)[0]))(module)
    assert jax.tree.structure(grads_only.params) == jax.tree.structure(params)


def test_features_head_and_intermediates():
    model = zoo_core.create_model("tinynet_s")
    module, state = eqx.nn.make_with_state(ZooModel)(model, key=jax.random.key(0), inference=True)
    params, zoo_state = module.trees(state)
    features, state = module.forward_features(X, state)
    np.testing.assert_allclose(features, model.forward_features(params, zoo_state, X)[0], rtol=1e-6)
    np.testing.assert_allclose(module.forward_head(features), model.apply(params, zoo_state, X)[0], rtol=1e-6)
    maps, state = module.forward_intermediates(X, state, intermediates_only=True)
    assert [m.shape for m in maps] == [(2, 8, 8, 8), (2, 4, 4, 16)]
    np.testing.assert_allclose(maps[-1], features, rtol=1e-6)


def test_pretrained_before_and_after_construction(zoo_hub):
    serve_tinynet(zoo_hub)
    sd = tinynet_state_dict()
    module, state = eqx.nn.make_with_state(ZooModel.from_pretrained)(NAME)
    np.testing.assert_array_equal(module.params["fc"]["bias"], sd["fc.bias"])
    np.testing.assert_array_equal(module.trees(state)[1]["stem"]["bn"]["mean"], sd["stem.bn.running_mean"])

    class Outer(eqx.Module):   # built randomly, weights written later through a prefixed loader
        encoder: ZooModel

    outer, state = eqx.nn.make_with_state(Outer)(ZooModel(zoo_core.create_model(NAME, num_classes=0),
                                                          key=jax.random.key(3)))
    _, load = zoo_core.create_pretrained(NAME, num_classes=0, prefix=("encoder",))
    outer, state = load_pretrained(outer, state, load, where=lambda m: m.encoder)
    params, zoo_state = outer.encoder.trees(state)
    np.testing.assert_array_equal(params["stem"]["bn"]["scale"], sd["stem.bn.weight"])
    np.testing.assert_array_equal(zoo_state["stage"]["bn"]["var"], sd["stage.bn.running_var"])


def load_example(name: str):
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"zoo_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("frozen", [False, True])
def test_example_finetune_matches_apply(zoo_hub, frozen, capsys):
    """The example's fine-tune (an Equinox Classifier, eqx.partition, eqx.filter_jit) lowers the
    loss and gives the losses, weights and BatchNorm statistics of the same fine-tune written
    against ``model.apply`` from the same starting trees."""
    serve_tinynet(zoo_hub)
    example = load_example("finetune_equinox")
    steps, size = 3, 8
    model, state, losses = example.finetune(NAME, steps=steps, image_size=size, freeze_backbone=frozen)
    assert losses[-1] < losses[0]

    start, start_state = eqx.nn.make_with_state(example.Classifier)(NAME, 10, key=jax.random.key(0))
    params, zoo_state = start.backbone.trees(start_state)
    head = {"kernel": start.head.weight.T, "bias": start.head.bias}
    images, labels = example.toy_batch(jax.random.key(1), batch=4, image_size=size, num_classes=10)
    ref_losses, ref_params, ref_state, ref_head = reference_finetune(
        start.backbone.model, params, zoo_state, head, images, labels, steps=steps, learning_rate=1e-3,
        train=not frozen, frozen=frozen)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert_trees_close(model.backbone.trees(state), (ref_params, ref_state), rtol=1e-5, atol=1e-6)
    assert_trees_close({"kernel": model.head.weight.T, "bias": model.head.bias}, ref_head, rtol=1e-5, atol=1e-6)
    if frozen:
        assert_trees_close(model.backbone.trees(state), (params, zoo_state), rtol=0, atol=0)
    example.main(["--variant", NAME, "--steps", "2", "--image-size", "8"])
    assert f"{NAME}: loss" in capsys.readouterr().out
