"""The 1×1 conv with a fused eval-mode BatchNorm, residual and ReLU epilogue (ResNet's
``conv → BatchNorm → [+ residual] → [ReLU]`` as one call on the CPU).

The FFI target ``zoo_pointwise_conv2d`` (``pointwise.cc``) takes x (N, H, W, Cin), the kernel as
(Cin, Cout), scale and shift (Cout,) or per image (N, Cout), and optionally a residual
(N, OH, OW, Cout), all float32, and computes ``act?(conv(x, kernel) · scale + shift + residual?)``
(``act`` ReLU, the exact GELU, or none):
a register-blocked GEMM over the output pixels whose last input-channel chunk applies the epilogue
as it stores. Under jax.sharding the call splits along the batch (x, the residual and per-image
scale and shift batch-sharded, the rest replicated); under ``jax.vmap`` a batch of inputs folds
into N. No autodiff rule: zoo-core adds the VJP.
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

from zoo_core.validate import check_bool, check_int, refuse

from zoo_cpu_kernels import _batch_sharded, _lib

POINTWISE_TARGET = "zoo_pointwise_conv2d"
#: scale and shift may be (N, Cout), one row per image (zoo-core checks this before it folds a gate in).
POINTWISE_PER_IMAGE = True
#: the epilogue's activation may be the exact GELU (``gelu=True``; zoo-core checks this before it asks).
POINTWISE_GELU = True
#: the kernel may be a patch conv's (s, s, Cin, Cout) at stride s >= 2 (``pointwise_supports(kernel_hw=)``).
POINTWISE_PATCH = True
#: an input prologue, ``relu?(x · in_scale + in_shift)`` per image and input channel, for a 1×1 conv at stride 1.
POINTWISE_PROLOGUE = True
#: the prologue may normalize each pixel over its input channels first (``in_norm_eps``: a LayerNorm).
POINTWISE_LAYERNORM = True
#: Input channels per pass over the kernel (128-512 measured alike on Zen 5; 256: one pass at Cin 256).
POINTWISE_CIN_BLOCK = 256

jax.ffi.register_ffi_target(POINTWISE_TARGET, jax.ffi.pycapsule(_lib.ZooPointwise), platform="cpu")


def _stride(stride) -> int | None:
    """``stride`` as one int where it is an int or an equal pair, else None."""
    if isinstance(stride, (tuple, list)):
        return int(stride[0]) if len(stride) == 2 and stride[0] == stride[1] else None
    return int(stride)


def pointwise_supports(x_dtype, kernel_dtype, *, out_chans: int, stride, kernel_hw=(1, 1)) -> bool:
    """Whether ``pointwise_conv2d`` computes this case: float32 input and kernel, a positive
    multiple of 16 output channels, and a 1×1 kernel at stride 1 or 2 (an int, or the same both ways)
    or an unpadded patch conv, its kernel (s, s) at stride s >= 2."""
    s = _stride(stride)
    shape_ok = (tuple(kernel_hw) == (1, 1) and s in (1, 2)) or (s is not None and s >= 2
                                                                 and tuple(kernel_hw) == (s, s))
    return (np.dtype(x_dtype) == np.float32 and np.dtype(kernel_dtype) == np.float32
            and out_chans > 0 and out_chans % 16 == 0 and shape_ok)


def _out_hw(x_shape, kernel_shape, stride: int) -> tuple[int, int]:
    """A 1×1 conv's output rows and columns at ``stride``, or a patch conv's (its (s·s·Cin, Cout) kernel):
    the whole patches."""
    if kernel_shape[0] != x_shape[3]:
        return x_shape[1] // stride, x_shape[2] // stride
    return (x_shape[1] - 1) // stride + 1, (x_shape[2] - 1) // stride + 1


def _pointwise_call(config, x, kernel, scale, shift, *rest) -> jax.Array:
    """The FFI call; ``rest``: the residual (if any), then the prologue's (N, Cin) scale and shift where
    ``config`` asks for a prologue (its 7th entry: 1, or 2 with a ReLU)."""
    stride, relu, gelu, cin_block, max_threads, portable, *more = config
    prologue, prologue_eps = (more + [0, 0.0])[:2]
    out = jax.ShapeDtypeStruct((x.shape[0], *_out_hw(x.shape, kernel.shape, stride), kernel.shape[1]), x.dtype)
    return jax.ffi.ffi_call(POINTWISE_TARGET, out, vmap_method="sequential")(
        x, kernel, scale, shift, *rest, stride=np.int64(stride), relu=np.int64(relu), gelu=np.int64(gelu),
        has_residual=np.int64(len(rest) - (2 if prologue else 0)), cin_block=np.int64(cin_block),
        max_threads=np.int64(max_threads), portable=np.int64(portable), prologue=np.int64(prologue),
        prologue_eps=np.float32(prologue_eps))


def _partitioned(call, batched: tuple[bool, ...], rule: str):
    """``call(config, *arrays)`` as a ``custom_partitioning`` function (``config`` static, last): under
    jax.sharding each device computes its own images, the operands where ``batched`` says so split along
    the batch and the others whole (``rule``: the sharding rule, the batch axis ``n``), where XLA would
    otherwise gather the batch onto every device."""
    arity = len(batched)

    def unpartitioned(*args):
        return call(args[-1], *args[:-1])
    partitioned = custom_partitioning(unpartitioned, static_argnums=(arity,))

    def infer(config, mesh, arg_shapes, result_shape):
        return _batch_sharded(mesh, arg_shapes[0].sharding)

    def partition(config, mesh, arg_shapes, result_shape):
        batch, whole = _batch_sharded(mesh, arg_shapes[0].sharding), NamedSharding(mesh, P())
        return mesh, lambda *arrays: call(config, *arrays), batch, tuple(batch if b else whole for b in batched)

    factors = tuple(name for name in rule.replace(",", " ").replace("->", " ").split() if name != "n")
    partitioned.def_partition(partition=partition, infer_sharding_from_operands=infer, sharding_rule=rule,
                              need_replication_factors=tuple(dict.fromkeys(factors)))
    return partitioned


def make_partitioned(call, kernel_axes: str, with_residual: bool, per_image: bool = False, prologue: bool = False):
    """``call(config, x, kernel, scale, shift[, residual][, in_scale, in_shift])`` partitioned along the
    batch (``_partitioned``): x, the residual and a prologue's (N, Cin) scale and shift split, and scale
    and shift where they are ``per_image`` (N, Cout); the kernel, with axes ``kernel_axes`` in the
    sharding rule, and shared scale and shift whole."""
    affine = "n o" if per_image else "o"
    rule = (f"n h w c, {kernel_axes}, {affine}, {affine}" + (", n p q o" if with_residual else "")
            + (", n c, n c" if prologue else "") + " -> n p q o")
    return _partitioned(call, (True, False, per_image, per_image) + (True,) * (with_residual + 2 * prologue), rule)


_PARTITIONED = {(residual, per_image, prologue): make_partitioned(_pointwise_call, "c o", residual, per_image, prologue)
                for residual in (False, True) for per_image in (False, True) for prologue in (False, True)}


def _fold(a: jax.Array) -> jax.Array:
    return a.reshape(-1, *a.shape[2:])


def _batched(a: jax.Array, is_batched: bool, axis_size: int) -> jax.Array:
    return a if is_batched else jnp.broadcast_to(a, (axis_size, *a.shape))


def _per_folded_image(a: jax.Array, is_batched: bool, axis_size: int, n: int) -> jax.Array:
    """A scale or shift, (Cout,) or (N, Cout), batched or not, as (axis_size · N, Cout)."""
    a = _batched(a, is_batched, axis_size)
    a = a[:, None] if a.ndim == 2 else a  # (B, Cout): the same for each of the N images
    return _fold(jnp.broadcast_to(a, (axis_size, n, a.shape[-1])))


@functools.cache
def batchable(partitioned, config):
    """The ``partitioned`` call (``make_partitioned``) for one static ``config``, with a batching
    rule (``custom_partitioning`` has none): a batch of inputs (and residuals, and per-image scales
    and shifts) folds into N; a batch of kernels loops. Called as ``conv(x, (kernel, scale, shift),
    extra)``, ``extra`` () or (residual,); scale and shift (Cout,) or per image (N, Cout)."""

    @jax.custom_batching.custom_vmap
    def conv(x, weights, extra):
        return partitioned(x, *weights, *extra, config)

    @conv.def_vmap
    def _vmapped(axis_size, in_batched, x, weights, extra):
        x_batched, weights_batched, extra_batched = in_batched
        x = _batched(x, x_batched, axis_size)
        extra = tuple(_batched(r, b, axis_size) for r, b in zip(extra, extra_batched))
        kernel, scale, shift = weights
        if not weights_batched[0]:
            if any(weights_batched[1:]) or scale.ndim == 2:  # per image of the folded batch: (B·N, Cout)
                scale, shift = (_per_folded_image(a, b, axis_size, x.shape[1])
                                for a, b in zip((scale, shift), weights_batched[1:]))
            y = conv(_fold(x), (kernel, scale, shift), tuple(_fold(r) for r in extra))
            return y.reshape(axis_size, -1, *y.shape[1:]), True
        weights = tuple(_batched(a, b, axis_size) for a, b in zip(weights, weights_batched))
        return lax.map(lambda args: conv(*args), (x, weights, extra)), True

    return conv


def _check_operands(x, kernel, scale, shift, residual, stride: int) -> None:
    where = "pointwise_conv2d"
    if x.ndim != 4 or x.dtype != jnp.float32:
        raise refuse(where, "x", x, "a float32 (N, H, W, Cin) array")
    rows = (x.shape[3], stride * stride * x.shape[3]) if stride > 1 else (x.shape[3],)
    if kernel.ndim != 2 or kernel.dtype != jnp.float32 or kernel.shape[0] not in rows or kernel.shape[1] % 16:
        raise refuse(where, "kernel", kernel, f"float32 ({x.shape[3]}, Cout) or (1, 1, {x.shape[3]}, Cout) with "
                                              f"Cout a multiple of 16, or a patch conv's ({stride}, {stride}, "
                                              f"{x.shape[3]}, Cout) at stride {stride} >= 2")
    cout = kernel.shape[1]
    for name, a in (("scale", scale), ("shift", shift)):
        if a.shape not in ((cout,), (x.shape[0], cout)) or a.shape != scale.shape or a.dtype != jnp.float32:
            raise refuse(where, name, a, f"a float32 ({cout},) or per-image ({x.shape[0]}, {cout}) array, "
                                         "scale and shift alike")
    out = (x.shape[0], *_out_hw(x.shape, kernel.shape, stride), cout)
    if residual is not None and (residual.shape != out or residual.dtype != jnp.float32):
        raise refuse(where, "residual", residual, f"None or a float32 {out} array")


def _conv(x, kernel, scale, shift, residual, *, stride, relu, gelu=False, cin_block=POINTWISE_CIN_BLOCK,
          max_threads=0, portable=False, in_scale=None, in_shift=None, in_relu=False,
          in_norm_eps=None) -> jax.Array:
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    patch = kernel.ndim == 4 and kernel.shape[:2] != (1, 1)
    stride = check_int("pointwise_conv2d", "stride", stride, min=1, max=None if patch else 2)
    if patch and kernel.shape[:2] != (stride, stride):
        raise refuse("pointwise_conv2d", "kernel", kernel, f"a 1×1 kernel, or a patch conv's ({stride}, {stride}, "
                                                           "Cin, Cout) at its stride")
    relu = check_bool("pointwise_conv2d", "relu", relu)
    gelu = check_bool("pointwise_conv2d", "gelu", gelu)
    if relu and gelu:
        raise ValueError("pointwise_conv2d: relu and gelu were both asked for; the epilogue applies one activation")
    x, scale, shift = jnp.asarray(x), jnp.asarray(scale), jnp.asarray(shift)
    kernel = jnp.asarray(kernel)
    if kernel.ndim == 4:  # (1, 1, Cin, Cout), or a patch conv's (s, s, Cin, Cout): rows (i, j, c) in that order
        kernel = kernel.reshape(-1, kernel.shape[3])
    residual = None if residual is None else jnp.asarray(residual)
    _check_operands(x, kernel, scale, shift, residual, stride)
    prologue, eps = 0, 0.0
    extra = () if residual is None else (residual,)
    if in_scale is not None or in_shift is not None or in_norm_eps is not None:
        in_scale, in_shift = _check_prologue(x, kernel, in_scale, in_shift, stride)
        prologue = 2 if check_bool("pointwise_conv2d", "in_relu", in_relu) else 1
        if in_norm_eps is not None:
            eps = float(in_norm_eps)
            if in_relu or not eps >= 0.0:
                raise ValueError(f"pointwise_conv2d: a LayerNorm prologue takes eps >= 0 and no in_relu; got eps "
                                 f"{in_norm_eps}, in_relu {in_relu}")
            prologue = 3
        extra += (in_scale, in_shift)
    config = (stride, int(relu), int(gelu), int(cin_block), int(max_threads), int(portable), prologue, eps)
    partitioned = _PARTITIONED[residual is not None, scale.ndim == 2, bool(prologue)]
    return batchable(partitioned, config)(x, (kernel, scale, shift), extra)


def _check_prologue(x, kernel, in_scale, in_shift, stride: int):
    """The prologue's scale and shift as float32 (N, Cin) arrays (a (Cin,) one broadcast over the images)."""
    where = "pointwise_conv2d"
    if in_scale is None or in_shift is None:
        missing = "in_scale" if in_scale is None else "in_shift"
        raise refuse(where, missing, None, "an array: in_scale and in_shift go together")
    if stride != 1 or kernel.shape[0] != x.shape[3]:
        raise refuse(where, "stride", stride, f"1 and a 1×1 kernel with an input prologue (in_scale, in_shift), not "
                                              f"a ({kernel.shape[0]}, {kernel.shape[1]}) kernel over {x.shape[3]} channels")
    out = []
    for name, a in (("in_scale", in_scale), ("in_shift", in_shift)):
        a = jnp.asarray(a)
        if a.dtype != jnp.float32 or a.shape not in ((x.shape[3],), (x.shape[0], x.shape[3])):
            raise refuse(where, name, a, f"a float32 ({x.shape[3]},) or per-image ({x.shape[0]}, {x.shape[3]}) array")
        out.append(jnp.broadcast_to(a, (x.shape[0], x.shape[3])))
    return tuple(out)


