"""Throughput of one variant per family: zoo (jitted JAX) next to timm eager, same weights, same run.

For each model: build timm's with randomized weights, load the same weights into ours through the
normal loader (``create_pretrained(checkpoint_path=...)``), check the logits agree, then for each
batch size time ``--repeats`` rounds alternating ours and timm (so both see the same machine state),
each timed call after ``--settle`` untimed calls of the same model (default 1: PyTorch's OpenMP
threads keep spinning for milliseconds after a forward pass, and on 2 cores a call made right after
one of the other library's runs against them; ResNet-50 at batch 1 on the AMD EPYC: ours 26.4 ms
right after timm's call, 20.3 ms after our own; timm's 34.0 after ours, 33.2 after its own), and
print the medians as images/s, the ratio ours / timm, our first-call compile time, and the
achieved GFLOP/s (XLA's own FLOP count of our compiled forward pass) against the machine's matmul
peak, and the median count of minor page faults during one timed call of ours (a call that
page-faults its buffer afresh runs slower: see docs/performance.md, "Page faults"). The ratios are paired: each round times ours, timm's and a 2048³ JAX matmul (the peak) one
after the other, and a ratio is the median over rounds of that round's ratio, so a neighbour's load
that comes and goes on a shared host moves both sides of a ratio together instead of whichever
side happened to be timed then (a peak taken once at the start, against medians taken minutes
later, read a busy hour as a low share of it). The header says whether glibc's huge-page tunable is set
(``zoo_core.hostmem``): it changes both libraries' figures on a virtual machine, so compare runs
made the same way (``nox -s bench`` runs this script both ways). On a machine with CUDA, torch and JAX both use the GPU.
``torch.compile``'d timm is a third column (``--no-torch-compile`` leaves it out, as does a torch
whose compiler cannot run here).

Each row ends with issue 22's bars, marked met (``ok``) or missed (``MISS``): zoo at least 1.3× timm
eager, at least level with ``torch.compile``, and, for the convolutional models, at least 70% of the
matmul peak; the line after the table counts the cells that meet them. With zoo-cpu-kernels on the CPU the
header also gives the FMA ceiling (``zoo_cpu_kernels.fma_peak``: independent vector multiply-adds on every
core, which no float32 forward can beat), and each row that misses the eager bar gets a line after the count
saying what share of that ceiling 1.3× timm eager would take.

    python benchmarks/bench_families.py [--batch 1 8] [--img-size 224] [--repeats 7] [--settle 1] [--models ...]
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import statistics
import tempfile
import time
import warnings

os.environ.setdefault("ZOO_COMPILATION_CACHE", "0")  # compile times are first-compile times
# On a GPU, JAX would otherwise take 75% of its memory at the first call and leave torch the rest.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import numpy as np
import timm
import torch

import zoo_core
from zoo_core import hostmem
from zoo_core.interop import save_safetensors
from zoo_core.testing.parity import randomize_torch_module, state_dict_to_numpy
from zoo_core.testing.reference_models import REFERENCE_MODELS

MODELS = REFERENCE_MODELS
TORCH_DEVICE = "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"


def sync() -> None:
    if TORCH_DEVICE == "cuda":
        torch.cuda.synchronize()


PEAK_N = 2048
PEAK_FLOPS = 2 * PEAK_N**3


@functools.cache
def peak_matmul():
    """The peak's runner: an n³ float32 matmul in JAX, compiled and warm."""
    a = jax.device_put(np.random.default_rng(0).standard_normal((PEAK_N, PEAK_N), dtype=np.float32))
    mm = jax.jit(lambda a: a @ a)
    mm(a).block_until_ready()
    return lambda: mm(a).block_until_ready()


def matmul_peak_gflops(repeats: int = 5) -> float:
    """The machine's practical fp32 peak: the best of ``repeats`` 2048³ matmuls, in JAX."""
    best = min(_time(peak_matmul()) for _ in range(repeats))
    return PEAK_FLOPS / best / 1e9


