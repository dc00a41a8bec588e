"""The ``zoo`` command line: a parser whose every subcommand comes from a ``zoo_register_commands`` hook.

zoo-core registers its own commands through the same hook as a plugin (``zoo_core.builtin_hooks``,
tried first: ``commands_catalog`` has list, info, plugins; ``commands_weights`` has download, predict,
embed, convert, map, cache), so a plugin's command sits beside them. ``zoo list`` and ``zoo info``
read the registry only and never import JAX. Errors print one line (``zoo: error: ...``) and exit
with the error class's code; ``--debug`` shows the traceback. Warnings print one line too
(``zoo: warning: ...``), and Python's filters (``-W error``, ``PYTHONWARNINGS``) still apply.

This module also holds what every command shares: ``table`` and ``wrap`` (output that reads the
same on a terminal and in a pipe: names are never cut), the argparse types that check an option
before anything runs (``positive_int``, ``non_empty``, ``existing_file``, ``hint_pair``; a bad
value is argparse's usage error, exit 2, naming the option), and ``check_output_file``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
import textwrap
import traceback
import warnings
from collections.abc import Sequence

from zoo_core.errors import OutputPathError, ZooError

PIPE_WIDTH = 100  # prose width in a pipe or a file when COLUMNS is not set
MIN_WRAP_WIDTH = 20  # a wrapped column never gets narrower than this (nor than its longest word)


def terminal_width() -> int | None:
    """The terminal's width in columns (``COLUMNS`` wins, as ``shutil`` reads it) when stdout is a
    terminal; ``None`` in a pipe or a file, which have no width."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stdout
        tty = False
    return shutil.get_terminal_size((80, 24)).columns if tty else None


def prose_width() -> int:
    """The width prose wraps at: the terminal's; in a pipe or a file, ``COLUMNS`` when it is a
    positive number, else ``PIPE_WIDTH``."""
    width = terminal_width()
    if width is None:
        columns = os.environ.get("COLUMNS", "").strip()
        width = int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH
    return width


def wrap(text: str, *, indent: str = "", subsequent_indent: str | None = None) -> str:
    """``text`` wrapped at ``prose_width()``; words (names, paths, URLs) are never broken."""
    rest = indent if subsequent_indent is None else subsequent_indent
    width = max(prose_width(), len(indent) + MIN_WRAP_WIDTH, len(rest) + MIN_WRAP_WIDTH)
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False)


def _split_words(cell: str, width: int) -> list[str]:
    return textwrap.wrap(cell, width, break_long_words=False, break_on_hyphens=False) or [""]


def table(rows: list[list[str]], headers: list[str], *, wrap: int | None = None) -> str:
    """Left-aligned columns two spaces apart, every cell whole: nothing is ever cut.

    On a terminal narrower than the table, column ``wrap`` (free text, never a name) wraps at word
    boundaries onto continuation lines, down to ``MIN_WRAP_WIDTH`` or its longest word; otherwise
    (a pipe or a file, no column to wrap, or still too wide) the table is as wide as its content.
    """
    cols = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    width = terminal_width()
    if wrap is not None and width is not None and sum(cols) + 2 * (len(cols) - 1) > width:
        longest_word = max((len(w) for r in rows for w in r[wrap].split()), default=0)
        floor = max(len(headers[wrap]), longest_word, MIN_WRAP_WIDTH)
        cols[wrap] = max(floor, min(cols[wrap], width - (sum(cols) - cols[wrap]) - 2 * (len(cols) - 1)))
    lines = []
    for row in [headers, *rows]:
        pieces = [_split_words(cell, cols[i]) if i == wrap else [cell] for i, cell in enumerate(row)]
        for k in range(max(map(len, pieces))):
            cells = [(p[k] if k < len(p) else "").ljust(cols[i]) for i, p in enumerate(pieces)]
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (1 or more), got {value}")
    return value


def non_empty(text: str) -> str:
    """argparse type: a string with something other than whitespace in it."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a non-empty value, got {text!r}")
    return text


def existing_file(text: str) -> str:
    """argparse type: the path of an existing, readable file (not a directory)."""
    try:
        if os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"{text!r} is a directory; expected a file")
        if not os.path.isfile(text):
            raise argparse.ArgumentTypeError(f"no such file: {text!r}")
        if not os.access(text, os.R_OK):
            raise argparse.ArgumentTypeError(f"file not readable: {text!r}")
    except (ValueError, OSError) as e:  # an embedded NUL byte, a name too long
        raise argparse.ArgumentTypeError(f"not a usable file name: {text!r} ({e})") from None
    return text


def hint_pair(text: str) -> tuple[str, str]:
    """argparse type: ``OURS=THEIRS``, two non-empty regular expressions."""
    ours, sep, theirs = text.partition("=")
    if not (sep and ours and theirs):
        raise argparse.ArgumentTypeError(f"expected OURS=THEIRS (two regexes), got {text!r}")
    for part in (ours, theirs):
        try:
            re.compile(part)
        except re.error as e:
            raise argparse.ArgumentTypeError(f"{part!r} in {text!r} is not a regular expression: {e}") from None
    return ours, theirs


def check_output_file(path: str | os.PathLike, *, what: str = "output file") -> None:
    """Raise ``OutputPathError`` naming ``path`` unless a file can be written there: its directory
    exists and is writable, and ``path`` is not a directory (nor an existing file that is read-only).
    Commands call it before any compute."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputPathError(f"{what} {path!r} is a directory; give a file name, e.g. {os.path.join(path, 'out')!r}")
    if not os.path.isdir(parent):
        raise OutputPathError(f"{what} {path!r}: its directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path!r}: its directory {parent!r} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OutputPathError(f"{what} {path!r} exists and is not writable")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    text = " ".join(str(message).split())
    return f"zoo: warning: {text}\n"


@contextlib.contextmanager
def one_line_warnings():
    """While it is active, a warning that Python's filters let through prints as one line,
    ``zoo: warning: <message>`` (no source line, no category path). It replaces
    ``warnings.formatwarning``, not ``showwarning``: the filters (``-W error``, ``PYTHONWARNINGS``)
    and whoever records warnings (``warnings.catch_warnings(record=True)``, ``pytest.warns``) keep
    working."""
    saved = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        yield
    finally:
        warnings.formatwarning = saved


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


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """The parsed options, or the exit code argparse chose (2 for a usage error, 0 for ``--help``)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else int(e.code is not None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zoo`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Run as the ``zoo`` program (``argv`` not given), ``zoo predict`` and ``zoo embed`` first start
    themselves again with glibc's huge-page tunable where it is missing (``zoo_core.hostmem``)."""
    if argv is None:
        _restart_for_models(sys.argv[1:])
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    with one_line_warnings():
        try:
            parser = build_parser()
            args = _parse(parser, argv)
            if isinstance(args, int):
                return args
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


MODEL_COMMANDS = ("predict", "embed")  # the commands that run a model, so whose speed the tunable changes


def _restart_for_models(argv: Sequence[str]) -> None:
    """``hostmem.restart_with_hugepages(argv)`` when ``argv``'s command runs models and the process
    lacks the tunable (see ``zoo_core.hostmem``); otherwise nothing."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in MODEL_COMMANDS:
        return
    from zoo_core import hostmem

    if hostmem.should_restart():
        sys.stdout.flush()
        sys.stderr.flush()
        hostmem.restart_with_hugepages(argv)


if __name__ == "__main__":
    raise SystemExit(main())
