"""ViT throughput: zoo (jitted JAX) next to timm eager (PyTorch), same weights, same machine.

For each model: build timm's with random weights, load the same weights into ours through the
normal loader, check the logits agree, then time ``--repeats`` rounds alternating ours and timm
(so both see the same machine state) and print medians as images/s and achieved GFLOP/s (matmul
FLOPs of the forward pass, counted analytically).

    python benchmarks/bench_vit.py [--batch 8] [--img-size 224] [--repeats 7] [--models ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import jax
import numpy as np
import timm
import torch

import zoo_core
from zoo_core.interop import save_safetensors
from zoo_core.testing.parity import state_dict_to_numpy

MODELS = ("vit_small_patch16_224.augreg_in21k_ft_in1k", "vit_base_patch16_224.augreg2_in21k_ft_in1k")


def forward_gflops(model, img_size: int) -> float:
    """Multiply-add FLOPs (×2) of one image's forward pass: patch projection, per block qkv,
    q·kᵀ, attention·v, proj and the MLP, and the head."""
    dim = model.num_features
    (ph, pw), grid = model.patch_embed.patch_size, (img_size // model.patch_embed.patch_size[0]) ** 2
    tokens = grid + 1
    hidden = model.blocks[0].mlp.fc1.out_features
    block = tokens * dim * 3 * dim + 2 * tokens * tokens * dim + tokens * dim * dim + 2 * tokens * dim * hidden
    total = grid * ph * pw * model.in_chans * dim + len(model.blocks) * block + dim * model.num_classes
    return 2 * total / 1e9


def bench(name: str, batch: int, img_size: int, repeats: int) -> None:
    ref = timm.create_model(name, pretrained=False, img_size=img_size).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.safetensors")
        save_safetensors(path, state_dict_to_numpy(ref.state_dict()))
        model, load = zoo_core.create_pretrained(name, checkpoint_path=path, img_size=img_size)
        params, state = load()
    x = np.random.default_rng(0).standard_normal((batch, img_size, img_size, 3), dtype=np.float32)
    x_jax, x_torch = jax.device_put(x), torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    forward = jax.jit(lambda p, s, x: model.apply(p, s, x)[0])

    start = time.perf_counter()
    ours_out = forward(params, state, x_jax).block_until_ready()
    compile_s = time.perf_counter() - start
    with torch.inference_mode():
        timm_out = ref(x_torch).numpy()
    max_err = float(np.abs(np.asarray(ours_out) - timm_out).max())

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
    gflop = forward_gflops(model, img_size) * batch
    print(f"| {name} | {batch / ours_med:.2f} | {batch / timm_med:.2f} | {timm_med / ours_med:.2f}x "
          f"| {gflop / ours_med:.0f} / {gflop / timm_med:.0f} | {compile_s:.1f} s | {max_err:.1e} |", flush=True)


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
    print("| model | zoo img/s | timm img/s | zoo vs timm | GFLOP/s zoo / timm | zoo compile | max abs diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        bench(name, args.batch, args.img_size, args.repeats)


if __name__ == "__main__":
    main()
