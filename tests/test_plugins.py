"""Plugin discovery through real entry points, selection by environment, and broken plugins."""

import json
import re
import sys
import types
from importlib import metadata

import attrs
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


def _fake_entry_points(monkeypatch, modules: dict[str, types.ModuleType | Exception] | list[tuple]):
    """Fake entry points in the group ``zoo``, beside the real ones. ``modules`` maps an entry-point
    name to the module it loads (or the exception loading raises), from the distribution
    ``zoo-<name>``; or it lists ``(name, module, distribution)`` triples, so that two distributions
    can share an entry-point name."""
    real = metadata.entry_points
    triples = [(n, t, f"zoo-{n}") for n, t in modules.items()] if isinstance(modules, dict) else modules

    class FakeEP:
        def __init__(self, name, target, distribution):
            self.name, self.target = name, target
            self.dist = types.SimpleNamespace(name=distribution, version="9.9")

        def load(self):
            if isinstance(self.target, Exception):
                raise self.target
            return self.target

    def entry_points(group=None, **kw):
        found = list(real(group=group, **kw)) if group else real(**kw)
        if group == "zoo":
            found += [FakeEP(*triple) for triple in triples]
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


def test_reset_forgets_manager_registry_load_report_and_hand_registered_plugins_in_one_call():
    """After ``reset()`` the host is as a fresh process has it; the next use builds everything anew."""
    plugins.register_plugin(_module("handmade"), "handmade")
    manager, registry = plugins.get_plugin_manager(), plugins.get_registry()
    assert "handmade" in {p.name for p in plugins.plugin_infos()}
    plugins.reset()
    assert plugins.plugin_host() == plugins.PluginHost()
    assert plugins.get_plugin_manager() is not manager and plugins.get_registry() is not registry
    assert "handmade" not in {p.name for p in plugins.plugin_infos()}


@pytest.fixture
def plugin():
    """Register a module of hook implementations by hand; unregistered after the test."""
    names = []

    def register(name, plugin_object=None, **hooks):
        names.append(name)
        obj = plugin_object or _module(name, **{k: zoo_core.hookimpl(f) for k, f in hooks.items()})
        plugins.register_plugin(obj, name)
        return obj

    yield register
    for n in names:
        plugins.unregister_plugin(n)


def _weights_kwargs(name="tinynet_s"):
    return dict(variant=zoo_core.get_variant(name), revision="main", cache_dir=None, local_files_only=True, token=None)


def test_hooks_are_called_through_pluggy_with_the_specs_firstresult(plugin):
    """``zoo_weights_file`` is ``firstresult`` in its spec: the call returns the first answer (the
    last plugin registered answers first), not a list; ``zoo_before_load`` is not: a list."""
    plugin("first", zoo_weights_file=lambda variant: f"/first/{variant.name}", zoo_before_load=lambda variant: 1)
    plugin("second", zoo_weights_file=lambda variant: f"/second/{variant.name}", zoo_before_load=lambda: 2)
    assert plugins.hooks().zoo_weights_file.spec.opts["firstresult"] is True
    assert plugins.hooks().zoo_weights_file(**_weights_kwargs()) == "/second/tinynet_s.zoo_in1k"
    variant = zoo_core.get_variant("tinynet_s")
    assert plugins.hooks().zoo_before_load(variant=variant, options={}) == [2, 1]


def test_a_third_party_hook_that_raises_is_skipped_recorded_and_the_next_one_answers(plugin):
    """The raising implementation keeps its hookimpl options (``tryfirst`` puts it first although
    it was registered first), its error goes to ``zoo plugins``, and the next plugin's answer wins."""
    class Flaky:
        @zoo_core.hookimpl(tryfirst=True)
        def zoo_weights_file(self, variant, revision):
            raise RuntimeError(f"mirror of {variant.name}@{revision} is down")

    plugin("flaky", Flaky())
    plugin("mirror", zoo_weights_file=lambda variant: "/mirror/w.safetensors")
    [first, *_] = reversed(plugins.hooks().zoo_weights_file.get_hookimpls())
    assert first.plugin_name == "flaky" and first.argnames == ("variant", "revision")
    with pytest.warns(plugins.PluginHookWarning, match=r"zoo plugin flaky: zoo_weights_file raised RuntimeError: "
                                                       r"mirror of tinynet_s.zoo_in1k@main is down"):
        assert plugins.hooks().zoo_weights_file(**_weights_kwargs()) == "/mirror/w.safetensors"
    infos = {p.name: p for p in plugins.broken_plugins()}
    assert set(infos) == {"flaky"} and "RuntimeError: mirror of tinynet_s.zoo_in1k@main is down" in infos["flaky"].error


def test_a_zoo_error_from_a_plugin_hook_propagates_and_marks_nothing_broken(plugin):
    def refuse(variant, options):
        raise zoo_core.PluginError(f"{variant.name}: refused by the license gate")

    plugin("gate", zoo_before_load=refuse)
    with pytest.raises(zoo_core.PluginError, match="tinynet_s.zoo_in1k: refused by the license gate"):
        plugins.hooks().zoo_before_load(variant=zoo_core.get_variant("tinynet_s"), options={})
    assert plugins.broken_plugins() == []


