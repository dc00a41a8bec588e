"""GPU throughput in one run: zoo next to timm eager and ``torch.compile``'d timm, float32 and
bfloat16, batch 1 to 256, one reference model per family (issue 22, item 4).

For each model, timm's with randomized weights and ours loaded from the same weights (as
``bench_families.py`` does); then for each dtype and batch size, each side is timed for about
``--seconds`` after its warm-up, alternating, and the table shows images/s and the ratios.
bfloat16 is zoo's ``dtype="bfloat16"`` (params cast inside the call, float32 outputs) against timm
under ``torch.autocast(dtype=torch.bfloat16)``, the mixed precision a PyTorch user runs; convolutional
timm models run channels-last, as timm's own benchmark does. ``torch.compile`` uses
``dynamic=True`` so one compile per model and dtype serves every batch size (a compile per shape
would not fit a short run). The last column is zoo's largest logit difference from timm's float32
output at batch 8, a check that both sides computed the same model.

    python benchmarks/bench_gpu.py [--models ...] [--batch 1 8 32 128 256] [--dtypes float32 bfloat16] [--budget S]

With ``--budget S`` no new model or cell starts once S seconds have passed since the start, and the last
line names the cells left out: a lent GPU machine is held for minutes, and a table cut short still
carries every row it printed (``benchmarks/device_gpu.sh`` runs it that way).

Without a GPU it says so and exits (``nox -s bench`` runs every script); ``--cpu`` runs it on the
CPU anyway, at whatever small sizes are given, to check the script itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_families  # noqa: E402  (sibling script: build_pair, cpu_name)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402

import zoo_core.precision  # noqa: E402

MODELS = (
    "resnet50.a1_in1k",
    "resnetv2_50x1_bit.goog_in21k_ft_in1k",
    "convnext_tiny.fb_in1k",
    "convnextv2_tiny.fcmae_ft_in1k",
    "vit_small_patch16_224.augreg_in21k_ft_in1k",
    "vit_base_patch16_224.augreg2_in21k_ft_in1k",
)
CHANNELS_LAST = ("resnet", "convnext")


def timed(run, seconds: float) -> float:
    """Seconds per call of ``run`` (which waits for its result): calls repeated for about
    ``seconds``, at least three, best of three equal slices."""
    run()
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(3, int(seconds / once / 3))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def torch_runner(module, x, device: str, dtype: str):
    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def run():
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            module(x)
        sync()

    return run


def _now() -> float:
    return time.monotonic()


class Budget:
    """``--budget``: whether time is left, and the cells that were not."""

    def __init__(self, seconds: float | None):
        self.deadline = None if seconds is None else _now() + seconds
        self.skipped: list[str] = []

    def left(self, cell: str) -> bool:
        if self.deadline is None or _now() < self.deadline:
            return True
        self.skipped.append(cell)
        return False


def rows_for(name: str, args, device: str, budget: Budget) -> None:
    if not budget.left(name):
        return
    ref, model, params, state = bench_families.build_pair(name, args.img_size)
    ref = ref.to(device)
    if name.startswith(CHANNELS_LAST):
        ref = ref.to(memory_format=torch.channels_last)
    zoo_params = jax.device_put((params, state))
    max_err = _max_err(ref, model, zoo_params, args.img_size, device)
    for dtype in args.dtypes:
        ours = model if dtype == "float32" else zoo_core.precision.with_compute_dtype(model, name, dtype)
        forward = jax.jit(lambda p, s, x, ours=ours: ours.apply(p, s, x)[0])
        if args.compile:
            # Dynamo's cache is per code object, shared by every timm model of a class (ViT-S and ViT-B,
            # ConvNeXt and ConvNeXt-V2) and full after 8 entries: without a reset the later models would
            # run eager under the compiled column.
            torch._dynamo.reset()
        compiled = torch.compile(ref, dynamic=True) if args.compile else None
        for batch in args.batch:
            if not budget.left(f"{name} {dtype} {batch}"):
                continue
            x = np.random.default_rng(0).standard_normal((batch, args.img_size, args.img_size, 3), dtype=np.float32)
            xj = jax.device_put(jnp.asarray(x))
            xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device)
            if name.startswith(CHANNELS_LAST):
                xt = xt.contiguous(memory_format=torch.channels_last)
            runs = {"zoo": lambda f=forward, x=xj: f(*zoo_params, x).block_until_ready(),
                    "eager": torch_runner(ref, xt, device, dtype)}
            if compiled is not None:
                runs["compile"] = torch_runner(compiled, xt, device, dtype)
            secs = {k: timed(run, args.seconds) for k, run in runs.items()}
            line = f"| {name} | {dtype} | {batch} | " + " | ".join(f"{batch / s:.1f}" for s in secs.values())
            line += f" | {secs['eager'] / secs['zoo']:.2f}x"
            if compiled is not None:
                line += f" | {secs['compile'] / secs['zoo']:.2f}x"
            print(f"{line} | {max_err:.1e} |", flush=True)


def _max_err(ref, model, zoo_params, img_size: int, device: str) -> float:
    x = np.random.default_rng(1).standard_normal((8, img_size, img_size, 3), dtype=np.float32)
    with torch.inference_mode():
        theirs = ref(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device)).float().cpu().numpy()
    ours = jax.jit(lambda p, s, x: model.apply(p, s, x)[0])(*zoo_params, jnp.asarray(x))
    return float(np.abs(np.asarray(ours) - theirs).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32, 128, 256])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per cell and side, after warm-up")
    parser.add_argument("--no-torch-compile", dest="compile", action="store_false")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (to test the script)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds after which no new model or cell starts (the rest is listed at the end)")
    args, _ = parser.parse_known_args()  # nox -s bench passes every script the same arguments
    gpu = jax.default_backend() == "gpu" and torch.cuda.is_available()
    if not gpu and not args.cpu:
        print(f"bench_gpu: no GPU here (JAX: {jax.default_backend()}, torch CUDA: {torch.cuda.is_available()}); "
              "skipped (--cpu runs it on the CPU anyway)")
        return
    device = "cuda" if gpu else "cpu"
    if args.compile and (why := bench_families.compile_works()):
        print(f"torch.compile does not run here ({why}); its column is left out")
        args.compile = False
    kind = torch.cuda.get_device_name() if gpu else bench_families.cpu_name()
    print(f"{args.img_size}x{args.img_size}; jax {jax.__version__} ({jax.devices()[0].device_kind}), torch "
          f"{torch.__version__} ({kind}), timm {timm.__version__}; best of 3 slices of about {args.seconds} s")
    compile_cols = (" timm compile img/s |", " zoo / compile |") if args.compile else ("", "")
    print(f"| model | dtype | batch | zoo img/s | timm eager img/s |{compile_cols[0]} zoo / eager |{compile_cols[1]} "
          "max abs diff (f32, batch 8) |")
    print("| --- | --- | --- | --- | --- |" + (" --- | --- |" if args.compile else "") + " --- | --- |")
    budget = Budget(args.budget)
    for name in args.models:
        rows_for(name, args, device, budget)
    if budget.skipped:
        print(f"budget of {args.budget:g} s spent; not measured: {', '.join(budget.skipped)}")


if __name__ == "__main__":
    main()
