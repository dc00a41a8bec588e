"""Test support (needs torch and timm, imported only when called; import this module only from
parity tests): ``forward_intermediates`` against timm's, shared by zoo-convnext's and
zoo-convnextv2's parity tests: timm's model randomized, its weights loaded into ours through the HF cache, then for each
``(indices, norm)`` our maps against timm's ``forward_intermediates(..., intermediates_only=True)``
and, with ``final=True``, our final features against timm's (``intermediates_only=False``)."""

from __future__ import annotations

import numpy as np


def check_intermediates_parity(name, cache_dir, cases, *, img_size=(64, 96), seed=3, **arch):
    """``cases``: ``(indices, norm, stop_early)`` triples, given to both sides as timm takes them
    (``indices`` a list, an int or None). Ours through ``zoo_core.features.forward_intermediates``
    (the public wrapper over the family's method), jitted. ``arch``: the same architecture overrides
    on both sides. Returns the (max abs, max rel) errors."""
    import jax
    import timm
    import torch

    import zoo_core
    from zoo_core.features import forward_intermediates
    from zoo_core.testing.parity import assert_close, randomize_torch_module, save_state_dict_to_hf_cache, to_nhwc

    variant = zoo_core.get_variant(name)
    ref = timm.create_model(name, pretrained=False, **arch)
    randomize_torch_module(ref, seed)
    ref.eval()
    save_state_dict_to_hf_cache(ref.state_dict(), cache_dir, variant.hf_hub_id, variant.filename)
    model, load = zoo_core.create_pretrained(name, cache_dir=cache_dir, local_files_only=True, **arch)
    params, state = load()
    x = np.random.default_rng(seed).standard_normal((1, 3, *img_size), dtype=np.float32)
    errors = []
    for indices, norm, stop_early in cases:
        opts = dict(indices=indices, norm=norm, stop_early=stop_early)
        with torch.no_grad():
            theirs = ref.forward_intermediates(torch.from_numpy(x), intermediates_only=True, **opts)
            final, theirs_again = ref.forward_intermediates(torch.from_numpy(x), **opts)

        def run(params, state, x, only, opts=opts):
            return forward_intermediates(model, params, state, x, intermediates_only=only, **opts)[0]

        ours = jax.jit(run, static_argnums=3)(params, state, to_nhwc(x), True)
        ours_final, ours_again = jax.jit(run, static_argnums=3)(params, state, to_nhwc(x), False)
        assert len(ours) == len(theirs) == len(ours_again) == len(theirs_again), (name, opts)
        for i, (a, b, c) in enumerate(zip(ours, ours_again, theirs)):
            errors.append(assert_close(a, to_nhwc(c), name=f"{name} map {i} {opts}"))
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        errors.append(assert_close(ours_final, to_nhwc(final), name=f"{name} final features {opts}"))
    return errors
