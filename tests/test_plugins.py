"""Plugin discovery through real entry points, selection by environment, and broken plugins."""

import sys
import types
from importlib import metadata

import pytest

import zoo_core
from zoo_core import plugins
from zoo_core.registry import Family


def test_the_tinynet_distribution_is_found_through_its_entry_point():
    infos = {p.name: p for p in plugins.plugin_infos()}
    assert infos["tinynet"].distribution == "zoo-tinynet"
    assert infos["tinynet"].families == ("tinynet",)
    assert infos["tinynet"].error is None
    assert "tinynet_s.zoo_in1k" in zoo_core.list_variants(family="tinynet")
    assert zoo_core.get_family("tinynet_s").distribution == "zoo-tinynet"


def test_loading_is_idempotent():
    assert plugins.get_plugin_manager() is plugins.get_plugin_manager()
    assert plugins.get_registry() is plugins.get_registry()


def test_zoo_load_plugins_empty_loads_none(monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    assert zoo_core.list_variants() == []


def test_zoo_load_plugins_selects_by_distribution_or_entry_point_name(monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo-tinynet")
    assert {zoo_core.get_variant(n).family for n in zoo_core.list_variants()} == {"tinynet"}
    plugins.reset()
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "tinynet, nonexistent")
    assert zoo_core.list_variants(family="tinynet")


def test_zoo_disable_plugins_skips_the_named_one(monkeypatch):
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "tinynet")
    assert zoo_core.list_variants(family="tinynet") == []
    assert "tinynet" not in {p.name for p in plugins.plugin_infos()}


def _fake_entry_points(monkeypatch, modules: dict[str, types.ModuleType | Exception]):
    """Entry points named after ``modules``: each loads the module, or raises the exception."""
    real = metadata.entry_points

    class FakeEP:
        def __init__(self, name, target):
            self.name, self.target, self.dist = name, target, types.SimpleNamespace(name=f"zoo-{name}", version="9.9")

        def load(self):
            if isinstance(self.target, Exception):
                raise self.target
            return self.target

    def entry_points(group=None, **kw):
        found = list(real(group=group, **kw)) if group else real(**kw)
        if group == "zoo":
            found += [FakeEP(n, t) for n, t in modules.items()]
        return found

    monkeypatch.setattr(plugins.metadata, "entry_points", entry_points)


def _module(name, **attrs):
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(mod, k, v)
    return mod


def test_broken_plugins_are_reported_and_the_others_still_load(monkeypatch):
    @zoo_core.hookimpl
    def zoo_families():
        raise RuntimeError("table is corrupt")

    @zoo_core.hookimpl
    def zoo_familes():  # misspelled hook
        return []

    @zoo_core.hookimpl
    def zoo_weights_file(variant, unknown_argument):  # not in the spec's signature
        return None

    @zoo_core.hookimpl(specname="zoo_families")
    def returns_junk():
        return ["not a family"]

    _fake_entry_points(monkeypatch, {
        "import_fails": ImportError("No module named 'missing_dep'"),
        "raises": _module("raises", zoo_families=zoo_families),
        "misspelled": _module("misspelled", zoo_familes=zoo_familes),
        "bad_signature": _module("bad_signature", zoo_weights_file=zoo_weights_file),
        "junk": _module("junk", returns_junk=returns_junk),
    })
    infos = {p.name: p for p in plugins.plugin_infos()}
    assert "missing_dep" in infos["import_fails"].error
    assert "table is corrupt" in infos["raises"].error
    assert "unknown hook zoo_familes" in infos["misspelled"].error
    assert "unknown_argument" in infos["bad_signature"].error
    assert "expected zoo_core.Family" in infos["junk"].error
    assert infos["import_fails"].distribution == "zoo-import_fails"
    assert infos["tinynet"].error is None
    assert zoo_core.list_variants(family="tinynet")
    assert {p.name for p in plugins.broken_plugins()} == {"import_fails", "raises", "misspelled", "bad_signature", "junk"}


def test_two_plugins_claiming_a_variant_name_both_named_in_the_error(monkeypatch):
    from zoo_tinynet.variants import VARIANTS

    clash = Family("tinyclone", [v.__class__(**{**_fields(v), "family": "tinyclone"}) for v in VARIANTS[:1]],
                   builder="x:y", weight_mapping="x:z")

    @zoo_core.hookimpl
    def zoo_families():
        return clash

    _fake_entry_points(monkeypatch, {"clone": _module("clone", zoo_families=zoo_families)})
    with pytest.warns(UserWarning, match="registered twice"):
        plugins.get_registry()
    with pytest.raises(zoo_core.RegistryConflictError, match=r"by zoo-tinynet .* and by zoo-clone"):
        zoo_core.get_variant(VARIANTS[0].name)


def _fields(v):
    import attrs

    return {f.name: getattr(v, f.name) for f in attrs.fields(type(v))}


def test_plugins_registered_by_hand_survive_a_reset_until_unregistered():
    mod = _module("handmade")

    @zoo_core.hookimpl
    def zoo_families():
        return Family("handmade", [], builder="x:y", weight_mapping="x:z")

    mod.zoo_families = zoo_families
    plugins.register_plugin(mod, "handmade")
    try:
        assert "handmade" in plugins.get_registry().families
        plugins.reset(keep_extra=True)
        assert "handmade" in plugins.get_registry().families
    finally:
        plugins.unregister_plugin("handmade")
    assert "handmade" not in plugins.get_registry().families


def test_importing_zoo_core_and_listing_does_not_import_jax():
    import subprocess

    code = ("import sys, zoo_core; zoo_core.list_variants(); from zoo_core.cli import main; "
            "main(['list', '--license']); main(['info', 'tinynet_s']); print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_zoo_list_imports_neither_jax_nor_the_hub_client_nor_numpy():
    """`zoo list` reads plain variant tables: no family may pull JAX, huggingface_hub or numpy in
    at entry-point load (that costs half a second at every listing)."""
    import subprocess

    code = ("import sys, io, contextlib; from zoo_core.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['list', '--license'])\n"
            "print([m for m in ('jax', 'huggingface_hub', 'safetensors', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
