"""zoo-convnext: timm's ConvNeXt v1 (tiny … xlarge) for zoo, with the Facebook AI and DINOv3 weights."""
