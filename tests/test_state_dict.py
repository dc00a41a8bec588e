"""apply_state_dict validates the whole mapping first and reports every fault in one error;
tree_mapping derives the mapping from timm-named trees; to_state_dict writes trees back through it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core import StateDictMismatchError
from zoo_core.interop import (
    NotInvertibleError,
    apply_state_dict,
    conv_to_hwio,
    identity,
    linear_to_dense,
    to_state_dict,
    tree_mapping,
)
from zoo_core.nn import abstract_init


def make_tree():
    return {
        "params": {"conv": {"kernel": jnp.zeros((3, 3, 2, 4))}, "fc": {"kernel": jnp.zeros((4, 5)), "bias": jnp.zeros(5)}},
        "state": {"bn": {"mean": jnp.zeros(4)}},
    }


def make_state_dict():
    rng = np.random.default_rng(0)
    return {
        "conv.weight": rng.standard_normal((4, 2, 3, 3)).astype(np.float32),
        "fc.weight": rng.standard_normal((5, 4)).astype(np.float32),
        "fc.bias": rng.standard_normal(5).astype(np.float32),
        "bn.running_mean": rng.standard_normal(4).astype(np.float32),
        "bn.num_batches_tracked": np.array(3),
    }


MAPPING = [
    ("conv.weight", ("params", "conv", "kernel"), conv_to_hwio),
    ("fc.weight", "params/fc/kernel", linear_to_dense),
    ("fc.bias", ("params", "fc", "bias"), identity),
    ("bn.running_mean", ("state", "bn", "mean"), identity),
]


def test_writes_transformed_values_and_leaves_inputs_untouched():
    tree, sd = make_tree(), make_state_dict()
    sd_before = {k: v.copy() for k, v in sd.items()}
    out = apply_state_dict(tree, sd, MAPPING)
    np.testing.assert_array_equal(out["params"]["conv"]["kernel"], sd["conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(out["params"]["fc"]["kernel"], sd["fc.weight"].T)
    np.testing.assert_array_equal(out["state"]["bn"]["mean"], sd["bn.running_mean"])
    assert float(jnp.abs(tree["params"]["conv"]["kernel"]).sum()) == 0.0
    assert all(np.array_equal(sd[k], sd_before[k]) for k in sd)


def test_num_batches_tracked_may_be_absent_or_present():
    sd = make_state_dict()
    del sd["bn.num_batches_tracked"]
    apply_state_dict(make_tree(), sd, MAPPING)
    apply_state_dict(make_tree(), make_state_dict(), MAPPING)


def test_every_fault_is_reported_in_one_error():
    sd = make_state_dict()
    del sd["fc.bias"]
    sd["conv.weight"] = sd["conv.weight"][:, :1]
    sd["extra.weight"] = np.zeros((2, 2), np.float32)
    mapping = [*MAPPING, ("bn.running_mean", ("state", "bn", "nope"), identity)]
    with pytest.raises(StateDictMismatchError) as info:
        apply_state_dict(make_tree(), sd, mapping, source="model.safetensors")
    msg = str(info.value)
    assert msg.startswith("model.safetensors does not fit the model: 5 problems")
    assert "missing key 'fc.bias' (for params/fc/bias)" in msg
    assert "shape mismatch for 'conv.weight' → params/conv/kernel: checkpoint (4, 1, 3, 3) (conv_to_hwio: (3, 3, 1, 4)), model (3, 3, 2, 4)" in msg
    assert "unused key 'extra.weight' (2, 2)" in msg
    assert "maps to state/bn/nope, which is not a leaf" in msg
    assert "params/fc/bias (5,) is not written by any key" in msg


def test_a_path_written_twice_is_an_error():
    with pytest.raises(StateDictMismatchError, match="written twice: by 'fc.bias' and by 'bn.running_mean'"):
        apply_state_dict({"a": jnp.zeros(5)}, {"fc.bias": np.zeros(5), "bn.running_mean": np.zeros(5)},
                         [("fc.bias", "a", identity), ("bn.running_mean", "a", identity)])


def test_a_failing_transform_is_reported_with_its_key():
    with pytest.raises(StateDictMismatchError, match="key 'w' \\(3,\\): transform conv_to_hwio failed"):
        apply_state_dict({"w": jnp.zeros(3)}, {"w": np.zeros(3)}, [("w", "w", conv_to_hwio)])


def test_ignore_keys_and_keep_paths_relax_the_checks():
    sd = make_state_dict()
    mapping = [m for m in MAPPING if not m[0].startswith("fc.")]
    out = apply_state_dict(make_tree(), sd, mapping, ignore_keys={"fc.weight", "fc.bias"}, keep_paths=["params/fc"])
    assert float(out["params"]["fc"]["bias"].sum()) == 0.0


def test_abstract_trees_are_filled_with_arrays_of_the_target_dtype():
    tree = jax.eval_shape(make_tree)
    out = apply_state_dict(tree, make_state_dict(), MAPPING)
    assert isinstance(out["params"]["fc"]["bias"], jax.Array)
    assert out["params"]["fc"]["bias"].dtype == jnp.float32


def test_tree_mapping_follows_the_leaf_name_convention_and_rules():
    params = {"stem": {"conv": {"kernel": jnp.zeros((3, 3, 3, 8))}, "norm": {"scale": jnp.zeros(8), "bias": jnp.zeros(8)}},
              "head": {"fc": {"kernel": jnp.zeros((8, 2))}}, "cls_token": jnp.zeros((1, 1, 8))}
    state = {"stem": {"bn": {"mean": jnp.zeros(8), "var": jnp.zeros(8)}}}
    got = {key: (path, str(fn)) for key, path, fn in tree_mapping(params, state, rules=[
        (r"head/fc/(kernel)", r"classifier.weight", None), (r"cls_token", None, None)])}
    assert got == {
        "stem.conv.weight": (("params", "stem", "conv", "kernel"), "conv_to_hwio"),
        "stem.norm.weight": (("params", "stem", "norm", "scale"), "identity"),
        "stem.norm.bias": (("params", "stem", "norm", "bias"), "identity"),
        "classifier.weight": (("params", "head", "fc", "kernel"), "linear_to_dense"),
        "stem.bn.running_mean": (("state", "stem", "bn", "mean"), "identity"),
        "stem.bn.running_var": (("state", "stem", "bn", "var"), "identity"),
    }


class CountingStateDict(dict):
    """A lazy state dict's contract: shapes from ``shape(key)``, values read on ``[key]`` (counted)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.reads: list[str] = []

    def __getitem__(self, key):
        self.reads.append(key)
        return super().__getitem__(key)

    def shape(self, key):
        return np.shape(super().__getitem__(key))