def fma_ceiling_gflops() -> float | None:
    """The CPU's float32 multiply-add ceiling on every core it lets us use (``zoo_cpu_kernels.fma_peak``,
    best of 3), or None on a GPU or without zoo-cpu-kernels: no float32 forward runs faster, so a
    missed ratio bar can be held against it."""
    if TORCH_DEVICE == "cuda":
        return None
    try:
        from zoo_cpu_kernels import fma_peak
    except ImportError:
        return None
    return max(fma_peak(len(os.sched_getaffinity(0)), 0.5) for _ in range(3))


def eager_bar_note(name: str, batch: int, flops: float, timm_s: float, zoo_s: float, ceiling: float) -> str:
    """What issue 22's eager bar asks of a row that missed it, as a share of the FMA ceiling. ``flops`` is
    zoo's forward's (XLA's count), which can be less than timm's: a ViT's ``apply`` runs its last block past
    the qkv layer for the class token alone. timm's speed is put in zoo's FLOPs, which is what zoo would have
    to reach."""
    timm, zoo = flops / timm_s / 1e9, flops / zoo_s / 1e9
    return (f"{name}, batch {batch}: in zoo's FLOPs timm eager ran at {timm:.0f} GFLOP/s; {EAGER_BAR}x of it, "
            f"{EAGER_BAR * timm:.0f} GFLOP/s, is {EAGER_BAR * timm / ceiling:.0%} of the FMA ceiling "
            f"(zoo: {zoo:.0f}, {zoo / ceiling:.0%})")


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def build_pair(name: str, img_size: int):
    """timm's model with randomized weights, and ours loaded from the same weights."""
    kwargs = {"img_size": img_size} if name.startswith("vit_") else {}
    ref = timm.create_model(name, pretrained=False, **kwargs).eval()
    randomize_torch_module(ref)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the once-per-process non-commercial notices
        path = os.path.join(tmp, "model.safetensors")
        save_safetensors(path, state_dict_to_numpy(ref.state_dict()))
        model, load = zoo_core.create_pretrained(name, checkpoint_path=path, **kwargs)
        params, state = load()
    return ref.to(TORCH_DEVICE), model, params, state


#: issue 22's bars: zoo / timm eager, zoo / torch.compile, and (convolutional models) share of the matmul peak
EAGER_BAR, COMPILE_BAR, PEAK_BAR = 1.3, 1.0, 0.70
CONV_PREFIXES = ("resnet", "resnext", "seresnet", "convnext")


def bars(name: str, eager: float, compiled: float | None, of_peak: float) -> list[bool]:
    """Whether each of issue 22's bars that applies to ``name`` is met."""
    met = [eager >= EAGER_BAR]
    if compiled is not None:
        met.append(compiled >= COMPILE_BAR)
    if name.startswith(CONV_PREFIXES):
        met.append(of_peak >= PEAK_BAR)
    return met


def paired(times: dict[str, list[float]], flops: float, peak_flops: float) -> dict[str, float]:
    """Medians over rounds of each round's ratios: timm / ours and compiled timm / ours (speed-ups,
    as timed in the same round), and the share of the peak, ours' FLOP rate over the peak matmul's."""
    rounds = range(len(times["zoo"]))
    ratios = {"eager": [times["timm"][r] / times["zoo"][r] for r in rounds],
              "of peak": [flops * times["peak"][r] / (peak_flops * times["zoo"][r]) for r in rounds]}
    if "timm compile" in times:
        ratios["compiled"] = [times["timm compile"][r] / times["zoo"][r] for r in rounds]
    return {k: statistics.median(v) for k, v in ratios.items()}


