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


def test_take_indices_follow_timm_forward_intermediates():
    """None: every point; n: the last n; negatives from the end; in network order, each once (timm
    collects the points while it runs the network)."""
    from zoo_core.features import take_indices

    assert take_indices("m", 5, None) == (0, 1, 2, 3, 4)
    assert take_indices("m", 5, 2) == (3, 4)
    assert take_indices("m", 5, (4, -5, 0)) == (0, 4)
    with pytest.raises(ValueError, match="outside the 5 feature maps"):
        take_indices("m", 5, (5,))
    with pytest.raises(ValueError, match="the last 6 of 5"):
        take_indices("m", 5, 6)


def test_forward_intermediates_wrapper_with_a_minimal_family_method():
    """A family method taking only (params, state, x, indices, *, train) serves
    intermediates_only=True with the defaults; asking for the final features (or norm) names what
    its family lacks; the compute-dtype wrapper passes the call through."""
    from zoo_core.features import forward_intermediates

    model = zoo_core.create_model("tinynet_s")
    p, s = model.init(jax.random.key(0))
    x = np.ones((2, 10, 12, 3), np.float32)
    maps, _ = forward_intermediates(model, p, s, x, intermediates_only=True)
    features, _ = model.forward_features(p, s, x)
    assert [m.shape for m in maps] == [(2, 10, 12, 8), (2, 5, 6, 16)]
    np.testing.assert_allclose(maps[-1], features, rtol=1e-6)
    with pytest.raises(ValueError, match="takes no final"):
        forward_intermediates(model, p, s, x)
    with pytest.raises(ValueError, match="takes no norm"):
        forward_intermediates(model, p, s, x, norm=True, intermediates_only=True)
    low = zoo_core.create_model("tinynet_s", dtype="bfloat16")
    maps16, _ = forward_intermediates(low, p, s, x, [-1], intermediates_only=True)
    assert maps16[0].dtype == np.float32 and maps16[0].shape == (2, 5, 6, 16)