def test_a_lazy_state_dict_is_checked_from_shapes_then_read_once_per_tensor():
    """Validation asks only for shapes; each tensor is then read exactly once."""
    sd = CountingStateDict(make_state_dict())
    out = apply_state_dict(make_tree(), sd, MAPPING)
    assert sorted(sd.reads) == sorted(k for k, _, _ in MAPPING)
    np.testing.assert_array_equal(out["params"]["fc"]["kernel"], make_state_dict()["fc.weight"].T)


def test_a_lazy_state_dict_that_does_not_fit_is_refused_before_any_tensor_is_read():
    """A shape mismatch is found from shapes alone: no tensor of the file is read."""
    sd = CountingStateDict(make_state_dict())
    dict.__setitem__(sd, "fc.weight", np.zeros((6, 4), np.float32))
    with pytest.raises(StateDictMismatchError, match=r"fc\.weight.*\(6, 4\)"):
        apply_state_dict(make_tree(), sd, MAPPING)
    assert sd.reads == []


def test_a_safetensors_file_is_read_straight_into_the_new_layout_with_the_same_result(tmp_path):
    """Permutation transforms go through ``read_permuted`` (one copy); any other transform gets the
    array as read. Both give what the in-memory dict gives, in the target's dtype."""
    from zoo_core.interop import SafetensorsFile, compose, save_safetensors

    double = compose(identity, lambda a: a * 2.0)
    mapping = [*MAPPING[:2], ("fc.bias", ("params", "fc", "bias"), double), MAPPING[3]]
    save_safetensors(tmp_path / "m.safetensors", make_state_dict())

    class Spy(SafetensorsFile):
        permuted: list = []
        plain: list = []

        def read_permuted(self, key, axes=None, dtype=None):
            self.permuted.append((key, axes))
            return super().read_permuted(key, axes, dtype)

        def __getitem__(self, key):
            self.plain.append(key)
            return super().__getitem__(key)

    f = Spy(tmp_path / "m.safetensors")
    got = apply_state_dict(make_tree(), f, mapping)
    assert sorted(f.permuted) == [("bn.running_mean", (0,)), ("conv.weight", (2, 3, 1, 0)), ("fc.weight", (1, 0))]
    assert f.plain == ["fc.bias"]
    want = apply_state_dict(make_tree(), make_state_dict(), mapping)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_a_1x1_conv_head_is_read_into_the_dense_layout_and_adopted_without_a_copy(tmp_path):
    """conv1x1_to_dense goes through ``read_permuted`` too; the squeezed view keeps the read
    array's memory, which JAX uses in place on the CPU."""
    from zoo_core.interop import SafetensorsFile, conv1x1_to_dense, save_safetensors

    w = np.random.default_rng(0).standard_normal((300, 200, 1, 1)).astype(np.float32)
    save_safetensors(tmp_path / "m.safetensors", {"head.weight": w})
    made = []

    class Spy(SafetensorsFile):
        def read_permuted(self, key, axes=None, dtype=None):
            made.append(super().read_permuted(key, axes, dtype))
            return made[-1]

    tree = {"head": {"kernel": jax.ShapeDtypeStruct((200, 300), jnp.float32)}}
    out = apply_state_dict(tree, Spy(tmp_path / "m.safetensors"), [("head.weight", "head/kernel", conv1x1_to_dense)])
    np.testing.assert_array_equal(out["head"]["kernel"], w[:, :, 0, 0].T)
    assert len(made) == 1 and made[0].shape == (1, 1, 200, 300)
    assert out["head"]["kernel"].unsafe_buffer_pointer() == made[0].ctypes.data


