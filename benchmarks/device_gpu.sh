#!/usr/bin/env bash
# Issue 22's GPU table (item 4) on a lent GPU machine, in one call.
#
# That machine reaches no network. Its image holds JAX with CUDA, torch, timm, safetensors,
# huggingface_hub, pluggy, attrs, numpy and pillow, but not zoo or platformdirs, so zoo-core and the
# family plugins travel as wheels: `--wheels` builds them here into .whl/ (ignored by git), and the
# call carries that folder. There the script installs them into a folder of its own (no build, no
# index), checks that one model runs on the device and matches timm in IEEE float32, then writes the table with
# bench_gpu.py under a time budget, printing each row as it is measured and copying the output to
# $OUT (what comes back from the machine).
#
#   bash benchmarks/device_gpu.sh --wheels                                # here, once
#   bash benchmarks/device_gpu.sh [bench_gpu.py arguments ...]            # there: carry .whl
#
# ZOO_GPU_BUDGET (seconds, default 420) bounds the two passes below together: no model or cell starts
# after it, and each pass's last line names what it left out (bench_gpu.py --budget). Extra arguments go
# to both passes after their defaults, so `--models ...` or `--batch ...` narrow a rerun.
# ZOO_GPU_CPU=1 runs both on the CPU (bench_gpu.py --cpu), to try the script on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--wheels" ]]; then
    rm -rf .whl && mkdir -p .whl
    python3 -m pip wheel -q --no-deps -w .whl . plugins/zoo-*
    python3 -m pip download -q --no-deps --only-binary=:all: -d .whl platformdirs
    ls -1 .whl
    exit 0
fi

out=${OUT:-/tmp/zoo-gpu}
mkdir -p "$out"
site=${ZOO_GPU_SITE:-/tmp/zoo-site}
if ! compgen -G ".whl/*.whl" >/dev/null; then
    echo "device_gpu.sh: no wheels in .whl/; run 'bash benchmarks/device_gpu.sh --wheels' first and carry .whl" >&2
    exit 2
fi
cpu=()
[[ "${ZOO_GPU_CPU:-0}" == 1 ]] && cpu=(--cpu)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
# JAX would otherwise take 75% of the GPU's memory at its first call, leaving torch the rest.
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    python3 benchmarks/bench_gpu.py --models resnet18.a1_in1k --img-size 64 --batch 2 --dtypes float32 \
        --seconds 0.05 --no-torch-compile ${cpu[@]+"${cpu[@]}"}
} 2>&1 | tee "$out/smoke.txt"

# Two passes: every model against timm eager first (a torch.compile costs tens of seconds per model and
# mode, and would leave the last families out of a short lease), batch 8 and 256 for every mode and model
# before batch 1 and 64; then the compiled column for as many models as the rest of the budget allows, at
# two batch sizes, in bfloat16 and IEEE float32.
budget=${ZOO_GPU_BUDGET:-420}
start=$SECONDS
python3 benchmarks/bench_gpu.py --batch 8 256 1 64 --seconds 0.3 --no-torch-compile --budget $((budget * 55 / 100)) \
    ${cpu[@]+"${cpu[@]}"} "$@" 2>&1 | tee "$out/gpu.md"
left=$((budget - (SECONDS - start)))
if ((left > 30)); then
    python3 benchmarks/bench_gpu.py --batch 8 256 --dtypes bfloat16 float32 --seconds 0.3 --budget "$left" \
        ${cpu[@]+"${cpu[@]}"} "$@" 2>&1 | tee "$out/gpu_compile.md"
fi
