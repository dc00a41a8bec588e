"""GroupNorm followed by ReLU in one call (BiT's pre-activation ``GroupNormAct``), optionally on the raw
output of a weight-standardized conv whose standardization is folded into its output
(``zoo_core.nn.StdConv2d``), and optionally with each pixel's sum over the channels of its result
(the window sums the next such conv folds with). zoo-core calls it from
``zoo_core.nn.group_norm_act`` on the CPU.

The FFI target ``zoo_group_norm_act`` (``group_norm.cc``) takes each image's per-channel statistics in
one pass (double-precision sums shifted by the image's first pixel), forms the group statistics, and
writes ``relu?(z · a + b)`` in a second pass, ``z`` the input or the folded conv output
``(x - S · m) / sqrt(v + std_eps)``, never written out. Under jax.sharding it splits along the batch
(its statistics are per image); under ``jax.vmap`` a batch of inputs folds into N and batched norm
parameters loop.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from zoo_cpu_kernels import _batch_sharded, _lib

GROUP_NORM_TARGET = "zoo_group_norm_act"

jax.ffi.register_ffi_target(GROUP_NORM_TARGET, jax.ffi.pycapsule(_lib.ZooGroupNormAct), platform="cpu")


def group_norm_supports(dtype, *, channels: int, groups: int, ndim: int = 4) -> bool:
    """Whether ``group_norm_act`` takes this case: float32 NHWC, the channels a multiple of 16 and of
    ``groups``."""
    return (np.dtype(dtype) == np.float32 and ndim == 4 and groups >= 1 and channels > 0 and channels % 16 == 0
            and channels % groups == 0)


def _call(config, x, params, *sums):
    groups, eps, std_eps, relu, emit = config
    results = [jax.ShapeDtypeStruct(x.shape, x.dtype)]
    if emit:
        results.append(jax.ShapeDtypeStruct(x.shape[:-1], jnp.float32))
    out = jax.ffi.ffi_call(GROUP_NORM_TARGET, results, vmap_method="sequential")(
        x, params, *sums, groups=np.int64(groups), eps=np.float32(eps), std_eps=np.float32(std_eps),
        relu=np.int64(relu), folded=np.int64(bool(sums)), emit_sums=np.int64(emit))
    return tuple(out)


def _make_partitioned(folded: bool, emit: bool):
    """``_call`` as a ``custom_partitioning`` function (operands ``x, params[, window_sums], config``):
    each device normalizes its own images, where XLA would otherwise gather the batch onto every device."""
    arity = 2 + folded

    def unpartitioned(*args):
        return _call(args[-1], *args[:-1])
    partitioned = custom_partitioning(unpartitioned, static_argnums=(arity,))

    def infer(config, mesh, arg_shapes, result_shape):
        return (_batch_sharded(mesh, arg_shapes[0].sharding),) * (1 + emit)

    def partition(config, mesh, arg_shapes, result_shape):
        batch = _batch_sharded(mesh, arg_shapes[0].sharding)
        args = (batch, NamedSharding(mesh, P())) + (batch,) * folded
        return mesh, lambda *arrays: _call(config, *arrays), (batch,) * (1 + emit), args

    rule = "n h w c, t c" + (", n h w" if folded else "") + " -> n h w c" + (", n h w" if emit else "")
    partitioned.def_partition(partition=partition, infer_sharding_from_operands=infer, sharding_rule=rule,
                              need_replication_factors=("h", "w", "c", "t"))
    return partitioned


_PARTITIONED = {(folded, emit): _make_partitioned(folded, emit) for folded in (False, True) for emit in (False, True)}


@functools.cache
def _batchable(config, folded: bool):
    """The partitioned call with a batching rule: batched inputs (and window sums) fold into N,
    batched parameters loop."""
    partitioned = _PARTITIONED[folded, bool(config[-1])]

    @jax.custom_batching.custom_vmap
    def norm(x, params, *sums):
        return tuple(partitioned(x, params, *sums, config))

    @norm.def_vmap
    def _vmapped(axis_size, in_batched, x, params, *sums):
        x_batched, params_batched = in_batched[:2]
        sums_batched = in_batched[2:]
        if not params_batched:
            x = x if x_batched else jnp.broadcast_to(x, (axis_size, *x.shape))
            sums = tuple(s if b else jnp.broadcast_to(s, (axis_size, *s.shape)) for s, b in zip(sums, sums_batched))
            out = norm(x.reshape(-1, *x.shape[2:]), params, *(s.reshape(-1, *s.shape[2:]) for s in sums))
            return tuple(o.reshape(axis_size, -1, *o.shape[1:]) for o in out), (True,) * len(out)
        operands = [a if b else jnp.broadcast_to(a, (axis_size, *a.shape))
                    for a, b in zip((x, params, *sums), in_batched)]
        out = lax.map(lambda ops: norm(*ops), tuple(operands))
        return out, (True,) * len(out)

    return norm


def group_norm_act(x: jax.Array, scale: jax.Array, bias: jax.Array, *, groups: int, eps: float, relu: bool = True,
                   fold: tuple[jax.Array, jax.Array, jax.Array, float] | None = None,
                   emit_sums: bool = False) -> tuple[jax.Array, jax.Array | None]:
    """GroupNorm of ``x`` (N, H, W, C) float32 over ``groups`` groups (biased variance, ``eps``) with
    per-channel ``scale`` and ``bias``, then ReLU where ``relu`` → ``(y, sums)``: ``y`` shaped as ``x``,
    ``sums`` (N, H, W) each pixel's sum of ``y`` over the channels where ``emit_sums``, else ``None``.

    With ``fold = (window_sums, mean, var, std_eps)`` ``x`` is a weight-standardized conv's raw output
    and the norm's input is ``(x - window_sums[..., None] · mean) / sqrt(var + std_eps)``:
    ``window_sums`` (N, H, W), ``mean`` and ``var`` (C,) the conv kernel's per-output-channel moments.
    For the cases ``group_norm_supports`` names. Not differentiable itself (zoo-core adds the VJP)."""
    x = jnp.asarray(x)
    c = x.shape[-1]
    if not group_norm_supports(x.dtype, channels=c, groups=groups, ndim=x.ndim):
        raise ValueError(f"group_norm_act: needs float32 x (N, H, W, C) with C a multiple of 16 and of groups; got "
                         f"x {x.dtype} {x.shape}, groups {groups}")
    rows = [scale, bias]
    if fold is not None:
        window_sums, mean, var, std_eps = fold
        if window_sums.shape != x.shape[:-1] or mean.shape != (c,) or var.shape != (c,):
            raise ValueError(f"group_norm_act: the fold needs window sums {x.shape[:-1]} and moments ({c},); got "
                             f"{window_sums.shape}, {mean.shape}, {var.shape}")
        rows += [mean, var]
        sums = (window_sums.astype(jnp.float32),)
    else:
        rows += [jnp.zeros_like(scale), jnp.zeros_like(scale)]
        sums, std_eps = (), 0.0
    if any(r.shape != (c,) for r in rows):
        raise ValueError(f"group_norm_act: scale and bias must be ({c},); got {scale.shape}, {bias.shape}")
    params = jnp.stack([r.astype(jnp.float32) for r in rows])
    config = (int(groups), float(eps), float(std_eps), int(bool(relu)), int(bool(emit_sums)))
    out = _batchable(config, fold is not None)(x, params, *sums)
    return out[0], (out[1] if emit_sums else None)
