"""zoo-core's commands that fetch, read or use weights: ``zoo download``, ``predict``, ``embed``,
``convert``, ``map`` and ``cache verify`` / ``cache repair``.

Each imports what it needs (JAX, numpy, huggingface_hub) when it runs, never at import time, so
that registering these commands costs ``zoo list`` nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from zoo_core import distributed
from zoo_core.cli import check_output_file, existing_file, hint_pair, non_empty, positive_int, table
from zoo_core.inputs import image_input, list_file
from zoo_core.plugins import get_registry

MAP_JSON_HELP = ('one JSON object: {"variant": NAME, "checkpoint": FILE, "pairs": [{"key", "path", "transform", "how"}, '
                 '...], "rules": [{"path", "key", "transform"}, ...], "unpaired_keys": [...], "unpaired_paths": [...], '
                 '"ambiguous": [...]}; exit 9 if anything stays unpaired')


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``download``, ``predict``, ``embed``, ``convert``, ``map`` and ``cache`` to the ``zoo`` command line.

    Every option is checked by its argparse type before anything runs (a bad one is a usage error,
    exit 2, naming it); each ``--json`` help states the output's shape.
    """
    _register_model_commands(subparsers)
    _register_file_commands(subparsers)


def _register_model_commands(subparsers: argparse._SubParsersAction) -> None:
    """``download``, ``predict`` and ``embed``: a variant's released weights, and what they compute."""
    p = subparsers.add_parser("download", help="download weights into the Hugging Face cache")
    p.add_argument("names", nargs="+", metavar="NAME", type=non_empty)
    p.add_argument("--revision", default="main", type=non_empty)
    p.add_argument("--cache-dir", default=None, type=non_empty,
                   help="cache root (default: huggingface_hub's, HF_HUB_CACHE)")
    p.add_argument("--json", action="store_true", help='a JSON list: [{"variant": NAME, "path": FILE}, ...]')
    p.set_defaults(func=cmd_download)

    p = subparsers.add_parser("predict", help="classify images with a variant's released weights")
    p.add_argument("name", type=non_empty)
    _add_inputs(p)
    p.add_argument("--top-k", type=positive_int, default=5)
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--checkpoint", default=None, type=existing_file,
                   help="a local safetensors file instead of the released weights")
    p.add_argument("--out", default=None, type=non_empty, metavar="DIR",
                   help="write the rows into DIR (predictions.jsonl or .csv, manifest.json, errors.jsonl) as they "
                        "are computed, resumable, bad images skipped (docs/datasets.md); default: print them")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="the rows' format under --out")
    _add_dataset_options(p)
    p.add_argument("--json", action="store_true", help='a JSON list: [{"image": PATH, "top": [{"index": INT, '
                                                       '"label": STR, "probability": FLOAT}, ...]}, ...]; with --out: '
                                                       'the summary {"out", "inputs", "rows", "skipped", "computed"}')
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser("embed", help="pooled features (or image-text embeddings) of images, saved as .npy")
    p.add_argument("name", type=non_empty)
    _add_inputs(p)
    p.add_argument("--out", required=True, type=non_empty,
                   help="output .npy file, (N, D) float32, not normalized; a name not ending in .npy is a "
                        "directory of .npy shards written as they are computed, resumable, bad images skipped "
                        "(docs/datasets.md)")
    p.add_argument("--projected", action="store_true",
                   help="through the variant's image-text projection head (CLIP towers: D is the embedding size); "
                        "default: the pooled features before the head (D = num_features)")
    p.add_argument("--checkpoint", default=None, type=existing_file,
                   help="a local weights file instead of the released ones (a layout the family knows: timm's, "
                        "OpenCLIP's, big_vision's .npz, ...)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    _add_dataset_options(p)
    p.add_argument("--json", action="store_true", help='one JSON object: {"variant": NAME, "out": FILE, "output": '
                                                       '"pooled" | "projected", "description": STR, "shape": [N, D], '
                                                       '"dtype": "float32", "normalized": false, "images": [PATH, ...]}'
                                                       '; with an --out directory: "images" is left out and "inputs", '
                                                       '"rows", "skipped", "computed" are added')
    p.set_defaults(func=cmd_embed)


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="*", metavar="IMAGE", type=image_input,
                   help="image files, directories (searched recursively) or quoted glob patterns ('**' for any depth)")
    p.add_argument("--list", action="append", default=[], dest="lists", metavar="FILE", type=list_file,
                   help="a file naming one image a line ('-': standard input); may be repeated")


