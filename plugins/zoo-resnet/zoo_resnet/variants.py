"""ResNet variants: every pretrained tag of timm's ``resnet.py`` with a Hub copy (150 tags over 64
architectures), with the data config and weights license of timm's pretrained cfg (timm 1.0.31).

Plain data: importing this module imports no JAX. Rows keep timm's tag order per architecture, so
the first tag of an architecture is its default (``resnet50`` → ``resnet50.a1_in1k``). The
architectures (``archs.ARCHS``) are grouped as timm's ``ResNet`` options: stems, ResNeXt, ECA, SE,
anti-aliasing, ResNet-RS.
"""

from __future__ import annotations

from typing import Any

from zoo_core.registry import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD, Family, License, Variant

from zoo_resnet.archs import ARCHS, num_features

APACHE_2 = License(
    "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", "yes",
    note="Apache-2.0 as timm's pretrained config states: timm's own training, and the GluonCV, Alibaba MIIL "
         "and TensorFlow ResNet-RS ports",
)
TORCHVISION_BSD_3 = License(
    "BSD-3-Clause", "https://github.com/pytorch/vision/blob/main/LICENSE", "yes",
    note="torchvision's ImageNet weights, released under torchvision's BSD-3-Clause license",
)
FB_SEMI_WEAKLY_CC_BY_NC = License(
    "CC-BY-NC-4.0", "https://github.com/facebookresearch/semi-supervised-ImageNet1K-models/blob/main/LICENSE", "no",
    note="Facebook's semi-supervised (YFCC100M) and semi-weakly supervised (IG-1B) weights: non-commercial use only",
)
FB_WSL_CC_BY_NC = License(
    "CC-BY-NC-4.0", "https://github.com/facebookresearch/WSL-Images/blob/main/LICENSE", "no",
    note="Facebook's weakly supervised (Instagram, WSL-Images) weights: non-commercial use only",
)
UNSPECIFIED = License(
    "unspecified", "https://github.com/ZhangYuanhan-AI/Bamboo", "no",
    note="timm's pretrained config states no license and the Bamboo release names none: "
         "no commercial use is granted",
)

INCEPTION_MEAN, INCEPTION_STD = IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD
# timm's cfg helpers in resnet.py: _cfg, _tcfg (bicubic), _ttcfg (timm-trained: 288 test), _rcfg
# (ResNet Strikes Back: 0.95 crop, 288 test at crop 1), _r3cfg (RSB A3: 160 train, 224 test).
CFG: dict[str, Any] = dict(interpolation="bilinear")
TCFG: dict[str, Any] = dict(interpolation="bicubic")
TTCFG: dict[str, Any] = dict(interpolation="bicubic", test_input_size=(3, 288, 288), test_crop_pct=0.95)
RCFG: dict[str, Any] = dict(interpolation="bicubic", crop_pct=0.95, test_input_size=(3, 288, 288), test_crop_pct=1.0)
R3CFG: dict[str, Any] = dict(interpolation="bicubic", input_size=(3, 160, 160), pool_size=(5, 5), crop_pct=0.95,
                             test_input_size=(3, 224, 224), test_crop_pct=0.95)

