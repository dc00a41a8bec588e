"""PyTorch checkpoints in: safe loading, unwrapping, prefixes, and the round trip to timm's outputs."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytestmark = pytest.mark.torch

import zoo_core  # noqa: E402
from zoo_core import CheckpointFormatError  # noqa: E402
from zoo_core.cli import main  # noqa: E402
from zoo_core.convert import load_torch_state_dict  # noqa: E402
from zoo_core.testing.parity import assert_close, randomize_torch_module, to_nchw  # noqa: E402

NAME = "resnet18.a1_in1k"


@pytest.fixture
def timm_model():
    if NAME not in zoo_core.list_variants():
        pytest.skip("zoo-resnet is not installed")
    m = timm.create_model(NAME, pretrained=False)
    randomize_torch_module(m, 3)
    return m.eval()


def test_round_trip_dataparallel_wrapped_checkpoint_to_timms_outputs(timm_model, tmp_path, capsys):
    wrapped = {"state_dict": {f"module.{k}": v for k, v in timm_model.state_dict().items()}, "epoch": 7,
               "optimizer": {"lr": 0.1}}
    torch.save(wrapped, tmp_path / "finetuned.pth")
    assert main(["convert", str(tmp_path / "finetuned.pth"), str(tmp_path / "finetuned.safetensors")]) == 0
    sidecar = json.loads((tmp_path / "finetuned.safetensors.json").read_text())
    assert sidecar["tensors"]["fc.weight"] == {"shape": [1000, 512], "dtype": "float32"}
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    with torch.no_grad():
        expected = timm_model(torch.from_numpy(to_nchw(x))).numpy()
    for path in (tmp_path / "finetuned.safetensors", tmp_path / "finetuned.pth"):
        model, load = zoo_core.create_pretrained(NAME, checkpoint_path=path)
        params, state = load()
        assert_close(model.apply(params, state, x)[0], expected, name=f"{path.suffix} round trip")


def test_a_fine_tuned_head_size_is_taken_from_the_file(timm_model, tmp_path):
    timm_model.reset_classifier(7)
    torch.save(timm_model.state_dict(), tmp_path / "seven.pt")
    model, load = zoo_core.create_pretrained(NAME, checkpoint_path=tmp_path / "seven.pt")
    assert model.num_classes == 7
    params, _ = load()
    np.testing.assert_array_equal(params["fc"]["bias"], timm_model.fc.bias.detach().numpy())


def test_arbitrary_pickled_objects_are_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"state_dict": {"w": torch.zeros(2)}, "hook": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointFormatError, match="weights_only=True\\) refused it"):
        load_torch_state_dict(tmp_path / "evil.pt")


def test_non_tensor_entries_are_listed(tmp_path):
    torch.save({"w": torch.zeros(2), "note": "hello", "step": 3}, tmp_path / "mixed.pt")
    with pytest.raises(CheckpointFormatError, match=r"2 entries are not tensors: 'note' \(str\), 'step' \(int\)"):
        load_torch_state_dict(tmp_path / "mixed.pt")


def test_given_prefixes_are_stripped(tmp_path, capsys):
    torch.save({"model_state_dict": {"backbone.w": torch.ones(2), "backbone.b": torch.zeros(1)}}, tmp_path / "p.pt")
    assert set(load_torch_state_dict(tmp_path / "p.pt", prefixes=["backbone."])) == {"w", "b"}
    assert main(["convert", str(tmp_path / "p.pt"), str(tmp_path / "p.safetensors"), "--strip-prefix", "backbone."]) == 0
    assert set(zoo_core.interop.load_safetensors_state_dict(tmp_path / "p.safetensors")) == {"w", "b"}
