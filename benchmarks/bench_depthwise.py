"""Depthwise 7×7 conv: zoo's ``depthwise_conv2d`` (jitted JAX) next to PyTorch, ConvNeXt's shapes.

For each stage shape of convnext_tiny at batch 8, 224² (C 96/192/384/768 at 56²/28²/14²/7²):
check ours against ``torch.nn.functional.conv2d(groups=C)`` on the same data, then time
``--repeats`` rounds alternating ours and torch (each round the median of ``--inner`` calls, after a
warm-up) and print the medians and their ratio. torch runs on contiguous NCHW, as in timm's eager
ConvNeXt; ours on NHWC. "zoo" is what ``depthwise_conv2d`` runs: the compiled kernel where
zoo-cpu-kernels is installed; "pure JAX" is the shifted sum it uses without it (``ZOO_CPU_KERNELS=0``),
timed in the same rounds (``cpu_kernel=False``).

    python benchmarks/bench_depthwise.py [--batch 8] [--repeats 7] [--inner 10] [--width 96]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np
import torch

from zoo_core.kernels import cpu_kernels
from zoo_core.nn.depthwise import depthwise_conv2d

KERNEL = 7


def median_ms(fn, inner: int) -> float:
    """The median of ``inner`` timed calls, after one untimed call: the other side's worker
    threads may still be spinning from the previous round (both torch's OpenMP pool and XLA's)."""
    fn()
    times = []
    for _ in range(inner):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def bench(batch: int, size: int, chans: int, repeats: int, inner: int) -> tuple[float, float | None, float, float]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, chans), dtype=np.float32)
    k = rng.standard_normal((KERNEL, KERNEL, 1, chans), dtype=np.float32) / KERNEL
    pad = KERNEL // 2
    ours = jax.jit(lambda x, k: depthwise_conv2d(x, k, padding=((pad, pad), (pad, pad))))
    x_jax, k_jax = jax.device_put(x), jax.device_put(k)
    pure = None
    if cpu_kernels() is not None:
        pure = jax.jit(lambda x, k: depthwise_conv2d(x, k, padding=((pad, pad), (pad, pad)), cpu_kernel=False))
    x_torch = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    k_torch = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())

    def theirs():
        return torch.nn.functional.conv2d(x_torch, k_torch, padding=pad, groups=chans)

    with torch.inference_mode():
        expected = theirs().numpy().transpose(0, 2, 3, 1)
        max_err = float(np.abs(np.asarray(ours(x_jax, k_jax)) - expected).max())
        if pure is not None:
            max_err = max(max_err, float(np.abs(np.asarray(pure(x_jax, k_jax)) - expected).max()))
        ours_ms, pure_ms, torch_ms = [], [], []
        for _ in range(repeats):
            ours_ms.append(median_ms(lambda: ours(x_jax, k_jax).block_until_ready(), inner))
            if pure is not None:
                pure_ms.append(median_ms(lambda: pure(x_jax, k_jax).block_until_ready(), inner))
            torch_ms.append(median_ms(theirs, inner))
    return (statistics.median(ours_ms), statistics.median(pure_ms) if pure_ms else None,
            statistics.median(torch_ms), max_err)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=96, help="first-stage channels (convnext_tiny: 96)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=10)
    args = parser.parse_args()
    print(f"depthwise {KERNEL}x{KERNEL}, stride 1, batch {args.batch}, float32, {args.repeats} alternating rounds of "
          f"{args.inner} calls, medians; jax {jax.__version__} ({jax.default_backend()}), torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); zoo's CPU path: "
          f"{'zoo-cpu-kernels (compiled)' if cpu_kernels() is not None else 'pure JAX (zoo-cpu-kernels not installed)'}")
    print("| shape (N, H, W, C) | zoo ms | pure JAX ms | torch ms | zoo / torch | pure JAX / torch | max abs diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for stage in range(4):
        size, chans = 56 >> stage, args.width << stage
        ours_ms, pure_ms, torch_ms, max_err = bench(args.batch, size, chans, args.repeats, args.inner)
        pure = f"{pure_ms:.2f} | " if pure_ms is not None else "— | "
        pure_ratio = f"{pure_ms / torch_ms:.2f}" if pure_ms is not None else "—"
        print(f"| ({args.batch}, {size}, {size}, {chans}) | {ours_ms:.2f} | {pure}{torch_ms:.2f} | "
              f"{ours_ms / torch_ms:.2f} | {pure_ratio} | {max_err:.1e} |", flush=True)


if __name__ == "__main__":
    main()
