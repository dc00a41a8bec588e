"""Every public argument is checked up front: a wrong type or range raises ``ArgumentError``
naming the variant, the argument and the value, never a built-in error from deep inside, and
never a silently different model. Hand-written cases first, then property-based ones."""

import os
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo_core
from zoo_core.data import DataConfig, eval_transform, preprocess, resolve_data_config
from zoo_core.errors import ArgumentError, ZooError
from zoo_core.features import resolve_out_indices
from zoo_core.loading import HubWeights

from tinynet_weights import tinynet_bytes

NAME = "tinynet_s.zoo_in1k"
VIT = "vit_tiny_patch16_224"
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tinynet_s safetensors file on disk (no Hub)."""
    path = tmp_path_factory.mktemp("weights") / "tinynet_s.safetensors"
    path.write_bytes(tinynet_bytes())
    return path


def test_argument_error_is_a_zoo_error_a_value_error_and_a_type_error():
    """Callers catching the built-in errors keep working; the CLI exits with its own code."""
    assert issubclass(ArgumentError, ZooError) and issubclass(ArgumentError, ValueError)
    assert issubclass(ArgumentError, TypeError) and ArgumentError.exit_code == 10


@pytest.mark.parametrize(("kwargs", "shown"), [
    (dict(num_classes=True), "num_classes=True"),      # was a model with num_classes=True
    (dict(in_chans=3.0), "in_chans=3.0"),              # was a model with in_chans=3.0
    (dict(in_chans="3"), "in_chans='3'"),              # was a bare TypeError from a comparison
    (dict(in_chans=0), "in_chans=0"),
    (dict(num_classes=-1), "num_classes=-1"),
    (dict(features_only="yes"), "features_only='yes'"),  # was a features model
    (dict(features_only=True, out_indices=True), "out_indices=True"),  # was the last map
    (dict(features_only=True, out_indices=1.5), "out_indices=1.5"),  # was "'float' object is not iterable"
    (dict(features_only=True, out_indices="01"), "out_indices='01'"),
    (dict(out_indices=(0,)), "needs features_only=True"),
    (dict(dtype=True), "dtype=True"),
])
def test_create_model_refuses_wrong_types_and_ranges(kwargs, shown):
    """Each wrong argument is named with its value and the variant, as an ArgumentError."""
    with pytest.raises(ArgumentError, match=rf"{NAME}: .*{shown[:12]}"):
        zoo_core.create_model("tinynet_s", **kwargs)


def test_create_model_takes_numpy_ints_as_python_ints():
    """A numpy integer is an int; the model's fields hold Python ints."""
    model = zoo_core.create_model("tinynet_s", in_chans=np.int64(2), num_classes=np.int32(4))
    assert (model.in_chans, model.num_classes) == (2, 4)
    assert type(model.in_chans) is int and type(model.num_classes) is int


def test_unknown_family_keyword_is_refused_before_the_builder_runs():
    """An unknown keyword names the variant, the keyword and the ones the family takes (was
    Python's ``build_model() got an unexpected keyword argument``)."""
    with pytest.raises(ArgumentError, match=rf"{NAME}: unknown keyword argument img_size=32: the tinynet family "
                                            "takes no further keyword arguments"):
        zoo_core.create_model("tinynet_s", img_size=32)
    with pytest.raises(ArgumentError, match=r"vit_tiny_patch16_224\..*: unknown keyword argument pool='avg': "
                                            "the vit family takes in_chans, num_classes and the architecture's arguments patch_size"):
        zoo_core.create_model(VIT, pool="avg")


@pytest.mark.parametrize("img_size", ["224", 8, 0, -16, (32, 8), (32, 32, 3), 32.0, True, [32]])
def test_vit_img_size_must_hold_one_patch(img_size):
    """``img_size="224"`` built a 2×2 model, ``8`` or ``0`` a model with no patch, ``(32, 32, 3)``
    a 32×32 one; all now name the patch size."""
    with pytest.raises(ArgumentError, match=r"img_size=.*the patch size 16"):
        zoo_core.create_model(VIT, img_size=img_size)


def test_vit_family_keywords_are_checked():
    """``global_pool`` is one of the pools; ``fc_norm`` None or a bool (``"x"`` was read as True)."""
    assert zoo_core.create_model(VIT, img_size=[32, 48]).patch_embed.grid_size == (2, 3)
    with pytest.raises(ArgumentError, match=r"global_pool='mean' .*'token', 'avg'"):
        zoo_core.create_model(VIT, global_pool="mean")
    with pytest.raises(ArgumentError, match=r"fc_norm='x' .*True or False or None"):
        zoo_core.create_model(VIT, fc_norm="x")


