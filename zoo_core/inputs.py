"""The images a dataset job reads: files, directories (recursive), glob patterns and list files,
streamed in a fixed order so that a rerun sees the same sequence (what resuming relies on).

- a file: itself, whatever its name;
- a directory: every file under it with an image extension (``IMAGE_EXTENSIONS``, any case),
  depth first, entries in sorted order, names starting with ``.`` skipped;
- a glob (``*``, ``?``, ``[...]``, ``**`` for any depth; quote it from the shell): the files it
  matches, in the same sorted depth-first order (``*`` does not match a leading ``.``, as the shell's);
- a list file (``--list FILE``, ``-`` for stdin): one path per line, relative ones from the list's
  directory (stdin's: the working directory), blank lines and lines starting with ``#`` skipped.

Nothing is collected: a directory of millions of files costs one directory listing at a time.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import sys
from collections.abc import Iterable, Iterator

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm",
                              ".pbm", ".pnm", ".jfif", ".ico", ".tga"})


def is_pattern(text: str) -> bool:
    """Whether ``text`` is a glob pattern (has ``*``, ``?`` or ``[``) rather than a path."""
    return glob.has_magic(text)


def _sorted_entries(path: str) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError:
        return []


def walk_images(root: str) -> Iterator[str]:
    """Image files under ``root``, depth first, each directory's entries in sorted order."""
    for entry in _sorted_entries(root):
        if entry.is_dir():
            yield from walk_images(entry.path)
        elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
            yield entry.path


def _glob_parts(base: str, parts: list[str]) -> Iterator[str]:
    """Paths under ``base`` matching the pattern components ``parts``, in sorted order."""
    if not parts:
        yield base
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _glob_parts(base, rest)
        for entry in _sorted_entries(base or "."):
            if entry.is_dir():
                yield from _glob_parts(os.path.join(base, entry.name), parts)
        return
    if not is_pattern(head):
        path = os.path.join(base, head)
        if os.path.lexists(path):
            yield from _glob_parts(path, rest)
        return
    for entry in _sorted_entries(base or "."):
        if fnmatch.fnmatchcase(entry.name, head) and (not rest or entry.is_dir()):
            yield from _glob_parts(os.path.join(base, entry.name), rest)


def glob_files(pattern: str) -> Iterator[str]:
    """The files ``pattern`` matches, in sorted depth-first order (streamed, unlike ``sorted(glob(...))``)."""
    pattern = os.path.expanduser(pattern)
    root = os.sep if os.path.isabs(pattern) else ""
    parts = [p for p in pattern.split(os.sep) if p]
    for path in _glob_parts(root, parts):
        if os.path.isfile(path):
            yield path


def read_list(source: str) -> Iterator[str]:
    """The paths a list file names, one a line; ``-`` reads standard input."""
    if source == "-":
        lines, base = sys.stdin, ""
    else:
        lines, base = open(source, encoding="utf-8"), os.path.dirname(source)  # noqa: SIM115 (closed below)
    try:
        for line in lines:
            line = line.rstrip("\r\n")
            if line.strip() and not line.lstrip().startswith("#"):
                yield line if os.path.isabs(line) else os.path.join(base, line)
    finally:
        if lines is not sys.stdin:
            lines.close()


def iter_images(inputs: Iterable[str | os.PathLike] = (), lists: Iterable[str] = ()) -> Iterator[str]:
    """Every image path that ``inputs`` (files, directories, globs) and then ``lists`` (list files)
    name, in order, streamed."""
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            yield from walk_images(item)
        elif is_pattern(item) and not os.path.exists(item):
            yield from glob_files(item)
        else:
            yield item
    for source in lists:
        yield from read_list(source)


def count_images(inputs: Iterable[str | os.PathLike] = (), lists: Iterable[str] = ()) -> int | None:
    """How many paths ``iter_images`` yields (a second pass over the names, no image read); ``None``
    where a list comes from standard input, which cannot be read twice."""
    lists = list(lists)
    if "-" in lists:
        return None
    return sum(1 for _ in iter_images(inputs, lists))


def image_input(text: str) -> str:
    """argparse type: an existing file, a directory, or a glob pattern (``*``, ``?``, ``[``)."""
    if is_pattern(text) and not os.path.exists(text):
        return text
    if os.path.isdir(text):
        return text
    from zoo_core.cli import existing_file

    return existing_file(text)


def list_file(text: str) -> str:
    """argparse type: ``-`` (standard input) or an existing file."""
    from zoo_core.cli import existing_file

    return text if text == "-" else existing_file(text)