RSB = "timm's ResNet Strikes Back recipes (arXiv:2110.00476)"
RA2 = "timm's own training, RandAugment recipe (ra2)"
SW12K = "timm's own training on ImageNet-12k (11821 classes, Swin-style recipe)"
FB_SSL = "Facebook semi-supervised: YFCC100M pretraining, ImageNet-1k fine-tune (arXiv:1905.00546)"
FB_SWSL = "Facebook semi-weakly supervised: IG-1B pretraining, ImageNet-1k fine-tune (arXiv:1905.00546)"
NOTES = {
    "a1_in1k": RSB, "a1h_in1k": RSB, "a2_in1k": RSB, "a3_in1k": RSB, "b1k_in1k": RSB, "b2k_in1k": RSB,
    "c1_in1k": RSB, "c2_in1k": RSB, "c3_in1k": RSB, "d_in1k": RSB,
    "ra2_in1k": RA2, "ra_in1k": "timm's own training, RandAugment recipe (ra)",
    "ram_in1k": "timm's own training, RandAugment + mixup recipe (ram)",
    "am_in1k": "timm's own training, AugMix recipe (am)",
    "racm_in1k": "timm's own training, RandAugment + CutMix recipe (racm)",
    "bt_in1k": "timm's own training, bag-of-tricks recipe (bt)",
    "ra4_e3600_r224_in1k": "timm's own training, RA4 recipe, 3600 epochs at 224 (ra4)",
    "ah_in1k": "timm's own training on TPU, AutoAugment-heavy recipe (ah)",
    "sw_in12k": SW12K, "d_in12k": "timm's own training on ImageNet-12k (11821 classes)",
    "sw_in12k_ft_in1k": f"{SW12K}, ImageNet-1k fine-tune",
    "sw_in12k_ft_in1k_288": f"{SW12K}, ImageNet-1k fine-tune at 288",
    "sw_in12k_ft_in1k_384": f"{SW12K}, ImageNet-1k fine-tune at 384",
    "miil_in1k": "Alibaba MIIL's training (TResNet authors), pruned variants by knapsack pruning (arXiv:2002.08258)",
    "tf_in1k": "ResNet-RS weights ported from TensorFlow (arXiv:2103.07579)",
    "tv_in1k": "torchvision's original ImageNet-1k weights",
    "tv2_in1k": "torchvision's ImageNet-1k weights from its improved (IMAGENET1K_V2) recipe",
    "gluon_in1k": "MXNet GluonCV ImageNet-1k weights, ported by timm",
    "fb_ssl_yfcc100m_ft_in1k": FB_SSL, "fb_swsl_ig1b_ft_in1k": FB_SWSL,
    "fb_wsl_ig1b_ft_in1k": "Facebook weakly supervised: Instagram pretraining, ImageNet-1k fine-tune (arXiv:1805.00932)",
    "bamboo": "Bamboo-CLS backbone (arXiv:2203.07845), released without a classifier: pooled features only",
    "r160_in1k": "timm's tiny test network, trained at 160",
}


def _row(name: str, license: License, preset: dict[str, Any], *, num_classes: int = 1000, pool_size=(7, 7),
         **cfg) -> Variant:
    """A variant with timm's ResNet cfg defaults (224², ImageNet mean/std, crop 0.875, ``fc``),
    ``preset`` (one of timm's cfg helpers) and ``cfg`` on top; ``conv1.0`` is the first conv of a deep stem."""
    arch, tag = name.split(".")
    kwargs = ARCHS[arch]
    first_conv = "conv1.0" if "deep" in kwargs.get("stem_type", "") else "conv1"
    cfg = {"pool_size": pool_size, **preset, **cfg}
    return Variant(name, "resnet", num_classes=num_classes, num_features=num_features(kwargs), license=license,
                   hf_hub_id=f"timm/{name}", first_conv=first_conv, classifier="fc", arch_kwargs=kwargs,
                   notes=NOTES[tag], **cfg)


