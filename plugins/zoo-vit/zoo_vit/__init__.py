"""zoo-vit: timm's classic Vision Transformer for zoo, as pure JAX functions."""
