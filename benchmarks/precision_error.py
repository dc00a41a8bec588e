"""Re-measure docs/precision.md: logit error of reduced-precision compute against timm float32,
and bf16 vs f32 throughput of one model on this machine's CPU.

    JAX_PLATFORMS=cpu python benchmarks/precision_error.py                 # the error table (bf16, f16)
    JAX_PLATFORMS=cpu python benchmarks/precision_error.py --speed resnet50.a1_in1k

Needs torch and timm (the parity environment). Weights are timm's, randomized as in the parity
protocol (``zoo_core.testing.parity.randomize_torch_module``); inputs are seeded N(0, 1) images.
"""

from __future__ import annotations

import argparse
import statistics
import time

VARIANTS = (
    "resnet50.a1_in1k",
    "resnetv2_50x1_bit.goog_in21k_ft_in1k",
    "convnext_tiny.fb_in1k",
    "convnextv2_tiny.fcmae_ft_in1k",
    "vit_small_patch16_224.augreg_in21k_ft_in1k",
)


def error_table(variants, dtypes, batch: int, img_size: int) -> None:
    from zoo_core.testing.precision import PrecisionReport, measure_precision_error

    print(PrecisionReport.HEADER, flush=True)
    for name in variants:
        kwargs = {"img_size": img_size} if name.startswith("vit") and img_size != 224 else {}
        for dtype in dtypes:
            report = measure_precision_error(name, dtype=dtype, batch=batch, img_size=img_size, model_kwargs=kwargs)
            print(report.row(), flush=True)


def speed(name: str, batch: int, img_size: int, repeats: int) -> None:
    """Median seconds per jitted forward of ``batch`` images, float32 and bfloat16, alternating."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import zoo_core

    models = {"float32": zoo_core.create_model(name), "bfloat16": zoo_core.create_model(name, dtype=jnp.bfloat16)}
    params, state = models["float32"].init(jax.random.key(0))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, img_size, img_size, 3), np.float32))
    fns = {k: jax.jit(m.apply) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        jax.block_until_ready(fn(params, state, x))  # compile
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(params, state, x))
            times[k].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, m in med.items():
        print(f"{name} {k}: {m * 1e3:.0f} ms per batch of {batch} at {img_size} ({batch / m:.1f} img/s), "
              f"runs {', '.join(f'{t * 1e3:.0f}' for t in times[k])} ms")
    print(f"bfloat16 / float32 throughput: {med['float32'] / med['bfloat16']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--dtype", action="append", help="bfloat16 (default: bfloat16 and float16)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--speed", metavar="VARIANT", help="time bf16 against f32 for this variant instead")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.speed:
        speed(args.speed, args.batch, args.img_size, args.repeats)
    else:
        error_table(args.variants, args.dtype or ["bfloat16", "float16"], args.batch, args.img_size)


if __name__ == "__main__":
    main()
