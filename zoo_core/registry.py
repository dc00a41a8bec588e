"""The variant registry: attrs records for licenses, variants and families, plain data only.

Nothing here imports JAX: ``zoo list`` reads these tables without loading any architecture code.
A ``Family`` names its builder and weight mapping as ``"module:function"`` strings, imported only
when a model is created.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from zoo_core.errors import RegistryConflictError, UnknownVariantError

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
IMAGENET_INCEPTION_MEAN = (0.5, 0.5, 0.5)
IMAGENET_INCEPTION_STD = (0.5, 0.5, 0.5)

COMMERCIAL_USE = ("yes", "no", "conditions")
_CONFLICT_REMEDY = "Uninstall one of the two distributions, or skip one with ZOO_DISABLE_PLUGINS=<distribution>"


@attrs.frozen
class License:
    """The license of released weights (not of zoo's code).

    ``id`` is an SPDX identifier where one exists (``Apache-2.0``) or the license's name
    (``DINOv3 License``); ``commercial`` is ``"yes"``, ``"no"`` or ``"conditions"``.
    """

    id: str
    url: str = ""
    commercial: str = attrs.field(default="yes", validator=attrs.validators.in_(COMMERCIAL_USE))
    note: str = ""


@attrs.frozen
class Variant:
    """One released set of weights, named as in timm: ``arch.tag``.

    Data-config fields follow timm's pretrained cfg: ``input_size`` is ``(C, H, W)``;
    ``first_conv`` and ``classifier`` are timm module names (``"conv1"``, ``"fc"``) used to adapt
    the stem to ``in_chans`` and to drop the released head.
    """

    name: str
    family: str
    num_classes: int
    num_features: int
    license: License
    hf_hub_id: str | None = None
    filename: str = "model.safetensors"
    input_size: tuple[int, int, int] = (3, 224, 224)
    test_input_size: tuple[int, int, int] | None = None
    pool_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] = IMAGENET_DEFAULT_MEAN
    std: tuple[float, float, float] = IMAGENET_DEFAULT_STD
    crop_pct: float = 0.875
    test_crop_pct: float | None = None
    crop_mode: str = "center"
    interpolation: str = "bicubic"
    first_conv: str = "conv1"
    classifier: str = "fc"
    label_names: str | None = None
    arch_kwargs: Mapping[str, Any] = attrs.field(factory=dict, converter=dict, hash=False)
    notes: str = ""

    def __attrs_post_init__(self):
        if "." not in self.name:
            raise ValueError(f"variant name {self.name!r} must be 'arch.tag' as in timm")

    @property
    def arch(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def pretrained(self) -> bool:
        return self.hf_hub_id is not None

    @property
    def resolved_label_names(self) -> str | None:
        """Which label file names the classes of the released head (``imagenet-1k`` …)."""
        if self.label_names is not None:
            return self.label_names
        return {1000: "imagenet-1k", 21841: "imagenet-22k", 21843: "imagenet-21k-goog",
                11821: "imagenet-12k"}.get(self.num_classes)

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=True)
        data["arch"], data["tag"] = self.arch, self.tag
        return data


def natural_key(name: str) -> list:
    """Sort key that orders ``resnet18`` before ``resnet101`` (as ``timm.list_models``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _resolve(ref: str | Callable) -> Callable:
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@attrs.frozen
class Family:
    """A model family as a plugin registers it.

    ``builder``: ``"pkg.model:build_model"`` (or a callable)
        ``build_model(variant, *, in_chans, num_classes, **kwargs) -> Model``.
    ``weight_mapping``: ``"pkg.weights:weight_mapping"`` (or a callable)
        ``weight_mapping(variant, model, params, state) -> [(timm_key, path, transform), ...]``
        for the model as built; ``path`` starts with ``"params"`` or ``"state"``. ``params`` and
        ``state`` are trees of ``jax.ShapeDtypeStruct`` (no arrays are made to build a mapping).
    ``license_notes``: paragraphs shown by ``zoo info`` and the docs, e.g. why DINOv3 weights are
        not Apache-2.0.
    """

    name: str
    variants: tuple[Variant, ...] = attrs.field(converter=tuple)
    builder: str | Callable
    weight_mapping: str | Callable
    license_notes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    distribution: str | None = None
    version: str | None = None
    default_tags: Mapping[str, str] = attrs.field(factory=dict, converter=dict, hash=False)

    def build(self) -> Callable:
        return _resolve(self.builder)

    def mapping(self) -> Callable:
        return _resolve(self.weight_mapping)


@attrs.define
class Registry:
    """Families and their variants by name, with timm's lookup rules.

    ``arch`` alone resolves to its default tag: the one the family names in ``default_tags``,
    else the first variant of that arch in the family's table (timm's rule: the first tag listed
    in ``default_cfgs`` is the default).
    """

    families: dict[str, Family] = attrs.field(factory=dict)
    variants: dict[str, Variant] = attrs.field(factory=dict)
    defaults: dict[str, str] = attrs.field(factory=dict)
    conflicts: dict[str, str] = attrs.field(factory=dict)

    def add(self, family: Family) -> None:
        """Register a family. A family name taken twice raises; a variant name taken twice is
        recorded as a conflict (the first registration stays listed) and raises when used, so one
        plugin's clash does not hide every other family."""
        if family.name in self.families:
            other = self.families[family.name]
            raise RegistryConflictError(
                f"family {family.name!r} is registered twice: by {other.distribution or '?'} "
                f"and by {family.distribution or '?'}; the first stays. {_CONFLICT_REMEDY}"
            )
        for variant in family.variants:
            if variant.family != family.name:
                raise RegistryConflictError(
                    f"variant {variant.name!r} says family {variant.family!r} but is registered by family "
                    f"{family.name!r} ({family.distribution or '?'})"
                )
        self.families[family.name] = family
        for variant in family.variants:
            if variant.name in self.variants:
                owner = self.families[self.variants[variant.name].family]
                self.conflicts[variant.name] = (
                    f"variant {variant.name!r} is registered twice: by {owner.distribution or '?'} "
                    f"(family {owner.name!r}) and by {family.distribution or '?'} (family {family.name!r}). "
                    f"{_CONFLICT_REMEDY}"
                )
                continue
            self.variants[variant.name] = variant
            self.defaults.setdefault(variant.arch, variant.name)
        for arch, tag in family.default_tags.items():
            self.defaults[arch] = f"{arch}.{tag}"

    def resolve_name(self, name: str) -> str:
        if name in self.conflicts:
            raise RegistryConflictError(self.conflicts[name])
        if name in self.variants:
            return name
        if name in self.defaults:
            return self.defaults[name]
        raise UnknownVariantError(self._unknown_message(name))

    def get(self, name: str) -> Variant:
        return self.variants[self.resolve_name(name)]

    def family_of(self, name: str) -> Family:
        return self.families[self.get(name).family]

    def _unknown_message(self, name: str) -> str:
        from zoo_core.catalog import provider_hint  # data file read only for an unknown name

        candidates = list(self.variants) + list(self.defaults)
        close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
        msg = f"unknown variant {name!r}"
        arch = name.split(".", 1)[0]
        if arch in self.defaults:
            fam = self.families[self.variants[self.defaults[arch]].family]
            tags = [v.tag for v in self.variants.values() if v.arch == arch]
            msg += (f"; {arch} (family {fam.name}, from {fam.distribution or '?'}) has the tags "
                    f"{', '.join(tags[:12])}{', ...' if len(tags) > 12 else ''}")
        elif (hint := provider_hint(arch, (f.distribution for f in self.families.values()))) is not None:
            msg += f"; {hint}"
        elif close:
            msg += f"; closest: {', '.join(close)}"
        elif not self.variants:
            msg += "; no model family is installed (a family is a distribution with an entry point in the group 'zoo')"
        else:
            msg += "; `zoo list` shows every installed variant"
        return msg

    def list(self, pattern: str | Iterable[str] = "*", *, family: str | None = None, license: str | None = None,
             pretrained: bool | None = None, commercial: str | None = None) -> list[str]:
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        out = []
        for name, v in self.variants.items():
            if not any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(v.arch, p) for p in patterns):
                continue
            if family is not None and v.family != family:
                continue
            if license is not None and not fnmatch.fnmatchcase(v.license.id.lower(), license.lower()):
                continue
            if pretrained is not None and v.pretrained != pretrained:
                continue
            if commercial is not None and v.license.commercial != commercial:
                continue
            out.append(name)
        return sorted(out, key=natural_key)
