"""The zoo command line: list, info, plugins, download, and one-line errors with exit codes."""

import json

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


BUILT_IN = ["list", "info", "plugins", "download", "predict", "embed", "convert", "map", "cache"]


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
