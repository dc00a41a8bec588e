"""Weights for the tinynet test family, made with numpy in PyTorch's layout."""

from __future__ import annotations

import numpy as np

from zoo_core.testing.hf_cache import safetensors_bytes


def tinynet_state_dict(widths=(8, 16), num_classes=10, in_chans=3, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w1, w2 = widths
    sd = {}
    for name, cin, cout in (("stem", in_chans, w1), ("stage", w1, w2)):
        sd[f"{name}.conv.weight"] = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) * 0.3
        sd[f"{name}.bn.weight"] = (1 + 0.2 * rng.standard_normal(cout)).astype(np.float32)
        sd[f"{name}.bn.bias"] = (0.2 * rng.standard_normal(cout)).astype(np.float32)
        sd[f"{name}.bn.running_mean"] = (0.2 * rng.standard_normal(cout)).astype(np.float32)
        sd[f"{name}.bn.running_var"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        sd[f"{name}.bn.num_batches_tracked"] = np.array(7, dtype=np.int64)
    sd["fc.weight"] = rng.standard_normal((num_classes, w2)).astype(np.float32) * 0.3
    sd["fc.bias"] = (0.2 * rng.standard_normal(num_classes)).astype(np.float32)
    return sd


def tinynet_bytes(**kwargs) -> bytes:
    return safetensors_bytes(tinynet_state_dict(**kwargs))


def reference_forward(sd: dict[str, np.ndarray], x_nhwc: np.ndarray, *, pre_logits=False) -> np.ndarray:
    """tinynet's forward in plain numpy (NHWC), the independent reference for loading tests."""

    def conv(x, w, stride):
        w = w.transpose(2, 3, 1, 0)  # HWIO
        x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        n, h, ww, _ = x.shape
        oh, ow = (h - 3) // stride + 1, (ww - 3) // stride + 1
        out = np.zeros((n, oh, ow, w.shape[-1]))
        for i in range(3):
            for j in range(3):
                patch = x[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :]
                out += patch @ w[i, j]
        return out

    def bn(x, p):
        return (x - sd[p + ".running_mean"]) / np.sqrt(sd[p + ".running_var"] + 1e-5) * sd[p + ".weight"] + sd[p + ".bias"]

    x = np.maximum(bn(conv(x_nhwc, sd["stem.conv.weight"], 1), "stem.bn"), 0)
    x = np.maximum(bn(conv(x, sd["stage.conv.weight"], 2), "stage.bn"), 0)
    x = x.mean(axis=(1, 2))
    if pre_logits:
        return x
    return x @ sd["fc.weight"].T + sd["fc.bias"]