def bench(name: str, batches: list[int], img_size: int, repeats: int, torch_compile: bool,
          settle: int = 1, ceiling: float | None = None, notes: list[str] | None = None) -> list[bool]:
    """One model's rows; for each row that misses the eager bar, with the FMA ``ceiling`` known, a line
    for ``notes`` saying what the bar asks (``eager_bar_note``)."""
    ref, model, params, state = build_pair(name, img_size)
    forward = jax.jit(lambda p, s, x: model.apply(p, s, x)[0])
    met_all = []
    for batch in batches:
        compiled = compile_for_one_shape(ref) if torch_compile else None
        x = np.random.default_rng(0).standard_normal((batch, img_size, img_size, 3), dtype=np.float32)
        row = bench_batch(forward, params, state, ref, compiled, x, repeats, settle)
        gflops = row["flops"] / row["zoo"] / 1e9
        ratios = paired(row["times"], row["flops"], PEAK_FLOPS)
        eager, of_peak = ratios["eager"], ratios["of peak"]
        vs_compiled = ratios["compiled"] if compiled is not None else None
        compiled_cols = f" {batch / row['timm compile']:.2f} |" if compiled is not None else ""
        ratio_cols = f" {eager:.2f}x |" + (f" {vs_compiled:.2f}x |" if compiled is not None else "")
        met = bars(name, eager, vs_compiled, of_peak)
        met_all += met
        if not met[0] and ceiling and notes is not None:
            notes.append(eager_bar_note(name, batch, row["flops"], row["timm"], row["zoo"], ceiling))
        print(f"| {name} | {batch} | {batch / row['zoo']:.2f} | {batch / row['timm']:.2f} |{compiled_cols}{ratio_cols} "
              f"{gflops:.0f} ({of_peak:.0%}) | {' '.join('ok' if m else 'MISS' for m in met)} "
              f"| {row['compile_s']:.1f} s | {row['faults']:.0f} | {row['max_err']:.1e} |", flush=True)
    return met_all


def compile_for_one_shape(ref: torch.nn.Module):
    """``torch.compile(ref)`` specialized to the next input's shape, as XLA's is, from a clean slate.

    Dynamo keeps one cache per code object across modules: every timm ViT shares
    ``VisionTransformer.forward``, so without the reset the ninth (model, batch) of a run hits
    ``recompile_limit`` (8) and silently runs eager, and a second batch size of the same model
    recompiles it with a dynamic batch dimension."""
    torch._dynamo.reset()
    return torch.compile(ref, dynamic=False)


def compile_works() -> str | None:
    """``None`` when ``torch.compile`` can compile a small module here, else why not."""
    try:
        torch.compile(torch.nn.Linear(4, 4))(torch.ones(2, 4))
    except Exception as e:  # noqa: BLE001 - whatever the compiler raises (no C++ compiler, no triton)
        return f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
    return None


def xla_cost(forward, params, state, x) -> dict:
    """XLA's cost analysis of ``forward`` lowered without zoo-cpu-kernels: XLA counts no FLOPs inside
    an FFI call, so the compiled depthwise, grouped and dense 3×3 convs would drop out of the count;
    with ``ZOO_CPU_KERNELS=0`` the same convs are XLA's own and counted."""
    saved = os.environ.get("ZOO_CPU_KERNELS")
    os.environ["ZOO_CPU_KERNELS"] = "0"
    try:
        raw = getattr(forward, "__wrapped__", forward)  # a fresh trace, not the jitted one's cached one
        cost = jax.jit(lambda p, s, x: raw(p, s, x)).lower(params, state, x).compile().cost_analysis()
    finally:
        if saved is None:
            del os.environ["ZOO_CPU_KERNELS"]
        else:
            os.environ["ZOO_CPU_KERNELS"] = saved
    return (cost[0] if isinstance(cost, list) else cost) or {}  # older jax: one dict per computation


