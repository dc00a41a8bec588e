"""zoo-core's own hook implementations, registered as the plugin ``zoo_core``: the Hub as the
default weights source, the non-commercial license notice around ``create_pretrained``, and the
built-in CLI commands (added through ``zoo_register_commands`` like any plugin's)."""

from __future__ import annotations

import warnings

from zoo_core.hookspecs import hookimpl

_warned: set[str] = set()


class NonCommercialWeightsWarning(UserWarning):
    """Released weights whose license forbids commercial use."""


@hookimpl(trylast=True)
def zoo_weights_file(variant, revision, cache_dir, local_files_only, token):
    """``variant.hf_hub_id``/``variant.filename`` from huggingface_hub's cache, downloaded if absent
    and checked (``zoo_core.cache.fetch_checked``: a cached blob whose size disagrees with the Hub's
    is downloaded again, a fresh download's sha256 is compared with its etag)."""
    if variant.hf_hub_id is None:
        return None
    from zoo_core.cache import fetch_checked

    return fetch_checked(variant.hf_hub_id, variant.filename, revision=revision, cache_dir=cache_dir,
                         local_files_only=local_files_only, token=token)


@hookimpl
def zoo_before_load(variant, options):
    """Warn, once per process and license, that the weights are not for commercial use."""
    lic = variant.license
    if lic.commercial == "no" and lic.id not in _warned:
        _warned.add(lic.id)
        warnings.warn(
            f"{variant.name}: the released weights are licensed {lic.id} ({lic.url or 'see zoo info'}), "
            "which does not allow commercial use. This notice is shown once per process.",
            NonCommercialWeightsWarning,
            stacklevel=5,  # past pluggy's three frames: the line that called the hook
        )


@hookimpl(tryfirst=True)
def zoo_register_commands(subparsers):
    """The built-in commands: list, info, plugins, download, predict, embed, convert, map, cache, push.

    Tried first, so every plugin's ``zoo_register_commands`` sees them in ``subparsers.choices``
    (argparse refuses a second command of the same name: a plugin cannot replace one).
    """
    from zoo_core import commands_catalog, commands_hub, commands_weights  # deferred: they import the registry

    commands_catalog.register(subparsers)
    commands_weights.register(subparsers)
    commands_hub.register(subparsers)