VARIANTS = (
    # ResNet: 7×7 stem (b), deep stems (c, d, s, t), wide, GroupNorm
    _row("resnet10t.c3_in1k", APACHE_2, TTCFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224)),
    _row("resnet14t.c3_in1k", APACHE_2, TTCFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224)),
    _row("resnet18.a1_in1k", APACHE_2, RCFG),
    _row("resnet18.a2_in1k", APACHE_2, RCFG),
    _row("resnet18.a3_in1k", APACHE_2, R3CFG),
    _row("resnet18.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("resnet18.fb_ssl_yfcc100m_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnet18.fb_swsl_ig1b_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnet18.gluon_in1k", APACHE_2, TCFG),
    _row("resnet18d.ra2_in1k", APACHE_2, TTCFG),
    _row("resnet18d.ra4_e3600_r224_in1k", APACHE_2, RCFG, crop_pct=0.9, mean=INCEPTION_MEAN, std=INCEPTION_STD),
    _row("resnet34.a1_in1k", APACHE_2, RCFG),
    _row("resnet34.a2_in1k", APACHE_2, RCFG),
    _row("resnet34.a3_in1k", APACHE_2, R3CFG),
    _row("resnet34.bt_in1k", APACHE_2, TTCFG),
    _row("resnet34.ra4_e3600_r224_in1k", APACHE_2, RCFG, crop_pct=0.9, mean=INCEPTION_MEAN, std=INCEPTION_STD),
    _row("resnet34.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("resnet34.gluon_in1k", APACHE_2, TCFG),
    _row("resnet34d.ra2_in1k", APACHE_2, TTCFG),
    _row("resnet26.bt_in1k", APACHE_2, TTCFG),
    _row("resnet26d.bt_in1k", APACHE_2, TTCFG),
    _row("resnet26t.ra2_in1k", APACHE_2, RCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), crop_pct=0.94, test_input_size=(3, 320, 320)),
    _row("resnet50.a1_in1k", APACHE_2, RCFG),
    _row("resnet50.a1h_in1k", APACHE_2, RCFG,
         input_size=(3, 176, 176), pool_size=(6, 6), crop_pct=0.9, test_input_size=(3, 224, 224)),
    _row("resnet50.a2_in1k", APACHE_2, RCFG),
    _row("resnet50.a3_in1k", APACHE_2, R3CFG),
    _row("resnet50.b1k_in1k", APACHE_2, RCFG),
    _row("resnet50.b2k_in1k", APACHE_2, RCFG),
    _row("resnet50.c1_in1k", APACHE_2, RCFG),
    _row("resnet50.c2_in1k", APACHE_2, RCFG),
    _row("resnet50.d_in1k", APACHE_2, RCFG),
    _row("resnet50.ram_in1k", APACHE_2, TTCFG),
    _row("resnet50.am_in1k", APACHE_2, TCFG),
    _row("resnet50.ra_in1k", APACHE_2, TTCFG),
    _row("resnet50.bt_in1k", APACHE_2, TTCFG),
    _row("resnet50.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("resnet50.tv2_in1k", TORCHVISION_BSD_3, CFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965),
    _row("resnet50.bamboo", UNSPECIFIED, TCFG, num_classes=0, crop_pct=1.0),
    _row("resnet50.fb_ssl_yfcc100m_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnet50.fb_swsl_ig1b_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnet50.gluon_in1k", APACHE_2, TCFG),
    _row("resnet50c.gluon_in1k", APACHE_2, TCFG),
    _row("resnet50d.ra2_in1k", APACHE_2, TTCFG),
    _row("resnet50d.ra4_e3600_r224_in1k", APACHE_2, RCFG, mean=INCEPTION_MEAN, std=INCEPTION_STD),
    _row("resnet50d.a1_in1k", APACHE_2, RCFG),
    _row("resnet50d.a2_in1k", APACHE_2, RCFG),
    _row("resnet50d.a3_in1k", APACHE_2, R3CFG),
    _row("resnet50d.gluon_in1k", APACHE_2, TCFG),
    _row("resnet50s.gluon_in1k", APACHE_2, TCFG),
    _row("resnet101.a1h_in1k", APACHE_2, RCFG),
    _row("resnet101.a1_in1k", APACHE_2, RCFG),
    _row("resnet101.a2_in1k", APACHE_2, RCFG),
    _row("resnet101.a3_in1k", APACHE_2, R3CFG),
    _row("resnet101.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("resnet101.tv2_in1k", TORCHVISION_BSD_3, CFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965),
    _row("resnet101.gluon_in1k", APACHE_2, TCFG),
    _row("resnet101c.gluon_in1k", APACHE_2, TCFG),
    _row("resnet101d.ra2_in1k", APACHE_2, RCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), test_input_size=(3, 320, 320)),
    _row("resnet101d.gluon_in1k", APACHE_2, TCFG),
    _row("resnet101s.gluon_in1k", APACHE_2, TCFG),
    _row("resnet152.a1h_in1k", APACHE_2, RCFG),
    _row("resnet152.a1_in1k", APACHE_2, RCFG),
    _row("resnet152.a2_in1k", APACHE_2, RCFG),
    _row("resnet152.a3_in1k", APACHE_2, R3CFG),
    _row("resnet152.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("resnet152.tv2_in1k", TORCHVISION_BSD_3, CFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965),
    _row("resnet152.gluon_in1k", APACHE_2, TCFG),
    _row("resnet152c.gluon_in1k", APACHE_2, TCFG),
    _row("resnet152d.ra2_in1k", APACHE_2, RCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), test_input_size=(3, 320, 320)),
    _row("resnet152d.gluon_in1k", APACHE_2, TCFG),
    _row("resnet152s.gluon_in1k", APACHE_2, TCFG),
    _row("resnet200d.ra2_in1k", APACHE_2, RCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), test_input_size=(3, 320, 320)),
    _row("wide_resnet50_2.racm_in1k", APACHE_2, TTCFG),
    _row("wide_resnet50_2.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("wide_resnet50_2.tv2_in1k", TORCHVISION_BSD_3, CFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965),
    _row("wide_resnet101_2.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("wide_resnet101_2.tv2_in1k", TORCHVISION_BSD_3, CFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965),
    _row("resnet50_gn.a1h_in1k", APACHE_2, TTCFG, crop_pct=0.94),
    # ResNeXt: grouped bottlenecks
    _row("resnext50_32x4d.a1h_in1k", APACHE_2, RCFG),
    _row("resnext50_32x4d.a1_in1k", APACHE_2, RCFG),
    _row("resnext50_32x4d.a2_in1k", APACHE_2, RCFG),
    _row("resnext50_32x4d.a3_in1k", APACHE_2, R3CFG),
    _row("resnext50_32x4d.ra_in1k", APACHE_2, TTCFG),
    _row("resnext50_32x4d.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("resnext50_32x4d.tv2_in1k", TORCHVISION_BSD_3, CFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965),
    _row("resnext50_32x4d.fb_ssl_yfcc100m_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnext50_32x4d.fb_swsl_ig1b_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnext50_32x4d.gluon_in1k", APACHE_2, TCFG),
    _row("resnext50d_32x4d.bt_in1k", APACHE_2, TTCFG),
    _row("resnext101_32x4d.fb_ssl_yfcc100m_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnext101_32x4d.fb_swsl_ig1b_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnext101_32x4d.gluon_in1k", APACHE_2, TCFG),
    _row("resnext101_64x4d.c1_in1k", APACHE_2, RCFG),
    _row("resnext101_64x4d.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("resnext101_64x4d.gluon_in1k", APACHE_2, TCFG),
    _row("resnext101_32x8d.tv_in1k", TORCHVISION_BSD_3, CFG),
    _row("resnext101_32x8d.tv2_in1k", TORCHVISION_BSD_3, CFG,
         input_size=(3, 176, 176), pool_size=(6, 6), test_input_size=(3, 224, 224), test_crop_pct=0.965),
    _row("resnext101_32x8d.fb_wsl_ig1b_ft_in1k", FB_WSL_CC_BY_NC, CFG),
    _row("resnext101_32x8d.fb_ssl_yfcc100m_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnext101_32x8d.fb_swsl_ig1b_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnext101_32x16d.fb_wsl_ig1b_ft_in1k", FB_WSL_CC_BY_NC, CFG),
    _row("resnext101_32x16d.fb_ssl_yfcc100m_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnext101_32x16d.fb_swsl_ig1b_ft_in1k", FB_SEMI_WEAKLY_CC_BY_NC, CFG),
    _row("resnext101_32x32d.fb_wsl_ig1b_ft_in1k", FB_WSL_CC_BY_NC, CFG),
    # ECA-ResNet (with the pruned ones)
    _row("ecaresnet26t.ra2_in1k", APACHE_2, TTCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), test_input_size=(3, 320, 320)),
    _row("ecaresnetlight.miil_in1k", APACHE_2, TTCFG),
    _row("ecaresnet50d.miil_in1k", APACHE_2, TTCFG),
    _row("ecaresnet50d_pruned.miil_in1k", APACHE_2, TTCFG),
    _row("ecaresnet50t.ra2_in1k", APACHE_2, TTCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), test_input_size=(3, 320, 320)),
    _row("ecaresnet50t.a1_in1k", APACHE_2, RCFG),
    _row("ecaresnet50t.a2_in1k", APACHE_2, RCFG),
    _row("ecaresnet50t.a3_in1k", APACHE_2, R3CFG),
    _row("ecaresnet101d.miil_in1k", APACHE_2, TTCFG),
    _row("ecaresnet101d_pruned.miil_in1k", APACHE_2, TTCFG),
    _row("ecaresnet269d.ra2_in1k", APACHE_2, RCFG,
         input_size=(3, 320, 320), pool_size=(10, 10), test_input_size=(3, 352, 352)),
    # SE-ResNet, SE-ResNeXt, SENet-154
    _row("seresnet50.a1_in1k", APACHE_2, RCFG),
    _row("seresnet50.a2_in1k", APACHE_2, RCFG),
    _row("seresnet50.a3_in1k", APACHE_2, R3CFG),
    _row("seresnet50.ra2_in1k", APACHE_2, TTCFG),
    _row("seresnet152d.ra2_in1k", APACHE_2, RCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), test_input_size=(3, 320, 320)),
    _row("seresnext26d_32x4d.bt_in1k", APACHE_2, TTCFG),
    _row("seresnext26t_32x4d.bt_in1k", APACHE_2, TTCFG),
    _row("seresnext50_32x4d.racm_in1k", APACHE_2, TTCFG),
    _row("seresnext50_32x4d.gluon_in1k", APACHE_2, TCFG),
    _row("seresnext101_32x4d.gluon_in1k", APACHE_2, TCFG),
    _row("seresnext101_32x8d.ah_in1k", APACHE_2, RCFG),
    _row("seresnext101d_32x8d.ah_in1k", APACHE_2, RCFG),
    _row("seresnext101_64x4d.gluon_in1k", APACHE_2, TCFG),
    _row("senet154.gluon_in1k", APACHE_2, TCFG),
    # anti-aliased downsampling: average pool (aa), BlurPool (blur)
    _row("resnetaa50.a1h_in1k", APACHE_2, RCFG),
    _row("resnetaa50d.sw_in12k_ft_in1k", APACHE_2, RCFG),
    _row("resnetaa50d.sw_in12k", APACHE_2, RCFG, num_classes=11821),
    _row("resnetaa50d.d_in12k", APACHE_2, RCFG, num_classes=11821),
    _row("resnetaa101d.sw_in12k_ft_in1k", APACHE_2, RCFG),
    _row("resnetaa101d.sw_in12k", APACHE_2, RCFG, num_classes=11821),
    _row("seresnextaa101d_32x8d.sw_in12k_ft_in1k_288", APACHE_2, RCFG,
         input_size=(3, 288, 288), pool_size=(9, 9), test_input_size=(3, 320, 320)),
    _row("seresnextaa101d_32x8d.sw_in12k_ft_in1k", APACHE_2, TTCFG, test_crop_pct=1.0),
    _row("seresnextaa101d_32x8d.sw_in12k", APACHE_2, RCFG, num_classes=11821),
    _row("seresnextaa101d_32x8d.ah_in1k", APACHE_2, RCFG),
    _row("seresnextaa201d_32x8d.sw_in12k_ft_in1k_384", APACHE_2, TCFG,
         input_size=(3, 384, 384), pool_size=(12, 12), crop_pct=1.0),
    _row("seresnextaa201d_32x8d.sw_in12k", APACHE_2, RCFG,
         num_classes=11821, input_size=(3, 320, 320), pool_size=(10, 10), test_input_size=(3, 384, 384)),
    _row("resnetblur50.bt_in1k", APACHE_2, TTCFG),
    # ResNet-RS
    _row("resnetrs50.tf_in1k", APACHE_2, R3CFG, crop_pct=0.91, test_crop_pct=None),
    _row("resnetrs101.tf_in1k", APACHE_2, TCFG,
         input_size=(3, 192, 192), pool_size=(6, 6), crop_pct=0.94, test_input_size=(3, 288, 288)),
    _row("resnetrs152.tf_in1k", APACHE_2, TCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), crop_pct=1.0, test_input_size=(3, 320, 320)),
    _row("resnetrs200.tf_in1k", APACHE_2, TCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), crop_pct=1.0, test_input_size=(3, 320, 320)),
    _row("resnetrs270.tf_in1k", APACHE_2, TCFG,
         input_size=(3, 256, 256), pool_size=(8, 8), crop_pct=1.0, test_input_size=(3, 352, 352)),
    _row("resnetrs350.tf_in1k", APACHE_2, TCFG,
         input_size=(3, 288, 288), pool_size=(9, 9), crop_pct=1.0, test_input_size=(3, 384, 384)),
    _row("resnetrs420.tf_in1k", APACHE_2, TCFG,
         input_size=(3, 320, 320), pool_size=(10, 10), crop_pct=1.0, test_input_size=(3, 416, 416)),
    # timm's test network
    _row("test_resnet.r160_in1k", APACHE_2, CFG,
         input_size=(3, 160, 160), pool_size=(5, 5), crop_pct=0.95, mean=INCEPTION_MEAN, std=INCEPTION_STD),
)

