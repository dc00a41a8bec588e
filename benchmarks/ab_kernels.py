"""Paired A/B of two builds of zoo-cpu-kernels in one process: the installed one against an older
build's shared object, on whole models at batch 1 and 8.

A change to a kernel moves a model by a few percent, less than this kind of shared machine drifts
between two runs of ``bench_families.py``. Here both builds run in the same process, alternating call
by call: the older ``_kernels*.so`` (copy it aside before rebuilding) is loaded beside the installed
one, its targets registered under ``<target>_old``, and the model compiled twice, once with each
set of targets. The speed-up printed is the median over rounds of each round's old / new time, and the
two outputs are compared (the builds should agree to float32 rounding).

    cp kernels/zoo-cpu-kernels/zoo_cpu_kernels/_kernels*.so /tmp/old.so   # before rebuilding
    pip install --no-deps --no-build-isolation -e kernels/zoo-cpu-kernels # the change
    python benchmarks/ab_kernels.py /tmp/old.so convnext_tiny.fb_in1k resnet50.a1_in1k [--rounds 11]
    python benchmarks/ab_kernels.py /tmp/old.so --gemm 1576,768,3072 49,3072,768   # the 1×1 kernel as a GEMM
    python benchmarks/ab_kernels.py /tmp/old.so --attention 8,197,6,64 1,197,12,64   # the attention kernel

With ``--gemm M,K,N``, the pointwise kernel alone on an (M, K) × (K, N) product (plus a bias, the epilogue
at its cheapest), old and new builds paired the same way, next to XLA's own matmul and, where torch is
installed, ``torch.addmm`` (oneDNN / MKL) timed in the same rounds; in GFLOP/s. With ``--attention N,T,H,D``,
the attention kernel alone (``self_attention`` on a (N, T, 3·H·D) qkv with its bias) the same way, next to
XLA's composition and torch's ``scaled_dot_product_attention``; GFLOP/s counts the two products.

Both builds must take the same FFI attributes (the Python side is the installed one's).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import pathlib
import statistics
import time

import jax
import numpy as np

import zoo_cpu_kernels
from zoo_cpu_kernels import attention, conv_moments, direct, group_norm, moments, pointwise

#: (module, the attribute naming its FFI target, the handler's symbol in the shared object): every target
SWAPS = [(pointwise, "POINTWISE_TARGET", "ZooPointwise"), (zoo_cpu_kernels, "DENSE3X3_TARGET", "ZooDense3x3"),
         (conv_moments, "DENSE3X3_MOMENTS_TARGET", "ZooDense3x3Moments"),
         (conv_moments, "POINTWISE_MOMENTS_TARGET", "ZooPointwiseMoments"),
         (zoo_cpu_kernels, "TARGET", "ZooDepthwiseConv2d"),
         (zoo_cpu_kernels, "DEPTHWISE_LAYERNORM_TARGET", "ZooDepthwiseLayerNorm"),
         (zoo_cpu_kernels, "GROUPED_TARGET", "ZooGroupedConv2d"), (group_norm, "GROUP_NORM_TARGET", "ZooGroupNormAct"),
         (attention, "ATTENTION_TARGET", "ZooAttention"), (direct, "DIRECT_TARGET", "ZooDirect"),
         (moments, "MOMENTS_TARGET", "ZooKernelMoments")]


def build_pair():
    """``bench_families.build_pair``: timm's model and ours with the same random weights."""
    path = pathlib.Path(__file__).with_name("bench_families.py")
    spec = importlib.util.spec_from_file_location("bench_families", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_pair


def compiled(fn, *args, suffix: str = ""):
    """``fn`` jitted and compiled for ``args``, with every swapped target's name ending in ``suffix`` (a
    fresh function each time: jax reuses the trace of a function it has jitted before, targets and all)."""
    for module, attr, _ in SWAPS:
        setattr(module, attr, getattr(module, attr) + suffix)
    try:
        return jax.jit(lambda *a: fn(*a)).lower(*args).compile()
    finally:
        for module, attr, _ in SWAPS:
            setattr(module, attr, getattr(module, attr).removesuffix(suffix))


def alternate(runs: dict, rounds: int) -> dict[str, list[float]]:
    """Each call's seconds over ``rounds`` rounds, the calls alternating; in each round every call runs
    once untimed first (the other build's threads spin down) and once timed."""
    times = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            run()
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)
    return times


