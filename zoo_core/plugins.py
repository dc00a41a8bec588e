"""The plugin host: entry-point discovery, one plugin at a time, hooks called through pluggy.

Every entry point in the group ``zoo`` is loaded on its own. A plugin that fails to import, has a
hook with a bad signature or a misspelled hook name, or raises inside ``zoo_families``, is
recorded in ``broken_plugins()`` (``zoo plugins`` shows it with its error) and every other plugin
still loads.

Which entry points load (``ZOO_LOAD_PLUGINS``, ``ZOO_DISABLE_PLUGINS``) and under which name is
``zoo_core.plugin_selection``'s job: two distributions with an entry point of one name both load,
as ``distribution:entry-point``. Every clash (an entry-point, family or variant name claimed
twice) is warned about with ``PluginConflictWarning`` naming both distributions and shown by
``zoo plugins``; a family or variant name stays with the plugin registered first, the clash is
recorded against the second, and a clashing variant raises ``RegistryConflictError`` when used.

Hooks are called through pluggy's relay, ``hooks().zoo_weights_file(variant=..., ...)``, with each
spec's own options (``firstresult`` is declared once, in ``zoo_core.hookspecs``). A third-party
plugin's hook is registered wrapped, so that an unexpected exception in it is recorded against the
plugin (``zoo plugins`` shows it), warned about with ``PluginHookWarning`` and counted as a ``None``
answer: pluggy then asks the next implementation. A ``ZooError`` propagates (a plugin refusing on
purpose); zoo-core's own implementations are registered as they are and never silenced.

All of this module's state is one ``PluginHost`` record (manager, registry, load report, plugins
registered by hand), built on first use and cleared by ``reset()``; the module's functions delegate
to the process's one host.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections import defaultdict
from collections.abc import Callable
from importlib import metadata

import attrs
import pluggy

from zoo_core import hookspecs
from zoo_core.errors import PluginError, RegistryConflictError
from zoo_core.isolation import PluginHookWarning, isolated_plugin  # noqa: F401 - PluginHookWarning: public here
from zoo_core.plugin_selection import PluginSelection, distribution_of, registration_names, select
from zoo_core.registry import Family, Registry

log = logging.getLogger("zoo")
ENTRY_POINT_GROUP = "zoo"
CORE_PLUGIN = "zoo_core"  # the name zoo-core's own hook implementations are registered under


class PluginConflictWarning(UserWarning):
    """Two plugins claim one name (an entry point, a family or a variant); the message names both
    distributions and what zoo did about it."""


@attrs.frozen
class PluginInfo:
    """What loading one plugin gave: its distribution, the families it registered, or its error.

    ``name`` is the plugin's registration name: its entry-point name, or ``distribution:entry-point``
    when another distribution has an entry point of the same name (``conflicts`` then says so).
    """

    name: str
    distribution: str | None
    version: str | None
    families: tuple[str, ...] = ()
    error: str | None = None
    conflicts: tuple[str, ...] = ()


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _register_checked(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register ``plugin``; if it declares a hook zoo does not define, unregister it and raise."""
    pm.register(plugin, name=name)
    unknown = sorted(hook.name for hook in pm.get_hookcallers(plugin) or () if not hook.has_spec())
    if unknown:
        pm.unregister(plugin)
        known = sorted(n for n in dir(hookspecs) if n.startswith("zoo_"))
        raise PluginError(f"unknown hook {', '.join(unknown)} (zoo's hooks: {', '.join(known)})")


def _families_of(result: object) -> list[Family]:
    """``zoo_families``' answer as a list, or a ``PluginError`` naming what is not a ``Family``."""
    families = [result] if isinstance(result, Family) else list(result or [])
    for fam in families:
        if not isinstance(fam, Family):
            raise PluginError(f"zoo_families returned {type(fam).__name__}, expected zoo_core.Family")
    return families


