"""zoo-bit: timm's pre-activation ResNetV2 (Big Transfer (BiT) and timm's own trainings) for zoo, as pure JAX functions."""
