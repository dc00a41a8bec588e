"""The compiled 1×1 conv with its fused BatchNorm + ReLU epilogue (``zoo_cpu_kernels.pointwise``)
against XLA's, on every distinct 1×1 conv of timm's ResNet-50 at 224².

XLA's side is what zoo's ``conv2d`` runs for a 1×1 kernel (``lax.dot_general`` on ``x[:, ::s, ::s]``)
followed by ``· scale + shift`` and ReLU, jitted as one function; the kernel's side is one
``pointwise_conv2d(..., relu=True)``. For each ``--batch`` and shape the two are checked against each
other (max |difference| relative to the output's max |value|, at most 1e-4), then timed ``--repeats``
rounds, alternating (each call after one untimed call); the markdown table gives median ms,
GFLOP/s (2·M·Cin·Cout per call) and XLA's time over the kernel's, and the totals per batch.

    python benchmarks/bench_pointwise.py [--batch 1 8] [--repeats 5] [--cin-block 128]
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

from zoo_cpu_kernels import pointwise

# (input H = W, Cin, Cout, stride): the bottlenecks' 1×1 convs, then the downsample convs
SHAPES = [(56, 64, 64, 1), (56, 64, 256, 1), (56, 256, 64, 1), (56, 256, 128, 1),
          (28, 128, 512, 1), (28, 512, 128, 1), (28, 512, 256, 1),
          (14, 256, 1024, 1), (14, 1024, 256, 1), (14, 1024, 512, 1),
          (7, 512, 2048, 1), (7, 2048, 512, 1),
          (56, 256, 512, 2), (28, 512, 1024, 2), (14, 1024, 2048, 2)]


def xla_conv_bn_relu(x, kernel, scale, shift, stride: int) -> jax.Array:
    y = lax.dot_general(x[:, ::stride, ::stride], kernel, (((3,), (0,)), ((), ())))
    return jnp.maximum(y * scale + shift, 0)


def kernel_conv_bn_relu(x, kernel, scale, shift, stride: int, cin_block: int) -> jax.Array:
    return pointwise._conv(x, kernel, scale, shift, None, stride=stride, relu=True, cin_block=cin_block)


def bench(batch: int, size: int, cin: int, cout: int, stride: int, repeats: int, cin_block: int):
    rng = np.random.default_rng(0)
    x = jax.device_put(rng.standard_normal((batch, size, size, cin), dtype=np.float32))
    kernel = jax.device_put((rng.standard_normal((cin, cout)) / np.sqrt(cin)).astype(np.float32))
    scale = jax.device_put(rng.uniform(0.5, 1.5, cout).astype(np.float32))
    shift = jax.device_put(rng.standard_normal(cout).astype(np.float32))
    calls = {"xla": jax.jit(functools.partial(xla_conv_bn_relu, stride=stride)),
             "kernel": jax.jit(functools.partial(kernel_conv_bn_relu, stride=stride, cin_block=cin_block))}
    want, got = (np.asarray(f(x, kernel, scale, shift)) for f in calls.values())
    err = float(np.abs(got - want).max()) / max(float(np.abs(want).max()), 1e-30)
    assert err <= 1e-4, f"{(batch, size, cin, cout, stride)}: kernel vs XLA max |difference| / scale {err}"
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, f in calls.items():
            jax.block_until_ready(f(x, kernel, scale, shift))
            start = time.perf_counter()
            jax.block_until_ready(f(x, kernel, scale, shift))
            times[name].append(1e3 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cin-block", type=int, default=pointwise.POINTWISE_CIN_BLOCK)
    args = parser.parse_args()
    print("| batch | shape (HW, Cin→Cout, stride) | XLA ms | kernel ms | XLA GFLOP/s | kernel GFLOP/s | XLA / kernel |")
    print("|---|---|---|---|---|---|---|")
    for batch in args.batch:
        total = {"xla": 0.0, "kernel": 0.0}
        for size, cin, cout, stride in SHAPES:
            ms = bench(batch, size, cin, cout, stride, args.repeats, args.cin_block)
            out = (size - 1) // stride + 1
            gflop = 2 * batch * out * out * cin * cout / 1e9
            for name in total:
                total[name] += ms[name]
            print(f"| {batch} | {size}², {cin}→{cout}, s{stride} | {ms['xla']:.3f} | {ms['kernel']:.3f} | "
                  f"{gflop / ms['xla'] * 1e3:.0f} | {gflop / ms['kernel'] * 1e3:.0f} | "
                  f"{ms['xla'] / ms['kernel']:.2f}× |", flush=True)
        print(f"| {batch} | **total** | {total['xla']:.2f} | {total['kernel']:.2f} | | | "
              f"{total['xla'] / total['kernel']:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
