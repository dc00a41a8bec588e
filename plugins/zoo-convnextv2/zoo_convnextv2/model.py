"""ConvNeXt V2: timm's ``convnextv2_*`` models (``timm/models/convnext.py``) as pure JAX functions, NHWC.

Paper:
* `ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders` - https://arxiv.org/abs/2301.00808

Weights: every released checkpoint is CC-BY-NC-4.0 (non-commercial; see ``variants.py``).

timm builds ConvNeXt V2 with its ConvNeXt class: the same stem, stages, blocks and head as v1
(zoo-convnext's ``ConvNeXt``, reused here), with Global Response Normalization after the MLP's
GELU (``mlp/grn``) and no LayerScale. atto, femto, pico and nano are timm's own sizes, built with
``conv_mlp=True`` (1×1 convs in the MLP: on NHWC the same computation, only the checkpoint layout
of ``mlp.fc1``/``fc2`` differs, see ``weights.py``). ``convnextv2_small`` has no released weights.
The architectures are plain data (``ARCHS`` in ``variants.py``), so zoo-convnext's ``build_model``
builds them as it is.
"""

from __future__ import annotations

from zoo_convnext.model import build_model

__all__ = ["build_model"]
