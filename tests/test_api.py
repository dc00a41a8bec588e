"""create_model / create_pretrained end to end on the tinynet test family, and the hooks around loading."""

import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core import plugins
from zoo_core.builtin_hooks import NonCommercialWeightsWarning
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file

from tinynet_weights import reference_forward, tinynet_bytes, tinynet_state_dict

NAME, REPO = "tinynet_s.zoo_in1k", "zoo-test/tinynet_s.zoo_in1k"


def images(n=2, h=9, w=11, c=3, seed=1):
    return np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)


@pytest.fixture
def served(hub):
    hub.add_file(REPO, "model.safetensors", tinynet_bytes())
    return hub


def test_create_model_builds_the_released_head_or_the_asked_one():
    assert zoo_core.default_num_classes("tinynet_s") == 10
    model = zoo_core.create_model("tinynet_s")
    params, state = model.init(jax.random.key(0))
    assert model.apply(params, state, images())[0].shape == (2, 10)
    backbone = zoo_core.create_model("tinynet_s", num_classes=0, in_chans=1)
    p, s = backbone.init(jax.random.key(0))
    assert "kernel" not in p["fc"]
    assert backbone.apply(p, s, images(c=1))[0].shape == (2, 16)


def test_create_pretrained_downloads_once_and_matches_the_reference(served):
    model, load = zoo_core.create_pretrained(NAME)
    assert served.count() == 0  # nothing is fetched before load()
    params, state = load()
    x = images()
    y, new_state = jax.jit(model.apply)(params, state, x)
    np.testing.assert_allclose(y, reference_forward(tinynet_state_dict(), x), rtol=1e-5, atol=1e-5)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    gets = served.count("GET")
    zoo_core.create_pretrained(NAME)[1]()
    assert served.count("GET") == gets  # second load: HEAD only, the blob comes from the cache


def test_load_then_works_offline_from_the_cache(served, monkeypatch):
    zoo_core.create_pretrained(NAME)[1]()
    before = served.count()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params, _ = zoo_core.create_pretrained(NAME)[1]()
    assert served.count() == before
    np.testing.assert_array_equal(params["fc"]["bias"], tinynet_state_dict()["fc.bias"])


def test_load_writes_under_prefix_without_mutating_its_inputs(served):
    model, load = zoo_core.create_pretrained(NAME, prefix=("backbone",))
    p, s = model.init(jax.random.key(0))
    outer_p = {"backbone": p, "head": {"w": jnp.ones(3)}}
    outer_s = {"backbone": s, "head": {}}
    kernel_before = np.array(p["stem"]["conv"]["kernel"])
    new_p, new_s = load(outer_p, outer_s)
    assert new_p["head"] is outer_p["head"]
    np.testing.assert_array_equal(outer_p["backbone"]["stem"]["conv"]["kernel"], kernel_before)
    np.testing.assert_array_equal(new_s["backbone"]["stem"]["bn"]["var"], tinynet_state_dict()["stem.bn.running_var"])
    assert set(load()[0]) == {"backbone"}
    with pytest.raises(KeyError, match="prefix .*has no key 'backbone'"):
        load(p, s)


def test_num_classes_zero_drops_the_head_and_returns_pre_logits(served):
    model, load = zoo_core.create_pretrained(NAME, num_classes=0)
    params, state = load()
    x = images()
    y, _ = model.apply(params, state, x)
    np.testing.assert_allclose(y, reference_forward(tinynet_state_dict(), x, pre_logits=True), rtol=1e-5, atol=1e-5)


def test_a_new_head_size_warns_and_keeps_the_fresh_head(served):
    with pytest.warns(zoo_core.HeadSkippedWarning, match="num_classes=3 differs from the released head \\(10\\)"):
        model, load = zoo_core.create_pretrained(NAME, num_classes=3)
    p, s = model.init(jax.random.key(0))
    new_p, _ = load(p, s)
    np.testing.assert_array_equal(new_p["fc"]["kernel"], p["fc"]["kernel"])
    assert load()[0]["fc"]["kernel"].shape == (16, 3)  # load() alone initialises the new head


