"""The Hub both ways, proven against timm: a model fine-tuned in zoo, saved with ``save_pretrained``
(or pushed to the loopback Hub), opens in timm with equal logits and pre-logits; a repository
written by timm's own ``save_for_hf`` opens in zoo (``hf-hub:``) with equal logits.

One case per family, on small images (32 px) and the smallest architecture of each family; the
changed ``in_chans`` and ``num_classes=0`` cases ride along. Every tensor is moved off its initial
value, so nothing passes by accident of an initialisation.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("timm")
pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import zoo_core  # noqa: E402
from zoo_core.testing.parity import assert_close, randomize_torch_module, to_nchw  # noqa: E402

pytestmark = pytest.mark.parity
IMG = 32


@pytest.fixture(autouse=True)
def _fresh_repositories():
    from zoo_core import hub_repo

    hub_repo.forget()
    yield
    hub_repo.forget()


def _finetuned(name, seed=0, **kwargs):
    """A model with a fresh head and every tensor random, as a fine-tune leaves it (LayerScale gammas
    off 1e-6, norm scales off 1, BatchNorm statistics moved, variances positive). Made with numpy
    on the model's abstract trees rather than trained: a gradient step in train mode costs minutes
    of compilation on CI's two cores and proves nothing more about the export."""
    from zoo_core.nn import abstract_init

    model = zoo_core.create_model(name, **kwargs)
    rng = np.random.default_rng(seed)

    def value(path, leaf):
        shape, leaf_name = leaf.shape, getattr(path[-1], "key", "")
        if leaf_name == "var":
            out = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2:
            out = rng.standard_normal(shape) / np.sqrt(max(np.prod(shape[:-1]), 1))
        elif leaf_name == "scale":
            out = 1 + 0.2 * rng.standard_normal(shape)
        else:
            out = 0.2 * rng.standard_normal(shape)
        return jnp.asarray(out.astype(np.float32))

    params, state = abstract_init(model)
    return model, jax.tree_util.tree_map_with_path(value, params), jax.tree_util.tree_map_with_path(value, state)


def _compare(model, params, state, tmodel, *, seed=1):
    """Eval-mode logits and pre-logits of zoo's model and timm's, at rtol/atol 1e-4."""
    import torch

    x = np.random.default_rng(seed).standard_normal((2, IMG, IMG, model.in_chans)).astype(np.float32)

    @jax.jit
    def forward(params, state, x):
        feats, _ = model.forward_features(params, state, x)
        return model.forward_head(params, feats, pre_logits=True), model.forward_head(params, feats)

    ours_pre, ours = forward(params, state, jnp.asarray(x))
    with torch.no_grad():
        tfeats = tmodel.forward_features(torch.from_numpy(to_nchw(x)))
        theirs_pre = tmodel.forward_head(tfeats, pre_logits=True).numpy()
        theirs = tmodel.forward_head(tfeats).numpy()
    assert_close(ours_pre, theirs_pre, name="pre-logits")
    assert_close(ours, theirs, name="logits")


def _sgd_steps(model, params, state, num_classes, *, steps=3, lr=0.01, seed=2):
    """A few plain SGD steps of cross-entropy on random images and labels (eval-mode forward: a
    ViT has no batch statistics): the fine-tune the round trip starts from. Returns the new params
    and the losses, which must fall."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((4, IMG, IMG, model.in_chans)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, num_classes, 4))

    @jax.jit
    def step(params):
        def loss_fn(p):
            logits, _ = model.apply(p, state, x)
            return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(4), y])

        loss, grads = jax.value_and_grad(loss_fn)(params)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), loss

    losses = []
    for _ in range(steps):
        params, loss = step(params)
        losses.append(float(loss))
    return params, losses


def _trees_equal(a, b):
    flat_a, tree_a = jax.tree_util.tree_flatten(a)
    flat_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    for u, v in zip(flat_a, flat_b):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _serve_to_timm(monkeypatch, hub):
    """Point the huggingface_hub timm imported (its endpoint is read once, at import) at the loopback Hub."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")


