"""zoo-resnet: timm's ResNet family (resnet.py: ResNet, ResNeXt, SE/ECA-ResNet, ResNet-RS, …) for zoo, as pure JAX functions."""