def gemm_rows(shapes: list[str], rounds: int) -> None:
    """The pointwise kernel as an (M, K) × (K, N) GEMM: new build against old, XLA and torch beside them."""
    import jax.numpy as jnp

    try:
        import torch
    except ImportError:
        torch = None

    def forward(x, w, b):
        return pointwise._conv(x[None, None], w, jnp.ones(w.shape[1], w.dtype), b, None, stride=1, relu=False)[0, 0]

    print("| M, K, N | new GFLOP/s | old GFLOP/s | XLA GFLOP/s | torch GFLOP/s | old / new (paired) | max abs diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    for text in shapes:
        m, k, n = (int(v) for v in text.split(","))
        x = rng.standard_normal((m, k), dtype=np.float32)
        w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        args = [jax.device_put(a) for a in (x, w, b)]
        calls = {"new": compiled(forward, *args), "old": compiled(forward, *args, suffix="_old"),
                 "xla": jax.jit(lambda x, w, b: x @ w + b)}
        outs = {key: np.asarray(f(*args)) for key, f in calls.items()}
        diff = max(float(np.abs(outs["new"] - outs[key]).max()) for key in ("old", "xla"))
        runs = {key: (lambda f=f, args=args: f(*args).block_until_ready()) for key, f in calls.items()}
        # The two builds alternate; XLA's matmul and torch run in rounds of their own: a call right after
        # either ran ~30% slower (XLA's threads and torch's OpenMP threads spin on after a call), which
        # among the alternating calls weighed on whichever came next (the new build, 0.64x of itself).
        times = alternate({key: runs[key] for key in ("new", "old")}, rounds) | alternate({"xla": runs["xla"]}, rounds)
        if torch is not None:
            xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
            times |= alternate({"torch": lambda xt=xt, wt=wt, bt=bt: torch.addmm(bt, xt, wt)}, rounds)
        rate = {key: f"{2e-9 * m * k * n / statistics.median(t):.0f}" for key, t in times.items()}
        ratio = statistics.median(old / new for old, new in zip(times["old"], times["new"]))
        print(f"| {m}, {k}, {n} | {rate['new']} | {rate['old']} | {rate['xla']} | {rate.get('torch', '-')} "
              f"| {ratio:.3f}x | {diff:.1e} |", flush=True)


def attention_rows(shapes: list[str], rounds: int) -> None:
    """The attention kernel alone: new build against old, XLA's composition and torch's SDPA beside them."""
    import jax.numpy as jnp

    try:
        import torch
    except ImportError:
        torch = None

    def composed(heads: int, scale: float):
        def forward(qkv, bias):
            n, t, c = qkv.shape
            q, k, v = jnp.moveaxis((qkv + bias).reshape(n, t, 3, heads, c // (3 * heads)), 2, 0)
            w = jax.nn.softmax(jnp.einsum("nthd,nshd->nhts", q * scale, k), axis=-1)
            return jnp.einsum("nhts,nshd->nthd", w, v).reshape(n, t, c // 3)
        return jax.jit(forward)

    print("| N, T, H, D | new GFLOP/s | old GFLOP/s | XLA GFLOP/s | torch GFLOP/s | old / new (paired) | max abs diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    for text in shapes:
        n, t, h, d = (int(v) for v in text.split(","))
        scale = d ** -0.5
        qkv = rng.standard_normal((n, t, 3 * h * d), dtype=np.float32)
        bias = rng.standard_normal(3 * h * d, dtype=np.float32)
        args = [jax.device_put(a) for a in (qkv, bias)]
        def forward(qkv, bias, h=h, scale=scale):
            return attention.self_attention(qkv, bias, heads=h, scale=scale)
        calls = {"new": compiled(forward, *args), "old": compiled(forward, *args, suffix="_old"),
                 "xla": composed(h, scale)}
        outs = {key: np.asarray(f(*args)) for key, f in calls.items()}
        diff = max(float(np.abs(outs["new"] - outs[key]).max()) for key in ("old", "xla"))
        runs = {key: (lambda f=f, args=args: f(*args).block_until_ready()) for key, f in calls.items()}
        times = alternate({key: runs[key] for key in ("new", "old")}, rounds) | alternate({"xla": runs["xla"]}, rounds)
        if torch is not None:
            q, k, v = torch.from_numpy(qkv + bias).reshape(n, t, 3, h, d).permute(2, 0, 3, 1, 4)

            def sdpa(q=q, k=k, v=v, shape=(n, t, h * d)):
                return torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(shape)
            times |= alternate({"torch": sdpa}, rounds)
        rate = {key: f"{4e-9 * n * h * t * t * d / statistics.median(ts):.0f}" for key, ts in times.items()}
        ratio = statistics.median(old / new for old, new in zip(times["old"], times["new"]))
        print(f"| {n}, {t}, {h}, {d} | {rate['new']} | {rate['old']} | {rate['xla']} | {rate.get('torch', '-')} "
              f"| {ratio:.3f}x | {diff:.1e} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old_so", help="the older build's _kernels*.so")
    parser.add_argument("models", nargs="*")
    parser.add_argument("--gemm", nargs="+", default=[], metavar="M,K,N",
                        help="time the pointwise kernel on these GEMM shapes (after the models, if any)")
    parser.add_argument("--attention", nargs="+", default=[], metavar="N,T,H,D",
                        help="time the attention kernel on these shapes (images, tokens, heads, channels per head)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    if not args.models and not args.gemm and not args.attention:
        parser.error("name models, or shapes with --gemm or --attention")
    lib = ctypes.cdll.LoadLibrary(str(pathlib.Path(args.old_so).resolve()))
    for module, attr, symbol in SWAPS:
        jax.ffi.register_ffi_target(getattr(module, attr) + "_old", jax.ffi.pycapsule(getattr(lib, symbol)),
                                    platform="cpu")
    pair = build_pair() if args.models else None
    if args.models:
        print("| model | batch | new ms | old ms | old / new (paired) | max abs diff |")
        print("| --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        _, model, params, state = pair(name, 224)

        def forward(p, s, x, model=model):
            return model.apply(p, s, x)[0]
        for batch in args.batch:
            x = jax.device_put(np.random.default_rng(0).standard_normal((batch, 224, 224, 3), dtype=np.float32))
            runs = {"new": compiled(forward, params, state, x),
                    "old": compiled(forward, params, state, x, suffix="_old")}
            if "_old" not in runs["old"].as_text():
                raise SystemExit(f"{name}: none of the swapped kernels runs in this model")
            diff = float(np.abs(np.asarray(runs["new"](params, state, x)) - np.asarray(runs["old"](params, state, x)))
                         .max())
            operands = (params, state, x)
            times = alternate({key: (lambda run=run, operands=operands: run(*operands).block_until_ready())
                               for key, run in runs.items()}, args.rounds)
            ratio = statistics.median(old / new for old, new in zip(times["old"], times["new"]))
            print(f"| {name} | {batch} | {1e3 * statistics.median(times['new']):.1f} "
                  f"| {1e3 * statistics.median(times['old']):.1f} | {ratio:.3f}x | {diff:.1e} |", flush=True)
    if args.gemm:
        gemm_rows(args.gemm, args.rounds)
    if args.attention:
        attention_rows(args.attention, args.rounds)


if __name__ == "__main__":
    main()
