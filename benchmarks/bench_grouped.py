"""Grouped 3×3 conv: each CPU formulation of ``zoo_core.nn.grouped`` next to PyTorch, ResNeXt's shapes.

For each grouped conv of resnext50_32x4d (32 groups; 56²×128 cg 4, 56²→28²×256 cg 8 stride 2,
28²×256 cg 8, 14²×512 cg 16, 7²×1024 cg 32) at ``--batch``: check every formulation against
``lax.conv(feature_group_count=32)`` on the same data, then time ``--repeats`` rounds that call the
formulations and torch's channels-last ``nn.Conv2d(groups=32)`` one after the other (in each
round, after a pause and one untimed call, since the other side's worker threads may still be
spinning, the fastest of ``--inner`` calls), and print each one's min / median over the rounds in ms. Formulations:

- ``kernel``: zoo-cpu-kernels' compiled grouped conv (what zoo runs where it is installed),
- ``split<B>``: super-blocks of B input channels, each a dense conv with a block-diagonal kernel
  (``split32`` is what zoo runs without the compiled kernel; ``splitcg``: one group per conv),
- ``dense``: one dense conv with the whole block-diagonal kernel (zoo's formulation up to 128
  channels before this module),
- ``fgc``: ``lax.conv`` with ``feature_group_count`` (XLA's own grouped conv),
- ``taps``: per kernel tap, a batched ``einsum`` over the groups, summed,
- ``im2col``: the 9 taps stacked per group, one batched matmul.

    python benchmarks/bench_grouped.py [--batch 8] [--repeats 7] [--inner 3] [--only kernel split32 torch]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from zoo_core.kernels import cpu_kernels
from zoo_core.nn.grouped import DIMENSION_NUMBERS, grouped_conv2d, super_block_conv

GROUPS = 32
SHAPES = [(56, 128, 1), (56, 256, 2), (28, 256, 1), (14, 512, 1), (7, 1024, 1)]  # (H = W, C, stride)
PADS = ((1, 1), (1, 1))
#: Pause before each formulation's calls, so that the previous one's worker threads (XLA's pool,
#: torch's OpenMP team) have stopped spinning: on 2 cores they otherwise take a core from the next.
SETTLE_S = 0.05


def _taps(x, k, stride):
    """Σ over the 9 taps of einsum('nhwgi,gio->nhwgo') on the strided, padded input."""
    n, h, w, chans = x.shape
    cg = chans // GROUPS
    xp = jnp.pad(x, ((0, 0), *PADS, (0, 0)))
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    per_group = k.reshape(3, 3, cg, GROUPS, cg).transpose(0, 1, 3, 2, 4)
    out = 0
    for i in range(3):
        for j in range(3):
            tap = lax.slice(xp, (0, i, j, 0), (n, i + (oh - 1) * stride + 1, j + (ow - 1) * stride + 1, chans),
                            (1, stride, stride, 1)).reshape(n, oh, ow, GROUPS, cg)
            out = out + jnp.einsum("nhwgi,gio->nhwgo", tap, per_group[i, j])
    return out.reshape(n, oh, ow, chans)


def _im2col(x, k, stride):
    """The taps stacked to (N, H', W', G, 9·cg), one batched matmul with (G, 9·cg, cg)."""
    n, h, w, chans = x.shape
    cg = chans // GROUPS
    xp = jnp.pad(x, ((0, 0), *PADS, (0, 0)))
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    taps = [lax.slice(xp, (0, i, j, 0), (n, i + (oh - 1) * stride + 1, j + (ow - 1) * stride + 1, chans),
                      (1, stride, stride, 1)).reshape(n, oh, ow, GROUPS, cg) for i in range(3) for j in range(3)]
    patches = jnp.stack(taps, axis=-2).reshape(n, oh, ow, GROUPS, 9 * cg)
    per_group = k.reshape(9, cg, GROUPS, cg).transpose(2, 0, 1, 3).reshape(GROUPS, 9 * cg, cg)
    return jnp.einsum("nhwgk,gko->nhwgo", patches, per_group).reshape(n, oh, ow, chans)


def formulations(chans: int, stride: int) -> dict:
    """name → jitted ``f(x, kernel)``."""
    conv = functools.partial(lax.conv_general_dilated, window_strides=(stride, stride), padding=PADS,
                             dimension_numbers=DIMENSION_NUMBERS)
    cg = chans // GROUPS
    out = {}
    if cpu_kernels() is not None:
        out["kernel"] = lambda x, k: grouped_conv2d(x, k, groups=GROUPS, stride=stride, pads=PADS)
    for block in sorted({16, 32, 64, cg}):
        if cg <= block < chans:
            name = "splitcg" if block == cg and block not in (16, 32, 64) else f"split{block}"
            out[name] = functools.partial(super_block_conv, conv=conv, groups=GROUPS, block=block)
    out["dense"] = functools.partial(super_block_conv, conv=conv, groups=GROUPS, block=chans)
    out["fgc"] = functools.partial(conv, feature_group_count=GROUPS)
    out["taps"] = functools.partial(_taps, stride=stride)
    out["im2col"] = functools.partial(_im2col, stride=stride)
    return {name: jax.jit(f) for name, f in out.items()}


def torch_conv(x: np.ndarray, k: np.ndarray, stride: int, groups: int = GROUPS):
    """torch's channels-last ``nn.Conv2d`` (3×3, padding 1) with ``k``'s weights: ``(run, result)``,
    ``run()`` timing one call and ``result()`` its output as NHWC numpy (``proto_dense3x3.py`` uses it too)."""
    import torch

    module = torch.nn.Conv2d(x.shape[-1], k.shape[3], 3, stride, 1, groups=groups, bias=False)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(k.transpose(3, 2, 0, 1).copy()))
    module = module.to(memory_format=torch.channels_last)
    x_torch = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=torch.channels_last)

    def run():
        with torch.inference_mode():
            return module(x_torch)

    return run, lambda: run().permute(0, 2, 3, 1).numpy()


def bench(batch: int, size: int, chans: int, stride: int, repeats: int, inner: int, only) -> dict[str, list[float]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, chans), dtype=np.float32)
    k = (rng.standard_normal((3, 3, chans // GROUPS, chans)) / np.sqrt(9 * chans // GROUPS)).astype(np.float32)
    xj, kj = jax.device_put(x), jax.device_put(k)
    want = lax.conv_general_dilated(xj, kj, (stride, stride), PADS, dimension_numbers=DIMENSION_NUMBERS,
                                    feature_group_count=GROUPS, precision=lax.Precision.HIGHEST)
    calls = {}
    for name, f in formulations(chans, stride).items():
        if only and name not in only:
            continue
        err = float(jnp.abs(f(xj, kj) - want).max())
        assert err < 1e-4, f"{name}: max |error| {err}"
        calls[name] = functools.partial(lambda f: jax.block_until_ready(f(xj, kj)), f)
    if not only or "torch" in only:
        run, result = torch_conv(x, k, stride)
        err = float(np.abs(result() - np.asarray(want)).max())
        assert err < 1e-4, f"torch: max |error| {err}"
        calls["torch"] = run
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            time.sleep(SETTLE_S)
            call()
            best = float("inf")
            for _ in range(inner):
                start = time.perf_counter()
                call()
                best = min(best, time.perf_counter() - start)
            times[name].append(1e3 * best)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=3, help="timed calls per round (the round keeps the fastest)")
    parser.add_argument("--only", nargs="*", help="formulations to time (default: all, and torch)")
    args = parser.parse_args()
    print(f"batch {args.batch}, {GROUPS} groups, float32 NHWC; ms, min / median of {args.repeats} alternating rounds "
          f"(each the fastest of {args.inner} calls)")
    rows = []
    for size, chans, stride in SHAPES:
        times = bench(args.batch, size, chans, stride, args.repeats, args.inner, args.only)
        label = f"{size}²×{chans} s{stride} cg{chans // GROUPS}"
        rows.append((label, {name: (min(t), statistics.median(t)) for name, t in times.items()}))
        print(f"  {label}: " + ", ".join(f"{n} {a:.2f}/{b:.2f}" for n, (a, b) in rows[-1][1].items()), flush=True)
    names = list(dict.fromkeys(name for _, r in rows for name in r))
    print("\n| shape | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for label, r in rows:
        cells = [f"{r[n][0]:.2f} / {r[n][1]:.2f}" if n in r else "" for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