def test_mixer_img_size_must_hold_one_patch():
    with pytest.raises(ArgumentError, match=r"mixer_b16_224\..*img_size=15 .*the patch size 16"):
        zoo_core.create_model("mixer_b16_224", img_size=15)


@pytest.mark.parametrize(("kwargs", "shown"), [
    (dict(revision=""), "revision=''"),
    (dict(revision=3), "revision=3"),
    (dict(cache_dir=3), "cache_dir=3"),
    (dict(prefix="backbone"), "prefix='backbone'"),  # was the keys ('b', 'a', 'c', ...)
    (dict(prefix=("a", 1)), r"prefix=\('a', 1\)"),
    (dict(local_files_only="no"), "local_files_only='no'"),  # was read as True
    (dict(token=3), "token=3"),
    (dict(checkpoint_path=3), "checkpoint_path=3"),
    (dict(checkpoint_path=""), "checkpoint_path=''"),
    (dict(check_finite="yes"), "check_finite='yes'"),
    (dict(num_classes=2.0), "num_classes=2.0"),
])
def test_create_pretrained_refuses_wrong_arguments_before_any_file(kwargs, shown):
    with pytest.raises(ArgumentError, match=rf"{NAME}: {shown} is not allowed"):
        zoo_core.create_pretrained("tinynet_s", **kwargs)


def test_load_takes_two_mappings_or_neither(checkpoint):
    """``load(params)`` without state, or trees that are not mappings, name what was given (was a
    bare TypeError, or a failure deep in the tree code)."""
    model, load = zoo_core.create_pretrained("tinynet_s", checkpoint_path=checkpoint)
    params, state = load()
    with pytest.raises(ArgumentError, match=rf"{NAME}: load\(params=a dict, state=None\) is not allowed"):
        load(params, None)
    with pytest.raises(ArgumentError, match=r"load\(params=\[1\], state=\[2\]\)"):
        load([1], [2])
    assert load(params, state)[0]["fc"]["bias"].shape == (10,)


def test_name_must_be_a_string():
    with pytest.raises(ArgumentError, match="name=3 is not allowed"):
        zoo_core.create_model(3)


@pytest.mark.parametrize(("overrides", "shown"), [
    (dict(img_size=0), "img_size=0"),          # was the variant's size, silently
    (dict(crop_pct=0), "crop_pct=0"),          # was the variant's crop_pct, silently
    (dict(crop_pct=1.5), "crop_pct=1.5"),
    (dict(crop_pct="0.9"), "crop_pct='0.9'"),
    (dict(crop_mode="middle"), "crop_mode='middle'"),
    (dict(interpolation="cubic"), "interpolation='cubic'"),  # was accepted, failed in the transform
    (dict(mean=(0.5, 0.5)), r"mean=\(0.5, 0.5\) .*1 or 3 values"),
    (dict(std=(0.0,)), r"std=\(0.0,\)"),
    (dict(mean="abc"), "mean='abc'"),          # was the three characters
    (dict(input_size=(3, 224)), r"input_size=\(3, 224\)"),
    (dict(in_chans=True, img_size=32), "in_chans=True"),
    (dict(size=3), "unknown overrides"),
])
def test_resolve_data_config_checks_each_override(overrides, shown):
    with pytest.raises(ArgumentError, match=rf"tinynet_m.zoo_in1k: .*{shown}"):
        resolve_data_config("tinynet_m", **overrides)


def test_eval_transform_and_preprocess_check_their_arguments():
    """A hand-made DataConfig is checked before any image is read; ``preprocess("a.jpg", ...)``
    would have read the characters of the path as paths."""
    good = DataConfig((3, 8, 8), "bilinear", (0.5,), (0.5,), 0.9, "center")
    with pytest.raises(ArgumentError, match=r"eval_transform: config.crop_pct=-0.5"):
        eval_transform(DataConfig((3, 8, 8), "bilinear", (0.5,), (0.5,), -0.5, "center"))
    with pytest.raises(ArgumentError, match=r"eval_transform: config.interpolation='cubic'"):
        eval_transform(DataConfig((3, 8, 8), "cubic", (0.5,), (0.5,), 0.9, "center"))
    with pytest.raises(ArgumentError, match=r"eval_transform: config=\{"):
        eval_transform(good.to_dict())
    with pytest.raises(ArgumentError, match=r"preprocess: paths='a.jpg'"):
        preprocess("a.jpg", good)