def pointwise_conv2d(x: jax.Array, kernel: jax.Array, scale: jax.Array, shift: jax.Array,
                     residual: jax.Array | None = None, *, stride: int = 1, relu: bool = False,
                     gelu: bool = False, in_scale: jax.Array | None = None, in_shift: jax.Array | None = None,
                     in_relu: bool = False, in_norm_eps: float | None = None) -> jax.Array:
    """``x`` (N, H, W, Cin) float32, ``kernel`` (Cin, Cout) or (1, 1, Cin, Cout) float32 with Cout a
    multiple of 16 (or a patch conv's (s, s, Cin, Cout) at ``stride`` s >= 2: see below), ``scale`` and ``shift`` (Cout,) float32, or both (N, Cout): each image its own
    (a squeeze-excitation gate folded into the norm), ``residual`` None or (N, OH, OW, Cout)
    float32 → ``act?(conv · scale + shift + residual?)`` (N, OH, OW, Cout), ``act`` ReLU where
    ``relu``, the exact GELU ``0.5 · v · (1 + erf(v / √2))`` where ``gelu`` (erf as XLA evaluates it
    in float32), at most one of them; ``conv`` is the
    1×1 conv at ``stride`` 1 or 2 (output pixel (i, j) reads input pixel (s·i, s·j);
    OH = (H - 1) // s + 1) with float32 accumulation, or the unpadded patch conv whose kernel is as large as
    its stride (output pixel (i, j) reads the s × s input pixels from (s·i, s·j); OH = H // s, the rows and
    columns past the last whole patch not read: ``lax.conv`` with padding ``VALID``). Eval-mode BatchNorm folds into
    ``scale = γ / sqrt(var + eps)``, ``shift = β - mean · scale``.

    With ``in_scale`` and ``in_shift`` (float32 (Cin,) or per image (N, Cin); a 1×1 conv at stride 1 only)
    the conv reads ``relu?(x · in_scale + in_shift)`` (ReLU where ``in_relu``) in place of ``x``: each tile of
    pixels is transformed as the kernel copies it into a buffer of its own, instead of a pass of its own
    over x (ConvNeXt-V2's GRN before fc2: ``in_scale = 1 + γ · n`` per image, ``in_shift = β``).
    With ``in_norm_eps`` as well (``POINTWISE_LAYERNORM``) each pixel is first normalized over its Cin
    channels (mean, biased variance, that eps): the conv reads ``LayerNorm(x) · in_scale + in_shift``
    (a ViT block's norm before qkv or fc1, its γ and β as ``in_scale`` and ``in_shift``).
    Not differentiable itself."""
    return _conv(x, kernel, scale, shift, residual, stride=stride, relu=relu, gelu=gelu, in_scale=in_scale,
                 in_shift=in_shift, in_relu=in_relu, in_norm_eps=in_norm_eps)


