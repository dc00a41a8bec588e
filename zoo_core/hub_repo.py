"""``hf-hub:org/name``: any timm repository of the Hugging Face Hub opened as a zoo variant.

A repository written by timm's ``push_to_hf_hub`` / ``save_for_hf`` (or by zoo's
``save_pretrained``) holds a ``config.json`` (``architecture``, ``num_classes``, ``num_features``,
``model_args``, ``pretrained_cfg`` with the data config, ``label_names``) beside its
``model.safetensors``. ``hub_variant`` reads that config as timm's ``_parse_model_cfg`` does, finds
the installed family that provides the architecture and returns a ``HubVariant``: the
architecture's own registered variant with the repository's head, data config, label names,
model arguments and license (from the card's metadata, ``unknown`` when it states none). The
weights then load through the family's mapping like any variant's, from huggingface_hub's cache
(revision, token, offline rules and gated repositories as for ``timm/…`` weights).

No JAX is imported here: ``zoo info hf-hub:org/name`` reads the config and the card only.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from zoo_core.errors import ArgumentError, DownloadError, UnknownVariantError, WeightsError
from zoo_core.registry import License, Variant

PREFIXES = ("hf-hub:", "hf_hub:")  # timm accepts both spellings
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.pth", "model.pth")
#: card ``license`` ids that allow commercial use without conditions beyond attribution
PERMISSIVE = frozenset({"apache-2.0", "mit", "bsd", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "cc0-1.0",
                        "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "unlicense", "isc", "zlib", "bsl-1.0",
                        "ecl-2.0", "wtfpl", "pddl", "odc-by", "cdla-permissive-2.0"})
_NON_COMMERCIAL = re.compile(r"(^|[-_ ])nc($|[-_ ])|non[-_ ]?commercial")
UNKNOWN_LICENSE = License("unknown", commercial="conditions",
                          note="the repository's card states no license: ask its owner before using the weights")


def is_hub_name(name: Any) -> bool:
    """Whether ``name`` is a Hub repository name (``hf-hub:org/name``, timm's form)."""
    return isinstance(name, str) and name.startswith(PREFIXES)


def split_hub_name(name: str) -> tuple[str, str | None]:
    """``("org/name", revision or None)`` of ``hf-hub:org/name[@revision]``; an ``ArgumentError``
    for anything that is not a repository id."""
    body = name.split(":", 1)[1]
    repo_id, at, revision = body.partition("@")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or (at and not revision) or "@" in revision:
        raise ArgumentError(f"{name!r} is not a Hub model name: write hf-hub:org/name or hf-hub:org/name@revision")
    return repo_id, (revision or None)


def hub_name(repo_id: str, revision: str = "main") -> str:
    """The variant name of ``repo_id`` at ``revision``: ``hf-hub:org/name`` (``@revision`` unless main)."""
    return f"hf-hub:{repo_id}" + ("" if revision == "main" else f"@{revision}")


@attrs.frozen
class HubVariant(Variant):
    """A variant read from a Hub repository's ``config.json``: ``name`` is ``hf-hub:org/name`` (with
    ``@revision`` when not ``main``), ``arch`` the config's ``architecture``; ``arch_kwargs`` are
    those of the architecture's registered variant (``base_variant``), ``model_args`` the config's
    other builder arguments (``img_size``, ``global_pool``, ...), ``labels`` its class names."""

    repo_id: str = ""
    revision: str = "main"
    architecture: str = ""
    base_variant: str = ""
    model_args: Mapping[str, Any] = attrs.field(factory=dict, converter=dict, hash=False)
    labels: tuple[str, ...] | None = None
    label_descriptions: Mapping[str, str] = attrs.field(factory=dict, converter=dict, hash=False)
    license_source: str = ""

    def __attrs_post_init__(self):  # no "arch.tag" name: the repository's name is the variant's
        if not is_hub_name(self.name):
            raise ValueError(f"a HubVariant's name starts with hf-hub:, not {self.name!r}")

    @property
    def arch(self) -> str:
        return self.architecture

    @property
    def tag(self) -> str:
        return self.name

    @property
    def resolved_label_names(self) -> str | None:
        if self.labels is not None:
            return f"{len(self.labels)} labels from {self.repo_id}'s config.json"
        return super().resolved_label_names


_RESOLVED: dict[tuple[str, str], HubVariant] = {}


def forget() -> None:
    """Drop the repositories read in this process (the next lookup reads ``config.json`` again)."""
    _RESOLVED.clear()


def hub_variant(name: str, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                local_files_only: bool = False, token: str | bool | None = None, refresh: bool = False) -> HubVariant:
    """The ``HubVariant`` of ``hf-hub:org/name[@revision]``, from the repository's ``config.json``
    and the metadata of its ``README.md`` (both through huggingface_hub's cache). Read once per
    process and revision unless ``refresh``. A revision in the name and another in ``revision``
    is an ``ArgumentError``; a repository without ``config.json`` a ``DownloadError``; an
    architecture no installed family provides an ``UnknownVariantError`` naming the distribution."""
    repo_id, at = split_hub_name(name)
    if at is not None and revision not in (None, "main", at):
        raise ArgumentError(f"{name}: revision={revision!r} contradicts the revision in the name ({at!r})")
    revision = at or revision or "main"
    key = (repo_id, revision)
    if refresh or key not in _RESOLVED:
        fetch = dict(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        config = _read_config(repo_id, fetch)
        card = card_metadata(repo_id, **fetch)
        _RESOLVED[key] = variant_from_config(repo_id, revision, config, card)
    return _RESOLVED[key]


def _read_config(repo_id: str, fetch: Mapping[str, Any]) -> dict:
    from zoo_core.interop.hub import hf_hub_download

    try:
        path = hf_hub_download(repo_id, "config.json", progress=False, **fetch)
    except DownloadError as e:
        if "file not found" in str(e):
            raise DownloadError(f"{repo_id} has no config.json: it is not a timm model repository (timm's "
                                "push_to_hf_hub and zoo's save_pretrained write one)") from e
        raise
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise WeightsError(f"{repo_id}/config.json ({path}) is not readable JSON: {e}") from None
    if not isinstance(config, dict) or "architecture" not in config:
        raise WeightsError(f"{repo_id}/config.json names no 'architecture': it is not a timm model config")
    return config


def card_metadata(repo_id: str, **fetch: Any) -> dict:
    """The YAML metadata of the repository's ``README.md`` (``{}`` when it has no card or no metadata)."""
    from huggingface_hub.repocard import metadata_load

    from zoo_core.interop.hub import hf_hub_download

    try:
        path = hf_hub_download(repo_id, "README.md", progress=False, **fetch)
    except DownloadError:
        return {}
    try:
        return metadata_load(path) or {}
    except Exception:  # noqa: BLE001 - a card whose metadata does not parse states no license we can read
        return {}


def license_from_card(meta: Mapping[str, Any]) -> License:
    """The weights' license as the card's metadata states it (``license``, ``license_name``,
    ``license_link``): commercial use ``no`` for a non-commercial license, ``yes`` for a permissive
    one, ``conditions`` otherwise; ``unknown`` (conditions) when the card states none."""
    lid = meta.get("license")
    if isinstance(lid, (list, tuple)):
        lid = lid[0] if lid else None
    if not lid or not isinstance(lid, str):
        return UNKNOWN_LICENSE
    name = str(meta.get("license_name") or "")
    shown = name if lid == "other" and name else lid
    text = f"{lid} {name}".lower()
    commercial = "no" if _NON_COMMERCIAL.search(text) else "yes" if lid.lower() in PERMISSIVE else "conditions"
    note = "" if commercial == "yes" else "as the repository's card states it; read the license before use"
    return License(shown, str(meta.get("license_link") or ""), commercial, note=note)


def parse_config(config: Mapping[str, Any]) -> tuple[str, dict, dict, dict]:
    """timm's ``_parse_model_cfg``: ``(architecture, top level, pretrained_cfg, model_args)`` of a
    repository config, the legacy single-dict form (``labels`` for ``label_names``) included."""
    config = json.loads(json.dumps(config))  # a deep copy
    if "pretrained_cfg" not in config:
        cfg = config
        config = {"architecture": cfg.pop("architecture"), "num_features": cfg.pop("num_features", None),
                  "pretrained_cfg": cfg}
        if "labels" in cfg:
            cfg["label_names"] = cfg.pop("labels")
    cfg = dict(config["pretrained_cfg"] or {})
    for key in ("num_classes", "label_names", "label_descriptions"):
        if key in config:
            cfg[key] = config[key]
    return config["architecture"], config, cfg, dict(config.get("model_args") or {})


def variant_from_config(repo_id: str, revision: str, config: Mapping[str, Any], card: Mapping[str, Any]) -> HubVariant:
    """The ``HubVariant`` of a repository's config and card metadata (see ``hub_variant``)."""
    from zoo_core.plugins import get_registry

    arch, top, cfg, model_args = parse_config(config)
    base = _base_variant(get_registry(), arch, repo_id)
    in_chans = int(model_args.pop("in_chans", cfg.get("input_size", base.input_size)[0]))
    num_classes = int(model_args.pop("num_classes", cfg.get("num_classes", base.num_classes)))
    name = hub_name(repo_id, revision)
    data = _data_fields(cfg, base, in_chans)
    labels = _labels(name, cfg.get("label_names"), num_classes)
    descriptions = cfg.get("label_descriptions") if isinstance(cfg.get("label_descriptions"), dict) else {}
    lic = license_from_card(card)
    return HubVariant(
        name=name, family=base.family, num_classes=num_classes,
        num_features=int(top.get("num_features") or base.num_features), license=lic,
        hf_hub_id=repo_id, filename="model.safetensors", first_conv=cfg.get("first_conv") or base.first_conv,
        classifier=cfg.get("classifier") or base.classifier, arch_kwargs=base.arch_kwargs,
        notes=f"read from {repo_id}'s config.json (architecture {arch}, zoo's {base.name})", repo_id=repo_id,
        revision=revision, architecture=arch, base_variant=base.name, model_args=model_args, labels=labels,
        label_descriptions={str(k): str(v) for k, v in descriptions.items()},
        license_source="README.md metadata" if lic is not UNKNOWN_LICENSE else "none stated", **data)


def _base_variant(registry, arch: str, repo_id: str) -> Variant:
    """The registered variant the architecture resolves to; ``UnknownVariantError`` naming the
    distribution to install when no installed family provides it."""
    if arch in registry.defaults:
        return registry.get(arch)
    from zoo_core.catalog import provider_hint

    hint = provider_hint(arch, (f.distribution for f in registry.families.values()))
    raise UnknownVariantError(f"hf-hub:{repo_id} is a {arch!r} model; "
                              + (hint or f"no installed zoo family provides the architecture {arch!r} (`zoo list`)"))


def _data_fields(cfg: Mapping[str, Any], base: Variant, in_chans: int) -> dict[str, Any]:
    """The data-config fields of the repository's pretrained_cfg, the base variant's where absent."""
    def size(key, default):
        value = cfg.get(key, default)
        return None if value is None else (in_chans, *(int(v) for v in tuple(value)[1:]))

    pool = cfg.get("pool_size", base.pool_size)
    return dict(
        input_size=size("input_size", base.input_size),
        test_input_size=size("test_input_size", base.test_input_size),
        pool_size=None if pool is None else tuple(int(v) for v in pool),
        mean=tuple(float(v) for v in cfg.get("mean", base.mean)),
        std=tuple(float(v) for v in cfg.get("std", base.std)),
        crop_pct=float(cfg.get("crop_pct", base.crop_pct)),
        test_crop_pct=None if cfg.get("test_crop_pct") is None else float(cfg["test_crop_pct"]),
        crop_mode=str(cfg.get("crop_mode", base.crop_mode)),
        interpolation=str(cfg.get("interpolation", base.interpolation)),
    )


def _labels(name: str, labels: Any, num_classes: int) -> tuple[str, ...] | None:
    """The class names of a config's ``label_names``: a list, or ``{index: name}`` with gaps
    (``class i`` fills them); ``None`` when it has none or they do not fit the head."""
    if not labels:
        return None
    if isinstance(labels, Mapping):
        by_index = {int(k): str(v) for k, v in labels.items()}
        labels = [by_index.get(i, f"class {i}") for i in range(num_classes)]
    labels = tuple(str(v) for v in labels)
    return labels if len(labels) == num_classes else None


# ---- the model the config asks for ----------------------------------------------------------------

def family_kwargs(variant: HubVariant, builder: Callable) -> dict[str, Any]:
    """The repository's ``model_args`` the family's builder takes, as keywords. Arguments the
    builder does not take are dropped where they state timm's default (``global_pool='avg'`` of a
    CNN, a value equal to the architecture's own); any other is an ``ArgumentError``: zoo cannot
    build the model the repository's weights were made for."""
    params = inspect.signature(builder).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    out, refused = {}, []
    for key, value in variant.model_args.items():
        if key in params or takes_any:
            out[key] = tuple(value) if isinstance(value, list) else value
        elif not _default_value(variant, key, value):
            refused.append(f"{key}={value!r}")
    if refused:
        raise ArgumentError(f"{variant.name}: config.json's model_args {', '.join(refused)} are not arguments of "
                            f"zoo's {variant.family} family: it cannot build the model these weights were made for")
    return out


def _default_value(variant: HubVariant, key: str, value: Any) -> bool:
    if key in variant.arch_kwargs:
        return variant.arch_kwargs[key] == value
    if key == "global_pool":
        return value in ("avg", "")
    if key == "img_size":  # a CNN built for any size: timm records it for fixed-size models only
        return True
    return key.endswith(("drop_rate", "drop_path_rate")) or key in ("pretrained_strict",)


def missing_weights_error(variant: Variant, error: DownloadError, *, revision: str = "main",
                          token: str | bool | None = None) -> WeightsError:
    """What to say when a repository has no ``model.safetensors``: if it holds a pickle
    (``pytorch_model.bin``), how to convert it (zoo never unpickles it); else the download's error."""
    from huggingface_hub import HfApi

    if "file not found" not in str(error):
        return error
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT", "").rstrip("/") or None, token=token, library_name="zoo")
    for pickle in PICKLE_FILES:
        try:
            found = api.file_exists(variant.hf_hub_id, pickle, revision=revision)
        except Exception:  # noqa: BLE001 - the hint is a courtesy: without it, the download's error stands
            return error
        if found:
            return WeightsError(
                f"{variant.hf_hub_id} has its weights only as {pickle}, a pickle, which zoo does not unpickle. "
                f"Convert it with `zoo convert {pickle} model.safetensors` (read with torch.load(weights_only=True)) "
                f"and load that file with checkpoint_path= (or `zoo predict --checkpoint`), or ask the owner to add "
                "model.safetensors (the Hub's safetensors conversion bot does it)")
    return error


__all__ = ["HubVariant", "PREFIXES", "card_metadata", "family_kwargs", "forget", "hub_name", "hub_variant",
           "is_hub_name", "license_from_card", "missing_weights_error", "parse_config", "split_hub_name",
           "variant_from_config"]
