"""zoo-vit's table against timm 1.0.31's: every pretrained tag of ``vision_transformer.py`` in
timm's order with timm's default, each row's data config and license against timm's pretrained cfg,
and each architecture's weight mapping against timm's state-dict keys and shapes (timm on the meta
device: no weights, no forward pass).

Rows are checked per tag (309), mappings once per structure: (architecture, head size, input size),
all a tag changes in the model timm builds for it. timm's meta-device model is the slow part, so it
is built once per structure and shared by the row and mapping checks of that structure.
"""

import pytest

import zoo_core

from zoo_vit import releases as R
from zoo_vit.archs import ARCHS
from zoo_vit.variants import VARIANTS

# What timm's pretrained cfg says for each release's license. Where it differs from the release's own
# (timm's `_cfg` default apache-2.0 standing in, or a license Apple has since changed), the License's
# note says so; any other difference fails `test_row_matches_timms_pretrained_cfg`.
TIMM_SAYS = {
    R.GOOGLE_VIT: {"apache-2.0"}, R.BIG_VISION: {"apache-2.0"}, R.TIPS: {"apache-2.0"}, R.DINO: {"apache-2.0"},
    R.DINOV2: {"apache-2.0"}, R.TIMM: {"apache-2.0"}, R.MIIL: {"apache-2.0"},
    R.OPENAI_CLIP: {"apache-2.0"}, R.LAION: {"mit", "apache-2.0"}, R.DATACOMP: {"apache-2.0"}, R.EVA: {"mit"},
    R.TINYCLIP: {"mit"}, R.INTERNVIT: {"mit", "apache-2.0"}, R.BEIT3: {"apache-2.0"},
    R.GEMMA: {"apache-2.0"}, R.NVIDIA_OPEN: {"nvidia-open-model-license"},
    R.APPLE_AMLR: {"apple-amlr"}, R.APPLE_DFN: {"apple-ascl"}, R.APPLE_AIMV2: {"apple-ascl"},
    R.MAE: {"cc-by-nc-4.0"}, R.IJEPA: {"cc-by-nc-4.0"}, R.METACLIP: {"cc-by-nc-4.0"}, R.BAMBOO: {None},
}
NAMES = [v.name for v in VARIANTS]


def _structure(v):
    """What of a tag reaches the model timm builds for it: the architecture, and the pretrained cfg's
    num_classes and (``fixed_input_size``) img_size."""
    return v.arch, v.num_classes, v.input_size


STRUCTURES = list({_structure(v): v.name for v in VARIANTS}.values())  # one tag per structure
_TIMM_MODELS = {}  # structure -> timm's model on the meta device


@pytest.fixture
def shared_timm_models(monkeypatch):
    """``timm.create_model(name)`` answered from one meta-device model per structure."""
    timm = pytest.importorskip("timm")
    create = timm.create_model

    def create_once(name, pretrained=False, **kwargs):
        assert not pretrained and not kwargs, (name, kwargs)
        key = _structure(zoo_core.get_variant(name))
        if key not in _TIMM_MODELS:
            _TIMM_MODELS[key] = create(name)
        return _TIMM_MODELS[key]

    monkeypatch.setattr(timm, "create_model", create_once)


def test_table_covers_timms_vision_transformer_py():
    """309 tags over 145 architectures, each with its ARCHS entry; 305 on the Hub (the 17 QuickGELU
    rows in their twin's repository), the four I-JEPA ones not; names unique."""
    assert len(NAMES) == len(set(NAMES)) == 309
    assert {v.arch for v in VARIANTS} == set(ARCHS) and len(ARCHS) == 145
    assert len(zoo_core.list_variants(family="vit")) == 309
    no_hub = [v.name for v in VARIANTS if v.hf_hub_id is None]
    assert no_hub == ["vit_huge_patch14_gap_224.in1k_ijepa", "vit_huge_patch14_gap_224.in22k_ijepa",
                      "vit_huge_patch16_gap_448.in1k_ijepa", "vit_giant_patch16_gap_224.in22k_ijepa"]
    assert all("not on the Hugging Face Hub" in zoo_core.get_variant(n).notes for n in no_hub)
    shared = [v for v in VARIANTS if v.hf_hub_id not in (None, f"timm/{v.name}")]
    assert len(shared) == 17 and all("_clip_quickgelu_" in v.arch for v in shared)
    assert all(v.hf_hub_id == "timm/" + v.name.replace("_clip_quickgelu_", "_clip_") for v in shared)


def test_every_release_license_is_known_and_its_commercial_use_stated():
    """Each License used is one the table tests know; commercial use as docs/families/vit.md says."""
    assert {v.license for v in VARIANTS} == set(TIMM_SAYS)
    uses = ("yes", "conditions", "no")
    by_use = {use: {v.license.id for v in VARIANTS if v.license.commercial == use} for use in uses}
    assert by_use == {"yes": {"Apache-2.0", "MIT"}, "conditions": {"Gemma", "NVIDIA-Open-Model-License"},
                      "no": {"CC-BY-NC-4.0", "Apple-AMLR", "unspecified"}}
    counts = {use: len(zoo_core.list_variants(family="vit", commercial=use)) for use in uses}
    assert counts == {"yes": 233, "conditions": 23, "no": 53}, counts


