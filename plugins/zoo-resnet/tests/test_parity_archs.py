"""zoo-resnet's architecture options against timm on randomized weights: each stem, block, shortcut,
attention, anti-aliasing, norm and the pruned widths of timm's ``ResNet``, and the feature maps.

Deep networks are proven on a shallow copy built by the same code: timm's ``create_model(name,
layers=(1, 1, 1, 1))`` and zoo's ``create_model(name, layers=(1, 1, 1, 1))`` (every stage keeps its
first, projecting block: stem, shortcut, stride, attention and anti-aliasing all run). The
architectures' full depth is checked key for key and shape for shape in ``test_parity.py``.
"""

import tempfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import zoo_core  # noqa: E402
from zoo_core.testing import parity as P  # noqa: E402

pytestmark = pytest.mark.parity

ONE = (1, 1, 1, 1)


def randomized_timm_model(name: str, seed: int, **kwargs):
    """timm's ``name`` with every parameter and persistent buffer randomized (BlurPool's fixed
    filter, which no checkpoint carries, stays as timm computes it)."""
    ref = timm.create_model(name, pretrained=False, **kwargs)
    P.randomize_torch_module(ref, seed)
    return ref


def check_parity(name: str, layers=None, *, img_size=(64, 64), batch: int = 2, train_step: bool = True,
                 seed: int = 0) -> P.ParityReport:
    """The parity protocol for ``name`` built with ``layers`` (None: the architecture's) on both
    sides (timm's reduced model is the released file): features, pre-logits and logits, then
    (``train_step``) one train-mode forward: outputs and every updated running statistic."""
    arch_kwargs = {} if layers is None else {"layers": layers}
    return P.check_timm_parity(name, img_size=img_size, batch=batch, seed=seed, arch_kwargs=arch_kwargs,
                               train_step=train_step)


@pytest.mark.parametrize("name,layers,train_step", [
    ("resnet10t.c3_in1k", None, True),            # tiered deep stem (24, 32, 64), basic blocks, average-pool shortcuts
    ("resnet14t.c3_in1k", None, False),           # the same stem with bottlenecks
    ("resnet50c.gluon_in1k", ONE, False),         # deep stem (32, 32, 64), conv shortcuts
    ("resnet50s.gluon_in1k", ONE, False),         # wide deep stem (64, 64, 128)
    ("resnet26d.bt_in1k", ONE, True),             # deep stem + average-pool shortcuts (ResNet-D)
    ("resnext50_32x4d.a1_in1k", ONE, True),       # grouped 3×3 convs (32 groups of 4)
    ("wide_resnet50_2.racm_in1k", ONE, False),    # wide bottlenecks (base width 128)
    ("resnet50_gn.a1h_in1k", ONE, True),          # GroupNorm (32 groups) everywhere: no running statistics
    ("seresnet50.a1_in1k", ONE, True),            # Squeeze-and-Excitation (1/16)
    ("seresnext26t_32x4d.bt_in1k", ONE, False),   # SE + grouped + tiered stem
    ("senet154.gluon_in1k", ONE, True),           # SENet-154: 64-wide deep stem, 3×3 shortcut convs, halved conv1
    ("ecaresnetlight.miil_in1k", ONE, True),      # ECA, 7×7 stem with average-pool shortcuts
    ("resnetaa50.a1h_in1k", ONE, True),           # anti-aliasing: 2×2 average pools in the stem and strided blocks
    ("resnetblur50.bt_in1k", ONE, True),          # BlurPool after a stride-1 max-pool and in strided blocks
    ("resnetrs50.tf_in1k", ONE, True),            # ResNet-RS: conv stem pool, SE 1/4, average-pool shortcuts
    ("test_resnet.r160_in1k", None, False),       # mixed block kinds per stage, narrow channels
])
def test_architecture_matches_timm(name, layers, train_step):
    """Eval-mode features, pre-logits and logits, then (where the option has its own batch
    statistics or train-mode path) a train-mode step (outputs and running statistics), at rtol/atol 1e-4 on a 64×64 input (with anti-aliasing, timm itself needs sides
    that stay even down to stride 16: its 2×2 pools floor where the shortcut's pool rounds up)."""
    print(check_parity(name, layers, train_step=train_step))


