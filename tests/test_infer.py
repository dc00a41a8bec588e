"""infer_mapping: pairs by hint, name, similar name and order; reports what it cannot pair."""

import jax
import numpy as np
import pytest

import zoo_core
from zoo_core.cli import main
from zoo_core.interop import infer_mapping
from zoo_core.interop.infer import MappingProposal
from zoo_core.testing.checkpoints import checkpoint_shapes
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file

from tinynet_weights import tinynet_state_dict


def tinynet_trees():
    model = zoo_core.create_model("tinynet_s")
    return model, *jax.eval_shape(model.init, jax.random.key(0))


def as_set(triples):
    return {(k, tuple(p), t.__name__) for k, p, t in triples}


def test_a_timm_named_tree_is_paired_by_name_and_needs_no_rules():
    model, params, state = tinynet_trees()
    proposal = infer_mapping(tinynet_state_dict(), params, state)
    family = zoo_core.get_family("tinynet_s").mapping()(zoo_core.get_variant("tinynet_s"), model, params, state)
    assert as_set(proposal.triples) == as_set(family)
    assert set(proposal.how.values()) == {"name"} and proposal.rules() == []
    assert not proposal.unpaired_keys and not proposal.unpaired_paths


def test_renamed_keys_are_paired_by_similar_names_and_order_and_become_rules():
    _, params, state = tinynet_trees()
    sd = {k.replace("stem.", "features.stem_block.").replace("fc.", "classifier."): v
          for k, v in tinynet_state_dict().items()}
    proposal = infer_mapping(sd, params, state)
    got = {k: "/".join(p) for k, p, _ in proposal.triples}
    assert got["features.stem_block.conv.weight"] == "params/stem/conv/kernel"
    assert got["classifier.weight"] == "params/fc/kernel"
    assert ("fc/kernel", "classifier.weight", "linear_to_dense") in proposal.rules()
    assert not proposal.unpaired_keys and not proposal.unpaired_paths


def test_ambiguity_is_reported_and_a_hint_settles_it():
    params = {"a": {"kernel": np.zeros((4, 4))}, "b": {"kernel": np.zeros((4, 4))}, "c": {"bias": np.zeros(4)}}
    sd = {"x.weight": np.zeros((4, 4)), "y.weight": np.zeros((4, 4)), "z.weight": np.zeros((4, 4)), "c.bias": np.zeros(4)}
    proposal = infer_mapping(sd, params)
    assert any("2 leaves kernel (4, 4) against 3 checkpoint keys" in a for a in proposal.ambiguous)
    assert set(proposal.unpaired_keys) == {"x.weight", "y.weight", "z.weight"}
    hinted = infer_mapping(sd, params, hints=[("^a/", r"^z\."), ("^b/", r"^x\.")])
    got = {k: "/".join(p) for k, p, _ in hinted.triples}
    assert got == {"z.weight": "params/a/kernel", "x.weight": "params/b/kernel", "c.bias": "params/c/bias"}
    assert hinted.unpaired_keys == ("y.weight",)


def test_a_shape_no_layout_can_fit_stays_unpaired():
    proposal = infer_mapping({"w.weight": np.zeros((3, 5))}, {"w": {"kernel": np.zeros((4, 4))}})
    assert proposal.unpaired_keys == ("w.weight",) and proposal.unpaired_paths == (("params", "w", "kernel"),)


# Every built-in family: the inferred mapping equals the hand-written one, with these differences,
# each explained:
EXPLAINED = {
    # ViT resamples pos_embed to the built grid on load; at the checkpoint's own size the resample is
    # the identity, which is what inference proposes.
    ("vit", "pos_embed"): ("resample_pos_embed", "identity"),
}


def _one_variant_per_arch():
    names = {}
    for name in zoo_core.list_variants():
        v = zoo_core.get_variant(name)
        if v.family != "tinynet":
            names.setdefault(v.arch, name)
    return sorted(names.values())[:: max(1, len(names) // 20)]  # a spread of archs, kept fast


@pytest.mark.parametrize("name", _one_variant_per_arch())
def test_inferred_mapping_equals_the_families_hand_written_one(name):
    variant = zoo_core.get_variant(name)
    model = zoo_core.create_model(name)
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    hand = zoo_core.get_family(name).mapping()(variant, model, params, state)
    shapes = {k: shape for k, (shape, _) in checkpoint_shapes(name).items()}
    proposal = infer_mapping(shapes, params, state)
    assert not proposal.unpaired_keys and not proposal.unpaired_paths, proposal.report()
    hand_set, got = as_set(hand), as_set(proposal.triples)
    for (key, path, theirs) in hand_set - got:
        ours = next(t for k, p, t in got if k == key)
        assert EXPLAINED.get((variant.family, key)) == (theirs, ours), (key, path, theirs, ours)


def test_zoo_map_prints_rules_to_paste(hf_cache, capsys, tmp_path):
    sd = {k.replace("fc.", "classifier."): v for k, v in tinynet_state_dict().items()}
    path = write_cached_file(tmp_path, "x/y", "model.safetensors", safetensors_bytes(sd))
    assert main(["map", "tinynet_s", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'r"fc/kernel", "classifier.weight", linear_to_dense' in out


def test_proposal_is_a_record():
    assert MappingProposal((), {}, (), (), ()).rules() == []
