"""``features_only`` parity against timm: our feature maps and ``feature_info`` against timm's
``features_only=True`` model on the same randomized weights (DESIGN.md's parity protocol).

Needs torch and timm (test-only dependencies); import this module only from parity tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zoo_core.testing.parity import assert_close, randomize_torch_module, save_state_dict_to_hf_cache, to_nhwc


def check_features_parity(name: str, cache_dir, *, out_indices: Sequence[int] | int | None = None,
                          img_size: tuple[int, int] = (64, 96), batch: int = 1, seed: int = 2,
                          model_kwargs: dict[str, Any] | None = None, rtol: float = 1e-4,
                          atol: float = 1e-4) -> list[tuple[float, float]]:
    """Build timm's ``name`` with ``model_kwargs`` (``img_size`` for ViT), randomize every weight, save
    it under the variant's repository in ``cache_dir`` (a Hugging Face cache, set as ``HF_HUB_CACHE``)
    and load it into timm's ``features_only`` model and into ours (``create_pretrained(...,
    features_only=True)``, offline). Asserts that ``feature_info`` (num_chs, reduction, module) equals
    timm's ``feature_info.get_dicts()`` and that every map equals timm's, NCHW → NHWC, at ``rtol``/
    ``atol`` (1e-4; looser only with a measured reason next to the call). Returns each map's (max abs,
    max rel) error.

    ``out_indices=None`` gives both sides their own default, so the defaults are checked equal too
    (every point for most families; ViT: the last 3 blocks). An int or a tuple goes to both.
    """
    import jax
    import timm
    import torch

    import zoo_core

    model_kwargs = dict(model_kwargs or {})
    ref = timm.create_model(name, pretrained=False, **model_kwargs)
    randomize_torch_module(ref, seed=seed)
    path = save_state_dict_to_hf_cache(ref.state_dict(), cache_dir, zoo_core.get_variant(name).hf_hub_id)
    del ref
    kwargs = {} if out_indices is None else {"out_indices": out_indices}
    model, load = zoo_core.create_pretrained(name, features_only=True, local_files_only=True, **kwargs,
                                             **model_kwargs)
    theirs_model = timm.create_model(name, pretrained=True, features_only=True, **kwargs,
                                     pretrained_cfg_overlay={"file": path}, **model_kwargs).eval()
    x = np.random.default_rng(seed).standard_normal((batch, 3, *img_size), dtype=np.float32)
    with torch.no_grad():
        theirs = theirs_model(torch.from_numpy(x))
    ours_info = [(i.num_chs, i.reduction, i.module) for i in model.feature_info()]
    theirs_info = [(i["num_chs"], i["reduction"], i["module"]) for i in theirs_model.feature_info.get_dicts()]
    assert ours_info == theirs_info, f"{name}: feature_info {ours_info} != timm's {theirs_info}"
    params, state = load()
    ours, _ = jax.jit(model.apply)(params, state, to_nhwc(x))
    assert len(ours) == len(theirs) == len(model.out_indices), (
        f"{name}: {len(ours)} maps, timm {len(theirs)}, out_indices {model.out_indices}")
    return [assert_close(a, to_nhwc(b), rtol=rtol, atol=atol, name=f"{name} feature map {info[2]}")
            for a, b, info in zip(ours, theirs, ours_info)]
