"""conv, dense, batch/group/layer norm, pooling and GELU against their torch counterparts."""

import jax
import numpy as np
import pytest

from zoo_core import nn
from zoo_core.interop import conv_to_hwio, linear_to_dense

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.parity

from zoo_core.testing.parity import assert_close, randomize_torch_module, to_nchw, to_nhwc  # noqa: E402

SHAPES = [(2, 9, 11, 6), (1, 7, 7, 6), (3, 16, 5, 6)]


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k, stride, padding, dilation, groups", [
    (3, 1, 1, 1, 1), (3, 2, 1, 1, 1), (1, 1, 0, 1, 1), (7, 2, 3, 1, 1), (3, 1, 2, 2, 1), (3, 1, 1, 1, 3),
    (5, 2, 2, 1, 6), (4, 4, 0, 1, 1),
])
def test_conv2d_matches_torch(shape, k, stride, padding, dilation, groups):
    cin, cout = shape[-1], 12
    ref = torch.nn.Conv2d(cin, cout, k, stride, padding, dilation, groups)
    randomize_torch_module(ref)
    ours = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups)
    params = {"kernel": conv_to_hwio(ref.weight.detach().numpy()), "bias": ref.bias.detach().numpy()}
    x = rand(shape)
    y, _ = ours.apply(params, {}, x)
    assert_close(y, to_nhwc(ref(torch.from_numpy(to_nchw(x)))), name="conv2d")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k, stride", [(3, 2), (2, 2), (3, 1), (4, 3)])
def test_conv2d_same_padding_matches_timm_pad_same(shape, k, stride):
    from timm.layers import create_conv2d

    ref = create_conv2d(shape[-1], 5, k, stride=stride, padding="same")
    randomize_torch_module(ref)
    ours = nn.Conv2d(shape[-1], 5, k, stride=stride, padding="same", bias=False)
    x = rand(shape)
    y, _ = ours.apply({"kernel": conv_to_hwio(ref.weight.detach().numpy())}, {}, x)
    assert_close(y, to_nhwc(ref(torch.from_numpy(to_nchw(x)))), name="conv2d same")


def test_dense_matches_linear():
    ref = torch.nn.Linear(6, 4)
    randomize_torch_module(ref)
    x = rand((3, 5, 6))
    y, _ = nn.Dense(6, 4).apply({"kernel": linear_to_dense(ref.weight.detach().numpy()),
                                 "bias": ref.bias.detach().numpy()}, {}, x)
    assert_close(y, ref(torch.from_numpy(x)).detach().numpy(), name="dense")


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_eval_and_train_match_torch_including_running_stats(shape):
    c = shape[-1]
    ref = torch.nn.BatchNorm2d(c)
    randomize_torch_module(ref)
    ours = nn.BatchNorm(c)
    params = {"scale": ref.weight.detach().numpy(), "bias": ref.bias.detach().numpy()}
    state = {"mean": ref.running_mean.numpy().copy(), "var": ref.running_var.numpy().copy()}
    x = rand(shape)
    xt = torch.from_numpy(to_nchw(x))
    ref.eval()
    assert_close(ours.apply(params, state, x)[0], to_nhwc(ref(xt)), name="bn eval")
    ref.train()
    y_t = ref(xt)
    y, new_state = jax.jit(lambda p, s, x: ours.apply(p, s, x, train=True))(params, state, x)
    assert_close(y, to_nhwc(y_t.detach()), name="bn train")
    assert_close(new_state["mean"], ref.running_mean.numpy(), name="running_mean")
    assert_close(new_state["var"], ref.running_var.numpy(), name="running_var")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("groups", [1, 2, 3])
def test_group_norm_matches_torch(shape, groups):
    c = shape[-1]
    ref = torch.nn.GroupNorm(groups, c)
    randomize_torch_module(ref)
    x = rand(shape)
    y, _ = nn.GroupNorm(groups, c).apply({"scale": ref.weight.detach().numpy(), "bias": ref.bias.detach().numpy()}, {}, x)
    assert_close(y, to_nhwc(ref(torch.from_numpy(to_nchw(x)))), name="group norm")


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_norm_matches_torch(shape):
    ref = torch.nn.LayerNorm(shape[-1], eps=1e-6)
    randomize_torch_module(ref)
    x = rand(shape)
    y, _ = nn.LayerNorm(shape[-1], eps=1e-6).apply({"scale": ref.weight.detach().numpy(),
                                                    "bias": ref.bias.detach().numpy()}, {}, x)
    assert_close(y, ref(torch.from_numpy(x)).detach().numpy(), name="layer norm")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k, s, p", [(3, 2, 1), (2, 2, 0), (3, 1, 1), (5, 3, 2)])
def test_pooling_matches_torch(shape, k, s, p):
    x = rand(shape)
    xt = torch.from_numpy(to_nchw(x))
    assert_close(nn.max_pool2d(x, k, s, p), to_nhwc(F.max_pool2d(xt, k, s, p)), name="max pool")
    assert_close(nn.avg_pool2d(x, k, s, p), to_nhwc(F.avg_pool2d(xt, k, s, p)), name="avg pool")
    assert_close(nn.avg_pool2d(x, k, s, p, count_include_pad=False),
                 to_nhwc(F.avg_pool2d(xt, k, s, p, count_include_pad=False)), name="avg pool excl. pad")
    assert_close(nn.global_avg_pool(x), xt.mean((2, 3)).numpy(), name="global avg pool")


def test_gelu_is_the_exact_erf_form():
    x = np.linspace(-6, 6, 1001, dtype=np.float32)
    assert_close(nn.gelu(x), F.gelu(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-6, name="gelu")
    assert_close(nn.gelu_tanh(x), F.gelu(torch.from_numpy(x), approximate="tanh").numpy(), rtol=1e-6, atol=1e-6)


def test_initializers_follow_torch_fan_rules():
    key = jax.random.key(0)
    w = nn.kaiming_normal_fan_out(key, (3, 3, 64, 256))
    assert abs(float(w.std()) - np.sqrt(2 / (256 * 9))) < 2e-3
    u = nn.torch_default(key, (3, 3, 64, 8))
    bound = 1 / np.sqrt(64 * 9)
    assert float(abs(u).max()) <= bound and float(abs(u).max()) > 0.9 * bound
    assert abs(float(nn.normal_init(0.01)(key, (1000, 100)).std()) - 0.01) < 5e-4
