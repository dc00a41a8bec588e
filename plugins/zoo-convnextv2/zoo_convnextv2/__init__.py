"""zoo-convnextv2: timm's ConvNeXt V2 (atto … huge) for zoo, with the FCMAE weights (CC-BY-NC-4.0)."""
