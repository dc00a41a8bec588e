"""Every architecture option of timm's VisionTransformer that archs.py uses, against timm on
randomized weights (rtol/atol 1e-4): tokens, pre-logits, logits and forward_intermediates.

Each case builds one architecture of the table through zoo-vit's ``build_model`` and timm's
``create_model`` with the SAME architecture overrides (depth 2 and, for wide models, a narrower
embed_dim with as many heads as divide it; small images), so both sides run the option at a few
MFLOPs. The options do not depend on depth or width: the full-size structure of every architecture
is proven key for key, tag by tag, by ``test_parity.py::test_mapping_consumes_timm_state_dict``.
"""

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from zoo_core.features import forward_intermediates  # noqa: E402
from zoo_core.interop.state_dict import apply_state_dict  # noqa: E402
from zoo_core.nn import abstract_init  # noqa: E402
from zoo_core.registry import License, Variant  # noqa: E402
from zoo_core.testing.parity import assert_close, randomize_torch_module, state_dict_to_numpy, to_numpy  # noqa: E402

from zoo_vit.archs import ARCHS  # noqa: E402
from zoo_vit.model import build_model  # noqa: E402
from zoo_vit.weights import weight_mapping  # noqa: E402

pytestmark = pytest.mark.parity

# (arch, img_size, overrides for both sides, what the case proves)
CASES = [
    ("vit_base_patch16_clip_quickgelu_224", 32, dict(depth=2, embed_dim=64, num_heads=4),
     "CLIP: pre_norm (norm_pre, bias-free patch embed), LayerNorm eps 1e-5, QuickGELU"),
    ("vit_base_patch32_siglip_256", 64, dict(depth=2, embed_dim=64, num_heads=4),
     "SigLIP: no class token, attention-pool head (map), tanh-GELU"),
    ("vit_base_patch16_siglip_gap_224", 32, dict(depth=2, embed_dim=64, num_heads=4),
     "SigLIP gap: no class token, avg pool with fc_norm=False (final norm before the pool)"),
    ("vit_betwixt_patch16_reg4_gap_256", 32, dict(depth=2, embed_dim=80, num_heads=5),
     "reg4_gap: 4 registers, no class token, no_embed_class, avg pool + fc_norm, LayerScale"),
    ("vit_small_patch14_reg4_dinov2", 28, dict(depth=2, embed_dim=48, num_heads=3),
     "DINOv2 with registers: class token + registers, no_embed_class"),
    ("aimv2_large_patch14_224", 28, dict(depth=2, embed_dim=64, num_heads=4),
     "AIMv2: RmsNorm, SwiGLU, patch-embed RmsNorm, no qkv/proj bias, avg pool, fc_norm=False"),
    ("vit_giant_patch14_dinov2", 28, dict(depth=2, embed_dim=48, num_heads=3),
     "DINOv2 giant: packed SwiGLU (GluMlp, gate first, SiLU)"),
    ("flexivit_small", 32, dict(depth=2, embed_dim=48, num_heads=3),
     "FlexiViT: class token without position-embedding row (no_embed_class)"),
    ("beit3_base_patch16_224", 32, dict(depth=2, embed_dim=64, num_heads=4),
     "BEiT-3: scale_attn_norm / scale_mlp_norm inner norms, avg pool with the class token, eps 1e-5"),
    ("vit_base_patch16_rpn_224", 32, dict(depth=2, embed_dim=64, num_heads=4),
     "ResPostBlock (norm after each branch, norms at init_values), no qkv bias"),
    ("vit_pwee_patch16_reg1_gap_256", 32, dict(depth=2, embed_dim=64, num_heads=4),
     "ParallelScalingBlock"),
    ("vit_dpwee_patch16_reg1_gap_256", 32, dict(depth=3),
     "DiffParallelScalingBlock (depth-dependent lambda_init)"),
    ("vit_dwee_patch16_reg1_gap_256", 32, dict(depth=3),
     "differential attention (attn_layer='diff') in the plain block"),
    ("test_vit3", 32, dict(depth=2),
     "map pool including the prefix (pool_include_prefix) with a register, no class token"),
    ("vit_so150m2_patch16_reg1_gap_256", 32, dict(depth=2, embed_dim=52, num_heads=4),
     "a register with position-embedding rows (no class token, no no_embed_class), no qkv bias"),
    ("vit_base_patch16_radio_v3", 48, dict(depth=2, embed_dim=64, num_heads=4),
     "RADIO: final_norm=False, 7 registers"),
    ("vit_medium_patch16_gap_256", 32, dict(depth=2, embed_dim=64, num_heads=4),
     "gap without registers: avg pool, fc_norm=False, qkv_bias=False, LayerScale 1e-6"),
    ("vit_base_patch14_reg1_tipsv2", 28, dict(depth=2, embed_dim=48, num_heads=3),
     "TIPSv2: LayerScale at 1.0, class token + register, no_embed_class"),
]