@pytest.mark.parametrize("name,layers", [("seresnextaa101d_32x8d.sw_in12k", ONE), ("seresnextaa201d_32x8d.sw_in12k", ONE),
                                         ("ecaresnet50t.ra2_in1k", ONE)])
def test_combined_options_match_timm(name, layers):
    """Options together (SE + ResNeXt + ResNet-D + anti-aliasing, the 64-wide stem; ECA + tiered
    stem), 11821-class heads: eval mode only, each option's train mode is proven above."""
    print(check_parity(name, layers, train_step=False))


def test_pruned_widths_match_timm():
    """ecaresnet50d_pruned at full depth (its per-block widths cannot be shortened): every conv
    and norm at its pruned width, each ECA with its unpruned kernel size. Eval mode only, at 32²:
    ecaresnet50d's train mode is the same code."""
    print(check_parity("ecaresnet50d_pruned.miil_in1k", img_size=(32, 32), batch=1, train_step=False))


@pytest.mark.parametrize("name,layers,out_indices", [("resnetrs50.tf_in1k", ONE, None),
                                                     ("seresnext26t_32x4d.bt_in1k", ONE, (1, 3)),
                                                     ("resnetblur50.bt_in1k", ONE, 2)])
def test_features_only_matches_timm(zoo_hf_cache, name, layers, out_indices):
    """``features_only``: timm's ``feature_info`` and maps for the deep / RS stems and the blur pool."""
    from zoo_core.testing.features_parity import check_features_parity

    print(check_features_parity(name, zoo_hf_cache, out_indices=out_indices, img_size=(64, 48),
                                model_kwargs={"layers": layers}))


@pytest.mark.parametrize("name,layers,indices", [("ecaresnet26t.ra2_in1k", ONE, (0, 2, 4)),
                                                 ("resnetaa50d.sw_in12k", ONE, (1, 2)),
                                                 ("resnet34d.ra2_in1k", ONE, (4,))])
def test_forward_intermediates_matches_timm(name, layers, indices):
    """``zoo_core.features.forward_intermediates`` (timm's signature) against timm's: the maps at
    ``indices`` with ``intermediates_only=True``; the final features and maps without it; with
    ``stop_early`` the network cut after the last index, as timm's."""
    import jax

    from zoo_core.features import forward_intermediates

    kwargs = {} if layers is None else {"layers": layers}
    variant = zoo_core.get_variant(name)
    with tempfile.TemporaryDirectory() as cache:
        ref = randomized_timm_model(name, 3, **kwargs).eval()
        P.save_state_dict_to_hf_cache(ref.state_dict(), cache, variant.hf_hub_id, variant.filename)
        model, load = zoo_core.create_pretrained(name, cache_dir=cache, local_files_only=True, **kwargs)
        params, state = load()
    x = np.random.default_rng(3).standard_normal((1, 3, 64, 64), dtype=np.float32)
    for options in ({"intermediates_only": True}, {}, {"stop_early": True}):
        with torch.no_grad():
            theirs = ref.forward_intermediates(torch.from_numpy(x), list(indices), **options)
        ours, _ = jax.jit(lambda p, s, x, o=options: forward_intermediates(model, p, s, x, indices, **o))(
            params, state, P.to_nhwc(x))
        if not options.get("intermediates_only"):
            P.assert_close(ours[0], P.to_nhwc(theirs[0]), rtol=1e-4, atol=1e-4, name=f"{name} {options} final")
            ours, theirs = ours[1], theirs[1]
        assert len(ours) == len(theirs) == len(indices)
        for i, a, b in zip(indices, ours, theirs):
            P.assert_close(a, P.to_nhwc(b), rtol=1e-4, atol=1e-4, name=f"{name} {options} intermediate {i}")
