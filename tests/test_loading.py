"""The loading pipeline (zoo_core.loading): checkpoint sources behind one interface, the plan,
the wrapped architecture a mapping is written against, and how errors name a cached file."""

import os

import jax
import numpy as np
import pytest

import zoo_core
from zoo_core.errors import CheckpointFormatError, StateDictMismatchError
from zoo_core.loading import Checkpoint, HubWeights, InMemory, LocalFile, as_source, load_weights, plan_load
from zoo_core.nn import abstract_init
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file

from tinynet_weights import reference_forward, tinynet_bytes, tinynet_state_dict

NAME, REPO = "tinynet_s.zoo_in1k", "zoo-test/tinynet_s.zoo_in1k"
X = np.random.default_rng(1).standard_normal((2, 9, 11, 3)).astype(np.float32)


def _load(source, **kwargs):
    variant = zoo_core.get_variant(NAME)
    model = zoo_core.create_model(NAME, **kwargs)
    params, state = abstract_init(model)
    return model, load_weights(model, variant, zoo_core.get_family(NAME), source, params, state)


@pytest.mark.parametrize("kind", ["in_memory", "pair", "safetensors", "npz", "hub"])
def test_every_source_loads_the_same_trees(kind, tmp_path, hf_cache):
    """An in-memory dict, a (label, dict) pair, a safetensors or .npz path and the Hub cache all
    open as one Checkpoint and load to the reference outputs."""
    sd = tinynet_state_dict()
    if kind == "in_memory":
        source = InMemory(sd, "my weights")
    elif kind == "pair":
        source = ("my weights", sd)
    elif kind == "safetensors":
        (tmp_path / "w.safetensors").write_bytes(tinynet_bytes())
        source = str(tmp_path / "w.safetensors")
    elif kind == "npz":
        np.savez(tmp_path / "w.npz", **sd)
        source = tmp_path / "w.npz"
    else:
        write_cached_file(hf_cache, REPO, "model.safetensors", tinynet_bytes())
        source = HubWeights(local_files_only=True)
    model, (params, state) = _load(source)
    y, _ = model.apply(params, state, X)
    np.testing.assert_allclose(y, reference_forward(sd, X), rtol=1e-5, atol=1e-5)


def test_as_source_tells_paths_pairs_and_sources_apart(tmp_path):
    """A path is a LocalFile, a (label, dict) pair an InMemory, a source passes through as it is."""
    assert isinstance(as_source(tmp_path / "w.safetensors"), LocalFile)
    assert as_source(("lbl", {})) == InMemory({}, "lbl")
    hub = HubWeights(revision="v1")
    assert as_source(hub) is hub


def test_a_local_file_is_opened_once_for_head_size_and_load(tmp_path, monkeypatch):
    """create_pretrained(checkpoint_path=...) reads the file's head size and its tensors through
    one opened Checkpoint: a .npz is parsed once, not once per step."""
    np.savez(tmp_path / "w.npz", **tinynet_state_dict(num_classes=4))
    calls = []
    real = LocalFile._read
    monkeypatch.setattr(LocalFile, "_read", lambda self: calls.append(1) or real(self))
    model, load = zoo_core.create_pretrained(NAME, checkpoint_path=tmp_path / "w.npz")
    load()
    load()
    assert model.num_classes == 4 and len(calls) == 1


def test_head_classes_come_from_the_header():
    """A checkpoint's head size is the classifier's first dimension; none at all means 0."""
    variant = zoo_core.get_variant(NAME)
    sd = tinynet_state_dict(num_classes=7)
    assert Checkpoint(sd, "x").head_classes(variant) == 7
    assert Checkpoint({k: v for k, v in sd.items() if not k.startswith("fc.")}, "x").head_classes(variant) == 0


def test_plan_keeps_a_fresh_head_and_ignores_the_released_one():
    """num_classes different from the checkpoint's: the plan reads no fc key, keeps fc's paths and
    ignores the checkpoint's fc tensors; the released size plans every key."""
    variant, family = zoo_core.get_variant(NAME), zoo_core.get_family(NAME)
    checkpoint = Checkpoint(tinynet_state_dict(), "x")
    fresh = zoo_core.create_model(NAME, num_classes=3)
    plan = plan_load(fresh, variant, family, checkpoint, *abstract_init(fresh))
    assert not [k for k, _, _ in plan.triples if k.startswith("fc.")]
    assert {tuple(p) for p in plan.kept} == {("params", "fc", "kernel"), ("params", "fc", "bias")}
    assert plan.ignored == {"fc.weight", "fc.bias"}
    released = zoo_core.create_model(NAME)
    full = plan_load(released, variant, family, checkpoint, *abstract_init(released))
    assert {k for k, _, _ in full.triples} >= {"fc.weight", "fc.bias"} and not full.kept and not full.ignored