def _add_dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shard-size", type=positive_int, default=1024,
                   help="images per shard of an --out directory (a multiple of the batch size; the work an "
                        "interruption can lose)")
    p.add_argument("--workers", type=positive_int, default=None, help="image decoding threads (default: CPU count)")
    p.add_argument("--progress", action="store_true",
                   help="a progress bar with rate and ETA on stderr even when it is not a terminal")
    p.add_argument("--overwrite", action="store_true",
                   help="start an --out directory's job again instead of resuming it")
    distributed.add_arguments(p)


def _register_file_commands(subparsers: argparse._SubParsersAction) -> None:
    """``convert``, ``map`` and ``cache``: checkpoint files and the cache, no model run."""
    p = subparsers.add_parser("convert", help="a PyTorch checkpoint (.pt/.pth/.bin) as safetensors, read safely")
    p.add_argument("checkpoint", type=existing_file)
    p.add_argument("out", type=non_empty,
                   help="output .safetensors (a .json sidecar of shapes and dtypes is written beside it)")
    p.add_argument("--strip-prefix", action="append", default=[], metavar="PREFIX", type=non_empty,
                   help="remove this key prefix (DataParallel's 'module.' is always removed)")
    p.add_argument("--key", type=non_empty, default=None, metavar="NAME",
                   help="the entry of the checkpoint that holds the state dict (I-JEPA: encoder); default: the "
                        "tensors themselves or the usual wrappers (state_dict, model, ...)")
    p.add_argument("--json", action="store_true", help='one JSON object: {"source": FILE, "out": FILE, "sidecar": '
                                                       'FILE, "tensors": {KEY: {"shape": [...], "dtype": STR}}}')
    p.set_defaults(func=cmd_convert)

    p = subparsers.add_parser("map", help="propose a weight mapping from a checkpoint's names and shapes")
    p.add_argument("name", type=non_empty, help="the variant whose architecture receives the weights")
    p.add_argument("--checkpoint", default=None, type=existing_file,
                   help="safetensors or PyTorch file (default: the variant's weights)")
    p.add_argument("--hint", action="append", default=[], metavar="OURS=THEIRS", type=hint_pair,
                   help="regexes pairing our leaf paths with checkpoint keys, for what names cannot settle")
    p.add_argument("--json", action="store_true", help=MAP_JSON_HELP)
    p.set_defaults(func=cmd_map)

    p = subparsers.add_parser("cache", help="check or repair cached weights")
    actions = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    for action, func, text, shape in (
            ("verify", cmd_cache_verify, "check every cached weights file's sha256 and format",
             'a JSON list: [{"variant", "status" ("ok" | "corrupt" | "missing" | "partial" | "downloading" | '
             '"unchecked"), "detail", "snapshot", "blob"}, ...]'),
            ("repair", cmd_cache_repair, "remove corrupt cached files and download them again",
             'one JSON object: {"removed": [{"variant", "snapshot", "blob", "detail"}, ...], '
             '"downloaded": [{"variant", "path"}, ...]}')):
        q = actions.add_parser(action, help=text)
        q.add_argument("names", nargs="*", metavar="NAME", type=non_empty,
                       help="variants (default: every installed one)")
        q.add_argument("--cache-dir", default=None, type=non_empty)
        q.add_argument("--json", action="store_true", help=shape)
        q.set_defaults(func=func)


def _say(args, text: str) -> None:
    """Print a line of a command's text output; nothing under ``--json``, whose one document stays alone on stdout."""
    if not args.json:
        print(text)


def cmd_download(args) -> int:
    """Each named variant's weights file into the cache, through the ``zoo_weights_file`` hooks."""
    from zoo_core.api import get_variant, weights_file

    done = []
    for name in args.names:
        v = get_variant(name, revision=args.revision, cache_dir=args.cache_dir)
        path = weights_file(v, revision=args.revision, cache_dir=args.cache_dir)
        done.append({"variant": v.name, "path": str(path)})
        _say(args, f"{v.name}: {path}")
    if args.json:
        print(json.dumps(done, indent=2))
    return 0


def _images(args) -> list[str]:
    """Every image the positional inputs and ``--list`` files name (one-shot forms: collected)."""
    from zoo_core.errors import InputError
    from zoo_core.inputs import iter_images

    _check_inputs(args)
    if distributed.requested(args):
        from zoo_core.errors import ArgumentError

        raise ArgumentError(f"zoo {args.command}: --distributed splits an --out directory's job; give --out DIR")
    images = list(iter_images(args.images, args.lists))
    if not images:
        raise InputError(f"no image found in {', '.join([*args.images, *args.lists])}")
    return images