@pytest.mark.parametrize("name, kwargs, timm_kwargs", [
    # resnet: a new 5-class head on a 1-channel stem
    ("resnet18.a1_in1k", dict(num_classes=5, in_chans=1), {}),
    # bit: the encoder alone (num_classes=0)
    ("resnetv2_50x1_bit.goog_in21k_ft_in1k", dict(num_classes=0), {}),
    # convnext: a new 7-class head
    ("convnext_atto.d2_in1k", dict(num_classes=7), {}),
    # convnextv2: a 2-channel stem, a 3-class head
    ("convnextv2_atto.fcmae_ft_in1k", dict(num_classes=3, in_chans=2), {}),
])
@pytest.mark.filterwarnings("ignore::zoo_core.save.NonCommercialExportWarning")  # ConvNeXt-V2's CC-BY-NC-4.0
def test_saved_directory_opens_in_timm_with_equal_logits(tmp_path, name, kwargs, timm_kwargs):
    import timm

    model, params, state = _finetuned(name, **kwargs)
    out = zoo_core.save_pretrained(model, params, state, tmp_path / "export", variant=name)
    tmodel = timm.create_model(f"local-dir:{out}", pretrained=True, **timm_kwargs).eval()
    assert tmodel.num_classes == model.num_classes
    _compare(model, params, state, tmodel)


def test_vit_pushed_to_the_hub_opens_in_timm_and_in_zoo(monkeypatch, zoo_hub, tmp_path):
    """ViT at img_size 32 (its model_args carry it), 10 named classes, fine-tuned a few SGD steps in
    zoo (the loss falls): pushed through huggingface_hub's own upload API to the loopback Hub,
    opened by timm's ``hf-hub:`` with equal logits and by zoo's ``hf-hub:`` with identical trees."""
    import timm

    name = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    labels = [f"breed {i}" for i in range(10)]
    model, params, state = _finetuned(name, num_classes=10, img_size=IMG, global_pool="avg")
    params, losses = _sgd_steps(model, params, state, 10)
    assert losses[-1] < losses[0], losses
    zoo_core.push_to_hub(model, params, state, "me/vit-pets", variant=name, label_names=labels, token="hf_test")
    _serve_to_timm(monkeypatch, zoo_hub)
    tmodel = timm.create_model("hf-hub:me/vit-pets", pretrained=True, cache_dir=tmp_path / "timm-cache").eval()
    assert tmodel.pretrained_cfg["label_names"] == labels
    _compare(model, params, state, tmodel)

    ours, load = zoo_core.create_pretrained("hf-hub:me/vit-pets")
    p2, s2 = load()
    assert ours.num_classes == 10 and zoo_core.get_variant("hf-hub:me/vit-pets").labels == tuple(labels)
    _trees_equal((params, state), (p2, s2))


@pytest.mark.parametrize("name, timm_kwargs", [
    ("resnet18.a1_in1k", dict(num_classes=4, in_chans=1)),
    ("resnetv2_50x1_bit.goog_in21k_ft_in1k", dict(num_classes=6)),
    ("convnext_atto.d2_in1k", dict(num_classes=0)),
    ("convnextv2_atto.fcmae_ft_in1k", dict(num_classes=3, in_chans=4)),
    ("vit_tiny_patch16_224.augreg_in21k_ft_in1k", dict(num_classes=0, img_size=IMG)),
])
def test_a_repository_timm_wrote_opens_in_zoo(zoo_hub, tmp_path, name, timm_kwargs):
    """timm's ``save_for_hf`` (safetensors) served by the loopback Hub: zoo's ``hf-hub:`` builds the
    same model (head, channels, image size from model_args) and computes the same outputs."""
    import timm
    from timm.models._hub import save_for_hf

    tmodel = timm.create_model(name, **timm_kwargs).eval()
    randomize_torch_module(tmodel, seed=3)
    save_for_hf(tmodel, tmp_path / "timm", safe_serialization=True)
    repo = f"someone/timm-{name.split('.')[0]}"
    zoo_hub.commit(repo, {f.name: f.read_bytes() for f in (tmp_path / "timm").iterdir()})

    model, load = zoo_core.create_pretrained(f"hf-hub:{repo}")
    params, state = load()
    assert (model.in_chans, model.num_classes) == (timm_kwargs.get("in_chans", 3), tmodel.num_classes)
    _compare(model, params, state, tmodel)
