"""The ``zoo`` command line: list, info, plugins, download, predict, embed, cache (plus plugins' commands).

``zoo list`` and ``zoo info`` read the registry only and never import JAX. Errors print one line
(``zoo: error: ...``) and exit with the error class's code; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import traceback
from collections.abc import Sequence

from zoo_core.errors import ZooError


def _registry():
    from zoo_core.plugins import get_registry

    return get_registry()


def _table(rows: list[list[str]], headers: list[str], *, shrink: int = 0) -> str:
    """Left-aligned columns; column ``shrink`` is cut with '…' to fit the terminal width."""
    width = shutil.get_terminal_size((80, 24)).columns
    cols = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    excess = sum(cols) + 2 * (len(cols) - 1) - width
    if excess > 0:
        cols[shrink] = max(len(headers[shrink]), cols[shrink] - excess)

    def fmt(row):
        cells = []
        for i, cell in enumerate(row):
            if len(cell) > cols[i]:
                cell = cell[: cols[i] - 1] + "…"
            cells.append(cell.ljust(cols[i]))
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(headers), *(fmt(r) for r in rows)])


def cmd_list(args) -> int:
    reg = _registry()
    names = reg.list(args.pattern or "*", family=args.family, license=args.license_id,
                     pretrained=True if args.pretrained else None)
    variants = [reg.variants[n] for n in names]
    if args.json:
        print(json.dumps([v.to_dict() for v in variants], indent=2))
        return 0
    if not variants:
        if not reg.variants:
            print("no model family is installed: pip install zoo-resnet (or zoo-bit, zoo-convnext, zoo-convnextv2, zoo-vit)",
                  file=sys.stderr)
            return 0  # nothing installed is not a failure of the command: the hint says what to do
        print("no variant matches", file=sys.stderr)
        return 1  # as grep: a pattern that matches nothing exits 1
    if args.license:
        headers = ["VARIANT", "CLASSES", "SIZE", "LICENSE", "COMMERCIAL"]
        rows = [[v.name, str(v.num_classes), str(v.input_size[-1]), v.license.id, v.license.commercial]
                for v in variants]
    else:
        headers = ["VARIANT", "FAMILY", "CLASSES", "FEATURES", "SIZE"]
        rows = [[v.name, v.family, str(v.num_classes), str(v.num_features), str(v.input_size[-1])] for v in variants]
    print(_table(rows, headers))
    if args.license:
        noted = {f.name: f.license_notes for f in reg.families.values() if f.license_notes}
        shown = {v.family for v in variants}
        for fam in sorted(shown & noted.keys()):
            for note in noted[fam]:
                print(f"\nnote ({fam}): {note}")
    return 0


def cmd_info(args) -> int:
    reg = _registry()
    v = reg.get(args.name)
    fam = reg.families[v.family]
    data = v.to_dict()
    from zoo_core.interop.hub import cached_file

    cached = cached_file(v.hf_hub_id, v.filename) if v.hf_hub_id else None
    data["cached_file"] = cached
    data["distribution"] = f"{fam.distribution} {fam.version or ''}".strip()
    data["license_notes"] = list(fam.license_notes)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    lic = v.license
    lines = [
        f"{v.name}  ({v.family} family, from {data['distribution']})",
        f"  weights         {v.hf_hub_id}/{v.filename}" if v.hf_hub_id else "  weights         none released",
        f"  cached          {cached or 'no'}",
        f"  license         {lic.id}  commercial use: {lic.commercial}",
    ]
    if lic.url:
        lines.append(f"  license url     {lic.url}")
    if lic.note:
        lines.append(f"  license note    {lic.note}")
    lines += [
        f"  num_classes     {v.num_classes}" + ("  (encoder only: no classifier)" if v.num_classes == 0 else ""),
        f"  num_features    {v.num_features}",
        f"  input_size      {v.input_size}" + (f"  (test: {v.test_input_size})" if v.test_input_size else ""),
        f"  mean / std      {v.mean} / {v.std}",
        f"  crop            {v.crop_pct} ({v.crop_mode})" + (f"  (test: {v.test_crop_pct})" if v.test_crop_pct else ""),
        f"  interpolation   {v.interpolation}",
        f"  first_conv      {v.first_conv}",
        f"  classifier      {v.classifier}",
    ]
    if v.resolved_label_names:
        lines.append(f"  labels          {v.resolved_label_names}")
    if v.notes:
        lines.append(f"  notes           {v.notes}")
    for note in fam.license_notes:
        lines.append(f"\nnote: {note}")
    print("\n".join(lines))
    return 0


def cmd_plugins(args) -> int:
    from zoo_core.plugins import plugin_infos

    reg = _registry()
    infos = plugin_infos()
    if args.json:
        out = []
        for p in infos:
            out.append({"name": p.name, "distribution": p.distribution, "version": p.version,
                        "families": list(p.families),
                        "variants": sum(len(reg.families[f].variants) for f in p.families if f in reg.families),
                        "error": p.error})
        print(json.dumps(out, indent=2))
        return 0
    if not infos:
        print("no zoo plugin is installed: pip install zoo-resnet (or zoo-bit, zoo-convnext, zoo-convnextv2, zoo-vit)")
        return 0
    rows = []
    for p in infos:
        n = sum(len(reg.families[f].variants) for f in p.families if f in reg.families)
        status = "ok" if not p.error else "BROKEN"
        rows.append([p.name, f"{p.distribution or '-'} {p.version or ''}".strip(), ",".join(p.families) or "-",
                     str(n), status])
    print(_table(rows, ["PLUGIN", "DISTRIBUTION", "FAMILIES", "VARIANTS", "STATUS"], shrink=1))
    for p in infos:
        if p.error:
            print(f"\n{p.name} ({p.distribution or 'registered by hand'}) is broken: {p.error}")
    return 0


def cmd_download(args) -> int:
    from zoo_core.api import get_variant, weights_file

    for name in args.names:
        v = get_variant(name)
        path = weights_file(v, revision=args.revision, cache_dir=args.cache_dir)
        print(f"{v.name}: {path}")
    return 0


def cmd_predict(args) -> int:
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
    import numpy as np

    from zoo_core.predict import embed

    features = embed(args.name, args.images, batch_size=args.batch_size)
    np.save(args.out, features)
    print(f"{args.out}: {features.shape[0]} × {features.shape[1]} float32 features of {args.name}")
    return 0


def cmd_convert(args) -> int:
    from zoo_core.convert import convert

    sidecar = convert(args.checkpoint, args.out, prefixes=args.strip_prefix)
    print(f"{args.out}: {len(sidecar['tensors'])} tensors (shapes and dtypes in {args.out}.json)")
    return 0


def cmd_map(args) -> int:

    from zoo_core.api import create_model, get_variant, weights_file
    from zoo_core.interop.infer import infer_mapping
    from zoo_core.interop.safetensors_io import SafetensorsFile
    from zoo_core.nn import abstract_init

    variant = get_variant(args.name)
    path = args.checkpoint or weights_file(variant)
    if args.checkpoint and args.checkpoint.endswith((".pt", ".pth", ".bin", ".ckpt")):
        from zoo_core.convert import load_torch_state_dict

        shapes = {k: tuple(v.shape) for k, v in load_torch_state_dict(path).items()}
    else:
        f = SafetensorsFile(path)
        shapes = {k: f.shape(k) for k in f}
    model = create_model(variant.name)
    params, state = abstract_init(model)
    hints = [tuple(h.split("=", 1)) for h in args.hint]
    proposal = infer_mapping(shapes, params, state, hints=hints)
    print(f"# {variant.name}: mapping proposed from {path}")
    print(proposal.report())
    return 0 if not (proposal.unpaired_keys or proposal.unpaired_paths) else 9


def _variants_for(names):
    reg = _registry()
    if names:
        return [reg.get(n) for n in names]
    return [reg.variants[n] for n in reg.list("*", pretrained=True)]


def cmd_cache_verify(args) -> int:
    from zoo_core.cache import verify

    entries = verify(_variants_for(args.names), args.cache_dir)
    if not entries:
        print("no cached weights of the given variants")
        return 0
    rows = [[e.variant, e.status, e.detail or e.snapshot] for e in entries]
    print(_table(rows, ["VARIANT", "STATUS", "DETAIL"], shrink=2))
    bad = [e for e in entries if e.status != "ok"]
    if bad:
        print(f"\n{len(bad)} corrupt; `zoo cache repair {' '.join(sorted({e.variant for e in bad}))}` re-downloads them",
              file=sys.stderr)
        return 8
    return 0


def cmd_cache_repair(args) -> int:
    from zoo_core.api import weights_file
    from zoo_core.cache import remove_cached, verify

    variants = _variants_for(args.names)
    bad = [e for e in verify(variants, args.cache_dir) if e.status != "ok"]
    for e in bad:
        remove_cached(e.snapshot)
        print(f"{e.variant}: removed {e.snapshot} ({e.detail})")
    reg = _registry()
    for name in sorted({e.variant for e in bad}):
        path = weights_file(reg.get(name), cache_dir=args.cache_dir)
        print(f"{name}: re-downloaded {path}")
    if not bad:
        print("nothing to repair")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="timm's image models in JAX: list, inspect, download.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list installed variants")
    p.add_argument("pattern", nargs="?", help="fnmatch pattern on arch.tag or arch, e.g. 'convnext_*'")
    p.add_argument("--family", help="only this family")
    p.add_argument("--license", action="store_true", help="show each variant's weights license and commercial use")
    p.add_argument("--license-id", help="only weights under this license id (fnmatch, e.g. 'cc-by-nc*')")
    p.add_argument("--pretrained", action="store_true", help="only variants with released weights")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="every field of one variant, its license and cache state")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plugins", help="installed plugins, their families and errors")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("download", help="download weights into the Hugging Face cache")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--revision", default="main")
    p.add_argument("--cache-dir", default=None, help="cache root (default: huggingface_hub's, HF_HUB_CACHE)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("predict", help="classify images with a variant's released weights")
    p.add_argument("name")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--checkpoint", default=None, help="a local safetensors file instead of the released weights")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("embed", help="pooled features of images, saved as .npy")
    p.add_argument("name")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, help="output .npy file, (N, num_features) float32")
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("convert", help="a PyTorch checkpoint (.pt/.pth/.bin) as safetensors, read safely")
    p.add_argument("checkpoint")
    p.add_argument("out", help="output .safetensors (a .json sidecar of shapes and dtypes is written beside it)")
    p.add_argument("--strip-prefix", action="append", default=[], metavar="PREFIX",
                   help="remove this key prefix (DataParallel's 'module.' is always removed)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("map", help="propose a weight mapping from a checkpoint's names and shapes")
    p.add_argument("name", help="the variant whose architecture receives the weights")
    p.add_argument("--checkpoint", default=None, help="safetensors or PyTorch file (default: the variant's weights)")
    p.add_argument("--hint", action="append", default=[], metavar="OURS=THEIRS",
                   help="regexes pairing our leaf paths with checkpoint keys, for what names cannot settle")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("cache", help="check or repair cached weights")
    cache_sub = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    for action, func, text in (("verify", cmd_cache_verify, "check every cached weights file's sha256 and format"),
                               ("repair", cmd_cache_repair, "remove corrupt cached files and download them again")):
        q = cache_sub.add_parser(action, help=text)
        q.add_argument("names", nargs="*", metavar="NAME", help="variants (default: every installed one)")
        q.add_argument("--cache-dir", default=None)
        q.set_defaults(func=func)

    try:
        from zoo_core.plugins import call_hook

        call_hook("zoo_register_commands", subparsers=sub)
    except Exception as e:  # noqa: BLE001 - a plugin's broken command must not break zoo
        print(f"zoo: warning: a plugin failed to add its commands: {e}", file=sys.stderr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except ZooError as e:
        if debug:
            traceback.print_exc()
        msg = str(e)
        print(f"zoo: error: {msg}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
