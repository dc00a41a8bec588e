"""zoo-bit: Big Transfer (BiT) ResNetV2 models for zoo, as pure JAX functions."""
