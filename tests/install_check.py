"""Run inside a fresh environment holding zoo-core and ONE family plugin (``nox -s install_one``).

``install_check.py FAMILY VARIANT [DEPENDENCY...]``: the dependencies are the in-repo families the
plugin declares it builds on (zoo-convnextv2 on zoo-convnext), which pip installs with it.

Checks that ``zoo list`` shows that family alone (with its declared dependencies), that an
architecture of another first-party family names the distribution to install, that ``create_pretrained`` downloads through
huggingface_hub from a loopback Hub, and that a second process with ``HF_HUB_OFFLINE=1`` loads from
the same cache, where ``huggingface_hub.try_to_load_from_cache`` finds the file too.
"""

import json
import os
import subprocess
import sys
import tempfile

FAMILY, VARIANT, DEPENDENCIES = sys.argv[1], sys.argv[2], sys.argv[3:]


def main() -> None:
    out = subprocess.run(["zoo", "list", "--json"], capture_output=True, text=True, check=True).stdout
    families = {row["family"] for row in json.loads(out)}
    expected = {FAMILY, *DEPENDENCIES}
    assert families == expected, f"zoo list shows {sorted(families)}, expected only {sorted(expected)}"

    import zoo_core
    from zoo_core.testing.checkpoints import random_state_dict
    from zoo_core.testing.hf_cache import safetensors_bytes
    from zoo_core.testing.hub_server import LoopbackHub

    variant = zoo_core.get_variant(VARIANT)
    _check_other_families_name_their_distribution(expected)
    data = safetensors_bytes(random_state_dict(VARIANT))
    with LoopbackHub() as hub, tempfile.TemporaryDirectory() as cache:
        hub.add_file(variant.hf_hub_id, variant.filename, data)
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": cache, "HF_HUB_DISABLE_XET": "1"}
        code = f"""
import numpy as np, zoo_core
model, load = zoo_core.create_pretrained({VARIANT!r})
params, state = load()
h = w = {variant.input_size[-1]}
y, _ = model.apply(params, state, np.zeros((1, h, w, 3), np.float32))
print(float(np.asarray(y).sum()))
"""
        online = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert online.returncode == 0, online.stderr[-2000:]
        requests = hub.count()
        offline = subprocess.run([sys.executable, "-c", code], env={**env, "HF_HUB_OFFLINE": "1"},
                                 capture_output=True, text=True)
        assert offline.returncode == 0, offline.stderr[-2000:]
        assert hub.count() == requests, "the offline process made requests"
        assert online.stdout == offline.stdout
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(variant.hf_hub_id, variant.filename, cache_dir=cache)
        assert isinstance(found, str) and open(found, "rb").read() == data
    alone = f"alone (with {', '.join(f'zoo-{d}' for d in DEPENDENCIES)})" if DEPENDENCIES else "alone"
    print(f"install check passed: zoo-core + zoo-{FAMILY} {alone}, {VARIANT} from the loopback Hub, then offline")


def _check_other_families_name_their_distribution(installed_families: set[str]) -> None:
    """An architecture of a first-party family not installed here says which distribution to install
    (from zoo-core's catalog data, in the wheel), in the API and in `zoo info`."""
    import zoo_core
    from zoo_core.catalog import known_architectures

    installed = {f"zoo-{f}" for f in installed_families}
    arch, dist = next((a, d) for a, d in known_architectures().items() if d not in installed)
    try:
        zoo_core.get_variant(arch)
    except zoo_core.UnknownVariantError as e:
        assert f"pip install {dist}" in str(e), str(e)
    else:
        raise AssertionError(f"{arch} resolved without {dist} installed")
    info = subprocess.run(["zoo", "info", arch], capture_output=True, text=True)
    assert info.returncode != 0 and f"pip install {dist}" in info.stderr, info.stderr


if __name__ == "__main__":
    main()
