"""Parity against timm: the proof that a family is right.

The protocol (DESIGN.md): build the timm model, overwrite *every* parameter and buffer with seeded
values of sensible scale, save its ``state_dict()`` as ``model.safetensors`` into a Hugging Face
cache under the variant's repository, load ours through ``create_pretrained`` from that cache
offline, feed both the same seeded input and compare logits and pre-logits in float32.

Needs torch and timm (test-only dependencies); import this module only from parity tests.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from zoo_core.testing.hf_cache import write_cached_file
from zoo_core.testing.timm_table import check_mapping_structure  # noqa: F401 - its old home


def _torch():
    import torch

    return torch


def randomize_torch_module(module, seed: int = 0) -> None:
    """Overwrite every parameter and floating persistent buffer of ``module`` in place with seeded
    values. Non-persistent buffers (BlurPool's fixed ``filt``, rotary tables) are no checkpoint's
    business: they stay as the model computes them.

    Weights of rank ≥ 2: N(0, 1/fan_in); 1-D ``weight``/``scale``: 1 + N(0, 0.2²) (norm gains);
    ``gamma`` (LayerScale): N(0.5, 0.2²); ``running_var``: U(0.5, 1.5); ``running_mean`` and
    everything else (biases, tokens, embeddings): N(0, 0.2²). Integer buffers are left as they are.
    """
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        persistent = set(module.state_dict(keep_vars=True))
        named = list(module.named_parameters()) + list(module.named_buffers())
        for name, tensor in named:
            if not tensor.is_floating_point() or name not in persistent:
                continue
            leaf = name.rsplit(".", 1)[-1]
            shape = tensor.shape
            if leaf == "running_var":
                value = torch.rand(shape, generator=gen) + 0.5
            elif tensor.ndim >= 2 and leaf not in ("pos_embed", "cls_token", "reg_token", "dist_token"):
                fan_in = math.prod(shape[1:])
                value = torch.randn(shape, generator=gen) / math.sqrt(max(fan_in, 1))
            elif leaf in ("weight", "scale") and tensor.ndim == 1:
                value = 1 + 0.2 * torch.randn(shape, generator=gen)
            elif leaf == "gamma":
                value = 0.5 + 0.2 * torch.randn(shape, generator=gen)
            else:
                value = 0.2 * torch.randn(shape, generator=gen)
            tensor.copy_(value.to(tensor.dtype))


def layer_from_torch(module, ref):
    """A ``zoo_core.nn`` layer's ``(params, state)`` holding torch module ``ref``'s state dict,
    written through the leaf-name mapping (``tree_mapping``), which must use every key of it: the
    start of a layer's parity test."""
    import jax

    from zoo_core.interop.mapping import tree_mapping
    from zoo_core.interop.state_dict import apply_state_dict

    params, state = jax.eval_shape(module.init, jax.random.key(0))
    sd = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    tree = apply_state_dict({"params": params, "state": state}, sd, tree_mapping(params, state))
    return tree["params"], tree["state"]


def to_numpy(t) -> np.ndarray:
    return t.detach().cpu().float().numpy() if hasattr(t, "detach") else np.asarray(t)


def to_nhwc(t) -> np.ndarray:
    """A torch (N, C, H, W) tensor (or array) as a numpy (N, H, W, C) array."""
    a = to_numpy(t)
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)) if a.ndim == 4 else a


def to_nchw(a) -> np.ndarray:
    a = np.asarray(a)
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2)) if a.ndim == 4 else a


