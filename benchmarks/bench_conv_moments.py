"""BiT's weight moments taken inside its convs (``conv2d_with_moments``) against a separate moments
pass, per layer and in the whole model (CPU, zoo-cpu-kernels installed).

Per layer: for BiT-50's stage 3-4 conv shapes at batch 1, median ms of alternating calls of the conv
alone, the moments pass alone, the conv taking its moments, and the conv followed by the separate
pass. Each call gets the next of enough distinct kernels to fill 64 MB, so that its weights come from
memory as they do in a forward pass (the model's 94 MB of kernels do not stay in cache between calls).

Model: BiT-50's jitted forward with the moments inside the convs against the same forward with
``conv2d_with_kernel_moments`` replaced by the conv and a separate ``kernel_moments``, alternating,
min and median ms, and the largest logit difference between the two.

    python benchmarks/bench_conv_moments.py [--rounds 60] [--model-rounds 25] [--batch 1 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import zoo_core
import zoo_core.nn.std_conv  # noqa: F401 - the module, for sys.modules below
from zoo_core.nn.conv import conv2d

import zoo_cpu_kernels as zk

std_conv = sys.modules["zoo_core.nn.std_conv"]  # zoo_core.nn.std_conv the name is the std_conv function

LAYERS = {  # name: (x shape, kernel shape)
    "3×3 512 → 512 at 7²": ((1, 7, 7, 512), (3, 3, 512, 512)),
    "3×3 256 → 256 at 14²": ((1, 14, 14, 256), (3, 3, 256, 256)),
    "1×1 2048 → 512 at 7²": ((1, 7, 7, 2048), (1, 1, 2048, 512)),
    "1×1 1024 → 256 at 14²": ((1, 14, 14, 1024), (1, 1, 1024, 256)),
}


def timed(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def layers(rounds: int) -> None:
    rng = np.random.default_rng(0)
    print("| layer (batch 1) | conv | moments pass | conv taking its moments | conv + moments pass |")
    print("| --- | --- | --- | --- | --- |")
    for name, (x_shape, k_shape) in LAYERS.items():
        x = jnp.asarray(rng.standard_normal(x_shape, dtype=np.float32))
        count = max(2, int(64e6 / (4 * np.prod(k_shape))))
        kernels = [jnp.asarray(rng.standard_normal(k_shape, dtype=np.float32)) for _ in range(count)]
        if k_shape[0] == 3:
            def conv(x, k):
                return zk.dense3x3_conv2d(x, k, stride=1)
        else:
            def conv(x, k):
                ones = jnp.ones(k.shape[-1], jnp.float32)
                return zk.pointwise_conv2d(x, k, ones, jnp.zeros_like(ones))
        fns = {"conv": jax.jit(conv), "moments": jax.jit(lambda x, k: zk.kernel_moments(k)),
               "fused": jax.jit(zk.conv2d_with_moments),
               "separate": jax.jit(lambda x, k: (conv(x, k), zk.kernel_moments(k)))}
        times = {key: [] for key in fns}
        for i in range(rounds + 5):
            for key, fn in fns.items():
                t = timed(fn, x, kernels[i % count])
                if i >= 5:
                    times[key].append(t)
        print(f"| {name} | " + " | ".join(f"{1e3 * statistics.median(v):.2f} ms" for v in times.values()) + " |")


def model(rounds: int, batches: list[int]) -> None:
    name = "resnetv2_50x1_bit.goog_in21k_ft_in1k"
    net = zoo_core.create_model(name)
    params, state = net.init(jax.random.key(0))

    def compiled(x):
        return jax.jit(lambda p, s, x: net.apply(p, s, x)[0]).lower(params, state, x).compile()

    def separate(x, k, *, stride, padding, dilation):
        return (conv2d(x, k, stride=stride, padding=padding, dilation=dilation), *std_conv.kernel_moments(k))

    for batch in batches:
        x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, 224, 224, 3), dtype=np.float32))
        inside = compiled(x)
        keep = std_conv.conv2d_with_kernel_moments
        std_conv.conv2d_with_kernel_moments = separate
        try:
            apart = compiled(x)
        finally:
            std_conv.conv2d_with_kernel_moments = keep
        diff = float(jnp.abs(inside(params, state, x) - apart(params, state, x)).max())
        times = {"inside the convs": [], "separate pass": []}
        for _ in range(rounds):
            for key, fn in zip(times, (inside, apart)):
                times[key].append(timed(fn, params, state, x))
        print(f"{name}, batch {batch}: " + ", ".join(
            f"moments {key} min {1e3 * min(v):.1f} / median {1e3 * statistics.median(v):.1f} ms"
            for key, v in times.items()) + f"; logits differ by {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--model-rounds", type=int, default=25)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    args, _ = parser.parse_known_args()  # nox -s bench passes every script the same arguments
    print(f"jax {jax.__version__}, {jax.default_backend()}")
    layers(args.rounds)
    model(args.model_rounds, args.batch)


if __name__ == "__main__":
    main()
