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

from zoo_core.errors import InputError, ZooError
from zoo_core.registry import Variant

CROP_MODES = ("center", "squash", "border")


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
    ``crop_pct``, ``crop_mode``, ``in_chans``) win over the variant's values.
    """
    if isinstance(variant, str):
        from zoo_core.api import get_variant

        variant = get_variant(variant)
    unknown = set(overrides) - {"input_size", "img_size", "interpolation", "mean", "std", "crop_pct", "crop_mode",
                                "in_chans"}
    if unknown:
        raise TypeError(f"resolve_data_config: unknown overrides {sorted(unknown)}")
    in_chans = overrides.get("in_chans") or 3
    if overrides.get("input_size"):
        input_size = tuple(overrides["input_size"])
    elif overrides.get("img_size"):
        size = overrides["img_size"]
        h, w = (size, size) if isinstance(size, int) else size
        input_size = (in_chans, h, w)
    elif use_test_size and variant.test_input_size:
        input_size = tuple(variant.test_input_size)
    else:
        input_size = tuple(variant.input_size)
    if use_test_size and variant.test_crop_pct and not overrides.get("crop_pct"):
        crop_pct = variant.test_crop_pct
    else:
        crop_pct = overrides.get("crop_pct") or variant.crop_pct
    mean = tuple(overrides.get("mean") or variant.mean)
    std = tuple(overrides.get("std") or variant.std)
    if len(mean) == 1:
        mean = mean * input_size[0]
    if len(std) == 1:
        std = std * input_size[0]
    crop_mode = overrides.get("crop_mode") or variant.crop_mode
    if crop_mode not in CROP_MODES:
        raise ValueError(f"crop_mode {crop_mode!r}: expected one of {', '.join(CROP_MODES)}")
    return DataConfig(input_size=input_size, interpolation=overrides.get("interpolation") or variant.interpolation,
                      mean=mean, std=std, crop_pct=crop_pct, crop_mode=crop_mode)


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
    if name == "random":
        name = "bilinear"
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"interpolation {name!r}: expected one of {', '.join(table)}") from None


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


def eval_transform(config: DataConfig) -> Callable[[Any], np.ndarray]:
    """A function taking a PIL image (converted to RGB) to a normalized (H, W, C) float32 array,
    equal to timm's eval transform for ``config``."""
    _, h, w = config.input_size
    crop_pct = config.crop_pct or 0.875
    scale = (math.floor(h / crop_pct), math.floor(w / crop_pct))
    resample = _resample(config.interpolation)
    mean = np.asarray(config.mean, np.float32)
    std = np.asarray(config.std, np.float32)

    def transform(img) -> np.ndarray:
        if img.mode != "RGB":
            img = img.convert("RGB")
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
        return (x - mean) / std

    return transform


def load_image(path: str | os.PathLike):
    """Open an image file as RGB (Pillow), with an error naming the file if it cannot be read."""
    image = _pil()
    try:
        with image.open(path) as img:
            return img.convert("RGB")
    except (OSError, image.UnidentifiedImageError) as e:
        raise InputError(f"cannot read image {os.fspath(path)}: {e}") from e


def preprocess(paths: Iterable[str | os.PathLike], config: DataConfig) -> np.ndarray:
    """Images at ``paths`` as one (N, H, W, C) float32 batch, through ``eval_transform(config)``."""
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
