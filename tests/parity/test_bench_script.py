"""``benchmarks/bench_families.py`` and ``bench_gpu.py`` run end to end on a small model; the first prints issue 22's bars.

The numbers themselves are measured by ``nox -s bench``, never asserted in a test; what is checked
here is that the script works (timm and zoo agree in its own parity column) and that its bar
bookkeeping marks a missed bar as missed."""

import importlib.util
import pathlib
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

pytestmark = pytest.mark.parity

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bench_families.py"


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load(SCRIPT)


@pytest.fixture(scope="module")
def bench_gpu():
    return _load(SCRIPT.parent / "bench_gpu.py")


def test_bars(bench):
    assert bench.bars("resnet50.a1_in1k", 1.31, 1.0, 0.70) == [True, True, True]
    assert bench.bars("resnet50.a1_in1k", 1.29, 0.99, 0.69) == [False, False, False]
    assert bench.bars("vit_base_patch16_224.augreg2_in21k_ft_in1k", 1.5, None, 0.1) == [True]  # no peak bar for ViT


def test_ratios_are_paired_round_by_round(bench):
    """A round on a loaded machine (everything 3× slower) moves both sides of each ratio: the paired
    median stays at the true ratio, where a ratio of medians over unpaired rounds would not."""
    times = {"zoo": [1.0, 3.0, 1.0, 3.0, 3.0], "timm": [1.5, 4.5, 1.5, 4.5, 4.5], "peak": [0.5, 1.5, 0.5, 1.5, 1.5],
             "timm compile": [1.2, 3.6, 1.2, 3.6, 3.6]}
    ratios = bench.paired(times, flops=10.0, peak_flops=20.0)
    assert ratios == pytest.approx({"eager": 1.5, "compiled": 1.2, "of peak": 0.25})
    del times["timm compile"]
    assert set(bench.paired(times, 10.0, 20.0)) == {"eager", "of peak"}


def test_eager_bar_note(bench):
    """A missed eager bar is put against the FMA ceiling: timm at 100 GFLOP/s, 1.3x of it 130, of 200."""
    note = bench.eager_bar_note("m", 8, flops=1e11, timm_s=1.0, zoo_s=0.8, ceiling=200.0)
    assert note == ("m, batch 8: in zoo's FLOPs timm eager ran at 100 GFLOP/s; 1.3x of it, 130 GFLOP/s, is 65% "
                    "of the FMA ceiling (zoo: 125, 62%)")


def test_runs_and_prints_the_table(bench, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_families.py", "--models", "resnet18.a1_in1k", "--img-size", "32",
                                      "--batch", "1", "--repeats", "1", "--no-torch-compile"])
    bench.main()
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| resnet18.a1_in1k | 1 |"))
    assert float(row.rstrip(" |").rsplit("|", 1)[1]) < 1e-4  # the logits agree with timm's
    assert "bars met:" in out and "of 2" in out
    if bench.fma_ceiling_gflops() is not None:  # zoo-cpu-kernels installed: the ceiling in the header
        assert "FMA ceiling" in out.splitlines()[0]


def test_a_missed_eager_bar_gets_its_note(bench, monkeypatch, capsys):
    """Every row misses a 1000x eager bar, and each gets a line after the count (with the ceiling known)."""
    monkeypatch.setattr(bench, "EAGER_BAR", 1000.0)
    monkeypatch.setattr(bench, "fma_ceiling_gflops", lambda: 1e6)
    monkeypatch.setattr(sys, "argv", ["bench_families.py", "--models", "resnet18.a1_in1k", "--img-size", "32",
                                      "--batch", "1", "2", "--repeats", "1", "--no-torch-compile"])
    bench.main()
    lines = capsys.readouterr().out.splitlines()
    count = next(i for i, line in enumerate(lines) if line.startswith("bars met:"))
    assert [line.split(":")[0] for line in lines[count + 1:]] == ["resnet18.a1_in1k, batch 1",
                                                                  "resnet18.a1_in1k, batch 2"]


