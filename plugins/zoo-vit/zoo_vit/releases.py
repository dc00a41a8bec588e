"""Who released each set of ViT weights, under which license, and what each tag is: plain data for
``variants.py`` (no JAX import).

timm's pretrained configs state a ``license`` per tag, but where a config sets none its ``_cfg``
default (``apache-2.0``) stands in; the licenses below are each release's own, from its
repository or model card. Where that differs from timm's config, the note says so (the table tests
list every such difference). ``commercial`` is ``"yes"`` for permissive licenses, ``"no"`` for
non-commercial or research-only ones and for weights with no license at all, ``"conditions"``
where commercial use is allowed under terms beyond attribution (use restrictions, pass-through
terms): read those licenses before shipping a product.
"""

from __future__ import annotations

from zoo_core.registry import License

# ---- permissive -------------------------------------------------------------------------------
GOOGLE_VIT = License(
    "Apache-2.0", "https://github.com/google-research/vision_transformer/blob/main/LICENSE", "yes",
    note="Google's ViT releases (original paper, AugReg 'How to train your ViT?', SAM-optimizer): Apache-2.0",
)
BIG_VISION = License(
    "Apache-2.0", "https://github.com/google-research/big_vision/blob/main/LICENSE", "yes",
    note="Google's big_vision releases (FlexiViT, SigLIP, SigLIP 2): Apache-2.0",
)
TIPS = License(
    "Apache-2.0", "https://github.com/google-deepmind/tips", "yes",
    note="Google DeepMind's TIPSv2 image encoders: Apache-2.0 as timm's pretrained config states; the TIPS "
         "repository puts its code under Apache-2.0 and its other materials under CC-BY-4.0, both permissive",
)
DINO = License(
    "Apache-2.0", "https://github.com/facebookresearch/dino/blob/main/LICENSE", "yes",
    note="Facebook's DINO self-supervised weights: Apache-2.0",
)
DINOV2 = License(
    "Apache-2.0", "https://github.com/facebookresearch/dinov2/blob/main/LICENSE", "yes",
    note="Meta's DINOv2 weights (with and without registers): Apache-2.0",
)
MIIL = License(
    "MIT", "https://github.com/Alibaba-MIIL/ImageNet21K/blob/main/LICENSE", "yes",
    note="Alibaba MIIL's ImageNet-21K-P release is MIT (timm's config states apache-2.0, its default)",
)
TIMM = License(
    "Apache-2.0", "https://github.com/huggingface/pytorch-image-models/blob/main/LICENSE", "yes",
    note="weights trained or fine-tuned by timm (Ross Wightman): Apache-2.0. The CLIP/SigLIP fine-tunes start from "
         "OpenAI's, LAION's (MIT) or Google's (Apache-2.0) towers",
)
OPENAI_CLIP = License(
    "MIT", "https://github.com/openai/CLIP/blob/main/LICENSE", "yes",
    note="OpenAI's CLIP release is MIT (timm's config states its default, apache-2.0). OpenAI's model card calls any "
         "deployed use 'out of scope' pending task-specific testing: a recommendation, not a license term",
)
LAION = License(
    "MIT", "https://github.com/mlfoundations/open_clip/blob/main/LICENSE", "yes",
    note="LAION's OpenCLIP models (LAION-400M, LAION-2B) are MIT on their model cards (timm's config states "
         "apache-2.0, its default, for the LAION-2B ones)",
)
DATACOMP = License(
    "MIT", "https://huggingface.co/laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K", "yes",
    note="the DataComp-1B (XL) OpenCLIP models are MIT on their model cards (timm's config states apache-2.0, its "
         "default)",
)
EVA = License(
    "MIT", "https://github.com/baaivision/EVA/blob/master/LICENSE", "yes",
    note="BAAI's EVA weights: MIT",
)
TINYCLIP = License(
    "MIT", "https://github.com/wkcn/TinyCLIP/blob/main/LICENSE", "yes",
    note="Microsoft's TinyCLIP weights: MIT",
)
INTERNVIT = License(
    "MIT", "https://huggingface.co/OpenGVLab/InternViT-300M-448px-V2_5", "yes",
    note="OpenGVLab's InternViT-300M (InternVL 1.5 and 2.5) are MIT on their model cards (timm's config states "
         "apache-2.0, its default, for the V2.5 one)",
)
BEIT3 = License(
    "MIT", "https://github.com/microsoft/unilm/blob/master/LICENSE", "yes",
    note="Microsoft's BEiT-3 weights are released with microsoft/unilm, MIT (timm's config states apache-2.0, its "
         "default)",
)
# ---- commercial use under conditions -----------------------------------------------------------------
GEMMA = License(
    "Gemma", "https://ai.google.dev/gemma/terms", "conditions",
    note="the SigLIP encoders of PaliGemma and PaliGemma 2 come from Google's PaliGemma checkpoints, released under "
         "the Gemma Terms of Use: commercial use allowed, bound by its prohibited-use policy and passed on to "
         "derivatives. timm's config and Hub copies state apache-2.0 (its default)",
)
NVIDIA_OPEN = License(
    "NVIDIA-Open-Model-License",
    "https://www.nvidia.com/en-us/agreements/enterprise-software/nvidia-open-model-license/", "conditions",
    note="NVIDIA's C-RADIO backbones: the NVIDIA Open Model License allows commercial use with its conditions "
         "(attribution notice, the agreement passed on, safety guardrails not bypassed)",
)
# ---- no commercial use -----------------------------------------------------------------------------
APPLE_AMLR = License(
    "Apple-AMLR", "https://github.com/apple/ml-mobileclip", "no",
    note="Apple's MobileCLIP2 weights: Apple Machine Learning Research Model License, research use only",
)
APPLE_DFN = License(
    "Apple-AMLR", "https://huggingface.co/apple/DFN5B-CLIP-ViT-H-14-378/blob/main/LICENSE", "no",
    note="Apple's DFN CLIP weights were published under the Apple Sample Code License (what timm's config states: "
         "apple-ascl); Apple's model repositories now state the Apple Machine Learning Research Model License, "
         "research use only. Not cleared for commercial use",
)
APPLE_AIMV2 = License(
    "Apple-AMLR", "https://github.com/apple/ml-aim", "no",
    note="Apple's AIMv2 weights were published under the Apple Sample Code License (what timm's config states: "
         "apple-ascl); Apple's model repositories now state the Apple Machine Learning Research Model License, "
         "research use only. Not cleared for commercial use",
)
MAE = License(
    "CC-BY-NC-4.0", "https://github.com/facebookresearch/mae/blob/main/LICENSE", "no",
    note="Meta's MAE pretrained encoders: CC-BY-NC-4.0, non-commercial use only",
)
IJEPA = License(
    "CC-BY-NC-4.0", "https://github.com/facebookresearch/ijepa/blob/main/LICENSE", "no",
    note="Meta's I-JEPA encoders: CC-BY-NC-4.0, non-commercial use only",
)
METACLIP = License(
    "CC-BY-NC-4.0", "https://github.com/facebookresearch/MetaCLIP/blob/main/LICENSE", "no",
    note="Meta's MetaCLIP and MetaCLIP 2 weights: CC-BY-NC-4.0, non-commercial use only",
)
BAMBOO = License(
    "unspecified", "https://github.com/ZhangYuanhan-AI/Bamboo", "no",
    note="timm's pretrained config states no license and the Bamboo release names none: no commercial use is granted",
)

