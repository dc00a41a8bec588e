"""The shared layers on bfloat16 / float16 inputs: statistics in float32, the input's dtype out.

Each layer's low-precision output is compared with the same layer in float32 on the *same*
(already rounded) input, so the only error left is the final rounding to the low dtype — unless
the layer computes its statistics or logits in that dtype, which these inputs are built to expose
(a large mean over a small spread; attention logits of magnitude ~100; float16 sums of squares
past 65504).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo_core.nn.attention import dot_product_attention
from zoo_core.nn.depthwise import depthwise_conv2d
from zoo_core.nn.grn import grn
from zoo_core.nn.norm import BatchNorm, GroupNorm, LayerNorm

KEYS = jax.random.split(jax.random.key(0), 8)


def _offset_input(dtype, shape=(2, 6, 6, 16)):
    """Values 100 ± 1: the mean dwarfs the spread, so statistics taken in ``dtype`` are useless."""
    return (100 + jax.random.normal(KEYS[0], shape)).astype(dtype)


def _close_to_float32(layer_fn, x, *, rtol=2e-2):
    y = layer_fn(x)
    ref = layer_fn(x.astype(jnp.float32))
    assert y.dtype == x.dtype
    scale = float(jnp.abs(ref).max())
    np.testing.assert_allclose(np.asarray(y, np.float32), ref, atol=rtol * scale)
    return y


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("make", [lambda: LayerNorm(16), lambda: GroupNorm(4, 16)], ids=["layernorm", "groupnorm"])
def test_layer_and_group_norm_take_statistics_in_float32(make, dtype):
    """LayerNorm and GroupNorm of a 100 ± 1 low-precision input equal float32's to the output
    rounding; the normalized output has unit scale, not the garbage bf16 statistics give."""
    layer = make()
    params, state = layer.init(KEYS[1])
    y = _close_to_float32(lambda x: layer.apply(params, state, x)[0], _offset_input(dtype))
    assert 0.5 < float(jnp.std(y.astype(jnp.float32))) < 2


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("train", [False, True])
def test_batchnorm_normalizes_in_float32(dtype, train):
    """BatchNorm (running statistics 100 / 1, or the batch's) on a 100 ± 1 input: float32's
    result to the output rounding, and its float32 running statistics stay float32."""
    bn = BatchNorm(16)
    params, _ = bn.init(KEYS[1])
    state = {"mean": jnp.full((16,), 100.0), "var": jnp.ones((16,))}
    _close_to_float32(lambda x: bn.apply(params, state, x, train=train)[0], _offset_input(dtype))
    _, new_state = bn.apply(params, state, _offset_input(dtype), train=train)
    assert {v.dtype for v in new_state.values()} == {jnp.dtype(jnp.float32)}


def test_grn_statistics_do_not_overflow_in_float16():
    """GRN's sum of squares over the image is taken in float32: on float16 values of ~100 over
    8×8 pixels it would pass float16's maximum (65504) and give inf / NaN."""
    x = _offset_input(jnp.float16, (2, 8, 8, 16))
    scale = jax.random.normal(KEYS[2], (16,))
    bias = jax.random.normal(KEYS[3], (16,))
    y = _close_to_float32(lambda x: grn(x, scale, bias), x)
    assert bool(jnp.isfinite(y).all())


def test_attention_logits_and_softmax_in_float32():
    """bfloat16 q, k with logits of magnitude ~100: the attention output equals float32's on the
    same inputs to 0.3% of its scale (bfloat16 logits, rounded by up to 0.25, gave 3%)."""
    q, k, v = (jax.random.normal(KEYS[4 + i], (2, 3, 9, 16)) for i in range(3))
    q, k, v = (q * 5).astype(jnp.bfloat16), (k * 5).astype(jnp.bfloat16), v.astype(jnp.bfloat16)
    assert float(jnp.abs((q.astype(jnp.float32) / 4) @ jnp.swapaxes(k, -1, -2).astype(jnp.float32)).max()) > 60
    y = dot_product_attention(q, k, v)
    ref = dot_product_attention(*(a.astype(jnp.float32) for a in (q, k, v)))
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y, np.float32), ref, atol=6e-3 * float(jnp.abs(ref).max()))


@pytest.mark.parametrize("chans", [8, 16])  # 8: one block; 16: the CPU path's loop over channel blocks
def test_depthwise_cpu_path_in_bfloat16_forward_and_grad(chans):
    """depthwise_conv2d on bfloat16 input and kernel returns bfloat16 equal to float32's on the
    same values (it accumulates in float32), and jax.grad gives bfloat16 gradients matching
    float32's to bfloat16 rounding."""
    x = jax.random.normal(KEYS[0], (2, 9, 9, chans)).astype(jnp.bfloat16)
    kernel = (jax.random.normal(KEYS[1], (7, 7, 1, chans)) / 7).astype(jnp.bfloat16)
    conv = jax.jit(lambda x, k: depthwise_conv2d(x, k, padding=((3, 3), (3, 3))))
    y = conv(x, kernel)
    ref = conv(x.astype(jnp.float32), kernel.astype(jnp.float32))
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y, np.float32), ref, atol=1e-2 * float(jnp.abs(ref).max()))
    cot = jax.random.normal(KEYS[2], y.shape)

    def loss(x, k):
        return jnp.sum(conv(x, k).astype(jnp.float32) * cot)

    gx, gk = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, kernel)
    rx, rk = jax.grad(loss, argnums=(0, 1))(x.astype(jnp.float32), kernel.astype(jnp.float32))
    assert gx.dtype == gk.dtype == jnp.bfloat16
    for g, r in ((gx, rx), (gk, rk)):
        np.testing.assert_allclose(np.asarray(g, np.float32), r, atol=2e-2 * float(jnp.abs(r).max()))
