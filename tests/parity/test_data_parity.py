"""zoo's eval transform against timm's ``create_transform`` on real photographs."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("timm")
pytestmark = pytest.mark.parity

from timm.data import create_transform  # noqa: E402

from zoo_core.data import DataConfig, eval_transform, load_image  # noqa: E402

IMAGES = sorted((Path(__file__).parents[2] / "examples" / "images").glob("*.jpg"))


@pytest.mark.parametrize("image", IMAGES, ids=lambda p: p.stem)
@pytest.mark.parametrize("size, crop_pct, mode, interp", [
    ((3, 224, 224), 0.875, "center", "bicubic"),
    ((3, 224, 224), 0.95, "center", "bilinear"),
    ((3, 384, 384), 1.0, "squash", "bicubic"),
    ((3, 288, 288), 1.0, "center", "bicubic"),
    ((3, 160, 224), 0.9, "center", "bilinear"),
    ((3, 224, 224), 0.9, "border", "bicubic"),
    ((3, 512, 512), 1.0, "center", "bicubic"),  # upsampling: larger than every photo
])
def test_eval_transform_equals_timms(image, size, crop_pct, mode, interp):
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    cfg = DataConfig(size, interp, mean, std, crop_pct, mode)
    theirs = create_transform(input_size=size, interpolation=interp, mean=mean, std=std, crop_pct=crop_pct,
                              crop_mode=mode)(load_image(image)).numpy().transpose(1, 2, 0)
    ours = eval_transform(cfg)(load_image(image))
    assert ours.shape == theirs.shape
    # equal within one 8-bit level after normalization (in practice: the same pixels)
    assert np.abs(ours - theirs).max() <= 1 / 255 / min(std) + 1e-6
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