@attrs.define
class PluginHost:
    """Everything zoo knows about its plugins, in one record: the pluggy manager, the registry
    built from the plugins' families, the load report (a ``PluginInfo`` per plugin) and the plugins
    registered by hand. The manager and the registry are built on first use, once; ``reset`` forgets
    them (and the hand-registered plugins unless ``keep_hand_registered``) in one call. Every
    method holds the host's lock, so threads that race to first use build them once.
    """

    _hand_registered: list[tuple[str, object]] = attrs.Factory(list)
    _manager: pluggy.PluginManager | None = None
    _registry: Registry | None = None
    _infos: dict[str, PluginInfo] = attrs.Factory(dict)
    _selection: PluginSelection = attrs.Factory(PluginSelection)
    _lock: threading.RLock = attrs.field(factory=threading.RLock, repr=False, eq=False)

    def manager(self) -> pluggy.PluginManager:
        """The pluggy manager with zoo-core's hooks and every selected plugin registered."""
        with self._lock:
            if self._manager is None:
                self._manager = self._build_manager()
            return self._manager

    def registry(self) -> Registry:
        """The registry of every installed family."""
        with self._lock:
            if self._registry is None:
                self._registry = self._build_registry(self.manager())
            return self._registry

    def infos(self) -> list[PluginInfo]:
        """Every plugin zoo tried to load, with its families or its error, sorted by name."""
        with self._lock:
            self.registry()
            return sorted(self._infos.values(), key=lambda p: p.name)

    def selection(self) -> PluginSelection:
        """How ``ZOO_LOAD_PLUGINS`` / ``ZOO_DISABLE_PLUGINS`` applied when the plugins were loaded."""
        with self._lock:
            self.manager()
            return self._selection

    def register(self, plugin: object, name: str) -> None:
        """Add ``plugin`` by hand; it stays across ``reset(keep_hand_registered=True)``."""
        with self._lock:
            self._hand_registered.append((name, plugin))
            self.reset(keep_hand_registered=True)

    def unregister(self, name: str) -> None:
        """Remove the hand-registered plugin ``name``."""
        with self._lock:
            self._hand_registered = [(n, p) for n, p in self._hand_registered if n != name]
            self.reset(keep_hand_registered=True)

    def reset(self, *, keep_hand_registered: bool = False) -> None:
        """Forget the manager, the registry and the load report; the next use discovers again."""
        with self._lock:
            self._manager, self._registry, self._infos, self._selection = None, None, {}, PluginSelection()
            if not keep_hand_registered:
                self._hand_registered = []

    def record_error(self, name: str, message: str) -> None:
        """Mark plugin ``name`` broken with ``message`` in the load report (``zoo plugins``)."""
        with self._lock:
            info = self._infos.get(name, PluginInfo(name, None, None))
            self._infos[name] = attrs.evolve(info, error=message)

    def _build_manager(self) -> pluggy.PluginManager:
        pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        pm.add_hookspecs(hookspecs)
        from zoo_core import builtin_hooks

        pm.register(builtin_hooks, name=CORE_PLUGIN)
        self._infos = {}
        found = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, distribution_of(e)))
        selected, self._selection = select(found)
        if self._selection.missing:
            log.warning("zoo: ZOO_LOAD_PLUGINS names %s, which no installed plugin matches (see `zoo plugins`)",
                        ", ".join(map(repr, self._selection.missing)))
        named = registration_names(selected)
        for name, ep in named:
            self._load(pm, name, ep.load, distribution_of(ep) or None, ep.dist.version if ep.dist else None)
        self._report_shared_entry_points(named)
        for name, plugin in self._hand_registered:
            self._load(pm, name, lambda plugin=plugin: plugin, None, None)
        return pm

    def _load(self, pm: pluggy.PluginManager, name: str, load: Callable[[], object], distribution: str | None,
              version: str | None) -> None:
        """Load and register one plugin; any failure is its ``PluginInfo.error``, never the others'."""
        try:
            _register_checked(pm, isolated_plugin(pm, load(), name, self), name)
        except Exception as e:  # noqa: BLE001 - a broken plugin must not stop the others
            self._infos[name] = PluginInfo(name, distribution, version, error=f"{type(e).__name__}: {e}")
            log.warning("zoo: plugin %s (%s) failed to load: %s", name, distribution or "registered by hand", e)
            return
        self._infos[name] = PluginInfo(name, distribution, version)

    def _report_shared_entry_points(self, named: list[tuple[str, metadata.EntryPoint]]) -> None:
        """Warn about, and record against each of them, entry points of one name from several distributions."""
        shared: dict[str, list[str]] = defaultdict(list)
        for name, ep in named:
            if name != ep.name:
                shared[ep.name].append(name)
        for ep_name, names in shared.items():
            dists = [self._infos[n].distribution or "?" for n in names]
            message = (f"entry point {ep_name!r} in the group 'zoo' is provided by {len(names)} distributions, "
                       f"{_and(dists)}: each loads, as {_and(names)} (ZOO_DISABLE_PLUGINS=<distribution> "
                       f"skips one)")
            for n in names:
                self._infos[n] = attrs.evolve(self._infos[n], conflicts=(*self._infos[n].conflicts, message))
            warnings.warn(message, PluginConflictWarning, stacklevel=2)

    def _build_registry(self, pm: pluggy.PluginManager) -> Registry:
        """Each plugin's ``zoo_families``, called on its own in registration order and attributed."""
        registry = Registry()
        for impl in reversed(pm.hook.zoo_families.get_hookimpls()):
            try:
                families = _families_of(impl.function())
            except Exception as e:  # noqa: BLE001 - reported by `zoo plugins`, others still load
                self.record_error(impl.plugin_name, f"zoo_families raised {type(e).__name__}: {e}")
                log.warning("zoo: plugin %s failed in zoo_families: %s", impl.plugin_name, e)
                continue
            self._add_families(registry, impl.plugin_name, families)
        return registry

    def _add_families(self, registry: Registry, name: str, families: list[Family]) -> None:
        """Add plugin ``name``'s families, stamped with the distribution that declares its entry point
        (a family's own ``distribution`` counts only for a plugin registered by hand); a clash is
        warned and recorded against the plugin, and the plugin's other families still register."""
        info = self._infos.get(name, PluginInfo(name, None, None))
        added = []
        for fam in families:
            fam = attrs.evolve(fam, distribution=info.distribution or fam.distribution or name,
                               version=info.version or fam.version)
            before = set(registry.conflicts)
            try:
                registry.add(fam)
            except RegistryConflictError as e:
                self.record_error(name, str(e))
                warnings.warn(str(e), PluginConflictWarning, stacklevel=2)
                continue
            clashes = [registry.conflicts[v] for v in registry.conflicts.keys() - before]
            if clashes:
                self.record_error(name, "; ".join(clashes))
                warnings.warn(clashes[0] + (f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""),
                              PluginConflictWarning, stacklevel=2)
            added.append(fam.name)
        if name in self._infos:
            self._infos[name] = attrs.evolve(self._infos[name], families=(*self._infos[name].families, *added))


