"""archs.py against timm: every architecture of timm's vision_transformer.py with pretrained tags,
with exactly the model args its registered function passes (re-captured from timm, callables
written as data by archs.py's rule). No model is built: about a second."""

import functools

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from zoo_vit.archs import ARCHS, num_features  # noqa: E402

pytestmark = pytest.mark.parity


def as_data(kwargs: dict) -> dict:
    """timm's model args with its callables written as archs.py's docstring says."""
    import timm.models.vision_transformer as vt
    from timm.layers import GluMlp, LayerNorm, RmsNorm, SwiGLU

    norms = {LayerNorm: "layernorm", RmsNorm: "rmsnorm"}
    blocks = {vt.ResPostBlock: "res_post", vt.ParallelScalingBlock: "parallel_scaling",
              vt.DiffParallelScalingBlock: "diff_parallel_scaling"}
    out = {}
    for key, value in kwargs.items():
        if key in ("norm_layer", "embed_norm_layer"):
            assert isinstance(value, functools.partial) and set(value.keywords) == {"eps"}, (key, value)
            out[key] = norms[value.func]
            out[key.replace("_layer", "_eps")] = value.keywords["eps"]
        elif key == "act_layer":
            out[key] = "silu" if value is torch.nn.SiLU else value
        elif key == "mlp_layer" and value is SwiGLU:
            out[key] = "swiglu"
        elif key == "mlp_layer":
            assert value.func is GluMlp and value.keywords == {"act_layer": torch.nn.SiLU, "gate_last": False}, value
            out[key] = "glu_silu_gate_first"
        elif key == "block_fn":
            out[key] = blocks[value]
        else:
            out[key] = value
        assert isinstance(out.get(key, out.get(key.replace("_layer", "_eps"))), (int, float, str, bool)), (key, value)
    return out


def captured_model_args() -> dict:
    """arch → the kwargs its ``@register_model`` function gives ``_create_vision_transformer``."""
    import timm.models.vision_transformer as vt

    class Captured(Exception):
        pass

    captured = {}

    def capture(variant, pretrained=False, **kwargs):
        captured[variant] = kwargs
        raise Captured

    archs = list(dict.fromkeys(n.split(".")[0] for n in timm.list_models(module="vision_transformer", pretrained=True)))
    original = vt._create_vision_transformer
    vt._create_vision_transformer = capture
    try:
        for arch in archs:
            with pytest.raises(Captured):
                getattr(vt, arch)()
    finally:
        vt._create_vision_transformer = original
    return {arch: captured[arch] for arch in archs}


def test_archs_are_timms_model_args():
    """Every pretrained architecture, in timm's order, with timm's model args; num_features as timm's."""
    timm_args = captured_model_args()
    assert list(ARCHS) == list(timm_args)
    for arch, kwargs in timm_args.items():
        assert ARCHS[arch] == as_data(kwargs), arch
    for arch in ("vit_base_patch16_224", "aimv2_large_patch14_224", "vit_so400m_patch14_siglip_384"):
        with torch.device("meta"):
            assert timm.create_model(arch).num_features == num_features(ARCHS[arch])