# dynamic_img_size: built for one size, run at others (position embedding resampled at run time)
DYNAMIC = [
    ("test_vit2", 32, (48, 64), dict(depth=2), "dynamic_img_size, register, avg pool"),
    ("vit_intern300m_patch14_448", 28, (42, 56), dict(depth=2, embed_dim=64, num_heads=4),
     "dynamic_img_size with a class token, final_norm=False"),
]


def arch_variant(arch: str, img_size: int) -> Variant:
    """A registry-free row for ``arch`` (the option tests do not depend on the variant table)."""
    kwargs = ARCHS[arch]
    return Variant(f"{arch}.options", "vit", 1000, kwargs["embed_dim"], License("test", "-", "yes"),
                   input_size=(3, img_size, img_size), arch_kwargs=kwargs)


def build_pair(arch: str, img_size: int, overrides: dict, num_classes: int = 11, seed: int = 0):
    """timm's and zoo's model of ``arch`` with ``overrides``, zoo's loaded with timm's randomized weights."""
    ref = timm.create_model(arch, pretrained=False, img_size=img_size, num_classes=num_classes, **overrides)
    randomize_torch_module(ref, seed)
    ref.eval()
    variant = arch_variant(arch, img_size)
    model = build_model(variant, in_chans=3, num_classes=num_classes, img_size=img_size, **overrides)
    params, state = abstract_init(model)
    tree = apply_state_dict({"params": params, "state": state}, state_dict_to_numpy(ref.state_dict()),
                            weight_mapping(variant, model, params, state), source=f"timm {arch}")
    return ref, model, tree["params"], tree["state"]


# The forward_intermediates calls each case compares: (indices, options), timm's spelling.
INTERMEDIATES = [
    (None, dict(intermediates_only=True)),
    ([0], dict(norm=True, output_fmt="NLC", return_prefix_tokens=True, intermediates_only=True)),
    (1, dict(norm=True)),
]


def zoo_opts(opts: dict) -> dict:
    opts = dict(opts)
    opts["output_fmt"] = "NHWC" if opts.get("output_fmt", "NCHW") == "NCHW" else opts["output_fmt"]
    return opts


def timm_outputs(ref, x, calls):
    """timm's tokens, pre-logits, logits and forward_intermediates results for ``calls``."""
    with torch.no_grad():
        xt = torch.from_numpy(x)
        feats = ref.forward_features(xt)
        outs = [feats, ref.forward_head(feats, pre_logits=True), ref.forward_head(feats)]
        outs += [ref.forward_intermediates(xt, indices, **opts) for indices, opts in calls]
    return outs


def zoo_outputs(model, params, state, x, calls):
    """The same from zoo, in one jitted function (one compilation per case)."""
    @jax.jit
    def run(params, state, x):
        feats, _ = model.forward_features(params, state, x)
        outs = [feats, model.forward_head(params, feats, pre_logits=True), model.forward_head(params, feats)]
        outs += [forward_intermediates(model, params, state, x, indices, **zoo_opts(opts))[0]
                 for indices, opts in calls]
        return outs

    return run(params, state, x.transpose(0, 2, 3, 1))


