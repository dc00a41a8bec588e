"""The plugin manager: entry-point discovery, one plugin at a time, broken ones reported.

Every entry point in the group ``zoo`` is loaded on its own. A plugin that fails to import, has a
hook with a bad signature or a misspelled hook name, or raises inside ``zoo_families``, is
recorded in ``broken_plugins()`` (``zoo plugins`` shows it with its error) and every other plugin
still loads.

``ZOO_LOAD_PLUGINS`` (comma-separated entry-point or distribution names) loads only those; set to
an empty string it loads none. ``ZOO_DISABLE_PLUGINS`` skips the ones it names.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from importlib import metadata

import attrs
import pluggy

from zoo_core import hookspecs
from zoo_core.errors import PluginError, RegistryConflictError
from zoo_core.registry import Family, Registry

log = logging.getLogger("zoo")
ENTRY_POINT_GROUP = "zoo"


@attrs.frozen
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    families: tuple[str, ...] = ()
    error: str | None = None


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None
_infos: dict[str, PluginInfo] = {}
_extra: list[tuple[str, object]] = []


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _selected(ep: metadata.EntryPoint) -> bool:
    dist = ep.dist.name if ep.dist is not None else None
    names = {ep.name, *( [dist] if dist else [])}
    load = _names("ZOO_LOAD_PLUGINS")
    if load is not None and not names & load:
        return False
    disable = _names("ZOO_DISABLE_PLUGINS") or set()
    return not names & disable


def _register_checked(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register ``plugin``; if it declares a hook zoo does not define, unregister it and raise."""
    pm.register(plugin, name=name)
    unknown = [impl.function.__name__ for hook in pm.hook.__dict__.values()
               if isinstance(hook, pluggy.HookCaller) and not hook.has_spec()
               for impl in hook.get_hookimpls() if impl.plugin is plugin]
    if unknown:
        pm.unregister(plugin)
        known = sorted(n for n in dir(hookspecs) if n.startswith("zoo_"))
        raise PluginError(f"unknown hook {', '.join(unknown)} (zoo's hooks: {', '.join(known)})")


def _make_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    from zoo_core import builtin_hooks

    pm.register(builtin_hooks, name="zoo_core")
    _infos.clear()
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if not _selected(ep) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            _register_checked(pm, plugin, ep.name)
        except Exception as e:  # noqa: BLE001 - a broken plugin must not stop the others
            _infos[ep.name] = PluginInfo(ep.name, dist, version, error=f"{type(e).__name__}: {e}")
            log.warning("zoo: plugin %s (%s) failed to load: %s", ep.name, dist, e)
            continue
        _infos[ep.name] = PluginInfo(ep.name, dist, version)
    for name, plugin in _extra:
        try:
            _register_checked(pm, plugin, name)
            _infos[name] = PluginInfo(name, None, None)
        except Exception as e:  # noqa: BLE001
            _infos[name] = PluginInfo(name, None, None, error=f"{type(e).__name__}: {e}")
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, loading entry points on first use (idempotent)."""
    global _pm
    with _lock:
        if _pm is None:
            _pm = _make_manager()
        return _pm


def _build_registry(pm: pluggy.PluginManager) -> Registry:
    registry = Registry()
    for impl in reversed(pm.hook.zoo_families.get_hookimpls()):  # registration order
        name = pm.get_name(impl.plugin) or "?"
        info = _infos.get(name, PluginInfo(name, None, None))
        try:
            result = impl.function()
            families = [result] if isinstance(result, Family) else list(result or [])
            for fam in families:
                if not isinstance(fam, Family):
                    raise PluginError(f"zoo_families returned {type(fam).__name__}, expected zoo_core.Family")
        except Exception as e:  # noqa: BLE001 - reported by `zoo plugins`, others still load
            _infos[name] = attrs.evolve(info, error=f"zoo_families raised {type(e).__name__}: {e}")
            log.warning("zoo: plugin %s failed in zoo_families: %s", name, e)
            continue
        added = []
        for fam in families:
            fam = attrs.evolve(fam, distribution=fam.distribution or info.distribution or name,
                               version=fam.version or info.version)
            before = set(registry.conflicts)
            try:
                registry.add(fam)
            except RegistryConflictError as e:
                _infos[name] = attrs.evolve(info, error=str(e))
                warnings.warn(str(e), stacklevel=2)
                continue
            clashes = [registry.conflicts[v] for v in registry.conflicts.keys() - before]
            if clashes:
                info = _infos[name] = attrs.evolve(_infos.get(name, info), error="; ".join(clashes))
                warnings.warn(clashes[0] + (f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""),
                              stacklevel=2)
            added.append(fam.name)
        if name in _infos:
            _infos[name] = attrs.evolve(_infos[name], families=(*_infos[name].families, *added))
    return registry


def get_registry() -> Registry:
    """The registry of every installed family (built once per process)."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = _build_registry(get_plugin_manager())
        return _registry


