"""Property-based tests of the ``zoo`` command line: whatever the option values, ``main`` returns a
documented exit code and never lets an exception escape or print a traceback.

No example computes anything: the values either fail validation (argparse's usage error, exit 2;
a ``ZooError``'s code) or drive ``zoo list`` / ``zoo info`` / ``zoo plugins``, which import no JAX.
Every example runs in an empty working directory (no image or checkpoint can exist by chance) with
the Hub offline.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

import zoo_core
from zoo_core.cli import main

# 0 success, 1 a generic ZooError, 2 argparse's usage error, 8 `cache verify` found corruption,
# 9 `map` left keys unpaired, and every ZooError subclass's code


def _error_classes(cls: type) -> list[type]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _error_classes(direct))]


EXIT_CODES = {0, 1, 2, 8, 9} | {cls.exit_code for cls in _error_classes(zoo_core.ZooError)}

values = st.text(max_size=12) | st.sampled_from(["", " ", "0", "-1", "3", "1e3", "nan", "tinynet_s", "*", "[", "=",
                                                 "a=b", "(=x", ".", "/", "..", "\x00", "--json", "-h"])
OPTION_VALUES = {
    "list": ["--family", "--license-id"],
    "info": [],
    "predict": ["--top-k", "--batch-size", "--checkpoint"],
    "embed": ["--out", "--batch-size", "--checkpoint"],
    "map": ["--checkpoint", "--hint"],
    "download": ["--revision", "--cache-dir"],
    "convert": ["--strip-prefix"],
    "cache": [],
}
FLAGS = ["--json", "--license", "--pretrained"]


@st.composite
def argvs(draw) -> list[str]:
    """A command, a few positional values, options with arbitrary values and some flags, in any order."""
    command = draw(st.sampled_from(sorted(OPTION_VALUES)))
    head = [command, *(["verify"] if command == "cache" and draw(st.booleans()) else [])]
    words = draw(st.lists(values, max_size=3))
    options = draw(st.lists(st.tuples(st.sampled_from(OPTION_VALUES[command] or ["--json"]), values), max_size=3))
    flags = draw(st.lists(st.sampled_from(FLAGS), max_size=2))
    tail = [*words, *(w for pair in options for w in pair), *flags]
    return head + draw(st.permutations(tail))


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


@contextlib.contextmanager
def _empty_cwd_offline():
    saved_cwd, saved_offline = os.getcwd(), os.environ.get("HF_HUB_OFFLINE")
    with tempfile.TemporaryDirectory() as empty:
        os.chdir(empty)
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            yield
        finally:
            os.chdir(saved_cwd)
            if saved_offline is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = saved_offline


@settings(max_examples=150, deadline=None)
@given(argv=argvs())
def test_any_option_values_give_a_documented_exit_code_and_no_traceback(argv):
    """Arbitrary values for every command's options and positionals: a documented exit code, one
    of the error lines, never an uncaught exception or a traceback."""
    with _empty_cwd_offline():
        code, err = _run(argv)
    assert code in EXIT_CODES, (argv, code, err)
    assert "Traceback" not in err, (argv, err)


@settings(max_examples=60, deadline=None)
@given(option=st.sampled_from(["--top-k", "--batch-size"]), value=values)
def test_a_size_option_is_a_positive_integer_or_a_usage_error_naming_it(option, value):
    """``--top-k`` and ``--batch-size`` take integers ≥ 1 only; anything else is exit 2 naming the
    option (given before the image, which does not exist: a valid value fails on it instead, still
    exit 2, never compute)."""
    with _empty_cwd_offline():
        code, err = _run(["predict", option, value, "tinynet_s", "missing.jpg"])
    assert code == 2 and "Traceback" not in err
    try:
        valid = int(value) >= 1
    except ValueError:
        valid = False
    if not valid and not value.startswith("-"):
        assert f"argument {option}: expected a positive integer" in err, err
    else:
        assert "argument IMAGE: no such file: 'missing.jpg'" in err or f"argument {option}" in err, err
