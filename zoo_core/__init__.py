"""zoo: timm's image models as pure JAX functions, with families as plugins.

Importing ``zoo_core`` imports no JAX; architectures load when a model is created.
"""

from zoo_core.api import (
    HeadSkippedWarning,
    create_model,
    create_pretrained,
    default_num_classes,
    get_family,
    get_variant,
    list_variants,
)
from zoo_core.errors import (
    ArgumentError,
    CheckpointFormatError,
    DownloadError,
    InputError,
    NotInvertibleError,
    OutputPathError,
    PluginError,
    RegistryConflictError,
    StateDictMismatchError,
    UnknownVariantError,
    WeightsError,
    ZooError,
)
from zoo_core.hookspecs import hookimpl
from zoo_core.registry import Family, License, Variant
from zoo_core.save import push_to_hub, save_pretrained, upload_folder

__version__ = "0.1.0"

__all__ = [
    "ArgumentError", "CheckpointFormatError", "DownloadError", "Family", "HeadSkippedWarning", "InputError", "License",
    "NotInvertibleError", "OutputPathError", "PluginError", "RegistryConflictError", "StateDictMismatchError", "UnknownVariantError", "Variant",
    "WeightsError", "ZooError", "create_model", "create_pretrained", "default_num_classes", "get_family",
    "get_variant", "hookimpl", "list_variants", "push_to_hub", "save_pretrained", "upload_folder",
]


def __getattr__(name):
    if name == "Model":
        from zoo_core.models import Model

        return Model
    raise AttributeError(f"module 'zoo_core' has no attribute {name!r}")