LICENSE_NOTES = (
    "The zoo-resnet code is Apache-2.0; each variant's weights carry their own license, the one timm's "
    "pretrained config states for it.",
    "Apache-2.0: timm's own weights (RSB a1/a1h/a2/a3, b1k/b2k, c1/c2/c3, d; ra/ra2/ra4, ram, am, racm, bt, ah; "
    "the ImageNet-12k sw/d weights), the GluonCV ports (gluon_in1k), Alibaba MIIL's ECA-ResNets (miil_in1k) "
    "and the TensorFlow ResNet-RS ports (tf_in1k). torchvision's weights (tv_in1k, tv2_in1k) are BSD-3-Clause.",
    "CC-BY-NC-4.0, non-commercial use only: Facebook's semi-supervised and semi-weakly supervised weights "
    "(fb_ssl_yfcc100m_ft_in1k, fb_swsl_ig1b_ft_in1k) and its weakly supervised Instagram weights (fb_wsl_ig1b_ft_in1k).",
    "resnet50.bamboo has no license in timm's config nor in the Bamboo release; it is listed as 'unspecified', "
    "not cleared for commercial use.",
)

FAMILY = Family(
    name="resnet",
    variants=VARIANTS,
    builder="zoo_resnet.model:build_model",
    weight_mapping="zoo_resnet.weights:weight_mapping",
    license_notes=LICENSE_NOTES,
)
