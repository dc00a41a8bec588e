"""Preprocessing: data configs resolved as timm does, the eval transform, and shipped label sets."""

from pathlib import Path

import numpy as np
import pytest

from zoo_core import get_variant
from zoo_core.data import DataConfig, eval_transform, label_names, load_image, preprocess, resolve_data_config

IMAGES = sorted((Path(__file__).parents[1] / "examples" / "images").glob("*.jpg"))


def test_resolve_data_config_takes_the_variant_and_test_sizes():
    v = get_variant("tinynet_m")
    cfg = resolve_data_config(v)
    assert cfg == DataConfig((3, 32, 32), "bicubic", v.mean, v.std, 0.875, "center")
    assert resolve_data_config(v, img_size=48, crop_pct=1.0, mean=(0.5,)).input_size == (3, 48, 48)
    assert resolve_data_config(v, mean=(0.5,)).mean == (0.5, 0.5, 0.5)
    with pytest.raises(TypeError, match="unknown overrides"):
        resolve_data_config(v, size=3)


@pytest.mark.parametrize("mode", ["center", "squash", "border"])
@pytest.mark.parametrize("size", [(3, 224, 224), (3, 160, 200), (3, 512, 512)])
def test_eval_transform_gives_nhwc_float32_of_the_input_size(mode, size):
    cfg = DataConfig(size, "bilinear", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 0.9, mode)
    x = eval_transform(cfg)(load_image(IMAGES[0]))
    assert x.shape == (size[1], size[2], 3) and x.dtype == np.float32
    assert -2.01 <= x.min() and x.max() <= 2.01


def test_a_one_channel_model_gets_grayscale_images():
    """A one-channel input_size (a fine-tune on 1-channel images, opened with hf-hub:) gets Pillow's
    grayscale of the image, as (H, W, 1), normalized by its one mean and std; it was RGB (3 channels)."""
    cfg = DataConfig((1, 32, 48), "bilinear", (0.5,), (0.25,), 0.9, "center")
    x = eval_transform(cfg)(load_image(IMAGES[0]))
    gray = eval_transform(DataConfig((3, 32, 48), "bilinear", (0.5,) * 3, (0.25,) * 3, 0.9, "center"))(
        load_image(IMAGES[0]).convert("L").convert("RGB"))
    assert x.shape == (32, 48, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0], gray[..., 0], atol=1e-6)


def test_preprocess_stacks_a_batch_and_names_unreadable_files(tmp_path):
    cfg = resolve_data_config("tinynet_m")
    assert preprocess(IMAGES, cfg).shape == (len(IMAGES), 32, 32, 3)
    (tmp_path / "bad.jpg").write_text("not an image")
    with pytest.raises(Exception, match="cannot read image .*bad.jpg"):
        load_image(tmp_path / "bad.jpg")


def test_label_sets_have_the_head_sizes():
    assert len(label_names("imagenet-1k")) == 1000
    assert label_names("imagenet-1k")[281].startswith("tabby")
    assert len(label_names("imagenet-22k")) == 21841 and len(label_names("imagenet-21k-goog")) == 21843
    with pytest.raises(KeyError):
        label_names("imagenet-5k")
