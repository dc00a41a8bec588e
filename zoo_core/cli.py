"""The ``zoo`` command line: a parser whose every subcommand comes from a ``zoo_register_commands`` hook.

zoo-core registers its own commands through the same hook as a plugin (``zoo_core.builtin_hooks``,
tried first: ``commands_catalog`` has list, info, plugins; ``commands_weights`` has download, predict,
embed, convert, map, cache), so a plugin's command sits beside them. ``zoo list`` and ``zoo info``
read the registry only and never import JAX. Errors print one line (``zoo: error: ...``) and exit
with the error class's code; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import traceback
from collections.abc import Sequence

from zoo_core.errors import ZooError


def table(rows: list[list[str]], headers: list[str], *, shrink: int = 0) -> str:
    """Left-aligned columns two spaces apart; column ``shrink`` is cut with '…' to fit the terminal width."""
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


def build_parser() -> argparse.ArgumentParser:
    """``zoo``'s parser: ``--debug`` and the subcommands every ``zoo_register_commands`` hook adds.

    A third-party plugin whose hook raises is reported by ``zoo plugins`` and skipped (the plugin
    host isolates it); anything that still escapes the hook call (a ``ZooError``) is printed as a
    warning, and the commands added before it still run.
    """
    from zoo_core.plugins import hooks

    parser = argparse.ArgumentParser(prog="zoo", description="timm's image models in JAX: list, inspect, download.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    try:
        hooks().zoo_register_commands(subparsers=subparsers)
    except Exception as e:  # noqa: BLE001 - a plugin's broken command must not break zoo (a ZooError, a wrapper)
        print(f"zoo: warning: a plugin failed to add its commands: {e}", file=sys.stderr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zoo`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
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
        print(f"zoo: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