def test_in_chans_adapts_the_stem_like_timm(served):
    model, load = zoo_core.create_pretrained(NAME, in_chans=1)
    params, _ = load()
    stem = tinynet_state_dict()["stem.conv.weight"].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(params["stem"]["conv"]["kernel"], stem.transpose(2, 3, 1, 0), rtol=1e-6)


def test_a_checkpoint_that_does_not_fit_names_the_file_and_every_key(hub):
    sd = tinynet_state_dict()
    sd["fc.weight"] = sd["fc.weight"][:, :4]
    del sd["stem.bn.bias"]
    hub.add_file(REPO, "model.safetensors", safetensors_bytes(sd))
    with pytest.raises(zoo_core.StateDictMismatchError) as info:
        zoo_core.create_pretrained(NAME)[1]()
    msg = str(info.value)
    assert f"{REPO}/model.safetensors (commit" in msg
    assert "missing key 'stem.bn.bias'" in msg and "shape mismatch for 'fc.weight'" in msg


def test_bad_inputs_name_the_expected_layout():
    model = zoo_core.create_model("tinynet_s")
    p, s = model.init(jax.random.key(0))
    with pytest.raises(zoo_core.InputError, match=r"\(N, H, W, 3\) in NHWC.*add a batch axis"):
        model.apply(p, s, images()[0])
    with pytest.raises(zoo_core.InputError, match="NCHW input\\? transpose"):
        model.apply(p, s, images().transpose(0, 3, 1, 2))
    with pytest.raises(zoo_core.InputError, match="dtype uint8"):
        model.apply(p, s, np.zeros((1, 8, 8, 3), np.uint8))


def test_unknown_variant_error_names_close_matches():
    with pytest.raises(zoo_core.UnknownVariantError, match="closest: tinynet_s"):
        zoo_core.create_model("tinynet_z")


def _plugin(name, **hooks):
    mod = types.ModuleType(name)
    for k, fn in hooks.items():
        setattr(mod, k, zoo_core.hookimpl(fn))
    plugins.register_plugin(mod, name)
    return mod


@pytest.fixture
def plugin():
    names = []

    def register(name, **hooks):
        names.append(name)
        return _plugin(name, **hooks)

    yield register
    for n in names:
        plugins.unregister_plugin(n)


def test_weights_hook_a_local_folder_plugin_wins_over_the_hub(tmp_path, plugin, hub):
    (tmp_path / "tinynet_s.zoo_in1k.safetensors").write_bytes(tinynet_bytes(seed=5))

    def zoo_weights_file(variant, revision, cache_dir, local_files_only, token):
        path = tmp_path / f"{variant.name}.safetensors"
        return str(path) if path.exists() else None

    plugin("mirror", zoo_weights_file=zoo_weights_file)
    params, _ = zoo_core.create_pretrained(NAME)[1]()
    np.testing.assert_array_equal(params["fc"]["bias"], tinynet_state_dict(seed=5)["fc.bias"])
    assert hub.count() == 0


def test_transform_hook_converts_a_foreign_checkpoint_layout(hub, plugin):
    foreign = {k.replace("stem.", "features.0."): v for k, v in tinynet_state_dict().items()}
    hub.add_file(REPO, "model.safetensors", safetensors_bytes(foreign))

    def zoo_transform_checkpoint(variant, state_dict, path):
        if "features.0.conv.weight" not in state_dict:
            return None
        return {k.replace("features.0.", "stem."): state_dict[k] for k in state_dict}

    plugin("renamer", zoo_transform_checkpoint=zoo_transform_checkpoint)
    params, _ = zoo_core.create_pretrained(NAME)[1]()
    np.testing.assert_array_equal(params["stem"]["bn"]["scale"], tinynet_state_dict()["stem.bn.weight"])