def test_a_mismatch_names_the_in_memory_source():
    """A state dict that does not fit is refused in one report naming the source's label."""
    sd = tinynet_state_dict()
    del sd["stage.conv.weight"]
    with pytest.raises(StateDictMismatchError, match=r"(?s)my weights does not fit.*missing key 'stage.conv.weight'"):
        _load(InMemory(sd, "my weights"))


def test_wrappers_declare_the_architecture_they_wrap():
    """A model is its own architecture; features_only and a compute dtype wrap the family's model,
    and declare it, so the loader maps onto it without guessing."""
    plain = zoo_core.create_model(NAME)
    assert plain.architecture is plain
    features = zoo_core.create_model(NAME, features_only=True)
    assert type(features.architecture) is type(plain) and features.architecture.num_classes == 0
    both = zoo_core.create_model(NAME, features_only=True, dtype="bfloat16")
    assert both.architecture is both.inner.model


def test_a_corrupt_cached_file_is_named_with_its_repository_and_commit(hf_cache):
    """Errors name a file of huggingface_hub's cache as repo/file (commit …, path); a file outside
    the cache by its path alone."""
    data = tinynet_bytes()
    path = write_cached_file(hf_cache, REPO, "model.safetensors", data[:-100])
    commit = os.path.basename(os.path.dirname(path))
    with pytest.raises(CheckpointFormatError, match=rf"{REPO}/model.safetensors \(commit {commit[:12]}, .*truncated"):
        zoo_core.create_pretrained(NAME, local_files_only=True)[1]()


def test_cache_verify_reports_a_deleted_blob_as_missing(hf_cache):
    """A snapshot whose blob was deleted makes huggingface_hub's scan skip the repository; verify
    still reports it, as missing, and repair has nothing to unlink for it."""
    from zoo_core.cache import remove_cached, verify

    path = write_cached_file(hf_cache, REPO, "model.safetensors", safetensors_bytes(tinynet_state_dict()))
    assert [e.status for e in verify([zoo_core.get_variant(NAME)])] == ["ok"]
    os.remove(os.path.realpath(path))
    entries = verify([zoo_core.get_variant(NAME)])
    assert [e.status for e in entries] == ["missing"] and "Blob missing" in entries[0].detail
    remove_cached(entries[0].snapshot)  # no snapshot path: nothing to remove, nothing raised
    assert os.path.isdir(hf_cache)


def test_loaded_trees_are_concrete_arrays():
    """load_weights turns abstract trees into arrays on the default device."""
    _, (params, _) = _load(InMemory(tinynet_state_dict()))
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(params))


@pytest.mark.parametrize("data, name", [("safetensors", "w.bin"), ("safetensors", "w.pt"), ("npz", "w.safetensors"),
                                        ("npz", "weights")])
def test_a_local_file_is_read_by_its_content_whatever_its_name(tmp_path, data, name):
    """A safetensors file named .bin is not sent to torch.load, an .npz named .safetensors not to
    the safetensors reader: each loads to the reference outputs (before: judged by extension)."""
    sd = tinynet_state_dict()
    if data == "safetensors":
        (tmp_path / name).write_bytes(tinynet_bytes())
    else:
        with open(tmp_path / name, "wb") as f:
            np.savez(f, **sd)
    model, (params, state) = _load(LocalFile(tmp_path / name))
    y, _ = model.apply(params, state, X)
    np.testing.assert_allclose(y, reference_forward(sd, X), rtol=1e-5, atol=1e-5)


@pytest.mark.torch
def test_a_pytorch_zip_named_safetensors_loads(tmp_path):
    """torch.save's zip archive, named .safetensors, is read as the PyTorch checkpoint it is."""
    torch = pytest.importorskip("torch")
    sd = tinynet_state_dict()
    torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, tmp_path / "w.safetensors")
    model, (params, state) = _load(str(tmp_path / "w.safetensors"))
    np.testing.assert_allclose(model.apply(params, state, X)[0], reference_forward(sd, X), rtol=1e-5, atol=1e-5)
