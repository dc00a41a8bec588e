"""``hf-hub:org/name`` in, ``save_pretrained`` / ``push_to_hub`` out, against the loopback Hub, on
the tinynet test family (no torch: timm's side of the round trip is in test_save_pretrained_parity)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import zoo_core
from zoo_core import hub_repo, plugins
from zoo_core.cli import main
from zoo_core.errors import ArgumentError, DownloadError, UnknownVariantError, WeightsError
from zoo_core.save import NonCommercialExportWarning, UploadError

IMAGES = sorted(str(p) for p in (Path(__file__).parents[1] / "examples" / "images").glob("*.jpg"))

BASE = "tinynet_s.zoo_in1k"
PETS = ["cat", "dog", "fish"]


@pytest.fixture(autouse=True)
def _fresh_repositories():
    hub_repo.forget()
    yield
    hub_repo.forget()


def _finetuned(name=BASE, num_classes=3, seed=0):
    model = zoo_core.create_model(name, num_classes=num_classes)
    params, state = model.init(jax.random.key(seed))
    moved = jax.tree_util.tree_map(lambda a: a + 0.1, params)
    return model, moved, state


def _same(a, b):
    flat_a, tree_a = jax.tree_util.tree_flatten(a)
    flat_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    for u, v in zip(flat_a, flat_b):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _push(hub, repo="me/pets", **kwargs):
    model, params, state = _finetuned(**kwargs)
    info = zoo_core.push_to_hub(model, params, state, repo, variant=BASE, label_names=PETS)
    return model, params, state, info


def test_save_pretrained_writes_timms_files(tmp_path):
    model, params, state = _finetuned()
    out = zoo_core.save_pretrained(model, params, state, tmp_path / "pets", variant=BASE, label_names=PETS)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "tinynet_s" and config["num_classes"] == 3 and config["label_names"] == PETS
    assert config["model_args"] == {"num_classes": 3, "in_chans": 3}
    cfg = config["pretrained_cfg"]
    assert cfg["input_size"] == [3, 224, 224] and cfg["first_conv"] == "stem.conv" and cfg["license"] == "apache-2.0"
    from safetensors.numpy import load_file

    tensors = load_file(str(out / "model.safetensors"))
    assert tensors["fc.weight"].shape == (3, 16)  # timm's (out, in) layout
    np.testing.assert_array_equal(tensors["fc.weight"], np.asarray(params["fc"]["kernel"]).T)
    card = (out / "README.md").read_text()
    assert "- timm\n- zoo\n" in card and "license: apache-2.0" in card and f"base_model: zoo-test/{BASE}" in card
    with pytest.raises(ArgumentError, match="label_names must name each of the head's 3 classes, got 2"):
        zoo_core.save_pretrained(model, params, state, tmp_path / "bad", variant=BASE, label_names=["a", "b"])
    with pytest.raises(ArgumentError, match=r"data_config keys \['size'\] are not allowed"):
        zoo_core.save_pretrained(model, params, state, tmp_path / "bad", variant=BASE, data_config={"size": 3})
    assert not (tmp_path / "bad").exists()  # checked before anything is written


def test_push_then_open_with_hf_hub_gives_identical_trees_and_the_repos_head(hub):
    model, params, state, info = _push(hub)
    assert hub.commits == [("me/pets", "main", "Add model", ("README.md", "config.json", "model.safetensors"))]
    assert info.oid and info.commit_url.endswith(info.oid)
    variant = zoo_core.get_variant("hf-hub:me/pets")
    assert (variant.name, variant.arch, variant.family, variant.num_classes) == ("hf-hub:me/pets", "tinynet_s",
                                                                                 "tinynet", 3)
    assert variant.labels == tuple(PETS) and variant.license.id == "apache-2.0" and variant.license.commercial == "yes"
    ours, load = zoo_core.create_pretrained("hf-hub:me/pets")
    assert ours.num_classes == 3
    _same((params, state), load())
    _, params2, _, second = _push(hub, seed=1)  # a new commit: the card the repository has is kept
    assert hub.commits[-1][3] == ("config.json", "model.safetensors") and second.oid != info.oid
    _same(params2, zoo_core.create_pretrained("hf-hub:me/pets")[1]()[0])


def test_offline_after_one_read_and_revisions(hub, monkeypatch):
    _, params, state, info = _push(hub)
    zoo_core.create_pretrained("hf-hub:me/pets")[1]()
    hub_repo.forget()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _same(params, zoo_core.create_pretrained("hf-hub:me/pets")[1]()[0])
    monkeypatch.delenv("HF_HUB_OFFLINE")
    pinned = zoo_core.get_variant(f"hf-hub:me/pets@{info.oid}")
    assert pinned.revision == info.oid and pinned.name == f"hf-hub:me/pets@{info.oid}"
    with pytest.raises(ArgumentError, match="contradicts the revision in the name"):
        zoo_core.create_pretrained(f"hf-hub:me/pets@{info.oid}", revision="v2")
    with pytest.raises(ArgumentError, match="not a Hub model name"):
        zoo_core.get_variant("hf-hub:pets")


def test_a_repository_without_model_safetensors_or_config(hub):
    config = {"architecture": "tinynet_s", "num_classes": 10, "pretrained_cfg": {}}
    hub.commit("old/pickled", {"config.json": json.dumps(config).encode(), "pytorch_model.bin": b"\x80\x02pickle"})
    model, load = zoo_core.create_pretrained("hf-hub:old/pickled")
    with pytest.raises(WeightsError, match=r"only as pytorch_model.bin, a pickle, which zoo does not unpickle.*"
                                           r"zoo convert pytorch_model.bin model.safetensors"):
        load()
    hub.commit("some/dataset", {"README.md": b"# not a model"})
    with pytest.raises(DownloadError, match="has no config.json: it is not a timm model repository"):
        zoo_core.get_variant("hf-hub:some/dataset")


def test_architectures_and_model_args_zoo_cannot_build(hub, monkeypatch):
    hub.commit("x/effnet", {"config.json": json.dumps({"architecture": "efficientnet_b0"}).encode()})
    with pytest.raises(UnknownVariantError, match="no installed zoo family provides the architecture 'efficientnet_b0"):
        zoo_core.get_variant("hf-hub:x/effnet")
    hub.commit("x/r50", {"config.json": json.dumps({"architecture": "resnet50"}).encode()})
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "zoo-resnet")
    plugins.reset()
    with pytest.raises(UnknownVariantError, match=r"hf-hub:x/r50 is a .resnet50. model; .*zoo-resnet"):
        zoo_core.get_variant("hf-hub:x/r50")
    config = {"architecture": "tinynet_s", "model_args": {"global_pool": "avg", "depth": 2}, "pretrained_cfg": {}}
    hub.commit("x/deep", {"config.json": json.dumps(config).encode()})
    with pytest.raises(ArgumentError, match=r"model_args depth=2 are not arguments of zoo's tinynet family"):
        zoo_core.create_model("hf-hub:x/deep")


def test_timms_legacy_single_dict_config_and_labels_by_index():
    arch, top, cfg, args = hub_repo.parse_config({"architecture": "tinynet_s", "num_classes": 2, "labels": ["a", "b"],
                                                  "input_size": [3, 64, 64]})
    assert (arch, cfg["label_names"], cfg["input_size"], args) == ("tinynet_s", ["a", "b"], [3, 64, 64], {})
    variant = hub_repo.variant_from_config("o/n", "main", {"architecture": "tinynet_s", "num_classes": 3,
                                                           "label_names": {"0": "a", "2": "c"}}, {})
    assert variant.labels == ("a", "class 1", "c") and variant.license.id == "unknown"


@pytest.mark.parametrize("meta, expected", [
    ({"license": "apache-2.0"}, ("apache-2.0", "yes")),
    ({"license": "cc-by-nc-4.0"}, ("cc-by-nc-4.0", "no")),
    ({"license": "other", "license_name": "dinov3-license", "license_link": "https://x"}, ("dinov3-license",
                                                                                           "conditions")),
    ({}, ("unknown", "conditions")),
])
def test_license_from_the_cards_metadata(meta, expected):
    lic = hub_repo.license_from_card(meta)
    assert (lic.id, lic.commercial) == expected


def test_a_non_commercial_base_is_inherited_with_a_warning(hub):
    model, params, state = _finetuned("tinynet_s.zoo_nc")
    with pytest.warns(NonCommercialExportWarning, match="CC-BY-NC-4.0"):
        zoo_core.push_to_hub(model, params, state, "me/nc-pets", variant="tinynet_s.zoo_nc", label_names=PETS)
    card = hub.files[("me/nc-pets", "main", "README.md")].data.decode()
    assert "license: cc-by-nc-4.0" in card and "Non-commercial license" in card
    variant = zoo_core.get_variant("hf-hub:me/nc-pets")
    assert (variant.license.id, variant.license.commercial) == ("cc-by-nc-4.0", "no")


def test_upload_refused_without_a_write_token(hub, tmp_path):
    hub.require_token = "hf_writer"
    model, params, state = _finetuned()
    with pytest.raises(UploadError, match="me/pets: upload failed"):
        zoo_core.push_to_hub(model, params, state, "me/pets", variant=BASE, token="hf_reader")
    with pytest.raises(ArgumentError, match="has no config.json and no model.safetensors"):
        zoo_core.upload_folder(tmp_path, "me/pets")


def test_cli_push_info_and_predict_as_a_user_types_them(hub, tmp_path, capsys):
    model, params, state = _finetuned()
    zoo_core.save_pretrained(model, params, state, tmp_path / "pets", variant=BASE, label_names=PETS)
    assert main(["push", str(tmp_path / "pets"), "me/pets", "--json"]) == 0
    pushed = json.loads(capsys.readouterr().out)
    assert pushed["repo_id"] == "me/pets" and hub.commits[-1][0] == "me/pets"
    assert main(["info", "hf-hub:me/pets"]) == 0
    out = capsys.readouterr().out
    assert "hf-hub:me/pets  (tinynet family" in out and "3 from config.json: cat, dog, fish" in out
    assert "license from    README.md metadata" in out
    assert main(["predict", "hf-hub:me/pets", IMAGES[0], "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {t["label"] for t in rows[0]["top"]} == set(PETS)


def test_a_repository_in_the_cache_opens_offline_without_a_hub(tmp_path, hf_cache, monkeypatch):
    from zoo_core.testing.hf_cache import saved_repo_files, write_cached_repo

    model, params, state = _finetuned()
    out = zoo_core.save_pretrained(model, params, state, tmp_path / "pets", variant=BASE, label_names=PETS)
    write_cached_repo(hf_cache, "me/cached-pets", saved_repo_files(out))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ours, load = zoo_core.create_pretrained("hf-hub:me/cached-pets")
    _same((params, state), load())
    with pytest.raises(DownloadError, match="offline"):
        zoo_core.get_variant("hf-hub:me/elsewhere")



def test_a_gated_or_private_repository_says_so_as_timm_weights_do(hub):
    """A repository the Hub refuses (gated: 403; private or missing: 401/404) is one DownloadError
    naming it, from the config's download, before anything is built."""
    hub.add_file("org/gated", "config.json", b"{}", status=403, message="Access to model org/gated is restricted")
    with pytest.raises(DownloadError, match=r"org/gated.*gated"):
        zoo_core.get_variant("hf-hub:org/gated")
    hub.add_file("org/private", "config.json", b"{}", status=401, message="Repository not found")
    with pytest.raises(DownloadError, match=r"org/private.*not found or not accessible"):
        zoo_core.create_model("hf-hub:org/private")