LICENSE_NOTES = (
    "The zoo-vit code is Apache-2.0; each variant's weights carry their own license, the release's own "
    "(`zoo info NAME` shows it, `zoo list --family vit --license` lists them all).",
    "Permissive (commercial use: yes): Google's ViT, FlexiViT, SigLIP, SigLIP 2 and TIPSv2, DINO, DINOv2 and "
    "timm's own training and fine-tunes (Apache-2.0); OpenAI CLIP, LAION and DataComp OpenCLIP, Alibaba MIIL, "
    "EVA, TinyCLIP, InternViT and BEiT-3 (MIT).",
    "Commercial use under conditions: the PaliGemma encoders (Gemma Terms of Use) and NVIDIA's C-RADIO (NVIDIA "
    "Open Model License). Read those terms before shipping.",
    "No commercial use: MAE, I-JEPA, MetaCLIP and MetaCLIP 2 (CC-BY-NC-4.0), Apple's DFN CLIP, AIMv2 and "
    "MobileCLIP2 (Apple Machine Learning Research Model License) and vit_base_patch16_224.bamboo (no license).",
    "Where a release's license differs from timm's pretrained config (OpenAI, LAION-2B and DataComp CLIP, "
    "Alibaba MIIL, InternViT-V2.5, BEiT-3: MIT, not timm's default apache-2.0; PaliGemma: Gemma; Apple DFN and "
    "AIMv2: now AMLR, not apple-ascl), the license note says so.",
)

