"""Importing zoo_core (and the frameworks package) never imports Flax, Equinox or Orbax."""

from __future__ import annotations

import subprocess
import sys


def test_frameworks_are_not_imported():
    code = ("import sys, zoo_core, zoo_core.frameworks; zoo_core.create_model('tinynet_s'); "
            "heavy = [m for m in ('flax', 'equinox', 'orbax', 'orbax.checkpoint') if m in sys.modules]; "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]


def test_docs_snippets_are_the_examples():
    """Every code block of docs/frameworks.md shown as the examples' code is copied from them."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def flat(text):
        return "\n".join(line.strip() for line in text.strip().splitlines())

    examples = flat((root / "examples/finetune_nnx.py").read_text() + (root / "examples/finetune_equinox.py").read_text())
    blocks = re.findall(r"```python\n(.*?)```", (root / "docs/frameworks.md").read_text(), re.S)
    copied = [b for b in blocks if b.lstrip().startswith(("class Classifier", "@", "model = Classifier"))]
    assert len(copied) == 4
    for block in copied:
        assert flat(block) in examples, block[:200]
