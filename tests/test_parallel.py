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
