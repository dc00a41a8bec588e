"""Evaluation preprocessing with timm's semantics: ``resolve_data_config`` and ``eval_transform``.

The transform reproduces ``timm.data.create_transform(**resolve_data_config(...))`` for
inference (the same Pillow resize, torchvision's center-crop rounding, ``ToTensor`` and
``Normalize``) and returns NHWC float32 arrays. Pillow is an optional dependency:
``pip install "zoo-core[image]"``.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from typing import Any

import attrs
import numpy as np

from zoo_core.errors import ArgumentError, InputError, ZooError
from zoo_core.registry import Variant
from zoo_core.validate import (
    check_bool,
    check_choice,
    check_int,
    check_ints,
    check_path,
    check_real,
    check_reals,
    check_size,
    refuse,
)

CROP_MODES = ("center", "squash", "border")
#: timm's interpolation names (``"random"`` evaluates as ``"bilinear"``, as timm's eval transform).
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos", "random")


@attrs.frozen
class DataConfig:
    """What ``timm.data.resolve_data_config`` returns, as a record. ``input_size`` is (C, H, W)."""

    input_size: tuple[int, int, int]
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_pct: float
    crop_mode: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def resolve_data_config(variant: Variant | str, *, use_test_size: bool = False, **overrides: Any) -> DataConfig:
    """The variant's eval data config, as timm resolves it from the pretrained config.

    ``use_test_size`` takes ``test_input_size`` / ``test_crop_pct`` where timm has them;
    ``overrides`` (``input_size``, ``img_size``, ``interpolation``, ``mean``, ``std``,
    ``crop_pct``, ``crop_mode``, ``in_chans``) win over the variant's values; an override of
    ``None`` is not given. Each is checked first (see ``OVERRIDES``): a wrong type, a size or
    ``crop_pct`` out of range, an unknown mode or a ``mean``/``std`` of the wrong length raises
    an ``ArgumentError`` naming the variant, the override and its value.
    """
    if not isinstance(variant, Variant):
        from zoo_core.api import get_variant

        variant = get_variant(variant)
    check_bool(variant.name, "use_test_size", use_test_size)
    given = _checked_overrides(variant.name, overrides)
    if "input_size" in given:
        input_size = given["input_size"]
    elif "img_size" in given:
        input_size = (given.get("in_chans", 3), *given["img_size"])
    elif use_test_size and variant.test_input_size:
        input_size = tuple(variant.test_input_size)
    else:
        input_size = tuple(variant.input_size)
    if use_test_size and variant.test_crop_pct and "crop_pct" not in given:
        crop_pct = variant.test_crop_pct
    else:
        crop_pct = given.get("crop_pct", variant.crop_pct)
    mean, std = (_per_channel(variant.name, key, given.get(key), getattr(variant, key), input_size)
                 for key in ("mean", "std"))
    return DataConfig(input_size=input_size, interpolation=given.get("interpolation", variant.interpolation),
                      mean=mean, std=std, crop_pct=crop_pct, crop_mode=given.get("crop_mode", variant.crop_mode))


#: ``resolve_data_config``'s overrides and the check of each: ``(where, name, value) → value``.
OVERRIDES: dict[str, Callable[[str, str, Any], Any]] = {
    "input_size": lambda where, name, value: check_ints(where, name, value, length=3, min=1),
    "img_size": check_size,
    "in_chans": lambda where, name, value: check_int(where, name, value, min=1),
    "interpolation": lambda where, name, value: check_choice(where, name, value, INTERPOLATIONS),
    "mean": check_reals,
    "std": lambda where, name, value: check_reals(where, name, value, above=0),
    "crop_pct": lambda where, name, value: check_real(where, name, value, above=0, max=1),
    "crop_mode": lambda where, name, value: check_choice(where, name, value, CROP_MODES),
}


def _checked_overrides(where: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides that are not None, each checked and in its canonical form; an unknown name
    raises an ``ArgumentError`` listing the known ones."""
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ArgumentError(f"{where}: resolve_data_config: unknown overrides {unknown}; "
                            f"allowed: {', '.join(OVERRIDES)}")
    return {name: OVERRIDES[name](where, name, value) for name, value in overrides.items() if value is not None}


def _per_channel(where: str, name: str, override: tuple[float, ...] | None, default: tuple[float, ...],
                 input_size: tuple[int, int, int]) -> tuple[float, ...]:
    """``mean`` or ``std``: the override (one value, repeated for each channel, or one per channel
    of ``input_size``) or else the variant's ``default`` (kept as it is, as timm does)."""
    values = tuple(default) if override is None else override
    if override is not None and len(values) not in (1, input_size[0]):
        raise refuse(where, name, override, f"1 or {input_size[0]} values (one per channel of input_size "
                     f"{input_size})")
    return values * input_size[0] if len(values) == 1 else values


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ZooError('image preprocessing needs Pillow: pip install "zoo-core[image]"') from None
    return Image


def _resample(name: str):
    image = _pil()
    table = {"nearest": image.Resampling.NEAREST, "bilinear": image.Resampling.BILINEAR,
             "bicubic": image.Resampling.BICUBIC, "box": image.Resampling.BOX,
             "hamming": image.Resampling.HAMMING, "lanczos": image.Resampling.LANCZOS}
    return table["bilinear" if name == "random" else name]


def _resize(img, size_hw: tuple[int, int], resample):
    h, w = size_hw
    if (img.height, img.width) == (h, w):  # torchvision returns the image untouched
        return img
    return img.resize((w, h), resample)