def compare_intermediates(ours, theirs, opts, name):
    """One forward_intermediates result: NCHW maps compared as NHWC, prefix tokens, final features."""
    if not opts.get("intermediates_only"):
        assert_close(ours[0], to_numpy(theirs[0]), name=f"{name} final")
        ours, theirs = ours[1], theirs[1]
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if opts.get("return_prefix_tokens") and isinstance(b, tuple):
            assert_close(a[1], to_numpy(b[1]), name=f"{name} prefix {i}")
            a, b = a[0], b[0]
        b = to_numpy(b)
        assert_close(a, b.transpose(0, 2, 3, 1) if opts.get("output_fmt", "NCHW") == "NCHW" else b,
                     name=f"{name} map {i}")


def check_all(ref, model, params, state, x, name, calls=INTERMEDIATES):
    """Tokens, pre-logits, logits and every forward_intermediates call of ``calls`` equal timm's."""
    theirs = timm_outputs(ref, x, calls)
    ours = zoo_outputs(model, params, state, x, calls)
    for what, a, b in zip(("tokens", "pre-logits", "logits"), ours, theirs):
        assert_close(a, to_numpy(b), name=f"{name} {what}")
    for (indices, opts), a, b in zip(calls, ours[3:], theirs[3:]):
        compare_intermediates(a, b, opts, f"{name} forward_intermediates({indices}, {opts})")


@pytest.mark.parametrize("arch,img_size,overrides,what", CASES, ids=[c[0] for c in CASES])
def test_option_matches_timm(arch, img_size, overrides, what):
    ref, model, params, state = build_pair(arch, img_size, overrides)
    x = np.random.default_rng(1).standard_normal((2, 3, img_size, img_size), dtype=np.float32)
    check_all(ref, model, params, state, x, arch)


@pytest.mark.parametrize("arch,img_size,run_size,overrides,what", DYNAMIC, ids=[c[0] for c in DYNAMIC])
def test_dynamic_img_size_matches_timm(arch, img_size, run_size, overrides, what):
    ref, model, params, state = build_pair(arch, img_size, overrides)
    for size in ((img_size, img_size), run_size):
        x = np.random.default_rng(2).standard_normal((1, 3, *size), dtype=np.float32)
        check_all(ref, model, params, state, x, f"{arch} at {size}", [((0, -1), dict(stop_early=True))])


def test_forward_intermediates_forms_match_timm():
    """The wrapper's return forms: stop_early's final features (the network cut after the last
    index, normed, as timm's), unsorted indices (timm collects them in block order), norm."""
    arch, overrides = "vit_small_patch14_reg4_dinov2", dict(depth=3, embed_dim=48, num_heads=3)
    ref, model, params, state = build_pair(arch, 28, overrides)
    x = np.random.default_rng(3).standard_normal((1, 3, 28, 28), dtype=np.float32)
    check_all(ref, model, params, state, x, arch, [
        ([1], dict(stop_early=True)),
        ([2, 0], dict(return_prefix_tokens=True)),
        (2, dict(norm=True, output_fmt="NLC")),
    ])


def option_signature(kwargs: dict) -> set:
    """What an architecture's options are: every non-size key with its value (sizes left out)."""
    sizes = {"patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "img_size"}
    counts = {"init_values", "reg_tokens"}  # whether set matters, not the value
    return {(k, "set" if k in counts else v) for k, v in kwargs.items() if k not in sizes}


def test_every_option_of_the_table_is_proven():
    """Each (option, value) any architecture of archs.py uses appears in a proven case."""
    covered = set().union(*(option_signature(ARCHS[c[0]]) for c in CASES + DYNAMIC))
    used = set().union(*(option_signature(kwargs) for kwargs in ARCHS.values()))
    assert used - covered == set()