MLP_TARGET = "zoo_pointwise_mlp"
#: ``pointwise_mlp``: an MLP's two linear layers (fc1 with its GELU, fc2 with its residual) as one call.
POINTWISE_MLP = True
#: Hidden values per chunk of rows (4 MiB): the chunk's fc1 output stays in cache for its fc2
#: (ConvNeXt-T's stage-1 MLP at batch 8: 1.5× the two calls; 1 MiB and 8 MiB chunks measured alike or slower).
MLP_CHUNK_FLOATS = 1 << 20

jax.ffi.register_ffi_target(MLP_TARGET, jax.ffi.pycapsule(_lib.ZooPointwiseMlp), platform="cpu")


def _mlp_call(config, x, k1, s1, b1, k2, s2, b2, *rest) -> jax.Array:
    """The FFI call; ``rest``: the residual where ``config`` says there is one, then the norm's scale and
    shift where its eps is not None."""
    has_residual, eps, cin_block, max_threads, portable, chunk_floats = config
    out = jax.ShapeDtypeStruct((*x.shape[:3], k2.shape[1]), x.dtype)
    return jax.ffi.ffi_call(MLP_TARGET, out, vmap_method="sequential")(
        x, k1, s1, b1, k2, s2, b2, *rest, has_residual=np.int64(has_residual), layer_norm=np.int64(eps is not None),
        eps=np.float32(eps or 0.0), cin_block=np.int64(cin_block), max_threads=np.int64(max_threads),
        portable=np.int64(portable), chunk_floats=np.int64(chunk_floats))