def test_out_indices_and_dtype_errors_are_argument_errors():
    with pytest.raises(ArgumentError, match=r"m: out_indices \(0, 5\) has 5"):
        resolve_out_indices("m", 5, (0, 5))
    with pytest.raises(ArgumentError, match=rf"{NAME}: dtype='int8'"):
        zoo_core.create_model("tinynet_s", dtype="int8")


# Property-based: arbitrary values for each argument give a documented error or exactly the model asked for.

VALUES = st.one_of(
    st.none(), st.booleans(), st.booleans().map(np.bool_), st.integers(-3, 40), st.integers(-3, 40).map(np.int64),
    st.floats(), st.text(max_size=4), st.tuples(st.integers(-3, 40), st.integers(-3, 40)),
    st.lists(st.integers(-3, 3), max_size=3), st.just(b"3"),
)


def is_bool(value) -> bool:
    """The oracle: Python's or numpy's bool (the API takes both, as it takes numpy's ints)."""
    return isinstance(value, (bool, np.bool_))


def int_at_least(value, low) -> bool:
    """The oracle: an integer (Python's or numpy's, never a bool) ``≥ low``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low


@PROPERTY
@given(in_chans=VALUES, num_classes=VALUES)
def test_create_model_builds_the_asked_model_or_refuses(in_chans, num_classes):
    valid = int_at_least(in_chans, 1) and (num_classes is None or int_at_least(num_classes, 0))
    try:
        model = zoo_core.create_model("tinynet_s", in_chans=in_chans, num_classes=num_classes)
    except ArgumentError as e:
        assert not valid and NAME in str(e)
        return
    assert valid
    assert model.in_chans == in_chans and type(model.in_chans) is int
    assert model.num_classes == (10 if num_classes is None else num_classes) and type(model.num_classes) is int


@PROPERTY
@given(features_only=VALUES, out_indices=VALUES)
def test_features_only_builds_the_asked_maps_or_refuses(features_only, out_indices):
    """tinynet has two feature maps: ``out_indices`` is None, 1 or 2, or distinct indices in [-2, 2)."""
    if not is_bool(features_only) or (out_indices is not None and not features_only):
        expected = None
    elif out_indices is None:
        expected = (0, 1)
    elif int_at_least(out_indices, 1) and out_indices <= 2:
        expected = tuple(range(2 - out_indices, 2))
    elif (isinstance(out_indices, (tuple, list)) and out_indices and all(int_at_least(i, -2) and i < 2
                                                                         for i in out_indices)
          and len({i % 2 for i in out_indices}) == len(out_indices)):
        expected = tuple(i % 2 for i in out_indices)
    else:
        expected = None
    try:
        model = zoo_core.create_model("tinynet_s", features_only=features_only, out_indices=out_indices)
    except ArgumentError as e:
        assert expected is None and NAME in str(e)
        return
    assert expected is not None
    assert model.out_indices == expected if features_only else model.num_classes == 10


@PROPERTY
@given(dtype=st.one_of(VALUES, st.sampled_from(["bfloat16", "float16", "float32", "int8", "bf16", jnp.bfloat16,
                                                jnp.float16, jnp.int32, np.float64, object, {}])))
def test_dtype_is_a_compute_dtype_or_refused(dtype):
    try:
        model = zoo_core.create_model("tinynet_s", dtype=dtype)
    except ArgumentError as e:
        assert "dtype=" in str(e)
        return
    assert dtype is None or jnp.dtype(dtype).name in ("bfloat16", "float16", "float32")
    assert getattr(model, "dtype", jnp.float32) == (jnp.float32 if dtype is None else jnp.dtype(dtype))


@PROPERTY
@given(keyword=st.from_regex(r"[a-z_]{1,10}", fullmatch=True).filter(lambda k: k != "name"), value=VALUES)
def test_a_keyword_the_family_does_not_take_is_refused(keyword, value):
    try:
        zoo_core.create_model("tinynet_s", **{keyword: value})
    except ArgumentError as e:
        assert keyword in str(e)
        return
    assert keyword in ("in_chans", "num_classes", "features_only", "out_indices", "dtype")


@PROPERTY
@given(img_size=st.one_of(VALUES, st.integers(14, 48), st.tuples(st.integers(14, 48), st.integers(14, 48))))
def test_vit_img_size_builds_that_grid_or_refuses(img_size):
    try:
        model = zoo_core.create_model(VIT, img_size=img_size)
    except ArgumentError as e:
        assert "the patch size 16" in str(e)
        return
    size = (224, 224) if img_size is None else (img_size, img_size) if int_at_least(img_size, 16) else img_size
    assert len(size) == 2 and all(int_at_least(v, 16) for v in size)
    assert model.patch_embed.img_size == tuple(size)
    assert model.patch_embed.grid_size == (size[0] // 16, size[1] // 16)


@PROPERTY
@given(prefix=st.one_of(VALUES, st.lists(st.text(max_size=3), max_size=3)), check_finite=VALUES,
       num_classes=st.one_of(st.none(), st.integers(-1, 12), st.booleans()))
def test_create_pretrained_from_a_file_builds_what_was_asked_or_refuses(checkpoint, prefix, check_finite,
                                                                        num_classes):
    valid = (isinstance(prefix, (tuple, list)) and all(isinstance(k, str) for k in prefix)
             and is_bool(check_finite) and (num_classes is None or int_at_least(num_classes, 0)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", zoo_core.HeadSkippedWarning)
            model, load = zoo_core.create_pretrained("tinynet_s", checkpoint_path=checkpoint, prefix=prefix,
                                                     check_finite=check_finite, num_classes=num_classes)
    except ArgumentError as e:
        assert not valid and NAME in str(e)
        return
    assert valid
    assert load.prefix == tuple(prefix) and load.check_finite is bool(check_finite)
    assert load.source.path == os.fspath(checkpoint)
    assert model.num_classes == (10 if num_classes is None else num_classes)


@PROPERTY
@given(revision=VALUES, cache_dir=st.one_of(VALUES, st.just(Path("cache"))), local_files_only=VALUES,
       token=st.one_of(VALUES, st.just("hf_x")))
def test_create_pretrained_hub_options_reach_the_source_or_are_refused(revision, cache_dir, local_files_only, token):
    """Nothing is downloaded before ``load`` is called: the options are only checked and stored."""
    valid = (isinstance(revision, str) and revision != "" and is_bool(local_files_only)
             and (cache_dir is None or (isinstance(cache_dir, (str, Path)) and os.fspath(cache_dir) != ""))
             and (token is None or isinstance(token, bool) or (isinstance(token, str) and token != "")))
    try:
        _, load = zoo_core.create_pretrained("tinynet_s", revision=revision, cache_dir=cache_dir,
                                             local_files_only=local_files_only, token=token)
    except ArgumentError as e:
        assert not valid and NAME in str(e)
        return
    assert valid
    assert load.source == HubWeights(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                                     token=token)


OVERRIDE_VALUES = st.one_of(VALUES, st.sampled_from(["center", "squash", "bilinear", "bicubic", 0.5, 1.0, (0.5,),
                                                     (0.1, 0.2, 0.3), (3, 32, 32)]))


@PROPERTY
@given(name=st.sampled_from(["img_size", "input_size", "in_chans", "crop_pct", "crop_mode", "interpolation", "mean",
                             "std"]), value=OVERRIDE_VALUES)
def test_resolve_data_config_takes_the_override_or_refuses(name, value):
    try:
        cfg = resolve_data_config("tinynet_m", **{name: value})
    except ArgumentError as e:
        assert value is not None and f"{name}=" in str(e)
        return
    default = resolve_data_config("tinynet_m")
    if value is None or name == "in_chans":  # in_chans only shapes img_size
        assert cfg == default
    elif name == "img_size":
        size = (value, value) if int_at_least(value, 1) else tuple(value)
        assert cfg.input_size == (3, *size) and all(int_at_least(v, 1) for v in size)
    elif name == "input_size":
        assert cfg.input_size == tuple(value) and len(value) == 3 and all(int_at_least(v, 1) for v in value)
    elif name == "crop_pct":
        assert cfg.crop_pct == value and 0 < value <= 1 and not isinstance(value, bool)
    elif name in ("mean", "std"):
        assert len(value) in (1, 3) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        assert name == "mean" or all(v > 0 for v in value)
        assert getattr(cfg, name) == (tuple(value) * 3 if len(value) == 1 else tuple(value))
    else:
        allowed = {"crop_mode": ("center", "squash", "border"),
                   "interpolation": ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos", "random")}
        assert value in allowed[name] and getattr(cfg, name) == value
