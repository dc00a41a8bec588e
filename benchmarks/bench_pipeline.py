"""The dataset pipeline against the model alone (issue 22, item 2): is decoding ever the bottleneck?

For each model, three figures in alternating rounds, best of ``--rounds``:

- model-only: the jitted forward of ``--batch`` images already in memory, as many batches as the
  dataset has, through the same ``device_apply`` the pipeline uses;
- decode alone: ``zoo_core.pipeline.decode_batches`` over the dataset, no model;
- end-to-end: ``zoo_core.datasets.embed_dataset`` writing its shards (decode, model, output),
  timed over the dataset and over the dataset twice: the difference of the two is the streaming
  time of one dataset, without the model's creation, loading and compilation, which both pay.

The dataset is the three example JPEGs (300-600 px) listed ``--images`` times in a list file; the
page cache is warm, so this measures decoding and compute, not the disk. Weights are random, in
timm's layout. The bar is end-to-end at least 85% of model-only.

    python benchmarks/bench_pipeline.py [--models resnet18.a1_in1k resnet50.a1_in1k] [--images 96]
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
import warnings

import jax
import numpy as np

from zoo_core import hostmem
from zoo_core.data import resolve_data_config
from zoo_core.datasets import embed_dataset
from zoo_core.interop import save_safetensors
from zoo_core.pipeline import decode_batches, device_apply
from zoo_core.testing.checkpoints import random_state_dict

BAR = 0.85
IMAGES = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "images",
                                       "*.jpg")))


def rounds_for(name: str, listings: tuple[str, str], paths: list[str], args, tmp: str) -> dict[str, float]:
    """Best images/s of each way, over ``args.rounds`` alternating rounds."""
    import zoo_core

    checkpoint = os.path.join(tmp, f"{name}.safetensors")
    save_safetensors(checkpoint, random_state_dict(name, num_classes=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, load = zoo_core.create_pretrained(name, num_classes=0, checkpoint_path=checkpoint)
    params, state = load()
    apply, batch = device_apply(lambda p, s, x: model.apply(p, s, x)[0], args.batch)
    config = resolve_data_config(zoo_core.get_variant(name))
    _, h, w = config.input_size
    x = np.zeros((batch, h, w, 3), np.float32)
    batches = -(-len(paths) // batch)
    np.asarray(apply(params, state, x))  # compile

    def model_only():
        outs = [apply(params, state, x) for _ in range(batches)]
        for out in outs:
            np.asarray(out)

    def decode_alone():
        for _ in decode_batches(paths, config, batch_size=batch, workers=args.workers):
            pass

    def end_to_end(listing):
        return lambda: embed_dataset(name, [], os.path.join(tmp, "out"), lists=[listing], batch_size=batch,
                                     workers=args.workers, overwrite=True, checkpoint_path=checkpoint)

    ways = {"model-only": model_only, "decode alone": decode_alone, "once": end_to_end(listings[0]),
            "twice": end_to_end(listings[1])}
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(args.rounds):
        for key, run in ways.items():
            start = time.perf_counter()
            run()
            best[key] = min(best[key], time.perf_counter() - start)
    best["end-to-end"] = best.pop("twice") - best.pop("once")
    return {key: len(paths) / seconds for key, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet18.a1_in1k", "resnet50.a1_in1k"])
    parser.add_argument("--images", type=int, default=96, help="how many images the dataset lists")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None, help="decode threads (default: the pipeline's)")
    parser.add_argument("--rounds", type=int, default=3)
    args, _ = parser.parse_known_args()  # nox -s bench passes every script the same arguments
    paths = [IMAGES[i % len(IMAGES)] for i in range(args.images)]
    print(f"{args.images} images (the {len(IMAGES)} example JPEGs, repeated), batch {args.batch}, "
          f"{os.cpu_count()} CPUs, jax {jax.__version__} ({jax.default_backend()}, {len(jax.local_devices())} "
          f"device(s)); best of {args.rounds} alternating rounds; glibc huge pages {hostmem.hugepages_status()}")
    print("| model | model-only img/s | end-to-end img/s | decode alone img/s | end-to-end / model-only |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        listings = (os.path.join(tmp, "once.txt"), os.path.join(tmp, "twice.txt"))
        for listing, copies in zip(listings, (1, 2)):
            with open(listing, "w", encoding="utf-8") as f:
                f.write("\n".join(paths * copies) + "\n")
        for name in args.models:
            r = rounds_for(name, listings, paths, args, tmp)
            ratio = r["end-to-end"] / r["model-only"]
            print(f"| {name} | {r['model-only']:.1f} | {r['end-to-end']:.1f} | {r['decode alone']:.1f} | "
                  f"{ratio:.0%} {'ok' if ratio >= BAR else 'MISS'} |", flush=True)


if __name__ == "__main__":
    main()
