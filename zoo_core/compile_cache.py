"""A persistent JAX compilation cache, so a second process skips XLA's compile of the same model.

Enabled the first time zoo creates a model, in platformdirs' user cache dir (``~/.cache/zoo/jax``
on Linux) or ``ZOO_COMPILATION_CACHE_DIR``; ``ZOO_COMPILATION_CACHE=0`` turns it off. A cache dir
the user already gave JAX (``jax_compilation_cache_dir``) is left as it is.
"""

from __future__ import annotations

import os

_done = False


def enable_compilation_cache() -> str | None:
    """Point JAX's persistent compilation cache at zoo's directory; returns it (``None``: off)."""
    global _done
    import jax

    if os.environ.get("ZOO_COMPILATION_CACHE", "1").strip().lower() in {"0", "false", "no", "off"}:
        return None
    current = jax.config.jax_compilation_cache_dir
    if current or _done:
        return current
    path = os.environ.get("ZOO_COMPILATION_CACHE_DIR")
    if not path:
        import platformdirs

        path = os.path.join(platformdirs.user_cache_dir("zoo"), "jax")
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    _done = True
    return path