def _check_inputs(args) -> None:
    from zoo_core.errors import InputError

    if not args.images and not args.lists:
        raise InputError(f"zoo {args.command}: give images, directories, glob patterns or --list FILE")


def _dataset(args, fn, **kwargs) -> dict:
    """Run a dataset job into the ``--out`` directory; its summary, also said on stderr."""
    _check_inputs(args)
    if distributed.requested(args):
        distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)
    try:
        r = fn(args.name, args.images, args.out, lists=args.lists, batch_size=args.batch_size,
               shard_size=args.shard_size, workers=args.workers, progress=True if args.progress else None,
               overwrite=args.overwrite, checkpoint_path=args.checkpoint, **kwargs)
    except KeyboardInterrupt:
        print(f"zoo: the finished shards in {args.out} are kept; the same command resumes after them",
              file=sys.stderr)
        raise
    if r.skipped:
        print(f"zoo: {r.skipped} image(s) skipped, reasons in {os.path.join(r.out, 'errors.jsonl')}", file=sys.stderr)
    return {"out": r.out, "inputs": r.inputs, "rows": r.rows, "skipped": r.skipped, "computed": r.computed}


def cmd_predict(args) -> int:
    """The top-k classes of each image, as text or JSON; with ``--out DIR``, rows written into DIR."""
    if args.out is not None:
        from zoo_core.datasets import predict_dataset

        done = _dataset(args, predict_dataset, top_k=args.top_k, format=args.format)
        _say(args, f"{done['out']}: {done['rows']} predictions of {done['inputs']} images "
                   f"({done['computed']} computed now, {done['skipped']} skipped)")
        if args.json:
            print(json.dumps(done, indent=2))
        return 0
    from zoo_core.predict import predict

    results = predict(args.name, _images(args), top_k=args.top_k, batch_size=args.batch_size,
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
    """One vector per image, ``(N, D)`` float32, saved with ``numpy.save``: the pooled features, or
    with ``--projected`` the image-text embeddings of a CLIP tower; the output says which. An
    ``--out`` not ending in ``.npy`` is a directory of shards (``zoo_core.datasets.embed_dataset``).
    ``--out`` and ``--projected`` are checked before any model is created."""
    import numpy as np

    from zoo_core.predict import describe_embedding, embed

    dataset = not args.out.endswith(".npy")
    if not dataset:
        check_output_file(args.out, what="--out")
    what = describe_embedding(args.name, projected=args.projected)
    if dataset:
        from zoo_core.datasets import embed_dataset

        done = _dataset(args, embed_dataset, projected=args.projected)
        if args.json:
            print(json.dumps({"variant": args.name, "output": what.output, "description": what.text,
                              "shape": [done["rows"], what.dim], "dtype": "float32", "normalized": False, **done},
                             indent=2))
        else:
            print(f"{args.out}: {done['rows']} × {what.dim} float32 {what.text}, in shards "
                  f"({done['computed']} computed now, {done['skipped']} skipped)")
        return 0
    images = _images(args)
    features = embed(args.name, images, projected=args.projected, batch_size=args.batch_size,
                     checkpoint_path=args.checkpoint)
    np.save(args.out, features)
    if args.json:
        print(json.dumps({"variant": args.name, "out": args.out, "output": what.output, "description": what.text,
                          "shape": list(features.shape), "dtype": str(features.dtype), "normalized": False,
                          "images": images}, indent=2))
    else:
        print(f"{args.out}: {features.shape[0]} × {features.shape[1]} float32 {what.text}")
    return 0


def cmd_convert(args) -> int:
    """A PyTorch checkpoint, read safely, written as safetensors with a JSON sidecar; the output path
    is checked before the checkpoint is read."""
    from zoo_core.convert import convert

    check_output_file(args.out, what="output")
    sidecar = convert(args.checkpoint, args.out, prefixes=args.strip_prefix, key=args.key)
    if args.json:
        print(json.dumps({"source": args.checkpoint, "out": args.out, "sidecar": f"{args.out}.json",
                          "tensors": sidecar["tensors"]}, indent=2))
    else:
        print(f"{args.out}: {len(sidecar['tensors'])} tensors (shapes and dtypes in {args.out}.json)")
    return 0


def _checkpoint_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """Key → shape of a checkpoint, whatever its name says: a safetensors header, a PyTorch
    checkpoint (read safely) or a ``.npz`` (``zoo_core.convert.checkpoint_format`` tells them apart)."""
    from zoo_core.convert import checkpoint_format

    kind = checkpoint_format(path)
    if kind == "torch":
        from zoo_core.convert import load_torch_state_dict

        return {k: tuple(v.shape) for k, v in load_torch_state_dict(path).items()}
    if kind == "npz":
        from zoo_core.convert import read_npz

        return {k: tuple(v.shape) for k, v in read_npz(path).items()}
    from zoo_core.interop.safetensors_io import SafetensorsFile

    f = SafetensorsFile(path)
    return {k: f.shape(k) for k in f}


def _proposal_dict(variant: str, path: str, proposal) -> dict:
    """``zoo map --json``'s object (its shape is in ``MAP_JSON_HELP``)."""
    return {
        "variant": variant, "checkpoint": str(path),
        "pairs": [{"key": k, "path": "/".join(p), "transform": t.name, "how": proposal.how.get(k)}
                  for k, p, t in proposal.triples],
        "rules": [{"path": p, "key": k, "transform": t} for p, k, t in proposal.rules()],
        "unpaired_keys": list(proposal.unpaired_keys),
        "unpaired_paths": ["/".join(p) for p in proposal.unpaired_paths],
        "ambiguous": list(proposal.ambiguous),
    }


def cmd_map(args) -> int:
    """A proposed mapping from the checkpoint's keys to the variant's leaves; exit 9 if any stays unpaired."""
    from zoo_core.api import create_model, get_variant, weights_file
    from zoo_core.interop.infer import infer_mapping
    from zoo_core.nn import abstract_init

    variant = get_variant(args.name)
    path = args.checkpoint or weights_file(variant)
    shapes = _checkpoint_shapes(path)
    params, state = abstract_init(create_model(variant.name))
    proposal = infer_mapping(shapes, params, state, hints=args.hint)
    if args.json:
        print(json.dumps(_proposal_dict(variant.name, path, proposal), indent=2))
    else:
        print(f"# {variant.name}: mapping proposed from {path}")
        print(proposal.report())
    return 0 if not (proposal.unpaired_keys or proposal.unpaired_paths) else 9


def _variants_for(names):
    """The named variants, or every installed variant with released weights."""
    from zoo_core.api import get_variant

    if names:
        return [get_variant(n) for n in names]
    reg = get_registry()
    return [reg.variants[n] for n in reg.list("*", pretrained=True)]


def cmd_cache_verify(args) -> int:
    """Each cached weights file's sha256 and format, and partial downloads left behind, offline;
    exit 8 if anything is corrupt, missing or left behind."""
    from zoo_core.cache import verify

    entries = verify(_variants_for(args.names), args.cache_dir)
    if args.json:
        print(json.dumps([{"variant": e.variant, "status": e.status, "detail": e.detail, "snapshot": e.snapshot,
                           "blob": e.blob} for e in entries], indent=2))
        return 8 if any(e.problem for e in entries) else 0
    if not entries:
        print("no cached weights of the given variants")
        return 0
    print(table([[e.variant, e.status, e.detail or e.snapshot] for e in entries], ["VARIANT", "STATUS", "DETAIL"],
                wrap=2))
    bad = [e for e in entries if e.problem]
    if bad:
        found = ", ".join(f"{sum(e.status == s for e in bad)} {s}" for s in ("corrupt", "missing", "partial")
                          if any(e.status == s for e in bad))
        print(f"\n{found}; `zoo cache repair {' '.join(sorted({e.variant for e in bad}))}` removes them and downloads "
              "the corrupt and missing files again", file=sys.stderr)
        return 8
    return 0


def cmd_cache_repair(args) -> int:
    """Remove every corrupt cached file of the variants and download it again, and remove the
    partial downloads left behind (those are not downloaded: nothing asked for them now)."""
    from zoo_core.api import weights_file
    from zoo_core.cache import remove_entry, verify

    bad = [e for e in verify(_variants_for(args.names), args.cache_dir) if e.problem]
    for e in bad:
        removed = remove_entry(e)
        _say(args, f"{e.variant}: removed {removed} ({e.detail})" if removed else f"{e.variant}: {e.detail}")
    reg = get_registry()
    downloaded = []
    for name in sorted({e.variant for e in bad if e.status != "partial"}):
        path = weights_file(reg.get(name), cache_dir=args.cache_dir)
        downloaded.append({"variant": name, "path": str(path)})
        _say(args, f"{name}: re-downloaded {path}")
    if not bad:
        _say(args, "nothing to repair")
    if args.json:
        print(json.dumps({"removed": [{"variant": e.variant, "snapshot": e.snapshot, "blob": e.blob, "detail": e.detail}
                                      for e in bad],
                          "downloaded": downloaded}, indent=2))
    return 0
