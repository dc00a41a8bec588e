"""``zoo_core.nn.grn`` (GlobalResponseNorm, GlobalResponseNormMlp) against timm's, both of timm's
layouts (channels_last NHWC, and the NCHW form ConvNeXt-V2 atto … nano use), several shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from timm.layers.grn import GlobalResponseNorm  # noqa: E402
from timm.layers.mlp import GlobalResponseNormMlp  # noqa: E402

from zoo_core.interop import apply_state_dict, conv1x1_to_dense, tree_mapping  # noqa: E402
from zoo_core.nn.grn import GlobalResponseNorm as ZooGlobalResponseNorm  # noqa: E402
from zoo_core.nn.grn import grn_mlp  # noqa: E402
from zoo_core.testing.parity import assert_close, randomize_torch_module, to_nchw, to_nhwc  # noqa: E402

pytestmark = pytest.mark.parity

SHAPES = [(2, 9, 11, 16), (1, 7, 7, 32), (3, 1, 5, 8), (1, 1, 1, 4)]


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels_last", [True, False])
def test_grn_matches_timm(shape, channels_last):
    """Same output as timm's GRN on NHWC (channels_last) or, transposed, on NCHW, with randomized
    (C,) weight and bias (timm starts them at zero, which would hide a wrong formula)."""
    ref = GlobalResponseNorm(shape[-1], channels_last=channels_last)
    randomize_torch_module(ref, seed=shape[-1])
    x = rand(shape)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x if channels_last else to_nchw(x))).numpy()
    params = {"scale": ref.weight.detach().numpy(), "bias": ref.bias.detach().numpy()}
    y, _ = jax.jit(ZooGlobalResponseNorm(shape[-1]).apply)(params, {}, jnp.asarray(x))
    assert_close(y, expected if channels_last else to_nhwc(expected), name="grn")


@pytest.mark.parametrize("use_conv", [False, True])
def test_grn_mlp_matches_timm(use_conv):
    """fc1 → GELU → GRN → fc2; timm's 1×1-conv form maps its (out, in, 1, 1) weights with conv1x1_to_dense."""
    ref = GlobalResponseNormMlp(24, 96, use_conv=use_conv)
    randomize_torch_module(ref, seed=1)
    ours = grn_mlp(24, 96)
    params, state = jax.eval_shape(ours.init, jax.random.key(0))
    rules = [(r"(fc[12])/kernel", r"\1.weight", conv1x1_to_dense)] if use_conv else []
    sd = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    loaded = apply_state_dict({"params": params, "state": state}, sd, tree_mapping(params, state, rules))
    x = rand((2, 6, 5, 24))
    with torch.no_grad():
        expected = to_nhwc(ref(torch.from_numpy(to_nchw(x)))) if use_conv else ref(torch.from_numpy(x)).numpy()
    y, _ = jax.jit(ours.apply)(loaded["params"], loaded["state"], jnp.asarray(x))
    assert_close(y, expected, name="grn mlp")


def test_grn_grad_matches_torch_even_on_a_zero_channel():
    """Gradients w.r.t. input, scale and bias equal torch's autograd, including at a channel that is
    zero everywhere (where ‖x‖ has no derivative and torch takes 0)."""
    ref = GlobalResponseNorm(8, channels_last=True)
    randomize_torch_module(ref, seed=3)
    x = rand((2, 4, 3, 8))
    x[0, :, :, 2] = 0.0
    cotangent = rand((2, 4, 3, 8), seed=1)
    xt = torch.from_numpy(x).requires_grad_(True)
    (ref(xt) * torch.from_numpy(cotangent)).sum().backward()
    params = {"scale": jnp.asarray(ref.weight.detach().numpy()), "bias": jnp.asarray(ref.bias.detach().numpy())}
    module = ZooGlobalResponseNorm(8)

    def loss(p, x):
        return jnp.sum(module.apply(p, {}, x)[0] * cotangent)

    grads, grad_x = jax.grad(loss, argnums=(0, 1))(params, jnp.asarray(x))
    assert bool(jnp.isfinite(grad_x).all())
    assert_close(grad_x, xt.grad.numpy(), name="d/dx")
    assert_close(grads["scale"], ref.weight.grad.numpy(), name="d/dscale")
    assert_close(grads["bias"], ref.bias.grad.numpy(), name="d/dbias")