def _resize_shorter(img, size: int, resample):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    return _resize(img, (new_h, new_w), resample)


def _resize_keep_ratio(img, target_hw: tuple[int, int], resample, longest: float = 0.0):
    ratio_h = img.height / target_hw[0]
    ratio_w = img.width / target_hw[1]
    ratio = max(ratio_h, ratio_w) * longest + min(ratio_h, ratio_w) * (1.0 - longest)
    size = (round(img.height / ratio), round(img.width / ratio))
    return _resize(img, size, resample)


def _center_crop(img, crop_hw: tuple[int, int], fill=0):
    """torchvision's ``center_crop``: pad (with ``fill``) where smaller, then crop with ``round``."""
    image = _pil()
    crop_h, crop_w = crop_hw
    w, h = img.size
    if crop_w > w or crop_h > h:
        left = (crop_w - w) // 2 if crop_w > w else 0
        top = (crop_h - h) // 2 if crop_h > h else 0
        right = (crop_w - w + 1) // 2 if crop_w > w else 0
        bottom = (crop_h - h + 1) // 2 if crop_h > h else 0
        canvas = image.new(img.mode, (w + left + right, h + top + bottom),
                           tuple(fill) if isinstance(fill, (list, tuple)) else fill)
        canvas.paste(img, (left, top))
        img = canvas
        w, h = img.size
    top = int(round((h - crop_h) / 2.0))
    left = int(round((w - crop_w) / 2.0))
    return img.crop((left, top, left + crop_w, top + crop_h))


def check_data_config(where: str, config: Any) -> DataConfig:
    """``config``, a ``DataConfig`` whose fields the eval transform can use: ``input_size`` three
    ints ≥ 1, ``interpolation`` and ``crop_mode`` known names, ``crop_pct`` in (0, 1] (or None for
    timm's 0.875), ``mean``/``std`` of 1 or 3 values (RGB, or grayscale for one channel), ``std`` > 0. Else an
    ``ArgumentError`` naming ``where``, the field and its value."""
    if not isinstance(config, DataConfig):
        raise refuse(where, "config", config, "a DataConfig (from zoo_core.data.resolve_data_config)")
    check_ints(where, "config.input_size", config.input_size, length=3, min=1)
    check_choice(where, "config.interpolation", config.interpolation, INTERPOLATIONS)
    check_choice(where, "config.crop_mode", config.crop_mode, CROP_MODES)
    check_real(where, "config.crop_pct", config.crop_pct, above=0, max=1, allow_none=True)
    check_reals(where, "config.mean", config.mean, lengths=(1, 3))
    check_reals(where, "config.std", config.std, lengths=(1, 3), above=0)
    return config


def eval_transform(config: DataConfig) -> Callable[[Any], np.ndarray]:
    """A function taking a PIL image (converted to RGB; to grayscale, Pillow's ``L``, for a
    one-channel ``input_size``) to a normalized (H, W, C) float32 array, equal to timm's eval
    transform for ``config`` (checked first by ``check_data_config``)."""
    check_data_config("eval_transform", config)
    channels, h, w = config.input_size
    mode = "L" if channels == 1 else "RGB"
    crop_pct = config.crop_pct or 0.875
    scale = (math.floor(h / crop_pct), math.floor(w / crop_pct))
    resample = _resample(config.interpolation)
    mean = np.asarray(config.mean, np.float32)
    std = np.asarray(config.std, np.float32)

    def transform(img) -> np.ndarray:
        if img.mode != mode:
            img = img.convert(mode)
        if config.crop_mode == "squash":
            img = _center_crop(_resize(img, scale, resample), (h, w))
        elif config.crop_mode == "border":
            fill = [round(255 * v) for v in config.mean]
            img = _center_crop(_resize_keep_ratio(img, scale, resample, longest=1.0), (h, w), fill=fill)
        else:
            if scale[0] == scale[1]:
                img = _resize_shorter(img, scale[0], resample)
            else:
                img = _resize_keep_ratio(img, scale, resample)
            img = _center_crop(img, (h, w))
        x = np.asarray(img, dtype=np.float32) / 255.0
        return (x.reshape(h, w, -1) - mean) / std

    return transform


def load_image(path: str | os.PathLike):
    """Open an image file as RGB (Pillow), with an error naming the file if it cannot be read."""
    check_path("load_image", "path", path)
    image = _pil()
    try:
        with image.open(path) as img:
            return img.convert("RGB")
    except (OSError, image.UnidentifiedImageError) as e:
        raise InputError(f"cannot read image {os.fspath(path)}: {e}") from e


def preprocess(paths: Iterable[str | os.PathLike], config: DataConfig) -> np.ndarray:
    """Images at ``paths`` as one (N, H, W, C) float32 batch, through ``eval_transform(config)``.
    ``paths`` is a collection of paths: a single str or path is refused (it is not read as its
    characters)."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise refuse("preprocess", "paths", paths, "a list of image paths (wrap a single path in a list)")
    transform = eval_transform(config)
    return np.stack([transform(load_image(p)) for p in paths])


@cache
def label_names(name: str) -> tuple[str, ...]:
    """Class names of a label set shipped with zoo-core: ``imagenet-1k``, ``imagenet-22k``,
    ``imagenet-21k-goog``, ``imagenet-12k`` (WordNet lemmas, in the heads' class order)."""
    try:
        data = resources.files("zoo_core.labels").joinpath(f"{name}.tsv.gz").read_bytes()
    except FileNotFoundError:
        raise KeyError(f"no label set {name!r}") from None
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    return tuple(line.split("\t", 1)[1] for line in lines if line)
