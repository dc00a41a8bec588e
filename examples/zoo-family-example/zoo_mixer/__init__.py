"""zoo-mixer: timm's MLP-Mixer for zoo, as pure JAX functions (an example third-party family)."""
