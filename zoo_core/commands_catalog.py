"""zoo-core's commands that read the registry only: ``zoo list``, ``zoo info``, ``zoo plugins``.

None of them imports JAX, numpy or huggingface_hub at import time: ``zoo list`` reads plain variant
tables (``zoo info`` asks the Hub's cache whether the weights are there, through a deferred import).
"""

from __future__ import annotations

import argparse
import json
import sys

from zoo_core.cli import non_empty, table, wrap
from zoo_core.plugins import get_registry, plugin_host, plugin_infos
from zoo_core.registry import COMMERCIAL_USE

NO_FAMILY_HINT = ("no model family is installed: a family is a distribution with an entry point in the group "
                  "'zoo' (`zoo plugins` lists what zoo found)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``list``, ``info`` and ``plugins`` to the ``zoo`` command line."""
    p = subparsers.add_parser("list", help="list installed variants")
    p.add_argument("pattern", nargs="?", help="fnmatch pattern on arch.tag or arch, e.g. 'convnext_*'")
    p.add_argument("--family", type=non_empty, help="only this family")
    p.add_argument("--license", action="store_true", help="show each variant's weights license and commercial use")
    p.add_argument("--license-id", type=non_empty, help="only weights under this license id (fnmatch, e.g. 'cc-by-nc*')")
    p.add_argument("--pretrained", action="store_true", help="only variants with released weights")
    p.add_argument("--commercial", choices=COMMERCIAL_USE,
                   help="only weights whose license allows commercial use (yes), forbids it (no) or sets conditions")
    p.add_argument("--json", action="store_true",
                   help="a JSON list of variant records (name, arch, family, license {id, commercial, ...}, ...)")
    p.set_defaults(func=cmd_list)

    p = subparsers.add_parser("info", help="every field of one variant, its license and cache state")
    p.add_argument("name", type=non_empty, help="arch.tag, arch, or a timm repository of the Hub: hf-hub:org/name[@rev]")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: the variant record plus cached_file, distribution and license_notes")
    p.set_defaults(func=cmd_info)

    p = subparsers.add_parser("plugins", help="installed plugins, their families and errors")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)


def cmd_list(args) -> int:
    """The matching variants as a table (``--license``: license columns and the families' notes) or JSON."""
    reg = get_registry()
    names = reg.list(args.pattern or "*", family=args.family, license=args.license_id,
                     pretrained=True if args.pretrained else None, commercial=args.commercial)
    variants = [reg.variants[n] for n in names]
    if args.json:
        print(json.dumps([v.to_dict() for v in variants], indent=2))
        return 0
    if not variants:
        if not reg.variants:
            print(NO_FAMILY_HINT, file=sys.stderr)
            if (missing := plugin_host().selection().error()) is not None:
                print(f"zoo: {missing}", file=sys.stderr)
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
    print(table(rows, headers))
    if args.license:
        noted = {f.name: f.license_notes for f in reg.families.values() if f.license_notes}
        for fam in sorted({v.family for v in variants} & noted.keys()):
            for note in noted[fam]:
                print("\n" + wrap(f"note ({fam}): {note}", subsequent_indent="  "))
    return 0


FIELD_INDENT = " " * 18  # where ``zoo info``'s values start


def _info_lines(v, fam, data: dict) -> list[str]:
    """``zoo info``'s text: one line per field of variant ``v`` (free-text fields wrap under their value),
    then its family's license notes, wrapped."""
    lic = v.license
    lines = [
        f"{v.name}  ({v.family} family, from {data['distribution']})",
        f"  weights         {v.hf_hub_id}/{v.filename}" if v.hf_hub_id else "  weights         not on the Hugging Face Hub (see notes; load a local file with checkpoint_path=)",
        f"  cached          {data['cached_file'] or 'no'}",
        f"  license         {lic.id}  commercial use: {lic.commercial}",
    ]
    if lic.url:
        lines.append(f"  license url     {lic.url}")
    if lic.note:
        lines.append(wrap(lic.note, indent="  license note    ", subsequent_indent=FIELD_INDENT))
    lines += _repository_lines(v)
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
        lines.append(wrap(v.notes, indent="  notes           ", subsequent_indent=FIELD_INDENT))
    return lines + ["\n" + wrap(f"note: {note}", subsequent_indent="  ") for note in data["license_notes"]]


