"""A ViT architecture as a checked record: timm's ``VisionTransformer`` arguments with timm's
defaults, read from an ``ARCHS`` entry (see ``archs.py`` for how callables are written as data)
plus the builder's overrides. No JAX import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from zoo_core.errors import ArgumentError
from zoo_core.validate import check_bool, check_choice, check_int, check_real, check_size, show

GLOBAL_POOLS = ("token", "avg", "avgmax", "max", "map", "")
NORM_LAYERS = ("layernorm", "rmsnorm")
ACT_LAYERS = ("gelu", "gelu_tanh", "quick_gelu", "silu")
MLP_LAYERS = ("mlp", "swiglu", "glu_silu_gate_first")
BLOCK_FNS = ("block", "res_post", "parallel_scaling", "diff_parallel_scaling")
ATTN_LAYERS = ("attn", "diff")


@attrs.frozen
class ViTConfig:
    """timm's ``VisionTransformer`` architecture arguments, with its defaults (``img_size`` None:
    the variant's input size)."""

    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    proj_bias: bool = True
    init_values: float | None = None
    class_token: bool = True
    reg_tokens: int = 0
    no_embed_class: bool = False
    pre_norm: bool = False
    final_norm: bool = True
    fc_norm: bool | None = None
    global_pool: str = "token"
    pool_include_prefix: bool = False
    dynamic_img_size: bool = False
    scale_attn_norm: bool = False
    scale_mlp_norm: bool = False
    norm_layer: str = "layernorm"
    norm_eps: float = 1e-6
    embed_norm_layer: str | None = None
    embed_norm_eps: float = 1e-6
    act_layer: str = "gelu"
    mlp_layer: str = "mlp"
    block_fn: str = "block"
    attn_layer: str = "attn"
    img_size: int | tuple[int, int] | None = None

    @property
    def num_prefix_tokens(self) -> int:
        return int(self.class_token) + self.reg_tokens

    @property
    def use_fc_norm(self) -> bool:
        """timm: the final norm after pooling (``fc_norm``) for avg/avgmax/max pools unless set."""
        return self.global_pool in ("avg", "avgmax", "max") if self.fc_norm is None else self.fc_norm


FIELDS = tuple(f.name for f in attrs.fields(ViTConfig))
_BOOLS = ("qkv_bias", "proj_bias", "class_token", "no_embed_class", "pre_norm", "final_norm", "pool_include_prefix",
          "dynamic_img_size", "scale_attn_norm", "scale_mlp_norm")
_CHOICES = {"global_pool": GLOBAL_POOLS, "norm_layer": NORM_LAYERS, "act_layer": ACT_LAYERS,
            "mlp_layer": MLP_LAYERS, "block_fn": BLOCK_FNS, "attn_layer": ATTN_LAYERS}


def _checked(name: str, key: str, value: Any) -> Any:
    """One architecture argument checked (``ArgumentError`` naming variant, argument, value)."""
    if key in ("patch_size", "embed_dim", "depth", "num_heads"):
        return check_int(name, key, value, min=1)
    if key == "reg_tokens":
        return check_int(name, key, value, min=0)
    if key in _BOOLS:
        return check_bool(name, key, value)
    if key == "fc_norm":
        return check_bool(name, key, value, allow_none=True)
    if key in ("mlp_ratio", "norm_eps", "embed_norm_eps"):
        return check_real(name, key, value, above=0)
    if key == "init_values":
        return check_real(name, key, value, allow_none=True)
    if key == "embed_norm_layer":
        return None if value is None else check_choice(name, key, value, NORM_LAYERS)
    if key == "img_size":
        return check_size(name, key, value, allow_none=True)
    return check_choice(name, key, value, _CHOICES[key])


def vit_config(name: str, arch_kwargs: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> ViTConfig:
    """The ``ViTConfig`` of an ``ARCHS`` entry with ``overrides`` (any ``ViTConfig`` field, e.g. a
    reduced ``depth``), each replacing the entry's value as ``timm.create_model(name, **kwargs)``
    does (``fc_norm=None`` included: timm's automatic placement). Every value is checked; an unknown
    key or a combination timm refuses raises ``ArgumentError`` naming the variant."""
    merged = dict(arch_kwargs)
    for key, value in (overrides or {}).items():
        if key not in FIELDS:
            raise ArgumentError(f"{name}: unknown keyword argument {key}={show(value)}: the vit family takes "
                                f"in_chans, num_classes and the architecture's arguments {', '.join(FIELDS)}")
        merged[key] = value
    config = ViTConfig(**{key: _checked(name, key, value) for key, value in merged.items()})
    if config.global_pool == "token" and not config.class_token:
        raise ArgumentError(f"{name}: global_pool='token' needs the class token (class_token=True)")
    if config.embed_dim % config.num_heads or (config.attn_layer == "diff" or "diff" in config.block_fn) \
            and config.embed_dim % (2 * config.num_heads):
        raise ArgumentError(f"{name}: embed_dim={config.embed_dim} does not split into num_heads={config.num_heads}")
    if config.block_fn != "block" and (config.scale_attn_norm or config.scale_mlp_norm):
        raise ArgumentError(f"{name}: block_fn={config.block_fn!r} takes no scale_attn_norm / scale_mlp_norm")
    if config.mlp_layer == "glu_silu_gate_first" and int(config.embed_dim * config.mlp_ratio) % 2:
        raise ArgumentError(f"{name}: the packed GLU MLP needs an even hidden width, got "
                            f"int({config.embed_dim} * {config.mlp_ratio})")
    return config