# What each tag is. Keyed by tag, or by ``release:tag`` where two releases use the same tag (``webli``,
# ``in22k_ft_in1k``). A CLIP tower's head is its image projection; variants.py says so beside the row.
NOTES = {
    # Google ViT (vision_transformer): AugReg, the original paper, SAM
    "augreg2_in21k_ft_in1k": "AugReg ImageNet-21k weights re-fine-tuned on ImageNet-1k by timm",
    "augreg_in21k_ft_in1k": "AugReg (arXiv:2106.10270): ImageNet-21k pretraining, ImageNet-1k fine-tune",
    "augreg_in1k": "AugReg (arXiv:2106.10270): trained on ImageNet-1k only",
    "augreg_in21k": "AugReg (arXiv:2106.10270): ImageNet-21k pretraining, the 21843-class head",
    "orig_in21k_ft_in1k": "original ViT paper (arXiv:2010.11929): ImageNet-21k pretraining, ImageNet-1k fine-tune",
    "orig_in21k": "original ViT paper (arXiv:2010.11929) ImageNet-21k weights; the released head is not valid, so "
                  "timm ships none: pooled features only",
    "sam_in1k": "trained on ImageNet-1k with the SAM optimizer (arXiv:2106.01548)",
    "bamboo": "Bamboo-CLS classifier (arXiv:2203.07845), 115217 classes",
    # self-supervised encoders
    "dino": "DINO self-supervised (arXiv:2104.14294), no classifier: pooled features only",
    "lvd142m": "DINOv2 self-supervised on LVD-142M (arXiv:2304.07193; reg4: with registers, arXiv:2309.16588), "
               "no classifier: pooled features only",
    "mae": "MAE self-supervised encoder (arXiv:2111.06377), no classifier: pooled features only",
    "in1k_ijepa": "I-JEPA self-supervised encoder (arXiv:2301.08243) trained on ImageNet-1k, no classifier",
    "in22k_ijepa": "I-JEPA self-supervised encoder (arXiv:2301.08243) trained on ImageNet-22k, no classifier",
    "tips:webli": "TIPSv2 image encoder (Google DeepMind), DINOv2-style with one register token; inputs in [0, 1] "
                  "(mean 0, std 1); no classifier",
    # Alibaba MIIL
    "in21k": "Alibaba MIIL ImageNet-21K-P pretraining (arXiv:2104.10972), 11221 classes",
    "in21k_ft_in1k": "Alibaba MIIL ImageNet-21K-P pretraining (arXiv:2104.10972), ImageNet-1k fine-tune",
    # timm's own training
    "sw_in1k": "trained by timm on ImageNet-1k",
    "sw_in12k": "trained by timm on ImageNet-12k (11821 classes)",
    "sw_in12k_ft_in1k": "trained by timm on ImageNet-12k, fine-tuned on ImageNet-1k",
    "sbb_in1k": "timm's 'searching for better ViT baselines' (SBB) recipe on ImageNet-1k",
    "sbb_nadamuon_in1k": "timm's SBB recipe on ImageNet-1k with the NAdaMuon optimizer",
    "sbb_in12k": "timm's SBB recipe on ImageNet-12k (11821 classes)",
    "sbb_in12k_ft_in1k": "timm's SBB recipe on ImageNet-12k, fine-tuned on ImageNet-1k",
    "sbb2_e200_in12k": "timm's second SBB recipe, 200 epochs on ImageNet-12k (11821 classes)",
    "sbb2_e200_in12k_ft_in1k": "timm's second SBB recipe, 200 epochs on ImageNet-12k, fine-tuned on ImageNet-1k",
    "sbb_e200_in12k": "timm's SBB recipe, 200 epochs on ImageNet-12k (11821 classes)",
    "sbb_e200_in12k_ft_in1k": "timm's SBB recipe, 200 epochs on ImageNet-12k, fine-tuned on ImageNet-1k",
    "sbb_e250_in12k": "timm's SBB recipe, 250 epochs on ImageNet-12k (11821 classes)",
    "sbb_e250_in12k_ft_in1k": "timm's SBB recipe, 250 epochs on ImageNet-12k, fine-tuned on ImageNet-1k",
    "r160_in1k": "timm's small test model, trained on ImageNet-1k at 160 px (for tests, not for accuracy)",
    # CLIP image towers and timm's fine-tunes of them
    "laion2b_ft_in12k_in1k": "LAION-2B CLIP tower fine-tuned by timm on ImageNet-12k, then ImageNet-1k",
    "laion2b_ft_in1k": "LAION-2B CLIP tower fine-tuned by timm on ImageNet-1k",
    "laion2b_ft_in12k": "LAION-2B CLIP tower fine-tuned by timm on ImageNet-12k (11821 classes)",
    "openai_ft_in12k_in1k": "OpenAI CLIP tower fine-tuned by timm on ImageNet-12k, then ImageNet-1k",
    "openai_ft_in1k": "OpenAI CLIP tower fine-tuned by timm on ImageNet-1k",
    "openai_ft_in12k": "OpenAI CLIP tower fine-tuned by timm on ImageNet-12k (11821 classes)",
    "laion2b": "OpenCLIP image tower trained on LAION-2B (arXiv:2212.07143)",
    "laion400m_e32": "OpenCLIP image tower trained on LAION-400M for 32 epochs (arXiv:2212.07143)",
    "datacompxl": "OpenCLIP image tower trained on DataComp-1B, the XL pool (arXiv:2304.14108)",
    "dfn2b": "Apple Data Filtering Networks CLIP (arXiv:2309.17425) trained on DFN-2B",
    "dfn2b_s39b": "Apple Data Filtering Networks CLIP (arXiv:2309.17425) trained on DFN-2B, 39B samples seen",
    "dfn5b": "Apple Data Filtering Networks CLIP (arXiv:2309.17425) trained on DFN-5B",
    "metaclip_2pt5b": "MetaCLIP (arXiv:2309.16671) trained on 2.5B curated pairs",
    "metaclip_400m": "MetaCLIP (arXiv:2309.16671) trained on 400M curated pairs",
    "metaclip_altogether": "MetaCLIP trained on Altogether re-aligned captions",
    "metaclip2_worldwide": "MetaCLIP 2 trained on worldwide (multilingual) curated pairs",
    "openai": "OpenAI CLIP image tower (arXiv:2103.00020)",
    "apple_mclip2_dfndr2b": "Apple MobileCLIP2 image tower trained on DFNDR-2B",
    "tinyclip_yfcc15m": "TinyCLIP (arXiv:2309.12314), distilled from OpenCLIP on YFCC-15M",
    "tinyclip_laion400m": "TinyCLIP (arXiv:2309.12314), distilled from OpenCLIP on LAION-400M",
    # EVA, FlexiViT
    "eva:in22k_ft_in22k_in1k": "EVA (arXiv:2211.07636) MIM-pretrained on EVA-CLIP targets, fine-tuned on "
                               "ImageNet-22k, then ImageNet-1k",
    "eva:in22k_ft_in1k": "EVA (arXiv:2211.07636) MIM-pretrained on EVA-CLIP targets (ImageNet-22k), fine-tuned on "
                         "ImageNet-1k",
    "1200ep_in1k": "FlexiViT (arXiv:2212.08013), 1200 epochs on ImageNet-1k",
    "600ep_in1k": "FlexiViT (arXiv:2212.08013), 600 epochs on ImageNet-1k",
    "300ep_in1k": "FlexiViT (arXiv:2212.08013), 300 epochs on ImageNet-1k",
    "1000ep_in21k": "FlexiViT (arXiv:2212.08013), 1000 epochs on ImageNet-21k",
    "300ep_in21k": "FlexiViT (arXiv:2212.08013), 300 epochs on ImageNet-21k",
    "patch16_in21k": "FlexiViT paper's (arXiv:2212.08013) fixed-patch-16 ViT-B baseline on ImageNet-21k",
    "patch30_in21k": "FlexiViT paper's (arXiv:2212.08013) fixed-patch-30 ViT-B baseline on ImageNet-21k",
    # SigLIP, SigLIP 2, PaliGemma encoders
    "webli": "SigLIP (arXiv:2303.15343) image tower trained on WebLI; no classifier",
    "webli_i18n": "multilingual SigLIP (arXiv:2303.15343) image tower trained on WebLI; no classifier",
    "v2_webli": "SigLIP 2 (arXiv:2502.14786) image tower trained on WebLI; no classifier",
    "webli_ft_in1k": "SigLIP So400m image tower fine-tuned by timm on ImageNet-1k",
    "pali_pt": "SigLIP encoder of PaliGemma (arXiv:2407.07726), pretrained checkpoint; no classifier",
    "pali_mix": "SigLIP encoder of PaliGemma (arXiv:2407.07726), fine-tuned on its task mixture; no classifier",
    "pali_refcoco_seg": "SigLIP encoder of PaliGemma (arXiv:2407.07726), fine-tuned for RefCOCO segmentation",
    "pali_ocrvqa": "SigLIP encoder of PaliGemma (arXiv:2407.07726), fine-tuned for OCR-VQA",
    "pali2_3b_pt": "SigLIP encoder of PaliGemma 2 3B (arXiv:2412.03555), pretrained checkpoint; no classifier",
    "pali2_10b_pt": "SigLIP encoder of PaliGemma 2 10B (arXiv:2412.03555), pretrained checkpoint; no classifier",
    "pali2_3b_docci": "SigLIP encoder of PaliGemma 2 3B (arXiv:2412.03555), fine-tuned on DOCCI captions",
    "pali2_10b_docci": "SigLIP encoder of PaliGemma 2 10B (arXiv:2412.03555), fine-tuned on DOCCI captions",
    # InternViT, AIMv2, BEiT-3, C-RADIO
    "ogvl_dist": "OpenGVLab InternViT-300M-448px (InternVL 1.5), distilled from InternViT-6B; no classifier",
    "ogvl_2pt5": "OpenGVLab InternViT-300M-448px-V2_5 (InternVL 2.5); no classifier",
    "apple_pt": "Apple AIMv2 (arXiv:2411.14402), multimodal autoregressive pretraining; no classifier",
    "apple_pt_dist": "Apple AIMv2 (arXiv:2411.14402), distilled from a larger AIMv2; no classifier",
    "beit3:in22k_ft_in1k": "BEiT-3 (arXiv:2208.10442) vision path, ImageNet-22k intermediate fine-tune, then "
                           "ImageNet-1k",
    "beit3:indomain_in22k_ft_in1k": "BEiT-3 (arXiv:2208.10442) vision path, in-domain pretraining, ImageNet-22k "
                                    "intermediate fine-tune, then ImageNet-1k",
    "beit3:pt": "BEiT-3 (arXiv:2208.10442) pretrained vision path; no classifier",
    "beit3:indomain_pt": "BEiT-3 (arXiv:2208.10442) in-domain pretrained vision path; no classifier",
    "c_radio": "NVIDIA C-RADIO agglomerative backbone (RADIOv3: arXiv:2412.07679, v4: arXiv:2601.17237), "
               "remapped by timm; no classifier",
}