def test_gpu_script_runs_on_the_cpu_when_asked(bench_gpu, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_gpu.py"])
    bench_gpu.main()
    assert "no GPU here" in capsys.readouterr().out  # nox -s bench on a CPU machine: skipped, not failed
    monkeypatch.setattr(sys, "argv", ["bench_gpu.py", "--cpu", "--models", "resnet18.a1_in1k", "--img-size", "32",
                                      "--batch", "1", "--seconds", "0.01", "--no-torch-compile"])
    bench_gpu.main()
    out, err = capsys.readouterr()
    rows = [line for line in out.splitlines() if line.startswith("| resnet18.a1_in1k |")]
    timings = [line for line in err.splitlines() if "zoo's first call (its compile)" in line]
    assert [line.split(":")[0] for line in timings] == [f"resnet18.a1_in1k {m} 1" for m in ("bfloat16", "float32", "tf32")]
    modes = [row.split(" | ")[1] for row in rows]
    assert modes[:3] == ["bfloat16", "float32", "tf32"] and sorted(modes[3:]) == sorted(modes[:3])  # then sorted
    errors = {row.split(" | ")[1]: float(row.rstrip(" |").rsplit("|", 1)[1]) for row in rows}
    assert errors["float32"] < 1e-4 and errors["tf32"] < 1e-4  # the CPU has no TF32: both modes are float32 here
    assert 1e-4 < errors["bfloat16"] < 0.5  # against timm's float32 logits: what bfloat16 costs


def test_gpu_script_runs_batch_sizes_first_then_modes_then_models(bench_gpu, monkeypatch, capsys):
    """Without torch.compile, batch 8 (the first given) for every mode and model before batch 1, so that a
    budget cut leaves the sizes asked for first; each pair is built once."""
    built = []
    real = bench_gpu.bench_families.build_pair
    monkeypatch.setattr(bench_gpu.bench_families, "build_pair", lambda *a: built.append(a[0]) or real(*a))
    models = ["resnet18.a1_in1k", "vit_tiny_patch16_224.augreg_in21k_ft_in1k"]
    monkeypatch.setattr(sys, "argv", ["bench_gpu.py", "--cpu", "--models", *models, "--img-size", "32",
                                      "--batch", "2", "1", "--dtypes", "float32", "bfloat16", "--seconds", "0.01",
                                      "--no-torch-compile"])
    bench_gpu.main()
    lines = capsys.readouterr().out.splitlines()
    rows = [tuple(line.split(" | ")[:3]) for line in lines if line.startswith("| resnet18") or line.startswith("| vit")]
    measured, table = rows[:8], rows[8:]
    assert [(m[2:], mode, batch) for m, mode, batch in measured] == [
        (name, mode, batch) for batch in ("2", "1") for mode in ("float32", "bfloat16") for name in models]
    assert table == sorted(measured, key=lambda r: (models.index(r[0][2:]), ["float32", "bfloat16"].index(r[1]),
                                                    int(r[2])))
    assert built == models


def test_gpu_script_stops_at_its_budget_and_says_what_it_left_out(bench_gpu, monkeypatch, capsys):
    clock = iter([0.0, 1.0, 50.0])  # the deadline set at 0 + 10 s; then one clock reading per cell
    monkeypatch.setattr(bench_gpu, "_now", lambda: next(clock))
    monkeypatch.setattr(sys, "argv", ["bench_gpu.py", "--cpu", "--models", "resnet18.a1_in1k", "--img-size", "32",
                                      "--batch", "1", "2", "--dtypes", "float32", "--seconds", "0.01",
                                      "--no-torch-compile", "--budget", "10"])
    bench_gpu.main()
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("| resnet18.a1_in1k |")]
    assert [row.split(" | ")[2] for row in rows] == ["1"]  # batch 1 began in time, batch 2 did not
    assert lines[-1] == "budget of 10 s spent; not measured: resnet18.a1_in1k float32 2"


def test_gpu_script_sets_each_modes_precision_on_both_sides(bench_gpu, monkeypatch):
    """float32: JAX's matmul precision "float32" and torch's TF32 switches off; tf32: "tensorfloat32" and both
    on; bfloat16: both libraries' defaults."""
    import jax
    import jax.numpy as jnp
    import torch

    seen, flags = [], []
    monkeypatch.setattr(bench_gpu.torch.backends.cudnn, "allow_tf32", True)

    def forward(*args):
        seen.append(jax.config.jax_default_matmul_precision)
        return jnp.zeros(1)

    def module(x):
        flags.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))

    for mode in ("float32", "tf32", "bfloat16"):
        bench_gpu.zoo_runner(forward, ((), ()), None, mode)()
        bench_gpu.torch_runner(module, None, "cpu", mode)()
    assert seen == ["float32", "tensorfloat32", None]
    assert flags == [(False, False), (True, True), (False, True)]  # bfloat16: torch's defaults


