"""GPU throughput in one run: zoo next to timm eager and ``torch.compile``'d timm, in float32, TF32
and bfloat16, batch 1 to 256, one reference model per family (issue 22, item 4).

For each model, timm's with randomized weights and ours loaded from the same weights (as
``bench_families.py`` does); then for each cell (batch size, mode, model) each side is timed for about
``--seconds`` after its warm-up, alternating, and the table shows images/s and the ratios. The modes
compare like with like, since on an NVIDIA GPU neither library computes float32 as float32 by
default (JAX runs float32 matmuls and convs on TF32 tensor cores, torch its convs but not its
matmuls):

- ``float32``: IEEE float32 on both sides: zoo under ``jax.default_matmul_precision("float32")``, timm
  with ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32`` off;
- ``tf32``: TF32 tensor cores on both sides: JAX's GPU default made explicit (``"tensorfloat32"``),
  both torch switches on;
- ``bfloat16``: zoo's ``dtype="bfloat16"`` (params cast inside the call, float32 outputs) against timm
  under ``torch.autocast(dtype=torch.bfloat16)``, the mixed precision a PyTorch user runs, both
  libraries' precision switches at their defaults.

Convolutional timm models run channels-last, as timm's own benchmark does. ``torch.compile`` uses
``dynamic=True`` so one compile per model and mode serves every batch size (a compile per shape would
not fit a short run). The last column is zoo's largest logit difference from timm's IEEE float32 output
on the cell's own images: the float32 rows check that both sides computed the same model, the others
show what the mode costs.

    python benchmarks/bench_gpu.py [--models ...] [--batch 8 256 1 64] [--dtypes bfloat16 float32 tf32] [--budget S]

Without ``torch.compile``, cells run batch size by batch size in the order given, each for every mode
and model, so that the batch sizes and modes named first are measured for every model before the rest;
rows print as they are measured, and the whole table again, sorted, at the end. With it they go model
by model and mode by mode, one compile each (``Bench``). With ``--budget S`` no new cell starts once S
seconds have passed since the start, and the last line names the cells left out: a lent GPU machine is
held for minutes, and a table cut short still carries every row it printed (``benchmarks/device_gpu.sh``
runs it that way). Each cell's zoo compile and total time go to stderr.

Without a GPU it says so and exits (``nox -s bench`` runs every script); ``--cpu`` runs it on the
CPU anyway, at whatever small sizes are given, to check the script itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_families  # noqa: E402  (sibling script: build_pair, cpu_name; it keeps JAX from preallocating the GPU)
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
#: Each mode: JAX's default matmul precision for zoo's float32 dots and convs, torch's two TF32 switches
#: (matmuls, cuDNN convs), and the compute dtype (zoo's ``dtype``, timm's autocast). bfloat16 leaves both
#: libraries at their defaults, as a mixed-precision user runs them.
MODES = {
    "float32": ("float32", (False, False), "float32"),
    "tf32": ("tensorfloat32", (True, True), "float32"),
    "bfloat16": (None, (False, True), "bfloat16"),
}


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


def torch_tf32(matmul: bool, cudnn: bool) -> None:
    """torch's two TF32 switches (matmuls: off by default; cuDNN convs: on by default)."""
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


def torch_runner(module, x, device: str, mode: str):
    _, tf32, dtype = MODES[mode]

    def run():
        torch_tf32(*tf32)
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            module(x)
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def zoo_runner(forward, zoo_params, x, mode: str):
    precision = MODES[mode][0]

    def run():
        with jax.default_matmul_precision(precision):
            return forward(*zoo_params, x).block_until_ready()

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


def cells(args) -> list[tuple[str, str, int]]:
    """(model, mode, batch) in the order they run: batch size by batch size (in ``--batch``'s order), each
    for every mode and model, or with ``torch.compile`` model by model and mode by mode (one compile each)."""
    if args.compile:
        return [(name, mode, batch) for name in args.models for mode in args.dtypes for batch in args.batch]
    return [(name, mode, batch) for batch in args.batch for mode in args.dtypes for name in args.models]


