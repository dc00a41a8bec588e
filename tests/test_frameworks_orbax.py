"""Orbax checkpoints of zoo trees: a fine-tune saved mid-way (params, BatchNorm state, optimizer
state; sharded arrays) restores into ``create_pretrained``'s structure without a download, on
the shardings asked for, and resumes exactly; the NNX and Equinox adapters' trees round-trip."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("orbax.checkpoint")
optax = pytest.importorskip("optax")

from frameworks_common import NAME, assert_trees_close, serve_tinynet  # noqa: E402

import zoo_core  # noqa: E402
from zoo_core.frameworks import orbax as zoo_orbax  # noqa: E402

X = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
LABELS = jnp.array([1, 3, 0, 7])


def make_step(model, tx):
    def loss_fn(params, state):
        logits, state = model.apply(params, state, X, train=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, LABELS).mean(), state

    @jax.jit
    def step(params, state, opt_state):
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    return step


def data_sharding(path, struct):
    """Kernels split on their output channels over the mesh's one axis, everything else replicated."""
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("model",))
    spec = (None,) * (len(struct.shape) - 1) + ("model",) if getattr(path[-1], "key", None) == "kernel" else ()
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec))


def test_resume_from_checkpoint_into_pretrained_structure(zoo_hub, tmp_path):
    serve_tinynet(zoo_hub)
    model, load = zoo_core.create_pretrained(NAME)
    params, state = load()
    tx = optax.adamw(1e-2)
    step = make_step(model, tx)
    opt_state = tx.init(params)
    params, state, opt_state, _ = step(params, state, opt_state)
    params, state, opt_state = jax.device_put((params, state, opt_state),
                                              zoo_orbax.shardings((params, state, opt_state), data_sharding))
    zoo_orbax.save(tmp_path / "ckpt", params, state, opt_state=opt_state)
    uninterrupted = step(params, state, opt_state)

    downloads = zoo_hub.count()
    restored_model, _ = zoo_core.create_pretrained(NAME)   # the structure only: nothing downloaded
    abstract_opt = jax.eval_shape(tx.init, zoo_orbax.abstract_trees(restored_model)[0])
    r_params, r_state, r_opt = zoo_orbax.restore(tmp_path / "ckpt", restored_model, opt_state=abstract_opt,
                                                 sharding=data_sharding)
    assert zoo_hub.count() == downloads
    assert_trees_close((r_params, r_state, r_opt), (params, state, opt_state), rtol=0, atol=0)
    assert r_params["fc"]["kernel"].sharding.spec == jax.sharding.PartitionSpec(None, "model")
    assert r_state["stem"]["bn"]["mean"].sharding.spec == jax.sharding.PartitionSpec()
    assert r_state["stem"]["conv"] == {}
    resumed = make_step(restored_model, tx)(r_params, r_state, r_opt)
    assert_trees_close(resumed, uninterrupted, rtol=0, atol=0)
    # params and state alone, onto the default device
    only = zoo_orbax.restore(tmp_path / "ckpt", restored_model)
    assert_trees_close(only, (params, state), rtol=0, atol=0)


def test_checkpoint_manager_item(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    model = zoo_core.create_model(NAME)
    params, state = jax.jit(model.init)(jax.random.key(0))
    with ocp.CheckpointManager(tmp_path / "run", options=ocp.CheckpointManagerOptions(max_to_keep=1)) as manager:
        saved = [jax.tree.map(lambda p, i=i: p + i, params) for i in range(2)]
        for i in range(2):
            manager.save(i, args=ocp.args.StandardSave({"params": saved[i], "state": state}))
        manager.wait_until_finished()
        assert manager.all_steps() == [1]
        item = manager.restore(1, args=ocp.args.StandardRestore(zoo_orbax.abstract_item(model)))
    assert_trees_close((item["params"], item["state"]), (saved[1], state), rtol=0, atol=0)


def test_adapters_round_trip(tmp_path):
    nnx = pytest.importorskip("flax.nnx")
    eqx = pytest.importorskip("equinox")
    from zoo_core.frameworks.equinox import ZooModel
    from zoo_core.frameworks.nnx import ZooModule

    model = zoo_core.create_model(NAME)
    module = ZooModule(model, rngs=nnx.Rngs(0))
    zoo_orbax.save(tmp_path / "nnx", *module.trees())
    fresh = ZooModule(model, rngs=nnx.Rngs(1))
    fresh.set_trees(*zoo_orbax.restore(tmp_path / "nnx", model))
    assert_trees_close(fresh.trees(), module.trees(), rtol=0, atol=0)

    # a whole NNX model holding the adapter, as Flax documents Orbax: nnx.state in, nnx.eval_shape's out
    ocp = pytest.importorskip("orbax.checkpoint")

    class Classifier(nnx.Module):
        def __init__(self, rngs):
            self.backbone = ZooModule(zoo_core.create_model(NAME, num_classes=0), rngs=rngs)
            self.head = nnx.Linear(16, 3, rngs=rngs)

    whole = Classifier(nnx.Rngs(0))
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "whole", nnx.state(whole))
        checkpointer.wait_until_finished()
        graphdef, abstract = nnx.split(nnx.eval_shape(lambda: Classifier(nnx.Rngs(1))))
        back = nnx.merge(graphdef, checkpointer.restore(tmp_path / "whole", abstract))
    assert_trees_close(back.backbone.trees(), whole.backbone.trees(), rtol=0, atol=0)
    np.testing.assert_array_equal(back.head.kernel[...], whole.head.kernel[...])

    emodule, estate = eqx.nn.make_with_state(ZooModel)(model, key=jax.random.key(2))
    zoo_orbax.save(tmp_path / "eqx", *emodule.trees(estate))
    params, state = zoo_orbax.restore(tmp_path / "eqx", model)
    assert_trees_close((params, state), emodule.trees(estate), rtol=0, atol=0)


TWO_DEVICES = textwrap.dedent("""
    import sys, jax, numpy as np
    import zoo_core
    from zoo_core.frameworks import orbax as zoo_orbax
    assert len(jax.devices()) == 2
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("model",))
    def split(path, struct):
        spec = (None,) * (len(struct.shape) - 1) + ("model",) if getattr(path[-1], "key", None) == "kernel" else ()
        return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec))
    model = zoo_core.create_model("tinynet_s")
    trees = jax.jit(model.init)(jax.random.key(0))
    sharded = jax.device_put(trees, zoo_orbax.shardings(trees, split))
    assert len(sharded[0]["fc"]["kernel"].addressable_shards) == 2
    zoo_orbax.save(sys.argv[1], *sharded)
    back = zoo_orbax.restore(sys.argv[1], model, sharding=split)
    assert back[0]["stage"]["conv"]["kernel"].sharding.spec == jax.sharding.PartitionSpec(None, None, None, "model")
    single = zoo_orbax.restore(sys.argv[1], model)
    for a, b, c in zip(jax.tree.leaves(trees), jax.tree.leaves(back), jax.tree.leaves(single)):
        np.testing.assert_array_equal(a, b); np.testing.assert_array_equal(a, c)
    print("ok")
""")


def test_two_device_sharding(tmp_path):
    """Kernels split over two (forced host) CPU devices are saved shard by shard and restored
    either split again or whole on one device."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", TWO_DEVICES, str(tmp_path / "ckpt")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