def errors(ours, theirs) -> tuple[float, float]:
    """(max absolute error, max relative error) between two arrays."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    diff = np.abs(a - b)
    return float(diff.max(initial=0.0)), float((diff / np.maximum(np.abs(b), 1e-12)).max(initial=0.0))


def assert_close(ours, theirs, *, rtol: float = 1e-4, atol: float = 1e-4, name: str = "output") -> tuple[float, float]:
    """Assert ``|ours - theirs| <= atol + rtol * |theirs|`` elementwise; returns (max abs, max rel)."""
    a = np.asarray(ours)
    b = np.asarray(theirs)
    if a.shape != b.shape:
        raise AssertionError(f"{name}: shape {a.shape} (ours) != {b.shape} (timm)")
    max_abs, max_rel = errors(a, b)
    bad = np.abs(a.astype(np.float64) - b) > atol + rtol * np.abs(b.astype(np.float64))
    if bad.any():
        idx = np.unravel_index(np.argmax(np.abs(a - b)), a.shape)
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {a.size} elements differ beyond rtol={rtol}, atol={atol}; "
            f"max abs {max_abs:.3g}, max rel {max_rel:.3g} (at {tuple(int(i) for i in idx)}: ours {a[idx]!r}, timm {b[idx]!r})"
        )
    return max_abs, max_rel


@attrs.define
class ParityReport:
    name: str
    errors: dict[str, tuple[float, float]] = attrs.field(factory=dict)

    def __str__(self) -> str:
        rows = ", ".join(f"{k}: abs {a:.2g} rel {r:.2g}" for k, (a, r) in self.errors.items())
        return f"{self.name}: {rows}"


def state_dict_to_numpy(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().contiguous().numpy() for k, v in state_dict.items()}


def save_state_dict_to_hf_cache(state_dict: Mapping[str, Any], cache_dir, repo_id: str,
                                filename: str = "model.safetensors") -> str:
    """Save a torch or numpy state dict as safetensors into ``cache_dir`` under ``repo_id``.

    The file is streamed from the tensors' own memory to disk first, so only one copy of the
    checkpoint is ever held beside the model (BiT-152x4: 3.7 GB, not three times that).
    """
    from pathlib import Path

    from safetensors.numpy import save_file

    arrays = {k: (v.detach().cpu().contiguous().numpy() if hasattr(v, "detach") else np.ascontiguousarray(v))
              for k, v in state_dict.items()}
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "model.safetensors"
        save_file(arrays, file)
        del arrays
        data = file.read_bytes()
    return str(write_cached_file(cache_dir, repo_id, filename, data))


def _timm_forward(model, x, *, train: bool = False):
    torch = _torch()
    model.train(train)
    with torch.no_grad():
        feats = model.forward_features(x)
        pre = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats)
    return feats, pre, logits


def _zoo_forward(model, params, state, x) -> tuple[Any, Any, Any]:
    """Our (features, pre-logits, logits) for ``x`` (NHWC), jitted: timm's three outputs."""
    import jax

    @jax.jit
    def forward(params, state, x):
        feats, _ = model.forward_features(params, state, x)
        return feats, model.forward_head(params, feats, pre_logits=True), model.forward_head(params, feats)

    return forward(params, state, x)


def _input_hw(variant, img_size) -> tuple[int, int]:
    if img_size is None:
        return tuple(variant.input_size[1:])
    return (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)


def _timm_reference(variant, cache: str, *, seed: int, in_chans: int, num_classes: int | None,
                    timm_kwargs: Mapping[str, Any], arch_kwargs: Mapping[str, Any]):
    """timm's model of ``variant`` (with the architecture overrides ``arch_kwargs``) with every
    weight randomized, saved as its released file into ``cache``; rebuilt through timm's own
    ``pretrained=True`` path where ``in_chans``, ``num_classes`` or ``timm_kwargs`` change it
    (adapt_input_conv, head reset)."""
    import timm

    ref = timm.create_model(variant.name, pretrained=False, **arch_kwargs)
    randomize_torch_module(ref, seed)
    path = save_state_dict_to_hf_cache(ref.state_dict(), cache, variant.hf_hub_id, variant.filename)
    nc = variant.num_classes if num_classes is None else num_classes
    if in_chans == 3 and nc == variant.num_classes and not timm_kwargs:
        return ref.eval()
    del ref
    return timm.create_model(variant.name, pretrained=True, pretrained_cfg_overlay={"file": path},
                             in_chans=in_chans, num_classes=nc, **arch_kwargs, **timm_kwargs).eval()