def test_before_load_hook_can_refuse_and_after_load_hook_can_cast(served, plugin):
    class LicenseRefused(zoo_core.ZooError):
        pass

    def zoo_before_load(variant, options):
        if variant.license.commercial != "yes":
            raise LicenseRefused(f"{variant.name}: {variant.license.id} is not allowed here")

    def zoo_after_load(variant, params, state):
        return jax.tree.map(lambda a: a.astype(jnp.bfloat16), params), state

    plugin("gate", zoo_before_load=zoo_before_load, zoo_after_load=zoo_after_load)
    with pytest.raises(LicenseRefused, match="CC-BY-NC-4.0 is not allowed"):
        zoo_core.create_pretrained("tinynet_s.zoo_nc")
    params, state = zoo_core.create_pretrained(NAME)[1]()
    assert params["fc"]["kernel"].dtype == jnp.bfloat16 and state["stem"]["bn"]["mean"].dtype == jnp.float32


def test_non_commercial_weights_warn_once_per_process(monkeypatch):
    import zoo_core.builtin_hooks as builtin

    monkeypatch.setattr(builtin, "_warned", set())
    with pytest.warns(NonCommercialWeightsWarning, match="does not allow commercial use"):
        zoo_core.create_pretrained("tinynet_s.zoo_nc")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonCommercialWeightsWarning)
        zoo_core.create_pretrained("tinynet_s.zoo_nc")
        zoo_core.create_pretrained(NAME)


def test_load_accepts_a_local_checkpoint_path(tmp_path):
    path = write_cached_file(tmp_path, "x/y", "model.safetensors", tinynet_bytes(seed=3))
    params, _ = zoo_core.create_pretrained(NAME, checkpoint_path=path)[1]()
    np.testing.assert_array_equal(params["fc"]["bias"], tinynet_state_dict(seed=3)["fc.bias"])


def test_a_local_checkpoints_head_size_comes_from_the_header_without_reading_tensors(tmp_path, monkeypatch):
    """``create_pretrained(checkpoint_path=...)`` sizes the head from the file's header: no tensor is
    read until ``load`` (a 21k-class head is hundreds of MB)."""
    from zoo_core.interop.safetensors_io import SafetensorsFile

    sd = tinynet_state_dict(seed=3)
    sd["fc.weight"], sd["fc.bias"] = np.zeros((7, sd["fc.weight"].shape[1]), np.float32), np.zeros(7, np.float32)
    path = write_cached_file(tmp_path, "x/y", "model.safetensors", safetensors_bytes(sd))
    reads = []
    original = SafetensorsFile.__getitem__
    monkeypatch.setattr(SafetensorsFile, "__getitem__", lambda self, key: reads.append(key) or original(self, key))
    model, load = zoo_core.create_pretrained(NAME, checkpoint_path=path)
    assert model.num_classes == 7 and reads == []


def test_grad_flows_through_apply_and_train_mode_updates_batch_norm():
    model = zoo_core.create_model("tinynet_s")
    p, s = model.init(jax.random.key(0))
    x = images()

    def loss(p):
        y, new_s = model.apply(p, s, x, train=True)
        return jnp.mean(y ** 2), new_s

    grads, new_s = jax.grad(loss, has_aux=True)(p)
    assert float(jnp.abs(grads["stem"]["conv"]["kernel"]).sum()) > 0
    assert not np.allclose(new_s["stem"]["bn"]["mean"], s["stem"]["bn"]["mean"])


def test_the_mapping_sees_the_trees_eval_shape_would_give():
    """load_weights hands the family's mapping abstract trees made without tracing; they equal
    ``jax.eval_shape``'s for arrays, numpy arrays, placeholders and Python scalars."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from zoo_core.nn.module import shape_structs as _abstract

    tree = {"a": jnp.zeros((2, 3)), "b": np.ones(4, np.float64), "c": jax.ShapeDtypeStruct((5,), jnp.int32),
            "d": 1.5, "e": {"f": np.zeros((), np.int8)}}
    assert _abstract(tree) == jax.eval_shape(lambda: tree)