def test_a_float64_tree_reads_a_float32_file_exactly():
    from zoo_core.interop import SafetensorsFile, save_safetensors

    with jax.enable_x64(True):
        tree = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, jnp.float64), make_tree())
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            save_safetensors(f"{d}/m.safetensors", make_state_dict())
            out = apply_state_dict(tree, SafetensorsFile(f"{d}/m.safetensors"), MAPPING)
        assert out["params"]["conv"]["kernel"].dtype == jnp.float64
        np.testing.assert_array_equal(out["params"]["conv"]["kernel"], make_state_dict()["conv.weight"].transpose(2, 3, 1, 0))


def test_a_plain_function_transform_still_loads():
    """A third-party family's transform written as a plain function (the old documented way)."""
    mapping = [*MAPPING[:2], ("fc.bias", ("params", "fc", "bias"), lambda a: a * 2.0), MAPPING[3]]
    out = apply_state_dict(make_tree(), make_state_dict(), mapping)
    np.testing.assert_array_equal(out["params"]["fc"]["bias"], make_state_dict()["fc.bias"] * 2.0)
    assert tree_mapping({"w": jnp.zeros(2)}, rules=[("w", "w", np.negative)])[0][2].fn is np.negative


def test_to_state_dict_writes_timms_layout_and_loads_back_identically():
    """Each leaf through its transform's inverse: OIHW convs, (out, in) linears, contiguous numpy
    arrays in the mapping's order; loading the result gives the same trees."""
    tree = apply_state_dict(make_tree(), make_state_dict(), MAPPING)
    sd = to_state_dict(tree, MAPPING)
    assert list(sd) == [k for k, _, _ in MAPPING]
    for key, value in sd.items():
        assert isinstance(value, np.ndarray) and value.flags.c_contiguous
        np.testing.assert_array_equal(value, make_state_dict()[key])
    assert to_state_dict((tree["params"], tree["state"]), MAPPING).keys() == sd.keys()
    again = apply_state_dict(make_tree(), sd, MAPPING)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), again, tree))


