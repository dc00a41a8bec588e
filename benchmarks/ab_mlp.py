"""Paired A/B of the one-call MLP (zoo-cpu-kernels' ``pointwise_mlp``) against the two pointwise calls it
replaces, on whole models in one process.

Each model is compiled twice, once with ``POINTWISE_MLP`` switched off (the MLP as fc1's and fc2's
``dense_layer`` calls) and once as installed, and the two run alternately, call by call. Printed per model:
XLA's per-call temporary buffer for each (``memory_analysis``), the median time of each, and the median over
rounds of each round's old / new time. The two outputs must be equal bit for bit.

    python benchmarks/ab_mlp.py convnext_tiny.fb_in1k vit_base_patch16_224.augreg2_in21k_ft_in1k --batch 8
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python benchmarks/ab_mlp.py convnext_tiny.fb_in1k --batch 1 --rounds 21
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import zoo_core
from zoo_core.kernels import import_cpu_kernels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    kernels = import_cpu_kernels()
    if kernels is None or not getattr(kernels, "POINTWISE_MLP", False):
        raise SystemExit("ab_mlp: zoo-cpu-kernels with pointwise_mlp is not installed")
    x = jnp.asarray(np.random.default_rng(0).standard_normal((args.batch, args.img_size, args.img_size, 3),
                                                             dtype=np.float32))
    print("| model | batch | temp MB: two calls / one | two calls ms | one call ms | two / one |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        kwargs = {"img_size": args.img_size} if name.startswith("vit_") else {}
        model = zoo_core.create_model(name, **kwargs)
        params, state = model.init(jax.random.key(0))
        compiled = {}
        try:
            for one_call in (False, True):
                kernels.POINTWISE_MLP = one_call
                forward = jax.jit(lambda p, s, x, model=model: model.apply(p, s, x)[0])
                compiled[one_call] = forward.lower(params, state, x).compile()
        finally:
            kernels.POINTWISE_MLP = True
        outputs = [np.asarray(compiled[k](params, state, x)) for k in (False, True)]
        np.testing.assert_array_equal(outputs[0], outputs[1])
        times = {k: [] for k in compiled}
        for _ in range(args.rounds):
            for k, f in compiled.items():
                start = time.perf_counter()
                f(params, state, x).block_until_ready()
                times[k].append(time.perf_counter() - start)
        temp = [compiled[k].memory_analysis().temp_size_in_bytes / 1e6 for k in (False, True)]
        ratio = np.median(np.array(times[False]) / np.array(times[True]))
        print(f"| {name} | {args.batch} | {temp[0]:.1f} / {temp[1]:.1f} | {1e3 * np.median(times[False]):.1f} | "
              f"{1e3 * np.median(times[True]):.1f} | {ratio:.3f}× |", flush=True)


if __name__ == "__main__":
    main()
