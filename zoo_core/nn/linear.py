"""Dense layer (``torch.nn.Linear``) on the last axis.

State-dict keys: ``<prefix>.weight`` (PyTorch (out, in), mapped with ``interop.linear_to_dense``)
onto ``kernel`` (in, out); ``<prefix>.bias`` onto ``bias``.
"""

from __future__ import annotations

from typing import Any

import attrs

from zoo_core.nn import initializers as inits
from zoo_core.nn.module import Module, split_keys


@attrs.frozen
class Dense(Module):
    """``y = x @ kernel + bias`` over the last axis: (..., in) → (..., out)."""

    in_features: int
    out_features: int
    bias: bool = True
    kernel_init: Any = inits.torch_default
    bias_init: Any = None

    def init(self, key):
        k_kernel, k_bias = split_keys(key, 2)
        params = {"kernel": self.kernel_init(k_kernel, (self.in_features, self.out_features))}
        if self.bias:
            bias_init = self.bias_init or inits.torch_default_bias(self.in_features)
            params["bias"] = bias_init(k_bias, (self.out_features,))
        return params, {}

    def apply(self, params, state, x, *, train=False):
        y = x @ params["kernel"].astype(x.dtype)
        if self.bias:
            y = y + params["bias"].astype(y.dtype)
        return y, state
