"""zoo-convnext against timm, one test per architecture option beyond the Facebook AI models: the
conv MLP of timm's small models, the three overlapping (``_ols``) stems, SimpleNorm (``zepto_rms``),
head-norm-first (``_hnf``), the CLIP towers' embedding heads, ``large_mlp``'s pre-logits MLP,
``xxlarge``'s norm eps, and the test models' activations, eps and per-stage kernels. Features,
pre-logits and logits on randomized weights (every parameter), rtol/atol 1e-4."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import zoo_core  # noqa: E402
from zoo_core.testing.parity import (  # noqa: E402
    ParityReport,
    _compare,
    _timm_forward,
    _zoo_forward,
    check_timm_parity,
    randomize_torch_module,
    save_state_dict_to_hf_cache,
    to_nhwc,
)

pytestmark = pytest.mark.parity

REDUCED = dict(depths=(1, 1, 1, 1), dims=(32, 48, 64, 96))


@pytest.mark.parametrize("name,option", [
    ("convnext_atto.d2_in1k", "conv_mlp: 1×1-conv MLP weights, LayerNorm2d"),
    ("convnext_atto_ols.a2_in1k", "overlap_tiered stem: 3×3 s2 convs, middle width make_divisible(dims[0] // 2)"),
    ("convnext_nano_ols.d1h_in1k", "overlap stem: middle width dims[0]"),
    ("convnext_zepto_rms.ra4_e3600_r224_in1k", "SimpleNorm everywhere (unbiased variance, no centering, no bias)"),
    ("convnext_zepto_rms_ols.ra4_e3600_r224_in1k", "overlap_act stem (GELU between the convs) with SimpleNorm"),
    ("convnext_tiny_hnf.a2h_in1k", "head norm first: norm_pre in forward_features, pool → fc head"),
    ("test_convnext.r160_in1k", "tanh GELU, norm eps 1e-5, depths (1, 2, 4, 2)"),
    ("test_convnext3.r160_in1k", "SiLU, per-stage kernel sizes (7, 5, 5, 3)"),
])
def test_architecture_option_matches_timm(name, option):
    """Each option at its released size, on 64² inputs: features, pre-logits and logits at 1e-4."""
    print(option, check_timm_parity(name, img_size=(64, 64), batch=1))


def reduced_parity(name, cache_dir, *, img_size=(64, 64), seed=0, tweak=None, zoo_extra=None, **arch):
    """``name`` built by timm and by zoo with the same architecture overrides ``arch`` (timm's
    ``create_model(name, **arch)``; zoo's builder takes the same keywords), timm's weights randomized
    (then ``tweak(model)``), saved under the variant's repository in ``cache_dir`` and loaded by
    ``create_pretrained`` offline; features, pre-logits and logits compared at 1e-4.
    ``zoo_extra``: more keywords for zoo's side only (a deliberately wrong model, say)."""
    variant = zoo_core.get_variant(name)
    ref = timm.create_model(name, pretrained=False, **arch)
    randomize_torch_module(ref, seed)
    if tweak is not None:
        with torch.no_grad():
            tweak(ref)
    save_state_dict_to_hf_cache(ref.state_dict(), cache_dir, variant.hf_hub_id, variant.filename)
    x = np.random.default_rng(seed).standard_normal((1, 3, *img_size), dtype=np.float32)
    expected = _timm_forward(ref.eval(), torch.from_numpy(x))
    model, load = zoo_core.create_pretrained(name, cache_dir=cache_dir, local_files_only=True,
                                             **arch, **dict(zoo_extra or {}))
    params, state = load()
    report = ParityReport(f"{name} {arch}")
    _compare(report, name, _zoo_forward(model, params, state, to_nhwc(x)), expected, rtol=1e-4, atol=1e-4)
    return report


def test_clip_tower_embedding_head(tmp_path):
    """convnext_base.clip_laion2b: the tower's projection as a 640-way head.fc (the CLIP embedding),
    reduced to one block per stage and dims (32, 48, 64, 96) on both sides: the head is what differs
    from convnext_base, whose full size is proven in test_parity.py."""
    print(reduced_parity("convnext_base.clip_laion2b", tmp_path, **REDUCED))


def test_large_mlp_pre_logits_head(tmp_path):
    """convnext_large_mlp.clip_laion2b_augreg (a 768-way CLIP embedding after the 1536-wide
    pre-logits Linear + GELU), reduced to one block per stage and dims (32, 48, 64, 96) on both sides
    (the head's hidden size stays 1536): the head is what differs from convnext_large, whose full
    size is proven above and in test_parity.py. Pre-logits are the hidden layer's GELU output."""
    print(reduced_parity("convnext_large_mlp.clip_laion2b_augreg", tmp_path, **REDUCED))


def _small_stem(model):
    """Scale the stem conv down 100×: its output's variance (~1e-4) is where a LayerNorm's eps shows
    (1e-5 against timm's default 1e-6 moves the normalized map by several percent)."""
    model.stem[0].weight.mul_(0.01)
    model.stem[0].bias.mul_(0.01)


def test_xxlarge_norm_eps(tmp_path):
    """convnext_xxlarge (norm eps 1e-5, not ConvNeXt's 1e-6), reduced to one block per stage and dims
    (32, 48, 64, 96) on both sides: its depth and width are numbers the mapping check proves at full
    size (850M parameters would take minutes on CPU). A small-variance stem makes the eps decide the
    outputs: ours match at 1e-4, and the same model built with eps 1e-6 does not."""
    print(reduced_parity("convnext_xxlarge.clip_laion2b_soup", tmp_path, tweak=_small_stem, **REDUCED))
    with pytest.raises(AssertionError, match="differ beyond"):
        reduced_parity("convnext_xxlarge.clip_laion2b_soup", tmp_path / "eps_1e-6", tweak=_small_stem,
                       zoo_extra=dict(norm_eps=1e-6), **REDUCED)
