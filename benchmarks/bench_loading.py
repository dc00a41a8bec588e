"""Loading and start-up: memory and time of ``create_pretrained(...)`` + ``load()``, first logits
of a second process, and ``zoo list``.

Loading, for convnext_large.fb_in1k and resnetv2_152x2_bit.goog_in21k with weights made locally
(``zoo_core.testing.checkpoints.random_state_dict``, float32 safetensors): in a fresh process
with JAX's backend started, the peak RSS that ``create_pretrained(...)`` + ``load()`` add over
the process before them, as a multiple of the parameter bytes, and their time against a plain
read of the same file into memory (page cache warm for both; the bound is 1.3× the bytes and
1.5× the read). The read is timed in its own fresh process: ``readinto`` one buffer of the
file's size, 1 MiB at a time (the fastest of the plain ways we measured; ``f.read()`` of the
whole file is slower). A scan of the file through one reused 64 MiB buffer, which keeps nothing,
is shown beside it: it measures the page cache alone, without the page faults that holding the
bytes costs. Each time is the best of ``--repeat`` rounds (memory: the worst), each round a
fresh process for the read and one for the load, a second apart; the ratios are the median of
the rounds' own ratios, because these shared machines are noisy from one second to the next.

Start-up: resnet50.a1_in1k from a local file, in two fresh processes sharing a new persistent
compilation cache: wall time from the interpreter's start to the first logits (the bound for the
second process: 5 s); and the wall time of ``zoo list`` (bound: 0.3 s), best of five.

    python benchmarks/bench_loading.py [--models ...] [--skip-startup]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

LOAD_MODELS = ("convnext_large.fb_in1k", "resnetv2_152x2_bit.goog_in21k")
STARTUP_MODEL = "resnet50.a1_in1k"

READ_CHILD = r"""
import json, mmap, os, sys, time
import jax

path = sys.argv[1]
jax.devices()
size = os.path.getsize(path)
start = time.perf_counter()
with open(path, "rb") as f:  # the scan: one reused 64 MiB buffer, nothing kept
    buffer = bytearray(1 << 26)
    while f.readinto(buffer):
        pass
scan_s = time.perf_counter() - start
del buffer
start = time.perf_counter()
data = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # the read: the whole file in memory
view = memoryview(data)
with open(path, "rb", buffering=0) as f:
    done = 0
    while done < size:
        done += f.readinto(view[done:done + (1 << 20)])
read_s = time.perf_counter() - start
print(json.dumps(dict(scan_s=scan_s, read_s=read_s)))
"""

LOAD_CHILD = r"""
import json, resource, sys, time
import jax, numpy as np, zoo_core

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

name, path = sys.argv[1], sys.argv[2]
jax.devices()
before = rss()
start = time.perf_counter()
model, load = zoo_core.create_pretrained(name, checkpoint_path=path)
params, state = load()
jax.block_until_ready((params, state))
load_s = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
nbytes = sum(x.nbytes for x in jax.tree_util.tree_leaves((params, state)))
print(json.dumps(dict(load_s=load_s, added=peak - before, before=before, nbytes=nbytes)))
"""

STARTUP_CHILD = r"""
import time
import numpy as np, zoo_core, jax, sys
model, load = zoo_core.create_pretrained(sys.argv[1], checkpoint_path=sys.argv[2])
params, state = load()
y, _ = jax.jit(model.apply)(params, state, np.zeros((1, 224, 224, 3), np.float32))
np.asarray(y)
"""


def make_weights(name: str, directory: str) -> str:
    from zoo_core.interop import save_safetensors
    from zoo_core.testing.checkpoints import random_state_dict

    path = os.path.join(directory, f"{name}.safetensors")
    save_safetensors(path, random_state_dict(name))
    return path


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env={**os.environ, "ZOO_COMPILATION_CACHE": "0"})
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def loading_rows(models, directory: str, repeat: int) -> None:
    print("| model | parameter MB | scan of the file (nothing kept) | read of the file into memory | "
          "create + load() | load / read (≤ 1.5): median of rounds (best / best) | load / scan | peak RSS added | "
          "RSS / parameter bytes (≤ 1.3) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in models:
        path = make_weights(name, directory)
        with open(path, "rb") as f:  # warm the page cache, as a second read of the file would find it
            while f.read(1 << 26):
                pass
        reads, loads = [], []
        for _ in range(repeat):  # alternated, so that a busy second falls on both sides
            reads.append(_child(READ_CHILD, path))
            loads.append(_child(LOAD_CHILD, name, path))
        os.remove(path)
        scan_s = min(x["scan_s"] for x in reads)
        read_s = min(x["read_s"] for x in reads)
        load_s = min(x["load_s"] for x in loads)
        # Each ratio is taken within a round (a read and a load a second apart), then the median
        # of the rounds: steadier than best against best when the machine's speed drifts.
        ratio = statistics.median(b["load_s"] / a["read_s"] for a, b in zip(reads, loads))
        ratio_scan = statistics.median(b["load_s"] / a["scan_s"] for a, b in zip(reads, loads))
        added, nbytes = max(x["added"] for x in loads), loads[0]["nbytes"]
        print(f"| {name} | {nbytes / 1e6:.0f} | {scan_s:.2f} s | {read_s:.2f} s | {load_s:.2f} s | "
              f"{ratio:.2f} ({load_s / read_s:.2f}) | {ratio_scan:.2f} | {added / 1e6:.0f} MB | {added / nbytes:.2f} |",
              flush=True)


def startup_rows(directory: str) -> None:
    path = make_weights(STARTUP_MODEL, directory)
    cache = tempfile.mkdtemp(prefix="zoo-jax-cache-")
    env = {**os.environ, "ZOO_COMPILATION_CACHE_DIR": cache, "ZOO_COMPILATION_CACHE": "1"}
    print("| start-up | wall time | bound |")
    print("| --- | --- | --- |")
    try:
        for which in ("first process (cold compilation cache)", "second process (warm cache)"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", STARTUP_CHILD, STARTUP_MODEL, path], env=env, check=True)
            bound = "≤ 5 s" if which.startswith("second") else "—"
            print(f"| {STARTUP_MODEL}: {which}, to first logits | {time.perf_counter() - start:.2f} s | {bound} |",
                  flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    zoo = shutil.which("zoo", path=os.path.dirname(sys.executable)) or "zoo"
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([zoo, "list"], env=env, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    print(f"| `zoo list` (best of 5) | {best:.2f} s | ≤ 0.3 s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(LOAD_MODELS))
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds per model, each a fresh read process and a fresh load process")
    args = parser.parse_args()
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as directory:
        loading_rows(args.models, directory, args.repeat)
        print()
        if not args.skip_startup:
            startup_rows(directory)


if __name__ == "__main__":
    main()