_MLP_PARTITIONED = {
    (residual, norm): _partitioned(_mlp_call, (True,) + (False,) * 6 + (True,) * residual + (False,) * (2 * norm),
                                   "n h w c, c d, d, d, d o, o, o" + (", n h w o" if residual else "")
                                   + (", c, c" if norm else "") + " -> n h w o")
    for residual in (False, True) for norm in (False, True)}


@functools.cache
def _mlp_batchable(residual: bool, config):
    """The partitioned MLP call for one static ``config``, with a batching rule: a batch of inputs (and
    residuals) folds into N; a batch of weights loops."""
    partitioned = _MLP_PARTITIONED[residual, config[1] is not None]

    @jax.custom_batching.custom_vmap
    def mlp(x, weights, extra):  # the FFI's order: the residual before the norm's scale and shift
        return partitioned(x, *weights[:6], *extra, *weights[6:], config)

    @mlp.def_vmap
    def _vmapped(axis_size, in_batched, x, weights, extra):
        x_batched, weights_batched, extra_batched = in_batched
        x = _batched(x, x_batched, axis_size)
        extra = tuple(_batched(r, b, axis_size) for r, b in zip(extra, extra_batched))
        if not any(weights_batched):
            y = mlp(_fold(x), weights, tuple(_fold(r) for r in extra))
            return y.reshape(axis_size, -1, *y.shape[1:]), True
        weights = tuple(_batched(a, b, axis_size) for a, b in zip(weights, weights_batched))
        return lax.map(lambda args: mlp(*args), (x, weights, extra)), True

    return mlp


