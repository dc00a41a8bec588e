"""Every error zoo raises on purpose is a ``ZooError``; the CLI prints its message on one line and
exits with the class's ``exit_code`` (the traceback only with ``--debug``)."""

from __future__ import annotations


class ZooError(Exception):
    """Base of zoo's errors."""

    exit_code = 1


class UnknownVariantError(ZooError, KeyError):
    """A variant name that no installed family registers."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RegistryConflictError(ZooError):
    """Two plugins register the same family or variant name."""

    exit_code = 3


class PluginError(ZooError):
    """A plugin failed to load or returned something the hook contract forbids."""

    exit_code = 4


class WeightsError(ZooError):
    """A weights file is missing, unreadable, corrupt or does not fit the model."""

    exit_code = 5


class CheckpointFormatError(WeightsError):
    """A weights file is not a valid safetensors file (truncated, HTML, LFS pointer, bad header)."""


class StateDictMismatchError(WeightsError):
    """A state dict does not fit the mapping: missing keys, unused keys, wrong shapes."""


class DownloadError(WeightsError):
    """The weights could not be fetched from the Hub or found in the cache."""

    exit_code = 6


class InputError(ZooError, ValueError):
    """An input array has the wrong rank, dtype or channel count."""

    exit_code = 7


class NotInvertibleError(ZooError, ValueError):
    """A layout transform with no inverse (a stem adapted to other channels, a function given no
    inverse) was asked to write a leaf back in the checkpoint's layout."""


class ArgumentError(ZooError, ValueError, TypeError):
    """An argument of the public API has the wrong type or is out of range; the message names the
    variant (or the function), the argument, the value given and what is allowed. A ``ValueError``
    and a ``TypeError`` too, so callers catching the built-in errors keep working."""

    exit_code = 10


class OutputPathError(ZooError):
    """An output path zoo cannot write: its directory does not exist or is not writable, or the path
    is an existing directory where a file is expected. Checked before any compute; the message names
    the path."""

    exit_code = 11
