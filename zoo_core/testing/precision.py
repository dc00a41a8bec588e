"""The error of reduced-precision compute against timm in float32, on randomized weights.

``measure_precision_error(name, dtype="bfloat16")`` follows the parity protocol of
``zoo_core.testing.parity`` (timm's model with every tensor randomized, saved into a Hugging Face
cache, loaded through ``create_pretrained``), then runs ours with ``dtype`` and timm in float32 on
the same seeded (N, 3, H, W) normal input and reports how far the logits are apart. Randomized
weights do not give calibrated logits, so besides max abs / max rel the error is also reported
relative to the standard deviation of timm's logits, and as top-1 agreement.

Needs torch and timm (test-only dependencies).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from zoo_core.testing.parity import errors, randomize_torch_module, save_state_dict_to_hf_cache, to_nhwc, to_numpy


@attrs.frozen
class PrecisionReport:
    """Logit errors of ``name`` computed in ``dtype`` against timm in float32 (batch of ``batch``
    images of ``hw``). ``f32_max_abs`` is the same comparison with our float32 compute: the floor
    that is not due to the reduced precision."""

    name: str
    dtype: str
    batch: int
    hw: tuple[int, int]
    logit_std: float
    max_abs: float
    max_rel: float
    rel_l2: float
    top1_agree: float
    f32_max_abs: float

    @property
    def max_abs_over_std(self) -> float:
        return self.max_abs / self.logit_std

    HEADER = ("| variant | dtype | input | logit std | max abs | max abs / std | rel L2 | max rel | top-1 agree "
              "| float32 max abs |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")

    def row(self) -> str:
        """One markdown table row (columns as ``HEADER``)."""
        return (f"| {self.name} | {self.dtype} | {self.batch}×{self.hw[0]}×{self.hw[1]} | {self.logit_std:.3g} "
                f"| {self.max_abs:.3g} | {self.max_abs_over_std:.3g} | {self.rel_l2:.3g} | {self.max_rel:.3g} "
                f"| {self.top1_agree:.0%} | {self.f32_max_abs:.2g} |")

    def __str__(self) -> str:
        return (f"{self.name} {self.dtype} {self.batch}x{self.hw}: max abs {self.max_abs:.3g} "
                f"({self.max_abs_over_std:.3g} of the logits' std {self.logit_std:.3g}), rel L2 {self.rel_l2:.3g}, "
                f"max rel {self.max_rel:.3g}, top-1 agreement {self.top1_agree:.0%}; float32: max abs "
                f"{self.f32_max_abs:.2g}")


def measure_precision_error(name: str, *, dtype: Any = "bfloat16", batch: int = 8,
                            img_size: int | tuple[int, int] | None = None, seed: int = 0,
                            model_kwargs: Mapping[str, Any] | None = None) -> PrecisionReport:
    """Compare ``create_pretrained(name, dtype=dtype)`` with timm's float32 model on randomized
    weights; ``model_kwargs`` go to both builders (``img_size=...`` for ViT). Returns the report
    (asserts nothing)."""
    import jax
    import jax.numpy as jnp
    import timm
    import torch

    from zoo_core.api import create_model, create_pretrained, get_variant

    variant = get_variant(name)
    model_kwargs = dict(model_kwargs or {})
    if img_size is None:
        hw = tuple(variant.input_size[1:])
    else:
        hw = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    x = np.random.default_rng(seed).standard_normal((batch, 3, *hw), dtype=np.float32)
    with tempfile.TemporaryDirectory() as cache:
        ref = timm.create_model(variant.name, pretrained=False, **model_kwargs)
        randomize_torch_module(ref, seed)
        ref.eval()
        with torch.no_grad():
            theirs = to_numpy(ref(torch.from_numpy(x)))
        save_state_dict_to_hf_cache(ref.state_dict(), cache, variant.hf_hub_id, variant.filename)
        del ref
        model, load = create_pretrained(variant.name, cache_dir=cache, local_files_only=True, dtype=dtype,
                                        **model_kwargs)
        params, state = load()
    x_nhwc = jnp.asarray(to_nhwc(x))
    ours = np.asarray(jax.jit(model.apply)(params, state, x_nhwc)[0])
    model32 = create_model(variant.name, **model_kwargs)
    ours32 = np.asarray(jax.jit(model32.apply)(params, state, x_nhwc)[0])
    max_abs, max_rel = errors(ours, theirs)
    diff = ours.astype(np.float64) - theirs
    return PrecisionReport(
        name=variant.name,
        dtype=str(jnp.dtype(dtype)),
        batch=batch,
        hw=hw,
        logit_std=float(theirs.std()),
        max_abs=max_abs,
        max_rel=max_rel,
        rel_l2=float(np.linalg.norm(diff) / np.linalg.norm(theirs)),
        top1_agree=float(np.mean(ours.argmax(-1) == theirs.argmax(-1))),
        f32_max_abs=errors(ours32, theirs)[0],
    )


__all__ = ["PrecisionReport", "measure_precision_error"]