def test_zoo_cores_own_hook_implementations_are_never_silenced(monkeypatch):
    """zoo-core's Hub download raising a plain exception reaches the caller as it is."""
    import zoo_core.interop.hub as hub

    def broken(*args, **kwargs):
        raise RuntimeError("bug in zoo-core")

    monkeypatch.setattr(hub, "cached_file", broken)
    with pytest.raises(RuntimeError, match="bug in zoo-core"):
        plugins.hooks().zoo_weights_file(**_weights_kwargs())
    assert plugins.broken_plugins() == []


def test_after_load_is_a_chain_each_plugin_gets_the_previous_ones_trees(plugin):
    """Plugins registered later run first: ``add`` then ``scale``; ``None`` keeps the trees; an
    implementation may take a subset of the arguments; a raising one is skipped and recorded."""
    plugin("scale", zoo_after_load=lambda params, state: ({"w": params["w"] * 10}, {**state, "scaled": True}))
    plugin("keep", zoo_after_load=lambda variant: None)
    plugin("crash", zoo_after_load=lambda state: state["missing"])
    plugin("add", zoo_after_load=lambda variant, params, state: ({"w": params["w"] + 1}, state))
    variant = zoo_core.get_variant("tinynet_s")
    with pytest.warns(plugins.PluginHookWarning, match="zoo_after_load raised KeyError"):
        assert plugins.after_load(variant, {"w": 1}, {}) == ({"w": 20}, {"scaled": True})
    assert [p.name for p in plugins.broken_plugins()] == ["crash"]


def test_a_wrapper_on_the_after_load_chain_is_refused_at_registration(plugin):
    @zoo_core.hookimpl(wrapper=True)
    def zoo_after_load(variant, params, state):
        return (yield)

    plugin("wrapper", _module("wrapper", zoo_after_load=zoo_after_load))
    assert "zoo_after_load is a chain" in {p.name: p for p in plugins.broken_plugins()}["wrapper"].error
    assert plugins.after_load(zoo_core.get_variant("tinynet_s"), {"w": 1}, {}) == ({"w": 1}, {})


def test_a_third_party_wrapper_runs_around_the_other_implementations_as_pluggy_documents(plugin):
    @zoo_core.hookimpl(wrapper=True)
    def zoo_weights_file(variant):
        path = yield
        return f"{path}?checked-by-wrapper"

    plugin("mirror", zoo_weights_file=lambda variant: f"/mirror/{variant.name}")
    plugin("checker", _module("checker", zoo_weights_file=zoo_weights_file))
    assert plugins.hooks().zoo_weights_file(**_weights_kwargs()) == "/mirror/tinynet_s.zoo_in1k?checked-by-wrapper"


def _family_plugin(name, family):
    """A plugin module whose ``zoo_families`` answers ``family``."""
    return _module(name, zoo_families=zoo_core.hookimpl(lambda: family))


def _tinynet_clone(family_name, variants=1):
    from zoo_tinynet.variants import VARIANTS

    return Family(family_name, [v.__class__(**{**_fields(v), "family": family_name}) for v in VARIANTS[:variants]],
                  builder="x:y", weight_mapping="x:z")


def _zoo(capsys, *argv):
    from zoo_core.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _words(text):
    """``text`` with its line wrapping undone: the CLI wraps prose at the width of the terminal or pipe."""
    return " ".join(text.split())


def test_two_distributions_with_one_entry_point_name_both_load_and_the_clash_names_both(monkeypatch, capsys):
    """A stranger's entry point named like a zoo family's no longer removes that family: both load,
    each under its distribution-qualified name, and the clash is warned and shown by `zoo plugins`."""
    evil = _family_plugin("evil", Family("evilnet", [], builder="x:y", weight_mapping="x:z"))
    _fake_entry_points(monkeypatch, [("tinynet", evil, "evil-dist")])
    with pytest.warns(plugins.PluginConflictWarning, match=r"entry point 'tinynet'.* evil-dist and zoo-tinynet"):
        registry = plugins.get_registry()
    assert {"tinynet", "evilnet"} <= set(registry.families)
    assert zoo_core.list_variants(family="tinynet")
    infos = {p.name: p for p in plugins.plugin_infos()}
    assert infos["zoo-tinynet:tinynet"].families == ("tinynet",) and infos["zoo-tinynet:tinynet"].error is None
    assert infos["evil-dist:tinynet"].families == ("evilnet",) and infos["evil-dist:tinynet"].error is None
    assert infos["evil-dist:tinynet"].conflicts == infos["zoo-tinynet:tinynet"].conflicts != ()
    code, out, _ = _zoo(capsys, "plugins")
    assert code == 0 and "zoo-tinynet:tinynet" in out and "evil-dist:tinynet" in out
    assert re.search(r"conflict: entry point 'tinynet'.* evil-dist and zoo-tinynet", _words(out))
    data = {p["name"]: p for p in json.loads(_zoo(capsys, "plugins", "--json")[1])}
    assert "evil-dist" in data["zoo-tinynet:tinynet"]["conflicts"][0]