def test_rows_say_what_a_clip_head_is_and_where_quickgelu_lives():
    """A CLIP tower's head is its projection, not classes; a QuickGELU-trained tower names its twin."""
    v = zoo_core.get_variant("vit_base_patch16_clip_224.openai")
    assert v.num_classes == 512 and "image projection into the 512-d" in v.notes
    assert "vit_base_patch16_clip_quickgelu_224.openai gives the original" in v.notes
    assert v.resolved_label_names == "image-text"  # zoo_core.predict.IMAGE_TEXT: a projection, no class names
    assert zoo_core.get_variant("vit_base_patch16_siglip_224.webli").resolved_label_names is None  # no head at all
    assert zoo_core.get_variant("vit_base_patch16_clip_224.laion2b_ft_in1k").resolved_label_names == "imagenet-1k"
    assert "projection" not in zoo_core.get_variant("vit_base_patch16_clip_224.laion2b_ft_in12k").notes


@pytest.mark.parity
def test_table_is_timms():
    """Exactly timm's pretrained tags of vision_transformer.py, in timm's order, timm's default per arch."""
    timm = pytest.importorskip("timm")
    from zoo_core.testing.timm_table import check_table

    assert check_table("vit", ARCHS) == [n for a in ARCHS for n in NAMES if n.split(".")[0] == a]
    module_archs = set(timm.list_models(module="vision_transformer"))
    timms = {n for n in timm.list_pretrained() if n.split(".")[0] in module_archs}
    assert set(NAMES) == timms


@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
def test_row_matches_timms_pretrained_cfg(name, monkeypatch, shared_timm_models):
    """Head, input size, crop, interpolation, mean/std, Hub repository, stem/classifier names,
    num_features (both models built without weights) and the license as timm's cfg states it."""
    timm = pytest.importorskip("timm")
    from zoo_core.testing.timm_table import check_row

    v = zoo_core.get_variant(name)
    cfg = timm.models.get_pretrained_cfg(name)
    says = cfg.license
    if v.hf_hub_id is None:  # check_row reads cfg["hf_hub_id"], which timm's to_dict() leaves out when None
        assert cfg.hf_hub_id is None and cfg.url
        monkeypatch.setattr(timm.models, "get_pretrained_cfg", lambda _: _WithNoHub(cfg))
    assert says in TIMM_SAYS[v.license], f"{name}: {v.license.id} where timm says {says}: undocumented difference"
    check_row(name, {v.license.id: says})


class _WithNoHub:
    """A pretrained cfg whose ``to_dict()`` keeps ``hf_hub_id: None``."""

    def __init__(self, cfg):
        self.cfg = cfg

    def to_dict(self):
        return {"hf_hub_id": None, **self.cfg.to_dict()}


@pytest.mark.parity
@pytest.mark.parametrize("name", STRUCTURES)
def test_mapping_consumes_timms_state_dict(name, shared_timm_models):
    """The mapping uses exactly timm's keys and shapes (timm on the meta device) and writes every leaf."""
    from zoo_core.testing.timm_table import check_mapping_structure

    assert check_mapping_structure(name) > 0


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore::zoo_core.builtin_hooks.NonCommercialWeightsWarning")  # CC-BY-NC-4.0, as listed
def test_ijepa_original_file_loads_by_the_documented_recipe(tmp_path):
    """A file laid out as Meta's I-JEPA checkpoints (the encoder under ``encoder``, keys under
    DataParallel's ``module.``, beside the target encoder and training state) goes through
    ``zoo convert FILE OUT --key encoder`` as docs/families/vit.md shows and loads to timm's
    outputs: a reduced ViT-H/14-gap (depth 2, width 64, 56 px; timm's and zoo's builders take the
    same overrides), at 1e-4. Without ``--key`` the error says which entry to pick."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")

    from zoo_core.cli import main
    from zoo_core.testing.parity import check_checkpoint_file_parity, randomize_torch_module

    name, reduced = "vit_huge_patch14_gap_224.in1k_ijepa", dict(depth=2, embed_dim=64, num_heads=2, img_size=56)
    reference = timm.create_model(name, pretrained=False, **reduced).eval()
    randomize_torch_module(reference, seed=0)
    encoder = {f"module.{k}": v for k, v in reference.state_dict().items()}
    torch.save({"encoder": encoder, "target_encoder": encoder, "epoch": 300}, tmp_path / "IN1K-vit.pth.tar")

    path = tmp_path / "ijepa.safetensors"
    assert main(["convert", str(tmp_path / "IN1K-vit.pth.tar"), str(path)]) != 0  # names --key encoder
    assert main(["convert", str(tmp_path / "IN1K-vit.pth.tar"), str(path), "--key", "encoder"]) == 0
    print(check_checkpoint_file_parity(name, path, reference, img_size=56, zoo_kwargs=reduced))
