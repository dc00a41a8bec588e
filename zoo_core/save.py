"""A zoo model written out as timm writes one: ``save_pretrained`` and ``push_to_hub``.

The directory holds what timm's ``save_for_hf`` / ``push_to_hf_hub`` put in a repository, so that
``timm.create_model("hf-hub:org/name", pretrained=True)`` (or ``"local-dir:/path"``) opens it, and so
does zoo's ``create_pretrained("hf-hub:org/name")``:

| file | what |
| --- | --- |
| ``model.safetensors`` | the trees in timm's keys and layouts: the family's mapping run backwards (``zoo_core.interop.export.to_state_dict``) |
| ``config.json`` | ``architecture``, ``num_classes``, ``num_features``, ``global_pool``, ``label_names``, ``model_args`` (``in_chans``, ``num_classes``, ``img_size`` ... to rebuild it), ``pretrained_cfg`` (the data config, ``first_conv``, ``classifier``, ``license``) |
| ``README.md`` | a model card: base model, the license inherited from the base weights (with a warning when it forbids commercial use), the library tags ``timm`` and ``zoo``, how to load it |
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo_core.errors import ArgumentError, ZooError
from zoo_core.registry import License, Variant
from zoo_core.validate import check_path

DATA_KEYS = ("input_size", "img_size", "test_input_size", "interpolation", "mean", "std", "crop_pct",
             "test_crop_pct", "crop_mode")


class UploadError(ZooError):
    """The Hub refused or failed an upload (no token, no write access, a network error)."""

    exit_code = 6


class NonCommercialExportWarning(UserWarning):
    """Saved weights inherit a license that does not allow commercial use."""


def save_pretrained(model, params, state, directory: str | os.PathLike, *, variant: str | Variant,
                    label_names: Sequence[str] | Mapping[int, str] | None = None,
                    label_descriptions: Mapping[str, str] | None = None, model_args: Mapping[str, Any] | None = None,
                    data_config: Mapping[str, Any] | None = None, model_card: bool | Mapping[str, Any] = True,
                    repo_id: str | None = None) -> Path:
    """Write ``(params, state)`` of ``model`` (created from ``variant``: a name, ``hf-hub:`` ones
    too, or a ``Variant``) into ``directory`` as timm's ``save_for_hf`` would (see the module's
    table); returns the directory.

    ``label_names`` (one per class of the model's head) and ``label_descriptions`` go into the
    config; with neither and the variant's own head size, a ``hf-hub:`` variant's labels are kept.
    ``model_args`` are further arguments timm needs to rebuild the model (``depth=2`` of a
    reduced one, say); ``in_chans``, ``num_classes``, ``global_pool`` and a fixed ``img_size`` are
    taken from the model. ``data_config`` overrides the preprocessing (``input_size``,
    ``img_size``, ``mean``, ``std``, ``crop_pct``, ``interpolation``, ...). ``model_card=False``
    writes no README.md; a mapping adds ``description`` and ``details`` to it. ``repo_id`` names
    the model in the card (default: the directory's name)."""
    from zoo_core.api import get_family, get_variant

    variant = get_variant(variant) if isinstance(variant, str) else variant
    if not isinstance(variant, Variant):
        raise ArgumentError(f"save_pretrained: variant={variant!r} is not allowed: a variant name or a Variant")
    directory = Path(check_path("save_pretrained", "directory", directory))
    config = hf_config(model, variant, label_names=label_names, label_descriptions=label_descriptions,
                       model_args=model_args, data_config=data_config)
    tensors = _state_dict(model, variant, get_family(variant.name), params, state)
    directory.mkdir(parents=True, exist_ok=True)
    _write_safetensors(tensors, directory / "model.safetensors")
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if variant.license.commercial == "no":
        warnings.warn(f"{directory}: the weights derive from {variant.name}, licensed {variant.license.id}, which "
                      "does not allow commercial use; the saved model inherits that license (its card says so)",
                      NonCommercialExportWarning, stacklevel=2)
    if model_card is not False:
        card = model_card if isinstance(model_card, Mapping) else {}
        text = model_card_text(repo_id or directory.resolve().name, variant, config, card, repo_id=repo_id)
        (directory / "README.md").write_text(text, encoding="utf-8")
    return directory


def _state_dict(model, variant: Variant, family, params, state) -> dict:
    """The trees in timm's keys and layouts, through the family's mapping of the model as built."""
    from zoo_core.interop.export import to_state_dict
    from zoo_core.nn.module import shape_structs

    arch = model.architecture
    mapping = family.mapping()(variant, arch, shape_structs(params), shape_structs(state))
    return to_state_dict((params, state), mapping)


def _write_safetensors(tensors: Mapping[str, Any], path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    tmp = path.with_name(path.name + ".incomplete")
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)


# ---- config.json ----------------------------------------------------------------------------------

def hf_config(model, variant: Variant, *, label_names=None, label_descriptions=None, model_args=None,
              data_config=None) -> dict[str, Any]:
    """The ``config.json`` timm's ``save_config_for_hf`` writes for ``model`` (created from
    ``variant``): see ``save_pretrained`` for the arguments."""
    arch = model.architecture
    in_chans, num_classes = int(arch.in_chans), int(arch.num_classes)
    img_size = getattr(getattr(arch, "patch_embed", None), "img_size", None)  # fixed-size models (ViT)
    pool = getattr(arch, "global_pool", None)
    args = dict(getattr(variant, "model_args", {}) or {})
    args.update(model_args or {})
    args.update(num_classes=num_classes, in_chans=in_chans)
    if isinstance(pool, str) and pool:
        args["global_pool"] = pool
    if img_size is not None:
        args["img_size"] = [int(v) for v in img_size]
    config: dict[str, Any] = {"architecture": variant.arch, "num_classes": num_classes,
                              "num_features": int(arch.num_features)}
    if isinstance(pool, str) and pool:
        config["global_pool"] = pool
    labels = _label_names(variant, num_classes, label_names)
    if labels:
        config["label_names"] = labels
    descriptions = label_descriptions if label_descriptions is not None else (
        getattr(variant, "label_descriptions", None) if num_classes == variant.num_classes else None)
    if descriptions:
        config["label_descriptions"] = {str(k): str(v) for k, v in descriptions.items()}
    config["model_args"] = args
    config["pretrained_cfg"] = _pretrained_cfg(variant, in_chans, num_classes, img_size, dict(data_config or {}))
    return config


def _label_names(variant: Variant, num_classes: int, given) -> list[str] | None:
    if given is None:
        own = getattr(variant, "labels", None)
        return list(own) if own is not None and num_classes == variant.num_classes else None
    if isinstance(given, Mapping):
        given = [given.get(i, given.get(str(i), f"class {i}")) for i in range(num_classes)]
    if isinstance(given, str) or len(given) != num_classes:
        raise ArgumentError(f"{variant.name}: label_names must name each of the head's {num_classes} classes, "
                            f"got {'a str' if isinstance(given, str) else len(given)}")
    return [str(v) for v in given]


def _pretrained_cfg(variant: Variant, in_chans: int, num_classes: int, img_size, data: dict) -> dict[str, Any]:
    """``pretrained_cfg``: the variant's data config, fitted to the model and ``data`` overrides."""
    unknown = sorted(set(data) - set(DATA_KEYS))
    if unknown:
        raise ArgumentError(f"{variant.name}: data_config keys {unknown} are not allowed: {', '.join(DATA_KEYS)}")
    spatial = tuple(variant.input_size[1:])
    if data.get("input_size") is not None:
        spatial = tuple(data["input_size"])[1:]
    elif data.get("img_size") is not None:
        spatial = tuple(data["img_size"]) if not isinstance(data["img_size"], int) else (data["img_size"],) * 2
    elif img_size is not None:
        spatial = tuple(img_size)
    size_changed = spatial != tuple(variant.input_size[1:])
    keep_test_size = not size_changed and img_size is None  # timm drops it for a new or a fixed size
    test_size = data.get("test_input_size") or (variant.test_input_size if keep_test_size else None)
    cfg: dict[str, Any] = {"tag": variant.tag, "custom_load": False, "input_size": [in_chans, *map(int, spatial)]}
    if test_size:
        cfg["test_input_size"] = [in_chans, *map(int, tuple(test_size)[1:])]
    cfg["fixed_input_size"] = img_size is not None
    cfg["interpolation"] = data.get("interpolation", variant.interpolation)
    cfg["crop_pct"] = float(data.get("crop_pct", variant.crop_pct))
    test_crop = data.get("test_crop_pct", None if "crop_pct" in data else variant.test_crop_pct)
    if test_crop is not None:
        cfg["test_crop_pct"] = float(test_crop)
    cfg["crop_mode"] = data.get("crop_mode", variant.crop_mode)
    cfg["mean"], cfg["std"] = (_per_channel(data.get(k, getattr(variant, k)), in_chans) for k in ("mean", "std"))
    cfg["num_classes"] = num_classes
    cfg["pool_size"] = None if size_changed or variant.pool_size is None else list(variant.pool_size)
    cfg["first_conv"], cfg["classifier"] = variant.first_conv, variant.classifier
    cfg["license"] = hub_license(variant.license)[0]
    return cfg


def _per_channel(values, in_chans: int) -> list[float]:
    """timm's rule: one value per channel, or one for all; any other count becomes their mean."""
    values = [float(values)] if isinstance(values, (int, float)) else [float(v) for v in values]
    return values if len(values) in (1, in_chans) else [sum(values) / len(values)]


# ---- README.md ------------------------------------------------------------------------------------

#: zoo's license ids (SPDX case) as the Hub's card metadata spells them
_HUB_IDS = {"apache-2.0", "mit", "bsd-3-clause", "bsd-2-clause", "cc-by-4.0", "cc-by-nc-4.0", "cc-by-sa-4.0",
            "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0", "cc0-1.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-3.0",
            "openrail", "llama2", "llama3", "gemma", "unknown", "other"}


def hub_license(lic: License) -> tuple[str, str | None]:
    """``(license, license_name)`` as the Hub's card metadata states ``lic``: a Hub license id, or
    ``other`` with a slug of the license's name."""
    lid = lic.id.lower()
    if lid in _HUB_IDS:
        return lid, None
    slug = "".join(c if c.isalnum() else "-" for c in lid).strip("-")
    return "other", "-".join(p for p in slug.split("-") if p)


def model_card_text(name: str, variant: Variant, config: Mapping[str, Any], card: Mapping[str, Any], *,
                    repo_id: str | None = None) -> str:
    """The README.md: YAML metadata as timm's ``generate_readme`` writes it (tags ``timm`` and ``zoo``,
    ``library_name: timm``, the inherited license, ``base_model``), then the card's text; its usage
    names ``repo_id`` (``ORG/NAME`` until it is known)."""
    lic = variant.license
    hub_id, license_name = hub_license(lic)
    lines = ["---", "tags:", "- image-classification", "- timm", "- zoo", "library_name: timm", f"license: {hub_id}"]
    if license_name:
        lines.append(f"license_name: {license_name}")
    if lic.url and (license_name or hub_id == "other"):
        lines.append(f"license_link: {lic.url}")
    if variant.hf_hub_id:
        lines.append(f"base_model: {variant.hf_hub_id}")
    lines += ["pipeline_tag: image-classification", "---", f"# Model card for {name}", ""]
    if card.get("description"):
        lines += [str(card["description"]), ""]
    if lic.commercial == "no":
        lines += [f"> **Non-commercial license.** These weights derive from `{variant.hf_hub_id or variant.name}`, "
                  f"released under {lic.id}{f' ({lic.url})' if lic.url else ''}, which does not allow commercial use; "
                  "they inherit that license.", ""]
    lines += _details(variant, config, card.get("details") or {}) + _usage(repo_id or "ORG/NAME")
    return "\n".join(lines) + "\n"


def _details(variant: Variant, config: Mapping[str, Any], extra: Mapping[str, Any]) -> list[str]:
    cfg = config["pretrained_cfg"]
    base = f"[{variant.hf_hub_id}](https://huggingface.co/{variant.hf_hub_id})" if variant.hf_hub_id else variant.name
    rows = {"Model type": "Image classification" if config["num_classes"] else "Image feature backbone",
            "Architecture": f"`{config['architecture']}` (timm)", "Base model": base,
            "Classes": config["num_classes"], "Features": config["num_features"],
            "Image size": "x".join(str(v) for v in cfg["input_size"][1:]) + f", {cfg['input_size'][0]} channels",
            "License": f"{variant.license.id} (inherited from the base weights)", **dict(extra)}
    lines = ["## Model Details"]
    for key, value in rows.items():
        lines.append(f"- **{key}:** {value}")
    return lines + ["", "Written in timm's format by zoo's `save_pretrained` (timm's models in JAX).", ""]


def _usage(name: str) -> list[str]:
    return ["## Model Usage", "", "With timm:", "", "```python", "import timm", "",
            f'model = timm.create_model("hf-hub:{name}", pretrained=True).eval()', "```", "",
            "With zoo (JAX):", "", "```python", "import zoo_core", "",
            f'model, load = zoo_core.create_pretrained("hf-hub:{name}")', "params, state = load()", "```"]


# ---- the Hub ---------------------------------------------------------------------------------------

def _api(token: str | bool | None):
    from huggingface_hub import HfApi

    from zoo_core import __version__

    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or None  # read per call, as zoo's downloads
    return HfApi(endpoint=endpoint, token=token, library_name="zoo", library_version=__version__)


def upload_folder(directory: str | os.PathLike, repo_id: str, *, token: str | bool | None = None,
                  revision: str | None = None, private: bool | None = None, create_pr: bool = False,
                  commit_message: str = "Add model"):
    """Upload a directory written by ``save_pretrained`` to the Hub repository ``repo_id``
    (created if absent) through huggingface_hub's ``HfApi.create_repo`` / ``upload_folder``;
    returns huggingface_hub's ``CommitInfo``. A directory without ``config.json`` and
    ``model.safetensors`` is an ``ArgumentError``; the Hub's refusals an ``UploadError``."""
    directory = Path(check_path("upload_folder", "directory", directory))
    missing = [f for f in ("config.json", "model.safetensors") if not (directory / f).is_file()]
    if missing:
        raise ArgumentError(f"upload_folder: {directory} has no {' and no '.join(missing)}: write it with "
                            "zoo_core.save_pretrained first")
    api = _api(token)
    try:
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        return api.upload_folder(repo_id=repo_id, folder_path=str(directory), revision=revision,
                                 create_pr=create_pr, commit_message=commit_message)
    except Exception as e:  # noqa: BLE001 - the Hub's errors, said in one line naming the repository
        from huggingface_hub import errors as hf_errors

        if not isinstance(e, (hf_errors.HfHubHTTPError, OSError)):
            raise
        raise UploadError(f"{repo_id}: upload failed: {str(e).strip().splitlines()[0] if str(e).strip() else e!r} "
                          "(a write token: `hf auth login` or HF_TOKEN)") from e


def push_to_hub(model, params, state, repo_id: str, *, variant: str | Variant, token: str | bool | None = None,
                revision: str | None = None, private: bool | None = None, create_pr: bool = False,
                commit_message: str = "Add model", **save_kwargs: Any):
    """``save_pretrained`` into a temporary directory, then ``upload_folder`` to ``repo_id``, as
    timm's ``push_to_hf_hub`` (a README.md already in the repository is kept). Returns
    huggingface_hub's ``CommitInfo``."""
    import tempfile

    api = _api(token)
    has_card = False
    try:
        has_card = api.file_exists(repo_id, "README.md", revision=revision)
    except Exception:  # noqa: BLE001 - a repository not created yet, or unreachable: upload_folder says which
        has_card = False
    if has_card:
        save_kwargs["model_card"] = False
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        save_pretrained(model, params, state, tmp, variant=variant, repo_id=repo_id, **save_kwargs)
        return upload_folder(tmp, repo_id, token=token, revision=revision, private=private, create_pr=create_pr,
                             commit_message=commit_message)


__all__ = ["NonCommercialExportWarning", "UploadError", "hf_config", "hub_license", "model_card_text", "push_to_hub",
           "save_pretrained", "upload_folder"]