def check_timm_parity(
    name: str,
    *,
    in_chans: int = 3,
    num_classes: int | None = None,
    img_size: int | tuple[int, int] | None = None,
    batch: int = 2,
    seed: int = 0,
    zoo_kwargs: Mapping[str, Any] | None = None,
    timm_kwargs: Mapping[str, Any] | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-4,
    train_step: bool = False,
    cache_dir: str | None = None,
) -> ParityReport:
    """Compare zoo's ``name`` with timm's on randomized weights; raise ``AssertionError`` on a miss.

    The checkpoint is made from timm's model as released (default head, 3 channels); with
    ``in_chans``/``num_classes`` set, timm loads it through its own ``pretrained=True`` path (its
    ``adapt_input_conv`` and head reset) and zoo through ``create_pretrained``. A fresh head is random
    on both sides, so then only features and pre-logits are compared. ``zoo_kwargs`` and
    ``timm_kwargs`` go to the two builders (``img_size=...`` on both for ViT, say).
    ``arch_kwargs`` are architecture overrides both builders take (``layers=(1, 1, 1, 1)``,
    ``depth=2``): the checkpoint is then made from timm's reduced model, to prove a large
    architecture's code on a model this machine runs quickly.
    ``train_step=True`` also runs one forward in train mode and compares outputs and the updated
    normalization statistics.
    """
    import contextlib

    import jax
    import torch

    from zoo_core.api import create_pretrained, get_family, get_variant

    variant = get_variant(name)
    arch_kwargs = dict(arch_kwargs or {})
    report = ParityReport(f"{variant.name} (in_chans={in_chans}, num_classes={num_classes}, img_size={img_size}"
                          f"{', ' + str(arch_kwargs) if arch_kwargs else ''})")
    temporary = tempfile.TemporaryDirectory() if cache_dir is None else contextlib.nullcontext(cache_dir)
    with temporary as cache:
        theirs = _timm_reference(variant, cache, seed=seed, in_chans=in_chans, num_classes=num_classes,
                                 timm_kwargs=dict(timm_kwargs or {}), arch_kwargs=arch_kwargs)
        x = np.random.default_rng(seed).standard_normal((batch, in_chans, *_input_hw(variant, img_size)),
                                                        dtype=np.float32)
        expected = _timm_forward(theirs, torch.from_numpy(x))
        if not train_step:  # free timm's weights before ours are loaded: the largest models need it
            theirs = None
        model, load = create_pretrained(variant.name, in_chans=in_chans, num_classes=num_classes, cache_dir=cache,
                                        local_files_only=True, **arch_kwargs, **dict(zoo_kwargs or {}))
        fresh_head = model.num_classes not in (0, variant.num_classes)
        params, state = load(*model.init(jax.random.key(seed))) if fresh_head else load()
        _compare(report, variant.name, _zoo_forward(model, params, state, to_nhwc(x)), expected, rtol=rtol, atol=atol,
                 logits=not fresh_head)
        if not fresh_head:
            y, _ = jax.jit(model.apply)(params, state, to_nhwc(x))
            report.errors["apply"] = assert_close(y, to_numpy(expected[2]), rtol=rtol, atol=atol,
                                                  name=f"{variant.name} apply")
        if train_step:
            _check_train_step(report, variant, get_family(variant.name), model, params, state, theirs,
                              torch.from_numpy(x), to_nhwc(x), rtol=rtol, atol=atol)
    return report


def _compare(report: ParityReport, name: str, ours, theirs, *, rtol: float, atol: float, logits: bool = True) -> None:
    """Features, pre-logits and (unless a fresh head makes them random on both sides) logits of
    ours against timm's (NCHW maps compared as NHWC); a fresh head's logits only by shape."""
    for key, a, b in zip(("features", "pre_logits", "logits"), ours, theirs):
        b = to_nhwc(b) if key == "features" else to_numpy(b)
        if key == "logits" and not logits:
            assert a.shape == b.shape, (name, a.shape, b.shape)
            continue
        report.errors[key] = assert_close(a, b, rtol=rtol, atol=atol, name=f"{name} {key}")


