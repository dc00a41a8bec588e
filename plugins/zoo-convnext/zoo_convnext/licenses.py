"""The weights licenses of the ConvNeXt v1 table, each as timm's pretrained cfg states it (its
``license`` field), with who released the weights and what that means for commercial use.

Plain data: no JAX import. Four ids occur: ``Apache-2.0`` (Facebook AI, timm's own and the
OpenCLIP towers, three records with their own notes), the ``DINOv3 License`` (commercial use
only under its conditions) and the ``FAIR Noncommercial Research License`` (no commercial use).
"""

from __future__ import annotations

from zoo_core.registry import License

APACHE_URL = "https://www.apache.org/licenses/LICENSE-2.0"

FB_APACHE = License(
    "Apache-2.0", APACHE_URL, "yes",
    note="the Facebook AI ConvNeXt checkpoints (github.com/facebookresearch/ConvNeXt), Apache-2.0 as timm's "
         "pretrained config states",
)
TIMM_APACHE = License(
    "Apache-2.0", APACHE_URL, "yes",
    note="weights trained by timm's author (Ross Wightman) for timm: ImageNet-12k pretraining and fine-tunes, "
         "the small atto … nano, zepto and _hnf models, timm's test models; Apache-2.0 as timm states",
)
CLIP_APACHE = License(
    "Apache-2.0", APACHE_URL, "yes",
    note="LAION / OpenCLIP ConvNeXt image towers (github.com/mlfoundations/open_clip, trained on LAION-2B or "
         "LAION-Aesthetics) and timm's ImageNet fine-tunes of them. timm's pretrained config states Apache-2.0; "
         "the OpenCLIP originals on the Hub (laion/CLIP-convnext_*) are tagged MIT. Both permit commercial use; "
         "the CLIP model cards advise against untested deployment, and the LAION data sets have their own terms",
)
DINOV3 = License(
    "DINOv3 License", "https://ai.meta.com/resources/models-and-libraries/dinov3-license/", "conditions",
    note="Meta's DINOv3 License, not an open-source license: it sets conditions on use and on outputs "
         "derived from the weights (timm's note: downstream outputs must be shared under it). "
         "Read it before any use of these weights.",
)
EUPE = License(
    "FAIR Noncommercial Research License", "https://github.com/facebookresearch/eupe", "no",
    note="Meta FAIR's EUPE encoders (Efficient Universal Perception Encoder) are released under the FAIR "
         "Noncommercial Research License (timm: fair-noncommercial-research-license): research use only, "
         "no commercial use",
)

#: zoo's license id → timm's ``license`` field, for the row checks
TIMM_LICENSE_IDS = {
    "Apache-2.0": "apache-2.0",
    "DINOv3 License": "dinov3-license",
    "FAIR Noncommercial Research License": "fair-noncommercial-research-license",
}

LICENSE_NOTES = (
    "The zoo-convnext code is Apache-2.0; each variant's weights carry their own license, the one timm's "
    "pretrained config states for it.",
    "EUPE weights are non-commercial. The three convnext_*.eupe_lvd1689m encoders are released by Meta FAIR under "
    "the FAIR Noncommercial Research License: research use only, commercial use is not permitted.",
    "DINOv3 weights are not Apache-2.0. The four convnext_*.dinov3_lvd1689m encoders are released by Meta under "
    "the DINOv3 License (https://ai.meta.com/resources/models-and-libraries/dinov3-license/), which imposes "
    "obligations on the use of the weights and on outputs derived from them that differ from a permissive "
    "open-source license: commercial use only under its conditions. Read the license before using these weights "
    "for any downstream task.",
    "The clip_* rows are LAION's OpenCLIP image towers and timm's fine-tunes of them: Apache-2.0 as timm states "
    "(the OpenCLIP originals are tagged MIT), trained on LAION data sets, which carry their own terms.",
    "The Facebook AI fb_* checkpoints and timm's own weights (in12k*, d1*, d2, a2*, ra4*, r160) are Apache-2.0 "
    "and unaffected by the DINOv3 and EUPE terms.",
)