def test_gpu_script_compiles_each_model_and_dtype_afresh(bench_gpu, monkeypatch, capsys):
    """As in bench_families: dynamo's per-code-object cache would otherwise fill across the models of a class."""
    import torch

    events = []
    monkeypatch.setattr(torch._dynamo, "reset", lambda: events.append("reset"))
    monkeypatch.setattr(torch, "compile", lambda module, **kw: events.append(("compile", kw)) or module)
    monkeypatch.setattr(bench_gpu.bench_families, "compile_works", lambda: None)
    monkeypatch.setattr(sys, "argv", ["bench_gpu.py", "--cpu", "--models", "resnet18.a1_in1k", "--img-size", "32",
                                      "--batch", "1", "2", "--seconds", "0.01"])
    bench_gpu.main()
    assert events == ["reset", ("compile", {"dynamic": True})] * 3  # bfloat16, float32, tf32
    out = capsys.readouterr().out
    assert "timm compile img/s" in out and "Sorted" not in out  # model by model already


def test_torch_compile_starts_afresh_for_each_model_and_batch(bench, monkeypatch, capsys):
    """Dynamo's cache is per code object, shared by every timm model of a class: without a reset per
    (model, batch) the ninth ViT row of a run would time eager timm under the compiled column."""
    import torch

    events = []
    monkeypatch.setattr(torch._dynamo, "reset", lambda: events.append("reset"))
    monkeypatch.setattr(torch, "compile", lambda module, **kw: events.append(("compile", kw)) or module)
    monkeypatch.setattr(bench, "compile_works", lambda: None)
    monkeypatch.setattr(sys, "argv", ["bench_families.py", "--models", "resnet18.a1_in1k", "--img-size", "32",
                                      "--batch", "1", "2", "--repeats", "1"])
    bench.main()
    assert events == ["reset", ("compile", {"dynamic": False})] * 2
    out = capsys.readouterr().out
    assert "timm compile img/s" in out and "of 6 (" in out  # three bars at each batch size


@pytest.fixture
def ab_kernels(monkeypatch, capsys):
    """Runs ``benchmarks/ab_kernels.py`` with the installed build as the "old" one too, with the given
    arguments after the old build's path; returns what it printed."""
    kernels = pytest.importorskip("zoo_cpu_kernels")
    module = _load(SCRIPT.parent / "ab_kernels.py")
    so = next(pathlib.Path(kernels.__file__).parent.glob("_kernels*.so"))

    def run(*args: str) -> str:
        monkeypatch.setattr(sys, "argv", ["ab_kernels.py", str(so), *args])
        module.main()
        return capsys.readouterr().out
    return run


def row_cells(out: str, prefix: str) -> list[str]:
    row = next(line for line in out.splitlines() if line.startswith(prefix))
    return [cell.strip() for cell in row.strip(" |").split("|")]


def test_ab_kernels_runs_one_build_against_another(ab_kernels):
    """Both compiled forwards run their own targets and agree exactly."""
    cells = row_cells(ab_kernels("resnet18.a1_in1k", "--batch", "1", "--rounds", "1"), "| resnet18.a1_in1k | 1 |")
    assert float(cells[-1]) == 0.0


def test_ab_kernels_times_the_attention_kernel(ab_kernels):
    """``--attention``: the attention kernel of both builds beside XLA's composition; the builds (here the
    same one) agree exactly and with XLA to float32 rounding."""
    cells = row_cells(ab_kernels("--attention", "2,23,3,32", "--rounds", "1"), "| 2, 23, 3, 32 |")
    assert all(float(rate) > 0 for rate in cells[1:4])
    assert float(cells[6]) < 1e-5


def test_ab_kernels_times_the_pointwise_kernel_as_a_gemm(ab_kernels):
    """``--gemm``: the pointwise kernel of both builds on a GEMM shape, next to XLA's matmul; the builds
    (here the same one) agree exactly and with XLA to float32 rounding."""
    out = ab_kernels("--gemm", "50,96,80", "--rounds", "1")
    assert "| model |" not in out  # no model table without models
    cells = row_cells(out, "| 50, 96, 80 |")
    assert all(float(rate) > 0 for rate in cells[1:4])
    assert float(cells[6]) < 1e-4  # new against old and against XLA: float32 rounding at K = 96