_HOST = PluginHost()


def plugin_host() -> PluginHost:
    """The process's one plugin host (its state is rebuilt after ``reset``)."""
    return _HOST


def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, loading entry points on first use (idempotent)."""
    return _HOST.manager()


def hooks() -> pluggy.HookRelay:
    """pluggy's hook relay: ``hooks().zoo_weights_file(variant=..., revision=..., ...)`` calls every
    implementation with pluggy's semantics and the spec's options (``firstresult`` hooks return the
    first non-``None`` answer, the others the list of answers)."""
    return _HOST.manager().hook


def after_load(variant, params, state):
    """``zoo_after_load`` as a chain: each implementation, in pluggy's call order, gets the trees the
    previous one returned (``None`` keeps them); returns the last ``(params, state)``.

    pluggy hands every implementation the same arguments, so this one hook is folded here over the
    implementations pluggy would call, in its order; isolation of third-party implementations is
    the same as for any hook (they are registered wrapped).
    """
    for impl in reversed(hooks().zoo_after_load.get_hookimpls()):
        given = {"variant": variant, "params": params, "state": state}
        result = impl.function(*(given[a] for a in impl.argnames),
                               **{k: given[k] for k in impl.kwargnames if k in given})
        if result is not None:
            params, state = result
    return params, state


def get_registry() -> Registry:
    """The registry of every installed family (built once per process)."""
    return _HOST.registry()


def plugin_infos() -> list[PluginInfo]:
    """Every plugin zoo tried to load, with its families or its error."""
    return _HOST.infos()


def unavailable_plugins() -> str:
    """What may hold a variant zoo does not know: the plugins that failed to load, and those that
    ``ZOO_LOAD_PLUGINS`` / ``ZOO_DISABLE_PLUGINS`` kept out ("" when every installed plugin loaded).
    Read from the load report, never from a list of families."""
    parts = [f"{p.name} ({p.distribution or 'registered by hand'}) failed to load: {p.error}"
             for p in _HOST.infos() if p.error and not p.families]
    skipped = _HOST.selection().skipped
    if skipped:
        parts.append(f"not loaded, by ZOO_LOAD_PLUGINS/ZOO_DISABLE_PLUGINS: {', '.join(skipped)}")
    return "; ".join(parts)


def plugin_selection_error() -> PluginError | None:
    """A ``PluginError`` naming each ``ZOO_LOAD_PLUGINS`` name that matches no installed plugin, or ``None``."""
    return _HOST.selection().error()


def broken_plugins() -> list[PluginInfo]:
    """The plugins that failed to load or whose hooks raised."""
    return [p for p in plugin_infos() if p.error]


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a plugin object by hand (tests, notebooks); it survives ``reset(keep_extra=True)``."""
    _HOST.register(plugin, name or getattr(plugin, "__name__", repr(plugin)))


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered by hand with ``register_plugin``."""
    _HOST.unregister(name)


def reset(*, keep_extra: bool = False) -> None:
    """Forget the loaded plugins, the registry and the load report (and the plugins registered by
    hand, unless ``keep_extra``); the next use discovers them again."""
    _HOST.reset(keep_hand_registered=keep_extra)

