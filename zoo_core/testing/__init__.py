"""Test helpers for zoo and for family authors: parity against timm, Hugging Face cache layouts
and a loopback Hub server. Shipped as a pytest plugin (``pytest11`` entry point ``zoo``)."""
