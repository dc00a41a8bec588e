"""What the kernel tests share: running a snippet on several host devices."""

import subprocess
import sys
import textwrap

import pytest


@pytest.fixture
def computed_where_it_lies():
    """A check that a kernel's call on a batch sharded over 4 host CPU devices stays on each device's
    own images. It runs ``code`` in a fresh interpreter (XLA's device count is fixed at start-up);
    the code prints the device count, whether the compiled program all-gathers, and the largest
    difference from the one-device result, which must be 4, False and 0."""

    def check(code: str) -> None:
        env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu", "PATH": ""}
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                             check=True)
        devices, gathered, err = out.stdout.split()
        assert (devices, gathered) == ("4", "False") and float(err) == 0.0

    return check
