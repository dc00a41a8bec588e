"""zoo-core's commands that fetch, read or use weights: ``zoo download``, ``predict``, ``embed``,
``convert``, ``map`` and ``cache verify`` / ``cache repair``.

Each imports what it needs (JAX, numpy, huggingface_hub) when it runs, never at import time, so
that registering these commands costs ``zoo list`` nothing.
"""

from __future__ import annotations

import argparse
import json
import sys

from zoo_core.cli import table
from zoo_core.plugins import get_registry


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``download``, ``predict``, ``embed``, ``convert``, ``map`` and ``cache`` to the ``zoo`` command line."""
    p = subparsers.add_parser("download", help="download weights into the Hugging Face cache")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--revision", default="main")
    p.add_argument("--cache-dir", default=None, help="cache root (default: huggingface_hub's, HF_HUB_CACHE)")
    p.set_defaults(func=cmd_download)

    p = subparsers.add_parser("predict", help="classify images with a variant's released weights")
    p.add_argument("name")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--checkpoint", default=None, help="a local safetensors file instead of the released weights")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser("embed", help="pooled features of images, saved as .npy")
    p.add_argument("name")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, help="output .npy file, (N, num_features) float32")
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=cmd_embed)

    p = subparsers.add_parser("convert", help="a PyTorch checkpoint (.pt/.pth/.bin) as safetensors, read safely")
    p.add_argument("checkpoint")
    p.add_argument("out", help="output .safetensors (a .json sidecar of shapes and dtypes is written beside it)")
    p.add_argument("--strip-prefix", action="append", default=[], metavar="PREFIX",
                   help="remove this key prefix (DataParallel's 'module.' is always removed)")
    p.set_defaults(func=cmd_convert)

    p = subparsers.add_parser("map", help="propose a weight mapping from a checkpoint's names and shapes")
    p.add_argument("name", help="the variant whose architecture receives the weights")
    p.add_argument("--checkpoint", default=None, help="safetensors or PyTorch file (default: the variant's weights)")
    p.add_argument("--hint", action="append", default=[], metavar="OURS=THEIRS",
                   help="regexes pairing our leaf paths with checkpoint keys, for what names cannot settle")
    p.set_defaults(func=cmd_map)

    p = subparsers.add_parser("cache", help="check or repair cached weights")
    actions = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    for action, func, text in (("verify", cmd_cache_verify, "check every cached weights file's sha256 and format"),
                               ("repair", cmd_cache_repair, "remove corrupt cached files and download them again")):
        q = actions.add_parser(action, help=text)
        q.add_argument("names", nargs="*", metavar="NAME", help="variants (default: every installed one)")
        q.add_argument("--cache-dir", default=None)
        q.set_defaults(func=func)


def cmd_download(args) -> int:
    """Each named variant's weights file into the cache, through the ``zoo_weights_file`` hooks."""
    from zoo_core.api import get_variant, weights_file

    for name in args.names:
        v = get_variant(name)
        path = weights_file(v, revision=args.revision, cache_dir=args.cache_dir)
        print(f"{v.name}: {path}")
    return 0


def cmd_predict(args) -> int:
    """The top-k classes of each image, as text or JSON."""
    from zoo_core.predict import predict

    results = predict(args.name, args.images, top_k=args.top_k, batch_size=args.batch_size,
                      checkpoint_path=args.checkpoint)
    if args.json:
        print(json.dumps([{"image": r.image, "top": [{"index": i, "label": lab, "probability": p}
                                                     for i, lab, p in r.top]} for r in results], indent=2))
        return 0
    for r in results:
        print(r.image)
        for i, label, p in r.top:
            print(f"  {p:7.2%}  {label}  ({i})")
    return 0


def cmd_embed(args) -> int:
    """The pooled features of the images, ``(N, num_features)`` float32, saved with ``numpy.save``."""
    import numpy as np

    from zoo_core.predict import embed

    features = embed(args.name, args.images, batch_size=args.batch_size)
    np.save(args.out, features)
    print(f"{args.out}: {features.shape[0]} × {features.shape[1]} float32 features of {args.name}")
    return 0


def cmd_convert(args) -> int:
    """A PyTorch checkpoint, read safely, written as safetensors with a JSON sidecar."""
    from zoo_core.convert import convert

    sidecar = convert(args.checkpoint, args.out, prefixes=args.strip_prefix)
    print(f"{args.out}: {len(sidecar['tensors'])} tensors (shapes and dtypes in {args.out}.json)")
    return 0


def _checkpoint_shapes(path: str, *, torch_format: bool) -> dict[str, tuple[int, ...]]:
    """Key → shape of a safetensors file (from its header) or a PyTorch checkpoint."""
    if torch_format:
        from zoo_core.convert import load_torch_state_dict

        return {k: tuple(v.shape) for k, v in load_torch_state_dict(path).items()}
    from zoo_core.interop.safetensors_io import SafetensorsFile

    f = SafetensorsFile(path)
    return {k: f.shape(k) for k in f}


def cmd_map(args) -> int:
    """A proposed mapping from the checkpoint's keys to the variant's leaves; exit 9 if any stays unpaired."""
    from zoo_core.api import create_model, get_variant, weights_file
    from zoo_core.interop.infer import infer_mapping
    from zoo_core.nn import abstract_init

    variant = get_variant(args.name)
    path = args.checkpoint or weights_file(variant)
    torch_format = bool(args.checkpoint) and args.checkpoint.endswith((".pt", ".pth", ".bin", ".ckpt"))
    shapes = _checkpoint_shapes(path, torch_format=torch_format)
    params, state = abstract_init(create_model(variant.name))
    hints = [tuple(h.split("=", 1)) for h in args.hint]
    proposal = infer_mapping(shapes, params, state, hints=hints)
    print(f"# {variant.name}: mapping proposed from {path}")
    print(proposal.report())
    return 0 if not (proposal.unpaired_keys or proposal.unpaired_paths) else 9


def _variants_for(names):
    """The named variants, or every installed variant with released weights."""
    reg = get_registry()
    if names:
        return [reg.get(n) for n in names]
    return [reg.variants[n] for n in reg.list("*", pretrained=True)]


def cmd_cache_verify(args) -> int:
    """Each cached weights file's sha256 and format; exit 8 if any is corrupt."""
    from zoo_core.cache import verify

    entries = verify(_variants_for(args.names), args.cache_dir)
    if not entries:
        print("no cached weights of the given variants")
        return 0
    print(table([[e.variant, e.status, e.detail or e.snapshot] for e in entries], ["VARIANT", "STATUS", "DETAIL"],
                shrink=2))
    bad = [e for e in entries if e.status != "ok"]
    if bad:
        print(f"\n{len(bad)} corrupt; `zoo cache repair {' '.join(sorted({e.variant for e in bad}))}` re-downloads them",
              file=sys.stderr)
        return 8
    return 0


def cmd_cache_repair(args) -> int:
    """Remove every corrupt cached file of the variants and download it again."""
    from zoo_core.api import weights_file
    from zoo_core.cache import remove_cached, verify

    bad = [e for e in verify(_variants_for(args.names), args.cache_dir) if e.status != "ok"]
    for e in bad:
        remove_cached(e.snapshot)
        print(f"{e.variant}: removed {e.snapshot} ({e.detail})")
    reg = get_registry()
    for name in sorted({e.variant for e in bad}):
        path = weights_file(reg.get(name), cache_dir=args.cache_dir)
        print(f"{name}: re-downloaded {path}")
    if not bad:
        print("nothing to repair")
    return 0