class Bench:
    """The models and compiled programs the cells share: each pair built once, zoo's forward jitted once per
    model and mode, and timm compiled once per model and mode, dynamo reset before each (its cache is per
    code object, shared by every timm model of a class (ViT-S and ViT-B, ConvNeXt and ConvNeXt-V2) and full
    after 8 entries: without a reset the later models would run eager under the compiled column)."""

    def __init__(self, args, device: str):
        self.args, self.device = args, device
        self.pairs: dict[str, tuple] = {}
        self.forwards: dict[tuple[str, str], object] = {}
        self.compiled_for: tuple[str, str] | None = None
        self.compiled = None
        self.rows: list[tuple[tuple[int, int, int], str]] = []

    def pair(self, name: str):
        if name not in self.pairs:
            ref, model, params, state = bench_families.build_pair(name, self.args.img_size)
            ref = ref.to(self.device).eval()
            if name.startswith(CHANNELS_LAST):
                ref = ref.to(memory_format=torch.channels_last)
            self.pairs[name] = ref, model, jax.device_put((params, state))
        return self.pairs[name]

    def forward(self, name: str, mode: str):
        if (name, mode) not in self.forwards:
            _, model, _ = self.pair(name)
            dtype = MODES[mode][2]
            ours = model if dtype == "float32" else zoo_core.precision.with_compute_dtype(model, name, dtype)
            self.forwards[name, mode] = jax.jit(lambda p, s, x, ours=ours: ours.apply(p, s, x)[0])
        return self.forwards[name, mode]

    def compiled_timm(self, name: str, mode: str):
        if self.compiled_for != (name, mode):
            torch._dynamo.reset()
            self.compiled = torch.compile(self.pair(name)[0], dynamic=True)
            self.compiled_for = (name, mode)
        return self.compiled

    def row(self, name: str, mode: str, batch: int) -> str:
        ref, _, zoo_params = self.pair(name)
        x = np.random.default_rng(batch).standard_normal((batch, self.args.img_size, self.args.img_size, 3),
                                                         dtype=np.float32)
        xj = jax.device_put(jnp.asarray(x))
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(self.device)
        if name.startswith(CHANNELS_LAST):
            xt = xt.contiguous(memory_format=torch.channels_last)
        zoo = zoo_runner(self.forward(name, mode), zoo_params, xj, mode)
        runs = {"zoo": zoo, "eager": torch_runner(ref, xt, self.device, mode)}
        if self.args.compile:
            runs["compile"] = torch_runner(self.compiled_timm(name, mode), xt, self.device, mode)
        began = time.perf_counter()
        zoo()  # compiles
        first = time.perf_counter() - began
        secs = {k: timed(run, self.args.seconds) for k, run in runs.items()}
        # On stderr, apart from the table: where a short lease's time goes (XLA's GPU compiles autotune).
        print(f"{name} {mode} {batch}: zoo's first call (its compile) {first:.1f} s, the cell "
              f"{time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
        line = f"| {name} | {mode} | {batch} | " + " | ".join(f"{batch / s:.1f}" for s in secs.values())
        line += f" | {secs['eager'] / secs['zoo']:.2f}x"
        if self.args.compile:
            line += f" | {secs['compile'] / secs['zoo']:.2f}x"
        line += f" | {_max_err(ref, zoo(), xt):.1e} |"
        self.rows.append(((self.args.models.index(name), self.args.dtypes.index(mode), batch), line))
        return line


def _max_err(ref, ours: jax.Array, xt) -> float:
    """The largest difference of zoo's logits ``ours`` from timm's IEEE float32 logits on the same images."""
    torch_tf32(False, False)
    with torch.inference_mode():
        theirs = ref(xt).float().cpu().numpy()
    return float(np.abs(np.asarray(ours, dtype=np.float32) - theirs).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 256, 1, 32, 128])
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32", "tf32"], choices=list(MODES),
                        help="the modes (see the module's docstring)")
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
    header = (f"| model | mode | batch | zoo img/s | timm eager img/s |{compile_cols[0]} zoo / eager |{compile_cols[1]} "
              "max abs diff from timm float32 |\n| --- | --- | --- | --- | --- |"
              + (" --- | --- |" if args.compile else "") + " --- | --- |")
    print(header, flush=True)
    budget = Budget(args.budget)
    bench = Bench(args, device)
    for name, mode, batch in cells(args):
        if budget.left(f"{name} {mode} {batch}"):
            print(bench.row(name, mode, batch), flush=True)
    if len(bench.rows) > 1 and not args.compile:
        print("\nSorted by model, mode and batch size:\n")
        print(header)
        for _, line in sorted(bench.rows):
            print(line)
    if budget.skipped:
        print(f"budget of {args.budget:g} s spent; not measured: {', '.join(budget.skipped)}")


if __name__ == "__main__":
    main()
