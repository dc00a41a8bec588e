"""``zoo predict`` against timm: the same weights, the same photographs, timm's own eval transform."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytestmark = pytest.mark.parity

from timm.data import create_transform, resolve_data_config  # noqa: E402

import zoo_core  # noqa: E402
from zoo_core.cli import main  # noqa: E402
from zoo_core.testing.hf_cache import safetensors_bytes  # noqa: E402
from zoo_core.testing.parity import randomize_torch_module, state_dict_to_numpy  # noqa: E402

IMAGES = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "images").glob("*.jpg"))
NAME = "resnet18.a1_in1k"
HEAD_SCALE = 6.0  # randomized weights give near-uniform probabilities; a sharper head separates top-1


def timm_probabilities(model, images):
    """timm's top-5 pipeline: its eval transform (resolve_data_config + create_transform) on the RGB
    image, the model in eval mode, softmax over the logits. (N, num_classes) float64."""
    from PIL import Image

    transform = create_transform(**resolve_data_config({}, model=model))
    x = torch.stack([transform(Image.open(path).convert("RGB")) for path in images])
    with torch.no_grad():
        logits = model(x).double()
    return torch.softmax(logits, dim=-1).numpy()


def test_predict_json_matches_timm_on_the_same_weights_and_images(capsys, hub):
    """``zoo predict resnet18.a1_in1k IMAGES --json``, its weights downloaded from a (loopback) Hub,
    prints for every photograph the same top-5 classes as timm with the same randomized weights and
    timm's own eval transform, probabilities within 1e-4, and the ImageNet label of each index."""
    from timm.data import ImageNetInfo

    ref = timm.create_model(NAME, pretrained=False).eval()
    randomize_torch_module(ref, seed=5)
    with torch.no_grad():
        ref.fc.weight.mul_(HEAD_SCALE)
    hub.add_file(zoo_core.get_variant(NAME).hf_hub_id, "model.safetensors",
                 safetensors_bytes(state_dict_to_numpy(ref.state_dict())))
    theirs = timm_probabilities(ref, IMAGES)
    top5 = np.argsort(-theirs, axis=-1)[:, :5]
    top1, top2 = np.take_along_axis(theirs, top5[:, :2], axis=-1).T
    assert (top1 - top2 > 1e-2).all(), "top-1 must stand clear of top-2 for the comparison to mean anything"
    assert len(set(top5[:, 0])) > 1, "the images should not all get the same class"

    assert main(["predict", NAME, *IMAGES, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)

    labels = ImageNetInfo()
    assert [r["image"] for r in rows] == IMAGES
    for row, order, probs in zip(rows, top5, theirs):
        assert [t["index"] for t in row["top"]] == order.tolist(), row["image"]
        np.testing.assert_allclose([t["probability"] for t in row["top"]], probs[order], rtol=0, atol=1e-4)
        assert [t["label"] for t in row["top"]] == [labels.index_to_description(int(i)) for i in order]
