"""tinynet's variant table: plain data."""

from collections.abc import Mapping
from typing import Any

from zoo_core import Family, License, Variant

APACHE = License("Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", "yes")
NC = License("CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/", "no")

# The channels of the stem and of the stage, per architecture.
ARCHS = {"tinynet_s": dict(widths=(8, 16)), "tinynet_m": dict(widths=(12, 24))}


def num_features(arch_kwargs: Mapping[str, Any]) -> int:
    """The channels of the last stage."""
    return arch_kwargs["widths"][-1]


def _row(name: str, license: License, *, num_classes: int, **cfg) -> Variant:
    """A tinynet variant: its architecture from ``ARCHS``, its weights in the ``zoo-test`` Hub org."""
    arch = name.split(".")[0]
    return Variant(name, "tinynet", num_classes=num_classes, num_features=num_features(ARCHS[arch]), license=license,
                   hf_hub_id=f"zoo-test/{name}", first_conv="stem.conv", classifier="fc", arch_kwargs=ARCHS[arch],
                   **cfg)


VARIANTS = (
    _row("tinynet_s.zoo_in1k", APACHE, num_classes=10),
    _row("tinynet_s.zoo_nc", NC, num_classes=10),
    _row("tinynet_m.zoo_in1k", APACHE, num_classes=5, input_size=(3, 32, 32)),
)

FAMILY = Family(
    name="tinynet",
    variants=VARIANTS,
    builder="zoo_tinynet.model:build_model",
    weight_mapping="zoo_tinynet.weights:weight_mapping",
    license_notes=("tinynet_s.zoo_nc is a test row with a non-commercial license.",),
)
