"""Where one jitted forward pass spends its time, op by op (XLA's fusions, custom calls, dots, convs).

Builds the variant with random weights, compiles its eval forward at the given batch, runs it under
``jax.profiler`` ``--calls`` times and prints the ops that take the most time per call, summed over
the ops of one name's kind, and the total. The op names are XLA's (``fusion.12``, ``custom-call.3``);
``--hlo`` also prints each listed op's HLO so that a fusion can be read back to the layers it fuses.
CPU only: on the CPU backend XLA's thunk executor records one trace event per op it runs.

    python benchmarks/profile_ops.py resnet50.a1_in1k --batch 8 [--calls 5] [--top 25] [--hlo]
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile

import jax
import numpy as np

import zoo_core


def op_times(trace_dir: str, calls: int) -> dict[str, float]:
    """Milliseconds per call of each op named in the Perfetto trace under ``trace_dir``."""
    (path,) = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True)
    with gzip.open(path) as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    totals: dict[str, float] = collections.defaultdict(float)
    for event in events:
        if event.get("ph") == "X" and "dur" in event:
            totals[event["name"]] += event["dur"] / 1e3 / calls
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--hlo", action="store_true", help="print each listed op's HLO")
    args = parser.parse_args()

    kwargs = {"img_size": args.img_size} if args.model.startswith("vit_") else {}  # as bench_families.py
    model = zoo_core.create_model(args.model, **kwargs)
    params, state = model.init(jax.random.key(0))
    x = jax.device_put(np.random.default_rng(0).standard_normal(
        (args.batch, args.img_size, args.img_size, 3), dtype=np.float32))
    forward = jax.jit(lambda p, s, x: model.apply(p, s, x)[0])
    compiled = forward.lower(params, state, x).compile()
    for _ in range(3):
        compiled(params, state, x).block_until_ready()
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            for _ in range(args.calls):
                compiled(params, state, x).block_until_ready()
        totals = op_times(tmp, args.calls)
    hlo = compiled.as_text()
    ops = {name: ms for name, ms in totals.items() if re.search(rf"%?{re.escape(name)} = ", hlo)}
    others = {name: ms for name, ms in totals.items() if name not in ops}
    whole = max(others.values(), default=0.0)
    print(f"{args.model}, batch {args.batch}: {sum(ops.values()):.1f} ms in {len(ops)} ops per call "
          f"(largest enclosing event {whole:.1f} ms)")
    kinds: dict[str, float] = collections.defaultdict(float)
    for name, ms in ops.items():
        kinds[re.sub(r"[.\d]+$", "", name)] += ms
    print("by kind: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
    targets: dict[str, list[float]] = collections.defaultdict(list)
    for name, ms in ops.items():
        line = next((ln for ln in hlo.splitlines() if re.search(rf"%?{re.escape(name)} = ", ln)), "")
        if match := re.search(r'custom_call_target="([^"]+)"', line):
            targets[match.group(1)].append(ms)
    if targets:
        print("by custom-call target: " + ", ".join(
            f"{k} {sum(v):.1f} ({len(v)})" for k, v in sorted(targets.items(), key=lambda kv: -sum(kv[1]))))
    for name, ms in sorted(ops.items(), key=lambda kv: -kv[1])[:args.top]:
        line = next((ln.strip() for ln in hlo.splitlines() if re.search(rf"%?{re.escape(name)} = ", ln)), "")
        print(f"{ms:8.2f} ms  {name:24s} {line[:160] if not args.hlo else ''}")
        if args.hlo:
            print("    " + line)


if __name__ == "__main__":
    main()