def test_to_state_dict_names_every_transform_without_inverse():
    """A plain function (no inverse) or adapt_input_conv: one error naming key, path and transform each."""
    from zoo_core.interop import adapt_input_conv, compose

    def halve(a):
        return a / 2

    mapping = [("fc.bias", "params/fc/bias", halve), MAPPING[1],
               ("conv.weight", ("params", "conv", "kernel"), compose(conv_to_hwio, adapt_input_conv(2)))]
    with pytest.raises(NotInvertibleError, match="2 problems") as e:
        to_state_dict(make_tree(), mapping)
    assert "'fc.bias' ← params/fc/bias: halve has no inverse" in str(e.value)
    assert "'conv.weight' ← params/conv/kernel: adapt_input_conv(2) has no inverse" in str(e.value)


def test_to_state_dict_refuses_paths_that_are_not_leaves():
    with pytest.raises(StateDictMismatchError, match=r"'x' ← params/nope: not a leaf.*\n.*'y' ← params/fc: not a leaf"):
        to_state_dict(make_tree(), [("x", "params/nope", identity), ("y", "params/fc", identity)])


ROUND_TRIPS = [  # one small variant per family, and a key whose exported shape shows timm's layout
    ("tinynet_s", {}, "stem.conv.weight", None),
    ("resnet18", {}, "conv1.weight", (64, 3, 7, 7)),
    ("resnetv2_50x1_bit", {}, "head.fc.weight", (1000, 2048, 1, 1)),
    ("convnext_tiny", {}, "stages.0.blocks.0.mlp.fc1.weight", (384, 96)),
    ("convnextv2_atto", {}, "stages.0.blocks.0.mlp.fc1.weight", (160, 40, 1, 1)),
    ("vit_tiny_patch16_224", {}, "blocks.0.attn.qkv.weight", (576, 192)),
    # a ViT built for another size exports its own grid's pos_embed, as timm's model of that size holds
    ("vit_tiny_patch16_224", {"img_size": 96}, "pos_embed", (1, 1 + 6 * 6, 192)),
]


@pytest.mark.parametrize("name,kwargs,key,shape", ROUND_TRIPS, ids=[f"{n}{k or ''}" for n, k, _, _ in ROUND_TRIPS])
def test_to_state_dict_round_trips_through_each_familys_mapping(name, kwargs, key, shape):
    """Random trees written out through the family's own mapping and loaded back with it are the
    same trees, exactly; the file holds timm's shapes."""
    variant = zoo_core.get_variant(name)
    model = zoo_core.create_model(name, **kwargs)
    abstract = abstract_init(model)
    rng = np.random.default_rng(0)
    trees = jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(s.dtype), abstract)
    mapping = zoo_core.get_family(name).mapping()(variant, model, *abstract)
    sd = to_state_dict(trees, mapping)
    assert key in sd and (shape is None or sd[key].shape == shape)
    loaded = apply_state_dict({"params": abstract[0], "state": abstract[1]}, sd, mapping)
    assert jax.tree.all(jax.tree.map(np.array_equal, loaded, {"params": trees[0], "state": trees[1]}))
