"""tinynet's variant table: plain data."""

from zoo_core import Family, License, Variant

APACHE = License("Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", "yes")
NC = License("CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/", "no")

VARIANTS = (
    Variant("tinynet_s.zoo_in1k", "tinynet", num_classes=10, num_features=16, license=APACHE,
            hf_hub_id="zoo-test/tinynet_s.zoo_in1k", first_conv="stem.conv", classifier="fc",
            arch_kwargs={"widths": (8, 16)}),
    Variant("tinynet_s.zoo_nc", "tinynet", num_classes=10, num_features=16, license=NC,
            hf_hub_id="zoo-test/tinynet_s.zoo_nc", first_conv="stem.conv", classifier="fc",
            arch_kwargs={"widths": (8, 16)}),
    Variant("tinynet_m.zoo_in1k", "tinynet", num_classes=5, num_features=24, license=APACHE,
            hf_hub_id="zoo-test/tinynet_m.zoo_in1k", input_size=(3, 32, 32), first_conv="stem.conv",
            classifier="fc", arch_kwargs={"widths": (12, 24)}),
)

FAMILY = Family(
    name="tinynet",
    variants=VARIANTS,
    builder="zoo_tinynet.model:build_model",
    weight_mapping="zoo_tinynet.weights:weight_mapping",
    license_notes=("tinynet_s.zoo_nc is a test row with a non-commercial license.",),
    description="A tiny conv net for zoo-core's tests",
)