def pointwise_mlp(x: jax.Array, fc1: tuple, fc2: tuple, residual: jax.Array | None = None, *,
                  norm: tuple | None = None, cin_block: int = POINTWISE_CIN_BLOCK,
                  chunk_floats: int = MLP_CHUNK_FLOATS, max_threads: int = 0, portable: bool = False) -> jax.Array:
    """An MLP's two linear layers as one call: ``x`` (N, H, W, K) float32 rows, ``fc1`` = (kernel (K, D),
    scale (D,), shift (D,)), ``fc2`` = (kernel (D, O), scale (O,), shift (O,)), D and O multiples of 16,
    ``residual`` None or (N, H, W, O) → ``gelu(x' @ k1 · s1 + b1) @ k2 · s2 + b2 + residual?`` (N, H, W, O),
    ``gelu`` the exact GELU as in ``pointwise_conv2d``, ``x'`` = ``x``, or with ``norm`` = (scale (K,),
    shift (K,), eps) its LayerNorm over K (a ViT block's norm2). Each layer is ``pointwise_conv2d``'s
    computation, bit for bit; the rows go in chunks whose hidden values (``chunk_floats`` of them) stay in
    cache from fc1 to fc2, so the (N, H, W, D) hidden activations are never written to memory (nor held in
    XLA's buffer for the call). Not differentiable itself."""
    where = "pointwise_mlp"
    x = jnp.asarray(x)
    if x.ndim != 4 or x.dtype != jnp.float32:
        raise refuse(where, "x", x, "a float32 (N, H, W, K) array")
    layers = []
    for name, layer, rows in (("fc1", fc1, x.shape[3]), ("fc2", fc2, None)):
        if not isinstance(layer, (tuple, list)) or len(layer) != 3:
            raise refuse(where, name, layer, "a (kernel, scale, shift) triple")
        kernel, scale, shift = (jnp.asarray(a) for a in layer)
        rows = layers[0][0].shape[1] if rows is None else rows
        if kernel.ndim != 2 or kernel.dtype != jnp.float32 or kernel.shape[0] != rows or kernel.shape[1] % 16:
            raise refuse(where, f"{name} kernel", kernel, f"float32 ({rows}, C) with C a multiple of 16")
        for part, a in (("scale", scale), ("shift", shift)):
            if a.shape != (kernel.shape[1],) or a.dtype != jnp.float32:
                raise refuse(where, f"{name} {part}", a, f"a float32 ({kernel.shape[1]},) array")
        layers.append((kernel, scale, shift))
    out = (*x.shape[:3], layers[1][0].shape[1])
    extra = ()
    if residual is not None:
        residual = jnp.asarray(residual)
        if residual.shape != out or residual.dtype != jnp.float32:
            raise refuse(where, "residual", residual, f"None or a float32 {out} array")
        extra = (residual,)
    weights = layers[0] + layers[1]
    eps = None
    if norm is not None:
        if not isinstance(norm, (tuple, list)) or len(norm) != 3 or not float(norm[2]) >= 0.0:
            raise refuse(where, "norm", norm, "None or (scale, shift, eps) with eps >= 0")
        scale, shift = jnp.asarray(norm[0]), jnp.asarray(norm[1])
        for part, a in (("norm scale", scale), ("norm shift", shift)):
            if a.shape != (x.shape[3],) or a.dtype != jnp.float32:
                raise refuse(where, part, a, f"a float32 ({x.shape[3]},) array")
        weights, eps = weights + (scale, shift), float(norm[2])
    config = (residual is not None, eps, check_int(where, "cin_block", cin_block, min=1),
              check_int(where, "max_threads", max_threads, min=0), int(check_bool(where, "portable", portable)),
              check_int(where, "chunk_floats", chunk_floats, min=1))
    return _mlp_batchable(residual is not None, config)(x, weights, extra)