def bench_batch(forward, params, state, ref, compiled, x: np.ndarray, repeats: int, settle: int = 1
                ) -> dict[str, float]:
    """Median seconds per call of ours, timm (and compiled timm), alternating with the peak matmul, each
    timed call after ``settle`` untimed ones of the same runner, and each round's times (``times``);
    with our compile time, XLA's FLOP count and the largest logit difference."""
    x_jax = jax.device_put(x)
    x_torch = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(TORCH_DEVICE)
    lowered = forward.lower(params, state, x_jax)
    start = time.perf_counter()
    executable = lowered.compile()
    ours_out = executable(params, state, x_jax).block_until_ready()
    compile_s = time.perf_counter() - start
    cost = xla_cost(forward, params, state, x_jax)
    runners = {"zoo": lambda: executable(params, state, x_jax).block_until_ready(),
               "timm": lambda: (ref(x_torch), sync()), "peak": peak_matmul()}
    if compiled is not None:
        runners["timm compile"] = lambda: (compiled(x_torch), sync())
    with torch.inference_mode():
        timm_out = ref(x_torch).cpu().numpy()
        for run in runners.values():  # warm-up (and torch.compile's compile)
            run()
        times: dict[str, list[float]] = {k: [] for k in runners}
        faults = []  # minor page faults during each timed call of ours (fresh pages of XLA's buffer)
        for _ in range(repeats):
            for key, run in runners.items():
                for _ in range(settle):  # untimed: the other library's threads spin down meanwhile
                    run()
                before = _minor_faults()
                times[key].append(_time(run))
                if key == "zoo":
                    faults.append(_minor_faults() - before)
    return {**{k: statistics.median(v) for k, v in times.items()}, "times": times, "compile_s": compile_s,
            "faults": statistics.median(faults),
            "flops": cost.get("flops", float("nan")),
            "max_err": float(np.abs(np.asarray(ours_out) - timm_out).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--settle", type=int, default=1,
                        help="untimed calls before each timed one, after switching library (0: strict alternation)")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--no-torch-compile", dest="torch_compile", action="store_false",
                        help="leave out the torch.compile'd timm column")
    args = parser.parse_args()
    if args.torch_compile and (why := compile_works()):
        print(f"torch.compile does not run here ({why}); its column is left out")
        args.torch_compile = False
    peak = matmul_peak_gflops()
    ceiling = fma_ceiling_gflops()
    device = jax.devices()[0].device_kind
    print(f"{args.img_size}x{args.img_size}, float32, {args.repeats} alternating rounds ({args.settle} untimed "
          "call(s) after each switch), medians (ratios and shares of the peak: medians of each round's); "
          f"jax {jax.__version__} ({jax.default_backend()}: {device}, {cpu_name()}), torch {torch.__version__} "
          f"({TORCH_DEVICE}, {torch.get_num_threads()} threads), timm {timm.__version__}; "
          f"matmul peak {peak:.0f} GFLOP/s at the start (2048³, JAX; timed again in every round)"
          + (f"; FMA ceiling {ceiling:.0f} GFLOP/s (independent vector multiply-adds on every core)" if ceiling else "")
          + f"; glibc huge pages {hostmem.hugepages_status()}")
    compiled = " timm compile img/s |" if args.torch_compile else ""
    vs = " zoo / compile |" if args.torch_compile else ""
    print(f"| model | batch | zoo img/s | timm img/s |{compiled} zoo / timm |{vs} zoo GFLOP/s (of peak) "
          f"| bars | zoo compile | zoo page faults | max abs diff |")
    print("| --- | --- | --- | --- |" + (" --- | --- |" if args.torch_compile else "")
          + " --- | --- | --- | --- | --- | --- |")
    met, notes = [], []
    for name in args.models:
        met += bench(name, args.batch, args.img_size, args.repeats, args.torch_compile, args.settle, ceiling, notes)
    print(f"bars met: {sum(met)} of {len(met)} (zoo >= {EAGER_BAR}x timm eager"
          + (f", >= {COMPILE_BAR}x torch.compile" if args.torch_compile else "")
          + f", conv models >= {PEAK_BAR:.0%} of the matmul peak)")
    for note in notes:
        print(note)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), which decides how timm's oneDNN fares."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