def _repository_lines(v) -> list[str]:
    """``zoo info``'s lines for a ``hf-hub:`` variant: where its config came from and what it says."""
    from zoo_core.hub_repo import HubVariant

    if not isinstance(v, HubVariant):
        return []
    lines = [f"  repository      {v.repo_id} (revision {v.revision})",
             f"  architecture    {v.architecture} (built as zoo's {v.base_variant})",
             f"  license from    {v.license_source}"]
    if v.labels:
        shown = ", ".join(v.labels[:8]) + (", ..." if len(v.labels) > 8 else "")
        lines.append(wrap(f"{len(v.labels)} from config.json: {shown}", indent="  label names     ",
                          subsequent_indent=FIELD_INDENT))
    if v.model_args:
        lines.append(f"  model_args      {json.dumps(dict(v.model_args), default=str)}")
    return lines


def cmd_info(args) -> int:
    """Every field of one variant, its distribution, license and whether its weights are cached."""
    from zoo_core.api import get_variant

    reg = get_registry()
    v = get_variant(args.name)  # an unknown name also names the plugins that did not load
    fam = reg.families[v.family]
    from zoo_core.interop.hub import cached_file  # deferred: an unknown name fails without importing the Hub client

    data = v.to_dict()
    revision = getattr(v, "revision", "main")  # a hf-hub: variant's own
    data["cached_file"] = cached_file(v.hf_hub_id, v.filename, revision=revision) if v.hf_hub_id else None
    data["distribution"] = f"{fam.distribution} {fam.version or ''}".strip()
    # the family's notes are about its own released weights, not a Hub repository's
    data["license_notes"] = [] if getattr(v, "repo_id", None) else list(fam.license_notes)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(_info_lines(v, fam, data)))
    return 0


def cmd_plugins(args) -> int:
    """Every plugin zoo tried to load: distribution, families, variant count, the error of a broken one
    and every name two plugins claim. A ``ZOO_LOAD_PLUGINS`` name that matches no installed plugin is
    a ``PluginError`` (exit 4), raised after the listing."""
    reg = get_registry()
    infos = plugin_infos()
    selection = plugin_host().selection()

    def variant_count(p) -> int:
        return sum(len(reg.families[f].variants) for f in p.families if f in reg.families)

    if args.json:
        print(json.dumps([{"name": p.name, "distribution": p.distribution, "version": p.version,
                           "families": list(p.families), "variants": variant_count(p), "error": p.error,
                           "conflicts": list(p.conflicts)} for p in infos], indent=2))
    elif not infos and selection.requested is not None:
        print(f"no zoo plugin loaded: ZOO_LOAD_PLUGINS={','.join(selection.requested)!r} selects none")
    elif not infos:
        print("no zoo plugin is installed: a plugin (a model family, say) is a distribution with an entry point "
              "in the group 'zoo'")
    else:
        rows = [[p.name, f"{p.distribution or '-'} {p.version or ''}".strip(), ",".join(p.families) or "-",
                 str(variant_count(p)), "ok" if not p.error else "BROKEN"] for p in infos]
        print(table(rows, ["PLUGIN", "DISTRIBUTION", "FAMILIES", "VARIANTS", "STATUS"]))
        for conflict in dict.fromkeys(c for p in infos for c in p.conflicts):
            print("\n" + wrap(f"conflict: {conflict}", subsequent_indent="  "))
        for p in infos:
            if p.error:
                print("\n" + wrap(f"{p.name} ({p.distribution or 'registered by hand'}) is broken: {p.error}",
                                  subsequent_indent="  "))
    if (missing := selection.error()) is not None:
        raise missing
    return 0
