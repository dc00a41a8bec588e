"""features_only with timm's out_indices rules, on the tinynet test family."""

import jax
import numpy as np
import pytest

import zoo_core
from zoo_core.features import resolve_out_indices

from tinynet_weights import tinynet_bytes


def test_out_indices_follow_timm_rules_and_fail_clearly():
    assert resolve_out_indices("m", 5, None) == (0, 1, 2, 3, 4)
    assert resolve_out_indices("m", 5, (1, -1)) == (1, 4)
    assert resolve_out_indices("m", 5, 2) == (3, 4)
    with pytest.raises(ValueError, match=r"m: out_indices \(0, 5\) has 5, outside the 5 feature maps"):
        resolve_out_indices("m", 5, (0, 5))
    with pytest.raises(ValueError, match="names a feature map twice"):
        resolve_out_indices("m", 5, (1, -4))
    with pytest.raises(TypeError, match="needs features_only"):
        zoo_core.create_model("tinynet_s", out_indices=(0,))


def test_features_only_returns_the_maps_and_their_info():
    model = zoo_core.create_model("tinynet_s", features_only=True, out_indices=(-1,))
    assert [(f.num_chs, f.reduction, f.module) for f in model.feature_info()] == [(16, 2, "stage")]
    p, s = model.init(jax.random.key(0))
    maps, _ = model.apply(p, s, np.ones((2, 10, 12, 3), np.float32))
    assert [m.shape for m in maps] == [(2, 5, 6, 16)]


def test_features_only_loads_the_released_weights(hub):
    hub.add_file("zoo-test/tinynet_s.zoo_in1k", "model.safetensors", tinynet_bytes())
    model, load = zoo_core.create_pretrained("tinynet_s", features_only=True)
    params, state = load()
    full, load_full = zoo_core.create_pretrained("tinynet_s")
    fp, fs = load_full()
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype(np.float32)
    maps, _ = model.apply(params, state, x)
    feats, _ = full.forward_features(fp, fs, x)
    np.testing.assert_allclose(maps[-1], feats, rtol=1e-6)
