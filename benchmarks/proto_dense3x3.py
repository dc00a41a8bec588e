"""Prototype dense 3×3 conv kernel (``kernels/zoo-cpu-kernels/zoo_cpu_kernels/dense3x3.cc``) vs XLA and PyTorch.

Compiles the .cc with g++ into a temporary folder (the flags ``setup.py`` uses), loads it with
ctypes, registers it with XLA as an FFI target, then for ResNet-50's dense 3×3 convs (NHWC float32,
stride 1, padding 1: 56²×64, 28²×128, 14²×256, 7²×512) at each ``--batch``: checks it against
``lax.conv_general_dilated`` (max |error| relative to the output's max |value|, must be ≤ 1e-4),
then times ``--repeats`` rounds calling lax, the kernel and torch's channels-last ``nn.Conv2d`` one
after the other (each call after one untimed call), and prints min / median ms.

    python benchmarks/proto_dense3x3.py [--batch 1 8] [--repeats 7] [--cin-block 128] [--flags -march=native]
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_grouped import torch_conv  # noqa: E402  (sibling script: torch's channels-last conv)

SOURCE = Path(__file__).resolve().parents[1] / "kernels/zoo-cpu-kernels/zoo_cpu_kernels/dense3x3.cc"
TARGET = "zoo_dense3x3_proto"
SHAPES = [(56, 64, 1), (28, 128, 1), (14, 256, 1), (7, 512, 1), (56, 128, 2), (28, 256, 2), (14, 512, 2)]  # H=W, C, s
DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
FLAGS = ["-O3", "-std=c++17", "-fvisibility=hidden", "-Wno-psabi", "-Wno-attributes", "-Wno-return-type",
         "-DZOO_TARGET_CLONES", "-shared", "-fPIC"]


def build(extra: list[str]) -> ctypes.CDLL:
    """Compiles SOURCE (once per source text and flags: the library is kept in the temporary
    folder under a hash of both) and registers its handler as TARGET."""
    command = ["g++", *FLAGS, *extra, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o"]
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(command).encode()).hexdigest()[:16]
    library = Path(tempfile.gettempdir()) / "zoo_proto_dense3x3" / f"{digest}.so"
    if not library.exists():
        library.parent.mkdir(exist_ok=True)
        start = time.perf_counter()
        subprocess.run([*command, f"{library}.part"], check=True)
        Path(f"{library}.part").rename(library)
        print(f"built in {time.perf_counter() - start:.1f} s: {' '.join(command[1:-2])}")
    lib = ctypes.CDLL(str(library))
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.ZooDense3x3), platform="cpu")
    return lib


def kernel_conv(x: jax.Array, k: jax.Array, stride: int, cin_block: int, max_threads: int) -> jax.Array:
    n, h, w, _ = x.shape
    out = jax.ShapeDtypeStruct((n, (h - 1) // stride + 1, (w - 1) // stride + 1, k.shape[3]), jnp.float32)
    return jax.ffi.ffi_call(TARGET, out)(x, k, stride=np.int64(stride), cin_block=np.int64(cin_block),
                                         max_threads=np.int64(max_threads), portable=np.int64(0))


def lax_conv(x: jax.Array, k: jax.Array, stride: int, precision=None) -> jax.Array:
    return lax.conv_general_dilated(x, k, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=DIMENSION_NUMBERS,
                                    precision=precision)


def bench(batch: int, size: int, chans: int, stride: int, repeats: int, cin_block: int, use_torch: bool,
          threads: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, chans), dtype=np.float32)
    k = (rng.standard_normal((3, 3, chans, chans)) / np.sqrt(9 * chans)).astype(np.float32)
    xj, kj = jax.device_put(x), jax.device_put(k)
    want = np.asarray(lax_conv(xj, kj, stride, lax.Precision.HIGHEST))
    scale = float(np.abs(want).max())
    lax_f = jax.jit(functools.partial(lax_conv, stride=stride))
    ours = jax.jit(functools.partial(kernel_conv, stride=stride, cin_block=cin_block, max_threads=threads))
    err = float(np.abs(np.asarray(ours(xj, kj)) - want).max()) / scale
    assert err <= 1e-4, f"kernel: max |error| / scale {err}"
    calls = {"lax": lambda: jax.block_until_ready(lax_f(xj, kj)), "kernel": lambda: jax.block_until_ready(ours(xj, kj))}
    if use_torch:
        run, result = torch_conv(x, k, stride, groups=1)
        terr = float(np.abs(result() - want).max()) / scale
        assert terr <= 1e-4, f"torch: max |error| / scale {terr}"
        calls["torch"] = run
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            call()
            start = time.perf_counter()
            call()
            times[name].append(1e3 * (time.perf_counter() - start))
    return times, err


ODD_SHAPES = [  # (N, H, W, Cin, Cout): tails of every block size, one-pixel images, chunked Cin
    (2, 5, 9, 3, 16), (1, 1, 1, 8, 48), (2, 7, 13, 20, 80), (1, 4, 6, 64, 112), (1, 3, 14, 33, 64),
    (1, 2, 7, 16, 128), (3, 8, 23, 40, 176), (1, 1, 12, 5, 32),
]


def check(cin_block: int) -> None:
    """The kernel against lax (float32, HIGHEST) on ODD_SHAPES, at ``cin_block`` and at 7."""
    rng = np.random.default_rng(1)
    for n, h, w, cin, cout in ODD_SHAPES:
        x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
        k = rng.standard_normal((3, 3, cin, cout), dtype=np.float32)
        for stride in (1, 2):
            want = np.asarray(lax_conv(x, k, stride, lax.Precision.HIGHEST))
            for block in (cin_block, 7):
                got = np.asarray(jax.jit(functools.partial(kernel_conv, stride=stride, cin_block=block,
                                                           max_threads=0))(x, k))
                err = float(np.abs(got - want).max()) / float(np.abs(want).max())
                assert err <= 1e-5, f"{(n, h, w, cin, cout)} stride {stride} cin_block {block}: error {err}"
    print(f"odd shapes: {len(ODD_SHAPES)} match lax at stride 1 and 2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cin-block", type=int, default=128)
    parser.add_argument("--shapes", type=int, nargs="*", help="sizes (56 28 14 7) to run; default all")
    parser.add_argument("--stride", type=int, nargs="*", help="strides (1 2) to run; default both")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--flags", default="", help="extra g++ flags, one string (--flags=\"-DZOO_R=6 ...\")")
    parser.add_argument("--one-thread", action="store_true", help="XLA and torch on one thread each")
    args = parser.parse_args()
    if args.one_thread:  # read when XLA's CPU client starts, at the first computation
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1")
        import torch

        torch.set_num_threads(1)
    _lib = build(args.flags.split())
    check(args.cin_block)
    rows = []
    for batch in args.batch:
        for size, chans, stride in SHAPES:
            if args.shapes and size not in args.shapes or args.stride and stride not in args.stride:
                continue
            times, err = bench(batch, size, chans, stride, args.repeats, args.cin_block, not args.no_torch,
                               1 if args.one_thread else 0)
            cells = {name: (min(t), statistics.median(t)) for name, t in times.items()}
            rows.append((f"{size}²×{chans} s{stride}", batch, cells, err))
            print(f"  b{batch} {rows[-1][0]}: " + ", ".join(f"{n} {a:.2f}/{b:.2f}" for n, (a, b) in cells.items())
                  + f", err {err:.1e}", flush=True)
    names = list(dict.fromkeys(name for _, _, cells, _ in rows for name in cells))
    gflop = {}
    for label, batch, _, _ in rows:
        size, rest = label.split("²×")
        chans, stride = rest.split(" s")
        gflop[label, batch] = 2 * 9 * batch * ((int(size) - 1) // int(stride) + 1) ** 2 * int(chans) ** 2 / 1e6
    for label, batch, cells, _ in rows:
        print(f"  GFLOP/s b{batch} {label}: " + ", ".join(f"{n} {gflop[label, batch] / t[0]:.0f}" for n, t in cells.items()))
    print(f"\nms, min / median of {args.repeats} alternating rounds; error = max |kernel - lax| / max |lax|")
    print("| shape | batch | " + " | ".join(names) + " | error |")
    print("| --- | --- |" + " --- |" * (len(names) + 1))
    for label, batch, cells, err in rows:
        print(f"| {label} | {batch} | " + " | ".join(f"{cells[n][0]:.2f} / {cells[n][1]:.2f}" for n in names)
              + f" | {err:.1e} |")


if __name__ == "__main__":
    main()
