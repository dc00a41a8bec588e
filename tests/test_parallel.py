"""Data-parallel apply over 4 CPU devices gives the same outputs as one device."""

import os
import subprocess
import sys
import textwrap


def test_four_devices_match_one_device():
    code = textwrap.dedent("""
        import jax, numpy as np, zoo_core
        from zoo_core.parallel import data_parallel
        assert jax.local_device_count() == 4, jax.devices()
        model = zoo_core.create_model("tinynet_s")
        params, state = model.init(jax.random.key(0))
        x = np.random.default_rng(0).standard_normal((10, 12, 12, 3)).astype(np.float32)  # 10: not a multiple of 4
        single, _ = jax.jit(model.apply)(params, state, x)
        apply = data_parallel(model.apply)
        multi, _ = apply(params, state, x)
        assert multi.shape == single.shape == (10, 10)
        np.testing.assert_allclose(multi, single, rtol=1e-5, atol=1e-5)
        multi8, _ = apply(params, state, x[:8])
        assert len(multi8.sharding.device_set) == 4
        np.testing.assert_allclose(multi8, single[:8], rtol=1e-5, atol=1e-5)
        print("ok")
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "ok"


def test_the_compilation_cache_is_on_by_default_in_zoos_dir_and_can_be_turned_off(tmp_path):
    code = "import jax, zoo_core; zoo_core.create_model('tinynet_s'); print(jax.config.jax_compilation_cache_dir)"
    env = {**os.environ, "ZOO_COMPILATION_CACHE_DIR": str(tmp_path / "jaxcache")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.stdout.strip() == str(tmp_path / "jaxcache")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**env, "ZOO_COMPILATION_CACHE": "0"})
    assert r.stdout.strip() == "None"


def test_the_data_parallel_train_step_on_one_process_is_the_plain_step():
    """``replicate``, ``shard_batch`` and ``data_parallel_train_step`` on this process's devices
    give the jitted step's params, BatchNorm state and loss; a leaf without rows is refused.
    (Many processes: ``tests/test_distributed.py``.)"""
    import jax
    import numpy as np
    import pytest

    import zoo_core
    from zoo_core.errors import ArgumentError
    from zoo_core.parallel import data_parallel_train_step, replicate, shard_batch

    class SGD:  # an optax-like transformation without optax: update = -0.1 * grad
        def update(self, grads, opt_state, params=None):
            return jax.tree.map(lambda g: -0.1 * g, grads), opt_state

    model = zoo_core.create_model("tinynet_s")
    params, state = jax.jit(model.init)(jax.random.key(0))
    rng = np.random.default_rng(0)
    images, labels = rng.standard_normal((4, 12, 12, 3)).astype(np.float32), rng.integers(0, 10, 4)

    def loss_fn(params, state, images, labels):
        logits, state = model.apply(params, state, images, train=True)
        return -jax.nn.log_softmax(logits)[np.arange(4), labels].mean(), state

    step = data_parallel_train_step(loss_fn, SGD())
    assert step.mesh.devices.size == jax.device_count()
    p, s, _, loss = step(*replicate((params, state, ()), step.mesh), *shard_batch((images, labels), step.mesh))
    (want_loss, want_state), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params, state, images, labels)
    want = jax.tree.map(lambda a, g: a - 0.1 * g, params, grads)
    for got, expected in zip(jax.tree.leaves((p, s, loss)), jax.tree.leaves((want, want_state, want_loss))):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6, atol=1e-7)
    with pytest.raises(ArgumentError, match="first axis is a multiple of this process's"):
        shard_batch(np.float32(1.0), step.mesh)