def test_one_of_two_same_named_entry_points_is_chosen_by_its_distribution(monkeypatch):
    """ZOO_DISABLE_PLUGINS names one distribution: the other loads under the plain entry-point name."""
    evil = _family_plugin("evil", Family("evilnet", [], builder="x:y", weight_mapping="x:z"))
    _fake_entry_points(monkeypatch, [("tinynet", evil, "evil-dist")])
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "Evil_Dist")
    infos = {p.name: p for p in plugins.plugin_infos()}
    assert "evilnet" not in plugins.get_registry().families and infos["tinynet"].conflicts == ()


def test_a_family_name_taken_twice_keeps_the_first_and_names_both_distributions(monkeypatch, capsys):
    """The second family is refused, warned about and shown broken; the distribution named is the one
    that declares the entry point, whatever the family claims."""
    impostor = attrs.evolve(_tinynet_clone("tinynet"), distribution="zoo-tinynet")
    _fake_entry_points(monkeypatch, [("clone", _family_plugin("clone", impostor), "zoo-clone")])
    with pytest.warns(plugins.PluginConflictWarning, match="family 'tinynet' is registered twice: by zoo-tinynet "
                                                           "and by zoo-clone"):
        registry = plugins.get_registry()
    assert registry.families["tinynet"].distribution == "zoo-tinynet"
    code, out, _ = _zoo(capsys, "plugins")
    assert code == 0 and re.search(r"clone \(zoo-clone\) is broken: .*by zoo-tinynet and by zoo-clone", _words(out))


def test_a_variant_name_taken_twice_names_both_distributions_in_the_warning_and_zoo_plugins(monkeypatch, capsys):
    _fake_entry_points(monkeypatch, [("clone", _family_plugin("clone", _tinynet_clone("tinyclone")), "zoo-clone")])
    with pytest.warns(plugins.PluginConflictWarning, match=r"registered twice: by zoo-tinynet .* and by zoo-clone"):
        plugins.get_registry()
    code, out, _ = _zoo(capsys, "plugins")
    assert code == 0 and re.search(r"clone \(zoo-clone\) is broken: .*by zoo-tinynet .* and by zoo-clone",
                                   _words(out))


@pytest.mark.parametrize("spelling", ["zoo_tinynet", "ZOO-TINYNET", "Zoo.TinyNet", " zoo__tinynet ", "TinyNet",
                                      "zoo-tinynet:tinynet"])
def test_plugin_selection_accepts_the_spellings_pip_accepts(monkeypatch, spelling):
    """PEP 503: case does not matter and runs of '-', '_', '.' are one '-' (entry point or distribution)."""
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", f"nothing-else,{spelling}")
    assert {zoo_core.get_variant(n).family for n in zoo_core.list_variants()} == {"tinynet"}
    plugins.reset()
    monkeypatch.delenv("ZOO_LOAD_PLUGINS")
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", spelling)
    assert zoo_core.list_variants(family="tinynet") == []


def test_a_requested_plugin_that_is_not_installed_is_named_and_zoo_plugins_exits_4(monkeypatch, capsys):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo-tinynett")
    code, out, err = _zoo(capsys, "plugins")
    assert code == zoo_core.PluginError.exit_code == 4
    assert "'zoo-tinynett'" in err and "tinynet (zoo-tinynet)" in err and "no zoo plugin is installed" not in out
    code, _, err = _zoo(capsys, "list")
    assert code == 0 and "no model family is installed" in err and "'zoo-tinynett'" in err
    plugins.reset()
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "tinynet, nonexistent")
    code, out, err = _zoo(capsys, "plugins")
    assert code == 4 and out.startswith("PLUGIN") and "'nonexistent'" in err and "'tinynet'" not in err


def test_zoo_load_plugins_empty_is_not_an_error_for_zoo_plugins(monkeypatch, capsys):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    code, out, err = _zoo(capsys, "plugins")
    assert code == 0 and "ZOO_LOAD_PLUGINS" in out and err == ""


def test_an_unknown_variant_names_the_installed_plugins_that_did_not_load(monkeypatch):
    """A variant zoo does not know, while an installed plugin is kept out by ZOO_DISABLE_PLUGINS or
    failed to import: the error names that plugin and its distribution (from the load report, not
    from a list of families), in the API and in `zoo info`."""
    from zoo_core.cli import main
    from zoo_core.errors import UnknownVariantError

    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "zoo-tinynet")
    with pytest.raises(UnknownVariantError, match=r"unknown variant 'tinynet_s'.*not loaded, by ZOO_LOAD_PLUGINS/"
                                                  r"ZOO_DISABLE_PLUGINS: .*tinynet \(zoo-tinynet\)"):
        zoo_core.get_variant("tinynet_s")
    assert main(["info", "tinynet_s"]) == UnknownVariantError.exit_code
    monkeypatch.delenv("ZOO_DISABLE_PLUGINS")
    plugins.reset()
    with pytest.raises(UnknownVariantError) as plain:
        zoo_core.get_variant("no_such_arch")
    assert "may provide it" not in str(plain.value)  # every plugin loaded: nothing to point at
