"""The hooks a zoo plugin can implement (pluggy project ``"zoo"``, entry-point group ``"zoo"``).

A plugin is a module with functions decorated by ``zoo_core.hookimpl`` whose names are the specs
below; a misspelled name is reported as a broken plugin, never silently ignored. zoo calls them
through pluggy (``zoo_core.plugins.hooks().<hook>(...)``) with the options declared here: a
``firstresult`` hook stops at the first non-``None`` answer. pluggy calls the most recently
registered plugin first; ``tryfirst``/``trylast`` on a ``hookimpl`` move it. zoo-core's own
implementations (``zoo_core.builtin_hooks``) are registered first, so they answer last unless
marked otherwise. A third-party implementation that raises anything but a ``ZooError`` is
reported by ``zoo plugins`` and counts as ``None``; a ``ZooError`` propagates.

| kind | hook | called | returns |
| --- | --- | --- | --- |
| registry | ``zoo_families`` | once, when the registry is first used | ``Family`` or a list of them |
| weights source / HF cache | ``zoo_weights_file`` (firstresult) | each time a variant's weights file is needed | a local path, or ``None`` to pass; zoo-core's Hub download answers last |
| checkpoint transform | ``zoo_transform_checkpoint`` (firstresult) | after a weights file is opened, before mapping | a new state dict, or ``None`` to pass |
| create_pretrained | ``zoo_before_load`` | at the start of ``create_pretrained`` | ignored; raise a ``ZooError`` to refuse |
| create_pretrained | ``zoo_after_load`` (a chain) | at the end of ``load``, by ``zoo_core.plugins.after_load`` | new ``(params, state)`` for the next plugin, or ``None`` |
| CLI | ``zoo_register_commands`` | when ``zoo`` builds its argument parser; zoo-core's built-in commands first | ``None`` |
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def zoo_families():
    """Return the ``Family`` (or a list of them) this plugin provides.

    Called once per process, the first time the registry is used, for each plugin on its own (its
    families are stamped with its distribution; one that raises or returns anything but ``Family``
    objects is reported broken by ``zoo plugins``). Keep it cheap and free of JAX imports: return
    plain data, with the builder and mapping named as ``"module:function"``.
    """


@hookspec(firstresult=True)
def zoo_weights_file(variant, revision, cache_dir, local_files_only, token):
    """Return the local path of ``variant``'s weights file, or ``None`` to let the next plugin try.

    Called by ``create_pretrained``'s loader and ``zoo download``. The first non-``None`` answer
    wins; plugins run before zoo-core's own implementation (``trylast``), which downloads
    ``variant.hf_hub_id``/``variant.filename`` through huggingface_hub into its shared cache. A
    mirror or a local folder of weights is a plugin implementing this hook.
    """


@hookspec(firstresult=True)
def zoo_transform_checkpoint(variant, state_dict, path):
    """Turn a foreign checkpoint's ``state_dict`` (key → numpy array) into timm's keys.

    Called after the weights file at ``path`` is read and before the family's mapping is applied.
    Return a new dict (do not mutate the given one) if this plugin recognises the format (an
    original Facebook or big_vision checkpoint, say), else ``None``. The first non-``None`` wins.
    """


@hookspec
def zoo_before_load(variant, options):
    """Called by ``create_pretrained`` before anything is downloaded.

    ``options`` is a read-only dict of the call's arguments. Raise a ``zoo_core.ZooError`` to
    refuse (a license gate), warn to inform; the return value is ignored.
    """


@hookspec
def zoo_after_load(variant, params, state):
    """Called by ``load`` with the trees it built (weights written, before ``prefix`` nesting).

    Return ``(params, state)`` to replace them (a dtype cast, say) or ``None`` to keep them. A
    chain: each plugin receives the previous plugin's result, in pluggy's call order
    (``zoo_core.plugins.after_load`` runs it), so ``wrapper=True``/``hookwrapper=True``
    implementations of this hook are refused at registration.
    """


@hookspec
def zoo_register_commands(subparsers):
    """Add subcommands to the ``zoo`` CLI: ``subparsers`` is an ``argparse`` subparsers action.

    Set ``func`` on the parser (``parser.set_defaults(func=...)``); ``func(args) -> int`` runs the
    command and returns its exit code. zoo-core adds its own commands through this hook too, tried
    first: they are already in ``subparsers.choices`` when a plugin's implementation runs, and a
    plugin adding a command of the same name is reported broken (argparse refuses the duplicate).
    """
