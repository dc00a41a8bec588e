"""``zoo_core.nn.se_block`` and ``se_make_divisible`` against timm's ``SEModule`` and ``make_divisible``."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from timm.layers import SEModule, make_divisible  # noqa: E402

from zoo_core.interop import tree_mapping  # noqa: E402
from zoo_core.nn.se import se_block, se_make_divisible  # noqa: E402
from zoo_core.testing.parity import assert_close, randomize_torch_module, to_nhwc  # noqa: E402

pytestmark = pytest.mark.parity

CASES = [
    # (channels, se kwargs, timm kwargs, (N, H, W))
    (64, {}, {}, (2, 7, 7)),
    (96, {"rd_ratio": 0.25}, {"rd_ratio": 0.25}, (1, 5, 9)),  # batch 1, non-square
    (40, {"rd_ratio": 1 / 3, "rd_divisor": 4}, {"rd_ratio": 1 / 3, "rd_divisor": 4}, (3, 3, 4)),
    (128, {"rd_channels": 20}, {"rd_channels": 20}, (1, 1, 1)),  # explicit width, 1x1 map
    (48, {"act": "silu"}, {"act_layer": torch.nn.SiLU}, (2, 11, 6)),
]


@pytest.mark.parametrize("channels,kwargs,timm_kwargs,nhw", CASES)
def test_se_block_matches_timm(channels, kwargs, timm_kwargs, nhw):
    """Same bottleneck width, same state-dict keys and shapes, same output as timm's SEModule."""
    ref = SEModule(channels, **timm_kwargs)
    randomize_torch_module(ref, seed=channels)
    ours = se_block(channels, **kwargs)
    assert ours.rd_channels == ref.fc1.out_channels
    abstract = jax.eval_shape(ours.init, jax.random.key(0))
    sd = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    mapping = tree_mapping(*abstract)
    assert sorted(key for key, _, _ in mapping) == sorted(sd)
    params = {"fc1": {}, "fc2": {}}
    for key, path, transform in mapping:
        params[path[1]][path[2]] = jnp.asarray(transform(sd[key]))
    n, h, w = nhw
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((n, channels, h, w), dtype=np.float32))
    with torch.no_grad():
        expected = ref(x)
    y, _ = jax.jit(ours.apply)(params, abstract[1], jnp.asarray(to_nhwc(x)))
    assert_close(y, to_nhwc(expected), name="SE output")


@pytest.mark.parametrize("v", [1, 3, 4.5, 7, 8, 12, 15.9, 16, 20, 37.5, 64 * 0.25, 100, 1000 / 16, 2048 * 0.0625])
@pytest.mark.parametrize("divisor,min_value,round_limit", [(8, None, 0.9), (4, None, 0.9), (8, 16, 0.9), (8, None, 0.0)])
def test_se_make_divisible_matches_timm(v, divisor, min_value, round_limit):
    """``se_make_divisible`` is timm's ``make_divisible`` for every argument combination."""
    assert se_make_divisible(v, divisor, min_value, round_limit) == make_divisible(v, divisor, min_value, round_limit)