def _check_train_step(report, variant, family, model, params, state, theirs, xt, x_nhwc, *, rtol, atol):
    import jax
    import torch

    theirs.train()
    with torch.no_grad():
        t_out = theirs(xt)
    y, new_state = jax.jit(lambda p, s, x: model.apply(p, s, x, train=True))(params, state, x_nhwc)
    report.errors["train_logits"] = assert_close(y, to_numpy(t_out), rtol=rtol, atol=atol,
                                                 name=f"{variant.name} train-mode output")
    buffers = dict(theirs.named_buffers())
    abstract = jax.eval_shape(lambda: (params, state))
    worst = (0.0, 0.0)
    for key, path, transform in family.mapping()(variant, model, *abstract):
        if path[0] != "state" or key not in buffers:
            continue
        leaf = new_state
        for k in path[1:]:
            leaf = leaf[k]
        err = assert_close(leaf, transform(to_numpy(buffers[key])), rtol=rtol, atol=atol,
                           name=f"{variant.name} running statistic {key}")
        worst = max(worst, err)
    report.errors["train_state"] = worst
    theirs.eval()


def check_checkpoint_file_parity(name: str, checkpoint_path, reference, *, img_size: int | tuple[int, int] | None = None,
                                 batch: int = 1, seed: int = 0, rtol: float = 1e-4, atol: float = 1e-4,
                                 zoo_kwargs: Mapping[str, Any] | None = None) -> ParityReport:
    """Load the file at ``checkpoint_path`` through ``create_pretrained(name, checkpoint_path=...)``
    (the head size from the file) and compare features, pre-logits and logits with ``reference``,
    a timm model holding the same weights, on a seeded (batch, 3, H, W) input; raise
    ``AssertionError`` on a miss. ``zoo_kwargs`` go to ``create_pretrained`` (``img_size=...`` for a
    ViT built at another size than the file's)."""
    import torch

    from zoo_core.api import create_pretrained

    report = ParityReport(f"{name} from {checkpoint_path}")
    hw = tuple(reference.pretrained_cfg["input_size"][1:]) if img_size is None else _input_hw(None, img_size)
    x = np.random.default_rng(seed).standard_normal((batch, 3, *hw), dtype=np.float32)
    expected = _timm_forward(reference, torch.from_numpy(x))
    model, load = create_pretrained(name, checkpoint_path=checkpoint_path, **dict(zoo_kwargs or {}))
    params, state = load()
    _compare(report, name, _zoo_forward(model, params, state, to_nhwc(x)), expected, rtol=rtol, atol=atol)
    return report


def check_timm_parity_float64(name: str, *, img_size: int | tuple[int, int], batch: int = 1, seed: int = 0,
                              rtol: float = 1e-9, atol: float = 1e-9) -> ParityReport:
    """Eval-mode parity with float64 weights, inputs and arithmetic on both sides.

    Separates implementation errors from float32 rounding: a deep model whose float32 outputs miss
    1e-4 only because rounding accumulates over its depth agrees with timm here to ~1e-12. Layers
    that compute statistics in float32 by design (the norms of ``zoo_core.nn``) bound what this can
    show to ~1e-7 of the activations' scale; pass ``atol`` accordingly.
    """
    import jax
    import jax.numpy as jnp
    import timm
    import torch

    from zoo_core.api import create_model, get_family, get_variant
    from zoo_core.interop.state_dict import apply_state_dict
    from zoo_core.nn import abstract_init

    variant = get_variant(name)
    report = ParityReport(f"{variant.name} float64 (img_size={img_size})")
    ref = timm.create_model(variant.name, pretrained=False)
    randomize_torch_module(ref, seed)
    ref = ref.double().eval()
    x = np.random.default_rng(seed).standard_normal((batch, 3, *_input_hw(variant, img_size)))
    expected = [t.numpy() for t in _timm_forward(ref, torch.from_numpy(x))]  # float64: not to_numpy's float32
    state_dict = {k: v.numpy() for k, v in ref.state_dict().items()}
    del ref
    model = create_model(variant.name)
    with jax.enable_x64(True):
        params, state = abstract_init(model)
        mapping = get_family(variant.name).mapping()(variant, model, params, state)
        tree = apply_state_dict({"params": params, "state": state}, state_dict, mapping,
                                source=f"timm {variant.name} state_dict (float64)",
                                convert=lambda a, target: jnp.asarray(a, jnp.float64))
        ours = _zoo_forward(model, tree["params"], tree["state"], jnp.asarray(to_nhwc(x)))
        _compare(report, f"{variant.name} float64", [np.asarray(a) for a in ours], expected, rtol=rtol, atol=atol)
    return report