def plugin_infos() -> list[PluginInfo]:
    """Every plugin zoo tried to load, with its families or its error."""
    get_registry()
    return sorted(_infos.values(), key=lambda p: p.name)


def broken_plugins() -> list[PluginInfo]:
    return [p for p in plugin_infos() if p.error]


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a plugin object by hand (tests, notebooks); it survives ``reset()``."""
    name = name or getattr(plugin, "__name__", repr(plugin))
    with _lock:
        _extra.append((name, plugin))
        reset(keep_extra=True)


def unregister_plugin(name: str) -> None:
    with _lock:
        _extra[:] = [(n, p) for n, p in _extra if n != name]
        reset(keep_extra=True)


def reset(*, keep_extra: bool = False) -> None:
    """Forget the loaded plugins and registry; the next use discovers them again."""
    global _pm, _registry
    with _lock:
        _pm = None
        _registry = None
        _infos.clear()
        if not keep_extra:
            _extra.clear()


class PluginHookWarning(UserWarning):
    """A plugin's hook raised an unexpected exception; zoo went on without that plugin's answer."""


_FAILED = object()


def _call_impl(pm: pluggy.PluginManager, name: str, impl, kwargs):
    """One implementation's answer, or ``_FAILED`` after recording a third-party plugin's crash."""
    from zoo_core.errors import ZooError

    plugin_name = pm.get_name(impl.plugin) or "?"
    try:
        return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
    except ZooError:
        raise
    except Exception as e:
        if plugin_name == "zoo_core":
            raise
        message = f"{name} raised {type(e).__name__}: {e}"
        with _lock:
            info = _infos.get(plugin_name, PluginInfo(plugin_name, None, None))
            _infos[plugin_name] = attrs.evolve(info, error=message)
        warnings.warn(f"zoo plugin {plugin_name}: {message}; ignoring its answer", PluginHookWarning, stacklevel=3)
        return _FAILED


def call_hook(name: str, *, firstresult: bool = False, **kwargs):
    """Call hook ``name`` one implementation at a time, in pluggy's order.

    A ``ZooError`` from any implementation propagates (a plugin refusing on purpose, a download
    that failed). Any other exception from a third-party plugin is recorded against that plugin
    (``zoo plugins`` shows it), warned about, and the next implementation is called; zoo-core's own
    implementations are never silenced. With ``firstresult`` the first non-``None`` answer is
    returned, else the list of answers.
    """
    pm = get_plugin_manager()
    results = []
    for impl in reversed(getattr(pm.hook, name).get_hookimpls()):
        result = _call_impl(pm, name, impl, kwargs)
        if result is None or result is _FAILED:
            continue
        if firstresult:
            return result
        results.append(result)
    return None if firstresult else results


def chain_after_load(variant, params, state):
    """``zoo_after_load`` as a chain: each plugin gets the previous one's ``(params, state)``."""
    pm = get_plugin_manager()
    for impl in reversed(pm.hook.zoo_after_load.get_hookimpls()):
        result = _call_impl(pm, "zoo_after_load", impl, {"variant": variant, "params": params, "state": state})
        if result is not None and result is not _FAILED:
            params, state = result
    return params, state
