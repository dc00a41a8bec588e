"""zoo-resnet: timm's classic ResNet-18/34/50/101/152 for zoo, as pure JAX functions."""
