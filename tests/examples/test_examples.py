"""The examples under ``examples/`` run offline and do what they say: composition with ``prefix=``
leaves the user's head alone and loads the same backbone as a standalone load; fine-tuning with
optax lowers the loss, moves BatchNorm's running statistics and freezes what it says it freezes.
Checkpoints are ``random_state_dict`` weights served by the loopback Hub or written into a cache."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import zoo_core
from zoo_core.testing.checkpoints import random_state_dict
from zoo_core.testing.hf_cache import safetensors_bytes, write_cached_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RESNET = "resnet18.a1_in1k"
VIT = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
IMAGE_SIZE = 32
STEPS = 3


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"zoo_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def checkpoint_bytes(name: str) -> bytes:
    return safetensors_bytes(random_state_dict(name, seed=1))


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))


def changed_leaves(a, b) -> list[bool]:
    """Per leaf of ``a``: whether any element differs in ``b``."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    return [bool(np.any(np.asarray(x) != np.asarray(y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]


def split_head(tree, head_keys):
    """``(backbone, head)``: the top-level entries of ``tree`` outside and inside ``head_keys``."""
    return ({k: v for k, v in tree.items() if k not in head_keys},
            {k: v for k, v in tree.items() if k in head_keys})


# --- examples/compose_backbone.py ---------------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    return load_example("compose_backbone")


@pytest.mark.parametrize("name, family_kwargs", [(RESNET, {}), (VIT, {"img_size": IMAGE_SIZE})])
def test_compose_loads_backbone_and_leaves_head(compose, zoo_hub, name, family_kwargs):
    """Downloaded from the (loopback) Hub, the backbone subtree equals a standalone load of the same
    weights, the head equals a plain init's, and the logits are that head on the standalone
    backbone's pooled features."""
    variant = zoo_core.get_variant(name)
    zoo_hub.add_file(variant.hf_hub_id, variant.filename, checkpoint_bytes(name))
    key = jax.random.key(0)
    model, params, state = compose.pretrained_classifier(name, 10, key, **family_kwargs)
    init_params, init_state = jax.jit(model.init)(key)

    assert_trees_equal(params["head"], init_params["head"])
    assert all(changed_leaves(params["backbone"], init_params["backbone"]))

    backbone, load_standalone = zoo_core.create_pretrained(name, num_classes=0, **family_kwargs)
    standalone_params, standalone_state = load_standalone()
    assert_trees_equal(params["backbone"], standalone_params)
    assert_trees_equal(state["backbone"], standalone_state)

    images = jax.random.normal(jax.random.key(1), (2, IMAGE_SIZE, IMAGE_SIZE, 3))
    logits, new_state = jax.jit(model.apply)(params, state, images)
    features, _ = jax.jit(backbone.apply)(standalone_params, standalone_state, images)
    expected = features @ params["head"]["kernel"] + params["head"]["bias"]
    assert logits.shape == (2, 10)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert_trees_equal(new_state, state)


def test_compose_script(compose, zoo_hub, capsys):
    """``python examples/compose_backbone.py`` downloads once and reports both checks as passed."""
    variant = zoo_core.get_variant(RESNET)
    zoo_hub.add_file(variant.hf_hub_id, variant.filename, checkpoint_bytes(RESNET))
    compose.main(["--variant", RESNET, "--image-size", str(IMAGE_SIZE)])
    out = capsys.readouterr().out
    assert "head untouched by load: True" in out
    assert "backbone equals a standalone load: True" in out
    assert "logits (2, 10), finite: True" in out
    assert zoo_hub.count() > 0


# --- examples/finetune.py -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def finetune_runs(tmp_path_factory):
    """The example's own ``main`` on random checkpoints in an offline cache: both models fully
    fine-tuned, and ResNet with its backbone frozen; plus standalone loads to compare with."""
    pytest.importorskip("optax")
    finetune = load_example("finetune")
    cache = tmp_path_factory.mktemp("hf-cache")
    for name in (RESNET, VIT):
        variant = zoo_core.get_variant(name)
        write_cached_file(cache, variant.hf_hub_id, variant.filename, checkpoint_bytes(name))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_CACHE", str(cache))
        mp.setenv("HF_HUB_OFFLINE", "1")
        common = ["--image-size", str(IMAGE_SIZE), "--steps", str(STEPS)]
        with pytest.warns(zoo_core.HeadSkippedWarning):
            full = finetune.main(common)
            frozen = finetune.main([*common, "--freeze-backbone", "--variants", RESNET])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # num_classes=0: no head is skipped, nothing to warn about
            released = {RESNET: zoo_core.create_pretrained(RESNET, num_classes=0)[1](),
                        VIT: zoo_core.create_pretrained(VIT, num_classes=0, img_size=IMAGE_SIZE)[1]()}
    return {"full": full, "frozen": frozen, "released": released}


