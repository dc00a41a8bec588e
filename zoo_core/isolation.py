"""A third-party plugin's hooks, isolated: one plugin's bug never breaks loading.

pluggy has no "skip an implementation that raised" mode, so the plugin host registers a stand-in
for each third-party plugin whose hook implementations wrap the plugin's own, with the same
signatures and hookimpl options. A wrapped implementation that raises anything but a ``ZooError``
is recorded against its plugin (``zoo plugins`` shows it), warned about with ``PluginHookWarning``
and answers ``None``, so pluggy asks the next implementation.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import pluggy

from zoo_core import hookspecs
from zoo_core.errors import PluginError, ZooError


class PluginHookWarning(UserWarning):
    """A plugin's hook raised an unexpected exception; zoo went on without that plugin's answer."""


class ErrorRecorder(Protocol):
    def record_error(self, plugin_name: str, message: str) -> None: ...


class IsolatedPlugin:
    """A third-party plugin as pluggy sees it: the plugin's hook implementations, under the same
    attribute names and hookimpl options, each wrapped by ``_isolate`` (see ``isolated_plugin``)."""

    def __init__(self, plugin: object, implementations: dict[str, Callable]):
        self.__dict__.update(implementations)
        self._zoo_plugin = plugin

    def __repr__(self) -> str:
        return f"<zoo plugin {self._zoo_plugin!r}, hooks isolated>"


def _isolate(function: Callable, hook_name: str, plugin_name: str, host: ErrorRecorder) -> Callable:
    """``function`` with the same signature (pluggy reads it through ``__wrapped__``), answering
    ``None`` after recording and warning when it raises anything but a ``ZooError``."""

    @functools.wraps(function)
    def isolated(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ZooError:
            raise
        except Exception as e:  # noqa: BLE001 - one plugin's bug must not break loading
            message = f"{hook_name} raised {type(e).__name__}: {e}"
            host.record_error(plugin_name, message)
            warnings.warn(f"zoo plugin {plugin_name}: {message}; ignoring its answer", PluginHookWarning,
                          stacklevel=5)  # past pluggy's three frames: the line that called the hook
            return None

    return isolated


def isolated_plugin(pm: pluggy.PluginManager, plugin: object, name: str, host: ErrorRecorder) -> IsolatedPlugin:
    """The object to register for third-party ``plugin``: each hook implementation isolated.

    ``zoo_families`` stays as it is (the registry calls each plugin's on its own, to attribute its
    families and its failure), and so do ``wrapper=True``/``hookwrapper=True`` implementations
    (generators that pluggy drives itself); ``zoo_after_load`` is a chain and takes no wrappers.
    """
    implementations = {}
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        hook_name = opts.get("specname") or attr
        function = getattr(plugin, attr)
        is_wrapper = opts.get("wrapper") or opts.get("hookwrapper")
        if is_wrapper and hook_name == "zoo_after_load":
            raise PluginError("zoo_after_load is a chain (each plugin gets the previous one's trees): "
                              "wrapper=True/hookwrapper=True implementations of it are not supported")
        if not is_wrapper and hook_name != "zoo_families":
            function = hookspecs.hookimpl(**opts)(_isolate(function, hook_name, name, host))
        implementations[attr] = function
    return IsolatedPlugin(plugin, implementations)
