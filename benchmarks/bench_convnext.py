"""ConvNeXt throughput: zoo (jitted JAX) next to timm eager (PyTorch), same weights, same machine.

For convnext_tiny and convnextv2_tiny: build timm's model with random weights, load the same
weights into ours through the normal loader, check the logits agree, then time ``--repeats``
rounds alternating ours and timm (after a warm-up of each) and print the medians as images/s,
their ratio, and our first-call compile time.

    python benchmarks/bench_convnext.py [--batch 8] [--img-size 224] [--repeats 7] [--models ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

import jax
import numpy as np
import timm
import torch

import zoo_core
from zoo_core.interop import save_safetensors
from zoo_core.testing.parity import randomize_torch_module, state_dict_to_numpy

MODELS = ("convnext_tiny.fb_in1k", "convnextv2_tiny.fcmae_ft_in1k")


def bench(name: str, batch: int, img_size: int, repeats: int) -> None:
    ref = timm.create_model(name, pretrained=False).eval()
    randomize_torch_module(ref)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the once-per-process CC-BY-NC notice of convnextv2
        path = os.path.join(tmp, "model.safetensors")
        save_safetensors(path, state_dict_to_numpy(ref.state_dict()))
        model, load = zoo_core.create_pretrained(name, checkpoint_path=path)
        params, state = load()
    x = np.random.default_rng(0).standard_normal((batch, img_size, img_size, 3), dtype=np.float32)
    x_jax, x_torch = jax.device_put(x), torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    forward = jax.jit(lambda p, s, x: model.apply(p, s, x)[0])

    start = time.perf_counter()
    ours_out = forward(params, state, x_jax).block_until_ready()
    compile_s = time.perf_counter() - start
    with torch.inference_mode():
        timm_out = ref(x_torch).numpy()
        ref(x_torch)
    max_err = float(np.abs(np.asarray(ours_out) - timm_out).max())
    forward(params, state, x_jax).block_until_ready()

    ours_s, timm_s = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(params, state, x_jax).block_until_ready()
        ours_s.append(time.perf_counter() - start)
        with torch.inference_mode():
            start = time.perf_counter()
            ref(x_torch)
            timm_s.append(time.perf_counter() - start)
    ours_med, timm_med = statistics.median(ours_s), statistics.median(timm_s)
    print(f"| {name} | {batch / ours_med:.2f} | {batch / timm_med:.2f} | {timm_med / ours_med:.2f}x "
          f"| {compile_s:.1f} s | {max_err:.1e} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    print(f"batch {args.batch}, {args.img_size}x{args.img_size}, float32, {args.repeats} alternating rounds, medians; "
          f"jax {jax.__version__} ({jax.default_backend()}), torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), timm {timm.__version__}")
    print("| model | zoo img/s | timm img/s | zoo vs timm | zoo compile | max abs diff |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        bench(name, args.batch, args.img_size, args.repeats)


if __name__ == "__main__":
    main()