@pytest.mark.parametrize("mode, name", [("full", RESNET), ("full", VIT), ("frozen", RESNET)])
def test_finetune_lowers_loss(finetune_runs, mode, name):
    """The loss on the batch after the last step is strictly below the loss before the first."""
    run = finetune_runs[mode][name]
    assert len(run.losses) == STEPS + 1
    assert np.all(np.isfinite(run.losses))
    assert run.losses[-1] < run.losses[0]


@pytest.mark.parametrize("mode, name", [("full", RESNET), ("full", VIT), ("frozen", RESNET)])
def test_finetune_starts_from_released_backbone(finetune_runs, mode, name):
    """Before the first step, everything but the new 10-way head is the released checkpoint."""
    run = finetune_runs[mode][name]
    params, state = run.initial
    released_params, released_state = finetune_runs["released"][name]
    backbone, head = split_head(params, run.head_keys)
    assert_trees_equal(backbone, split_head(released_params, run.head_keys)[0])
    assert_trees_equal(split_head(state, run.head_keys)[0], split_head(released_state, run.head_keys)[0])
    assert set(head) == run.head_keys
    for classifier in head.values():
        assert classifier["kernel"].shape == (run.model.num_features, 10)


def test_finetune_full_updates_every_parameter_and_batchnorm_statistics(finetune_runs):
    """``train=True`` threads BatchNorm's running statistics: after the steps every ``mean`` and
    ``var`` has moved, and AdamW has moved every parameter, head and backbone."""
    run = finetune_runs["full"][RESNET]
    (params0, state0), (params1, state1) = run.initial, run.final
    assert all(changed_leaves(params0, params1))
    stats = jax.tree_util.tree_leaves_with_path(state0)
    assert {path[-1].key for path, _ in stats} == {"mean", "var"}
    assert all(changed_leaves(state0, state1))


def test_finetune_full_vit_has_no_state(finetune_runs):
    """ViT has no BatchNorm: its state holds no arrays, and every parameter trains."""
    run = finetune_runs["full"][VIT]
    (params0, state0), (params1, state1) = run.initial, run.final
    assert jax.tree.leaves(state0) == [] and jax.tree.structure(state1) == jax.tree.structure(state0)
    assert all(changed_leaves(params0, params1))


def test_finetune_frozen_backbone_trains_head_only(finetune_runs):
    """With ``--freeze-backbone`` the backbone's parameters are bitwise unchanged (no weight decay
    either), BatchNorm keeps its released statistics (eval mode), and every head leaf moves."""
    run = finetune_runs["frozen"][RESNET]
    (params0, state0), (params1, state1) = run.initial, run.final
    assert run.head_keys == {"fc"}
    backbone0, head0 = split_head(params0, run.head_keys)
    backbone1, head1 = split_head(params1, run.head_keys)
    assert_trees_equal(backbone1, backbone0)
    assert_trees_equal(state1, state0)
    assert all(changed_leaves(head0, head1))


# --- docs/training.md ---------------------------------------------------------------------------


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def occurs_in(block: str, source: str) -> bool:
    """``block`` is a run of consecutive lines of ``source``, up to a common indentation."""
    wanted = block.rstrip("\n").splitlines()
    lines = source.splitlines()
    return any(textwrap.dedent("\n".join(lines[i:i + len(wanted)])) == "\n".join(wanted)
               for i in range(len(lines) - len(wanted) + 1))


def test_training_docs_snippets_come_from_the_examples():
    """Every Python snippet in docs/training.md is copied verbatim from one of the examples."""
    blocks = python_blocks((ROOT / "docs" / "training.md").read_text())
    sources = [(EXAMPLES / f).read_text() for f in ("compose_backbone.py", "finetune.py")]
    assert blocks
    for block in blocks:
        assert any(occurs_in(block, source) for source in sources), f"not in the examples:\n{block}"
