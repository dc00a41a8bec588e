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
    """Download ``variant.hf_hub_id``/``variant.filename`` into huggingface_hub's cache."""
    if variant.hf_hub_id is None:
        return None
    from zoo_core.cache import ChecksumError, check_blob, remove_cached
    from zoo_core.interop.hub import cached_file, hf_hub_download

    was_cached = cached_file(variant.hf_hub_id, variant.filename, revision=revision, cache_dir=cache_dir)
    path = hf_hub_download(variant.hf_hub_id, variant.filename, revision=revision, cache_dir=cache_dir,
                           local_files_only=local_files_only, token=token)
    if path != was_cached:  # fresh from the Hub: check the transfer before anyone relies on it
        problem = check_blob(path, parse=False)
        if problem:
            remove_cached(path)
            raise ChecksumError(f"{variant.hf_hub_id}/{variant.filename} (revision {revision!r}): the download is "
                                f"corrupt ({problem}); it was removed from the cache, try again")
    return path


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
    """The built-in commands: list, info, plugins, download, predict, embed, convert, map, cache.

    Tried first, so every plugin's ``zoo_register_commands`` sees them in ``subparsers.choices``
    (argparse refuses a second command of the same name: a plugin cannot replace one).
    """
    from zoo_core import commands_catalog, commands_weights  # deferred: their modules import the registry

    commands_catalog.register(subparsers)
    commands_weights.register(subparsers)
