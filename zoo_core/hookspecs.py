"""The hooks a zoo plugin can implement (pluggy project ``"zoo"``, entry-point group ``"zoo"``).

A plugin is a module with functions decorated by ``zoo_core.hookimpl`` whose names are the specs
below; a misspelled name is reported as a broken plugin, never silently ignored.

| kind | hook | called | returns |
| --- | --- | --- | --- |
| registry | ``zoo_families`` | once, when the registry is first used | ``Family`` or a list of them |
| weights source / HF cache | ``zoo_weights_file`` | each time a variant's weights file is needed | a local path, or ``None`` to pass |
| checkpoint transform | ``zoo_transform_checkpoint`` | after a weights file is read, before mapping | a new state dict, or ``None`` to pass |
| create_pretrained | ``zoo_before_load`` / ``zoo_after_load`` | around loading in ``create_pretrained`` | ``None`` / new ``(params, state)`` or ``None`` |
| CLI | ``zoo_register_commands`` | when ``zoo`` builds its argument parser | ``None`` |
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def zoo_families():
    """Return the ``Family`` (or a list of them) this plugin provides.

    Called once per process, the first time the registry is used. Keep it cheap and free of JAX
    imports: return plain data, with the builder and mapping named as ``"module:function"``.
    """


@hookspec(firstresult=True)
def zoo_weights_file(variant, revision, cache_dir, local_files_only, token):
    """Return the local path of ``variant``'s weights file, or ``None`` to let the next plugin try.

    Called by ``create_pretrained``'s loader and ``zoo download``. The first non-``None`` answer
    wins; plugins run before zoo-core's own implementation, which downloads
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

    Return ``(params, state)`` to replace them (a dtype cast, say) or ``None`` to keep them. Each
    plugin receives the previous plugin's result.
    """


@hookspec
def zoo_register_commands(subparsers):
    """Add subcommands to the ``zoo`` CLI: ``subparsers`` is an ``argparse`` subparsers action.

    Set ``func`` on the parser (``parser.set_defaults(func=...)``); ``func(args) -> int`` runs the
    command.
    """
