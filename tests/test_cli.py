"""The zoo command line: list, info, plugins, download, and one-line errors with exit codes."""

import json

import pytest

from zoo_core.cli import main

from tinynet_weights import tinynet_bytes


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_variants_and_fits_80_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "list", "tinynet*", "--license")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["VARIANT", "CLASSES", "SIZE", "LICENSE", "COMMERCIAL"]
    row = next(line for line in lines if line.startswith("tinynet_s.zoo_nc"))
    assert row.split()[-2:] == ["CC-BY-NC-4.0", "no"]
    assert "note (tinynet): tinynet_s.zoo_nc is a test row" in out
    assert all(len(line) <= 80 for line in lines)


def test_list_filters_by_family_and_license_and_emits_json(capsys):
    code, out, _ = run(capsys, "list", "--family", "tinynet", "--license-id", "cc-by-nc*", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == ["tinynet_s.zoo_nc"]
    assert rows[0]["license"]["commercial"] == "no" and rows[0]["arch"] == "tinynet_s"
    code, out, _ = run(capsys, "list", "--family", "tinynet", "--commercial", "no", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["tinynet_s.zoo_nc"]
    code, out, _ = run(capsys, "list", "--family", "tinynet", "--commercial", "yes", "--json")
    assert code == 0 and "tinynet_s.zoo_nc" not in [r["name"] for r in json.loads(out)] and json.loads(out)


def test_list_of_nothing_says_why_and_exits_like_grep(capsys, monkeypatch):
    """A pattern matching nothing exits 1 (as grep); with no family installed at all, the hint
    says what to install and the command still succeeds."""
    code, out, err = run(capsys, "list", "no_such_arch*")
    assert code == 1 and out == "" and "no variant matches" in err
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    from zoo_core import plugins

    plugins.reset()
    try:
        code, out, err = run(capsys, "list", "--license")
        assert code == 0 and "no model family is installed" in err and "entry point in the group 'zoo'" in err
    finally:
        monkeypatch.delenv("ZOO_LOAD_PLUGINS")
        plugins.reset()


def test_info_shows_every_field_the_license_and_the_cache(capsys, hub):
    code, out, _ = run(capsys, "info", "tinynet_m")
    assert code == 0
    for text in ("tinynet_m.zoo_in1k", "zoo-tinynet", "Apache-2.0", "num_classes     5", "(3, 32, 32)", "cached          no"):
        assert text in out
    hub.add_file("zoo-test/tinynet_m.zoo_in1k", "model.safetensors", tinynet_bytes(widths=(12, 24), num_classes=5))
    assert run(capsys, "download", "tinynet_m")[0] == 0
    code, out, _ = run(capsys, "info", "tinynet_m", "--json")
    assert json.loads(out)["cached_file"].endswith("model.safetensors")


def test_plugins_lists_families_and_variant_counts(capsys):
    code, out, _ = run(capsys, "plugins")
    row = next(line for line in out.splitlines() if line.startswith("tinynet"))
    assert code == 0 and row.split() == ["tinynet", "zoo-tinynet", "0.0.1", "tinynet", "3", "ok"]
    data = {p["name"]: p for p in json.loads(run(capsys, "plugins", "--json")[1])}
    assert data["tinynet"]["variants"] == 3 and data["tinynet"]["error"] is None


def test_errors_are_one_line_with_a_distinct_exit_code(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = run(capsys, "info", "tinynet_q")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("zoo: error: unknown variant 'tinynet_q'; closest:")
    code, _, err = run(capsys, "download", "tinynet_s")  # no hub, cold cache, offline
    assert code == 6 and "zoo-test/tinynet_s.zoo_in1k/model.safetensors" in err


def test_debug_shows_the_traceback(capsys):
    code, _, err = run(capsys, "--debug", "info", "nope_net")
    assert code == 2 and "Traceback" in err


def test_no_command_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "usage: zoo" in out


def test_plugins_can_add_commands(capsys):
    import types

    import zoo_core
    from zoo_core import plugins

    def hello(args):
        print(f"hello {args.who}")
        return 0

    def zoo_register_commands(subparsers):
        p = subparsers.add_parser("hello")
        p.add_argument("who")
        p.set_defaults(func=hello)

    mod = types.ModuleType("hello_cmd")
    mod.zoo_register_commands = zoo_core.hookimpl(zoo_register_commands)
    plugins.register_plugin(mod, "hello_cmd")
    try:
        assert run(capsys, "hello", "world")[1] == "hello world\n"
    finally:
        plugins.unregister_plugin("hello_cmd")


IMAGES = sorted(str(p) for p in (__import__("pathlib").Path(__file__).parents[1] / "examples" / "images").glob("*.jpg"))


def test_predict_prints_top_k_with_probabilities_and_embed_saves_features(capsys, hub, tmp_path):
    import numpy as np

    from zoo_core.data import preprocess, resolve_data_config

    from tinynet_weights import reference_forward, tinynet_state_dict

    hub.add_file("zoo-test/tinynet_s.zoo_in1k", "model.safetensors", tinynet_bytes())
    code, out, _ = run(capsys, "predict", "tinynet_s", *IMAGES[:2], "--top-k", "3", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["image"] for r in rows] == IMAGES[:2]
    x = preprocess(IMAGES[:2], resolve_data_config("tinynet_s"))
    expected = reference_forward(tinynet_state_dict(), x).argmax(-1)
    assert [r["top"][0]["index"] for r in rows] == expected.tolist()
    assert all(len(r["top"]) == 3 and r["top"][0]["probability"] >= r["top"][1]["probability"] for r in rows)
    code, out, _ = run(capsys, "predict", "tinynet_s", IMAGES[0])
    assert code == 0 and out.splitlines()[0] == IMAGES[0] and "%" in out.splitlines()[1]
    code, out, _ = run(capsys, "embed", "tinynet_s", *IMAGES, "--out", str(tmp_path / "f.npy"))
    assert code == 0 and np.load(tmp_path / "f.npy").shape == (len(IMAGES), 16)
    assert f"{len(IMAGES)} × 16 float32 pooled features of tinynet_s.zoo_in1k: the head's input (pre-logits)" in out


BUILT_IN = ["list", "info", "plugins", "download", "predict", "embed", "convert", "map", "cache", "push"]


def test_the_built_in_commands_come_from_zoo_cores_own_register_commands_hook():
    """``zoo --help`` lists every built-in command, and they are zoo-core's ``zoo_register_commands``:
    without that implementation the parser has none."""
    from zoo_core import plugins
    from zoo_core.cli import build_parser

    help_text = build_parser().format_help()
    assert all(f"\n    {name} " in help_text for name in BUILT_IN)
    impls = plugins.hooks().zoo_register_commands.get_hookimpls()
    assert [i.plugin_name for i in impls if i.tryfirst] == ["zoo_core"]
    plugins.get_plugin_manager().unregister(name="zoo_core")
    assert not any(f"\n    {name} " in build_parser().format_help() for name in BUILT_IN)


def test_a_plugin_sees_the_built_in_commands_and_cannot_replace_them(capsys):
    """A plugin's hook runs after zoo-core's: it finds the built-ins in ``subparsers.choices``; one
    that adds ``list`` again is reported broken and warned about, and ``zoo list`` still works."""
    import types

    import pytest

    import zoo_core
    from zoo_core import plugins

    seen = []

    def zoo_register_commands(subparsers):
        seen.extend(subparsers.choices)
        subparsers.add_parser("list")

    mod = types.ModuleType("usurper")
    mod.zoo_register_commands = zoo_core.hookimpl(zoo_register_commands)
    plugins.register_plugin(mod, "usurper")
    try:
        with pytest.warns(plugins.PluginHookWarning, match="zoo_register_commands raised ArgumentError"):
            code, out, _ = run(capsys, "list", "tinynet*")
        assert code == 0 and "tinynet_s.zoo_in1k" in out and seen == BUILT_IN
        assert "conflicting subparser: list" in {p.name: p for p in plugins.broken_plugins()}["usurper"].error
    finally:
        plugins.unregister_plugin("usurper")


def test_a_plugin_refusing_to_add_its_commands_does_not_break_zoo(capsys):
    import types

    import zoo_core
    from zoo_core import plugins

    def zoo_register_commands(subparsers):
        raise zoo_core.PluginError("the hello command needs a licence key")

    mod = types.ModuleType("refuses")
    mod.zoo_register_commands = zoo_core.hookimpl(zoo_register_commands)
    plugins.register_plugin(mod, "refuses")
    try:
        code, out, err = run(capsys, "list", "tinynet*")
        assert code == 0 and "tinynet_s.zoo_in1k" in out
        assert "zoo: warning: a plugin failed to add its commands: the hello command needs a licence key" in err
    finally:
        plugins.unregister_plugin("refuses")


# --- reading well on a terminal and in a pipe ------------------------------------------------------

LONG_NOTE = ("The wordy weights are released for research only; " * 9).strip()
WORDY = ("wordy_net_with_a_rather_long_architecture_name.tag_one",
         "wordy_net_with_a_rather_long_architecture_name.tag_two")


def _register_wordy():
    """A family whose two variant names differ only at the end and whose note is ~450 characters."""
    import types

    import zoo_core
    from zoo_core import Family, License, Variant, plugins

    lic = License("CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/", "no", note=LONG_NOTE)
    variants = tuple(Variant(n, "wordy", num_classes=10, num_features=16, license=lic, hf_hub_id=f"zoo-test/{n}",
                             first_conv="stem.conv", classifier="fc", arch_kwargs={"widths": (8, 16)},
                             notes=LONG_NOTE) for n in WORDY)
    family = Family(name="wordy", variants=variants, builder="zoo_tinynet.model:build_model",
                    weight_mapping="zoo_tinynet.weights:weight_mapping", license_notes=(LONG_NOTE,))
    mod = types.ModuleType("wordy")
    mod.zoo_families = zoo_core.hookimpl(lambda: [family])
    plugins.register_plugin(mod, "wordy")


def test_list_in_a_pipe_keeps_every_variant_name_whole_and_unique(capsys, monkeypatch):
    """A pipe has no width: with COLUMNS=40 and stdout not a terminal, ``zoo list --license``
    prints every name whole (no '…'), so two names never read the same."""
    from zoo_core.plugins import get_registry

    _register_wordy()
    monkeypatch.setenv("COLUMNS", "40")
    code, out, _ = run(capsys, "list", "--license")
    first_column = [line.split()[0] for line in out.split("\n\n")[0].splitlines()[1:]]
    assert code == 0 and "…" not in out
    assert first_column == get_registry().list("*") and len(set(first_column)) == len(first_column)
    assert set(WORDY) <= set(first_column)


def test_a_table_on_a_narrow_terminal_wraps_its_free_text_column_and_never_a_name(capsys, monkeypatch):
    """On a 40-column terminal the free-text column wraps onto continuation lines; the names stay
    whole; a table with no column to wrap is simply wider than the terminal."""
    import sys

    from zoo_core.cli import table

    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    rows = [[WORDY[0], "corrupt", "truncated: 10 of 20 bytes on disk, run zoo cache repair"]]
    lines = table(rows, ["VARIANT", "STATUS", "DETAIL"], wrap=2).splitlines()
    assert lines[1].startswith(f"{WORDY[0]}  corrupt  truncated:") and len(lines) > 2
    detail_at = lines[0].index("DETAIL")
    assert all(line[:detail_at].strip() == "" for line in lines[2:])
    assert " ".join(line[detail_at:] for line in lines[1:]).split() == rows[0][2].split()
    assert table(rows, ["VARIANT", "STATUS", "DETAIL"]).splitlines()[1].split("  ")[-1] == rows[0][2]


def _is_note_text(line: str) -> bool:
    """A line of ``LONG_NOTE`` as printed, after its label (``note (wordy):``, ``license note``...)."""
    for label in ("note (wordy):", "note:", "license note", "notes"):
        line = line.replace(label, "", 1) if line.lstrip().startswith(label) else line
    return bool(line.split()) and set(line.split()) <= set(LONG_NOTE.split())


def test_notes_wrap_at_columns_in_a_pipe_and_at_100_without_it(capsys, monkeypatch):
    """Family notes, a license note and a variant's notes wrap (at COLUMNS in a pipe, else 100)
    without losing or breaking a word."""
    _register_wordy()
    monkeypatch.setenv("COLUMNS", "60")
    for argv in (("list", "wordy*", "--license"), ("info", WORDY[0])):
        code, out, _ = run(capsys, *argv)
        prose = [line for line in out.splitlines() if _is_note_text(line)]
        assert code == 0 and len(prose) > 8 and max(map(len, prose)) <= 60, out
        assert LONG_NOTE in " ".join(out.split())
    monkeypatch.delenv("COLUMNS")
    _, out, _ = run(capsys, "list", "wordy*", "--license")
    note_lines = out.split("\n\n", 1)[1].splitlines()
    assert len(note_lines) > 1 and all(len(line) <= 100 for line in note_lines)


def _zoo_in_a_subprocess(code: str, *python_args: str):
    import os
    import subprocess
    import sys
    import textwrap

    env = {**os.environ, "PYTHONWARNINGS": ""}
    return subprocess.run([sys.executable, *python_args, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120)


WARNING_COMMAND = """
    import sys, types, warnings
    import zoo_core
    from zoo_core import plugins
    from zoo_core.builtin_hooks import NonCommercialWeightsWarning
    from zoo_core.cli import main

    def nc(args):
        warnings.warn("tinynet_s.zoo_nc: the released weights are licensed CC-BY-NC-4.0\\n(see zoo info)",
                      NonCommercialWeightsWarning)
        print("done")

    def zoo_register_commands(subparsers):
        subparsers.add_parser("nc").set_defaults(func=nc)

    mod = types.ModuleType("nc_cmd")
    mod.zoo_register_commands = zoo_core.hookimpl(zoo_register_commands)
    plugins.register_plugin(mod, "nc_cmd")
    sys.exit(main(["nc"]))
"""


def test_a_warning_prints_as_one_clean_line_and_python_filters_still_apply():
    """In a real process, a warning raised while a command runs is ``zoo: warning: <message>`` on
    one line of stderr (no source line, no category path); ``-W error`` still turns it into an error."""
    done = _zoo_in_a_subprocess(WARNING_COMMAND)
    assert done.returncode == 0 and done.stdout == "done\n"
    assert done.stderr == ("zoo: warning: tinynet_s.zoo_nc: the released weights are licensed CC-BY-NC-4.0 "
                           "(see zoo info)\n")
    strict = _zoo_in_a_subprocess(WARNING_COMMAND, "-W", "error::UserWarning")
    assert strict.returncode != 0 and "NonCommercialWeightsWarning" in strict.stderr and strict.stdout == ""


def test_warnings_outside_the_cli_keep_pythons_format():
    """The one-line format lasts while ``main`` runs only."""
    import warnings

    from zoo_core.cli import main

    main(["list", "no_such_arch*"])
    assert "UserWarning" in warnings.formatwarning("x", UserWarning, "f.py", 1, "line")


# --- output paths checked before any compute -------------------------------------------------------

def _no_model(monkeypatch):
    import zoo_core.api

    def create_pretrained(*args, **kwargs):
        raise AssertionError("a model was created before the output path was checked")

    monkeypatch.setattr(zoo_core.api, "create_pretrained", create_pretrained)


def test_embed_out_in_a_missing_directory_fails_before_any_model_is_created(capsys, monkeypatch, tmp_path):
    from zoo_core.errors import OutputPathError

    _no_model(monkeypatch)
    code, out, err = run(capsys, "embed", "tinynet_s", IMAGES[0], "--out", "/nonexistent/dir/x.npy")
    assert code == OutputPathError.exit_code and out == ""
    assert err == "zoo: error: --out '/nonexistent/dir/x.npy': its directory '/nonexistent/dir' does not exist\n"
    (tmp_path / "d.npy").mkdir()
    code, _, err = run(capsys, "embed", "tinynet_s", IMAGES[0], "--out", str(tmp_path / "d.npy"))
    assert code == OutputPathError.exit_code and f"--out '{tmp_path / 'd.npy'}' is a directory" in err
    (tmp_path / "other.txt").write_text("not a zoo output")  # an --out DIR: new, empty, or a zoo job's
    code, _, err = run(capsys, "embed", "tinynet_s", IMAGES[0], "--out", str(tmp_path))
    assert code == OutputPathError.exit_code and f"--out '{tmp_path}' is not empty and holds no manifest.json" in err
    code, _, err = run(capsys, "embed", "tinynet_s", IMAGES[0], "--out", str(tmp_path / "other.txt"))
    assert code == OutputPathError.exit_code and "is a file; give a directory" in err


def test_embed_out_in_a_read_only_directory_fails_before_any_model_is_created(capsys, monkeypatch, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    _no_model(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run(capsys, "embed", "tinynet_s", IMAGES[0], "--out", str(locked / "x.npy"))
    assert code == 11 and f"its directory '{locked}' is not writable" in err


def test_embed_projected_of_a_classifier_fails_before_any_model_is_created(capsys, monkeypatch, tmp_path):
    """``--projected`` asks for an image-text projection head; a classifier's (tinynet's 10 classes)
    is refused with a one-line error saying what the variant has instead."""
    _no_model(monkeypatch)
    code, out, err = run(capsys, "embed", "tinynet_s", IMAGES[0], "--out", str(tmp_path / "x.npy"), "--projected")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "tinynet_s.zoo_in1k has no image-text projection to apply: its head is a classifier" in err


def test_convert_checks_its_output_path_before_reading_the_checkpoint(capsys, monkeypatch, tmp_path):
    import zoo_core.convert

    def convert(*args, **kwargs):
        raise AssertionError("the checkpoint was read before the output path was checked")

    monkeypatch.setattr(zoo_core.convert, "convert", convert)
    src = tmp_path / "model.pth"
    src.write_bytes(b"not read")
    code, _, err = run(capsys, "convert", str(src), str(tmp_path / "missing" / "model.safetensors"))
    assert code == 11 and f"output '{tmp_path / 'missing' / 'model.safetensors'}'" in err


# --- every option checked up front -----------------------------------------------------------------

def test_bad_options_are_usage_errors_naming_the_option(capsys, monkeypatch, tmp_path):
    """A bad option value is argparse's usage error (exit 2) naming the option and what is allowed,
    before any model is created."""
    _no_model(monkeypatch)
    cases = [
        (("predict", "tinynet_s", IMAGES[0], "--top-k", "0"), "argument --top-k: expected a positive integer"),
        (("predict", "tinynet_s", IMAGES[0], "--top-k", "two"), "argument --top-k: expected a positive integer, got 'two'"),
        (("embed", "tinynet_s", IMAGES[0], "--out", "x.npy", "--batch-size", "-1"), "argument --batch-size"),
        (("embed", "tinynet_s", str(tmp_path / "no.jpg"), "--out", "x.npy"), "argument IMAGE: no such file"),
        (("predict", "tinynet_s", str(tmp_path / "no_dir")), "argument IMAGE: no such file"),
        (("predict", "tinynet_s", IMAGES[0], "--list", str(tmp_path / "no.txt")), "argument --list: no such file"),
        (("predict", "tinynet_s", IMAGES[0], "--format", "xml"), "argument --format: invalid choice"),
        (("predict", "tinynet_s", IMAGES[0], "--checkpoint", str(tmp_path / "w.safetensors")),
         "argument --checkpoint: no such file"),
        (("map", "tinynet_s", "--hint", "fc/kernel"), "argument --hint: expected OURS=THEIRS"),
        (("map", "tinynet_s", "--hint", "fc(=x"), "is not a regular expression"),
        (("info", " "), "argument name: expected a non-empty value"),
        (("list", "--family", ""), "argument --family: expected a non-empty value"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)


# --- --json on every command that prints a result ----------------------------------------------------

def test_json_of_download_embed_map_and_the_cache_commands_parses(capsys, hub, tmp_path):
    """Each ``--json`` prints one JSON document and nothing else on stdout, of the shape its help states."""
    from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file

    from tinynet_weights import tinynet_state_dict

    hub.add_file("zoo-test/tinynet_s.zoo_in1k", "model.safetensors", tinynet_bytes())
    code, out, _ = run(capsys, "download", "tinynet_s", "--json")
    [row] = json.loads(out)
    assert code == 0 and row["variant"] == "tinynet_s.zoo_in1k" and row["path"].endswith("model.safetensors")

    code, out, _ = run(capsys, "cache", "verify", "tinynet_s", "--json")
    [entry] = json.loads(out)
    assert code == 0 and entry["variant"] == "tinynet_s.zoo_in1k" and entry["status"] == "ok"
    code, out, _ = run(capsys, "cache", "repair", "tinynet_s", "--json")
    assert code == 0 and json.loads(out) == {"removed": [], "downloaded": []}

    code, out, _ = run(capsys, "embed", "tinynet_s", *IMAGES[:2], "--out", str(tmp_path / "f.npy"), "--json")
    assert code == 0 and json.loads(out) == {
        "variant": "tinynet_s", "out": str(tmp_path / "f.npy"), "output": "pooled", "shape": [2, 16],
        "description": "pooled features of tinynet_s.zoo_in1k: the head's input (pre-logits), not normalized",
        "dtype": "float32", "normalized": False, "images": IMAGES[:2]}

    sd = {k.replace("fc.", "classifier."): v for k, v in tinynet_state_dict().items()}
    path = write_cached_file(tmp_path, "x/y", "model.safetensors", safetensors_bytes(sd))
    code, out, _ = run(capsys, "map", "tinynet_s", "--checkpoint", str(path), "--json")
    proposal = json.loads(out)
    assert code == 0 and proposal["unpaired_keys"] == [] and proposal["checkpoint"] == str(path)
    assert {"path": "fc/kernel", "key": "classifier.weight", "transform": "linear_to_dense"} in proposal["rules"]
    assert {"key": "classifier.weight", "path": "params/fc/kernel", "transform": "linear_to_dense",
            "how": proposal["pairs"][0]["how"]}.keys() == proposal["pairs"][0].keys()


@pytest.mark.torch
def test_json_of_convert_parses(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"module.fc.weight": torch.ones(3, 2)}, tmp_path / "m.pth")
    out_file = str(tmp_path / "m.safetensors")
    code, out, _ = run(capsys, "convert", str(tmp_path / "m.pth"), out_file, "--json")
    assert code == 0 and json.loads(out) == {"source": str(tmp_path / "m.pth"), "out": out_file,
                                             "sidecar": f"{out_file}.json",
                                             "tensors": {"fc.weight": {"shape": [3, 2], "dtype": "float32"}}}

