"""The programs a GPU compiles, checked without one: each family's reference models lowered for CUDA.

On GPUs and TPUs zoo's float32 matmuls and convolutions follow JAX's default precision (TF32 on NVIDIA
GPUs, bfloat16 passes on TPUs), and ``jax.default_matmul_precision("float32")`` makes every one of them
IEEE float32 (docs/precision.md). And none of zoo-cpu-kernels' calls, which exist for the CPU alone,
reaches a GPU program: not in the forward, in float32 or bfloat16, nor in a training step's gradient (nor
the float32 forward lowered for a TPU)."""

import re
from collections import Counter

import jax
import jax.numpy as jnp
import pytest

import zoo_core
from zoo_core.testing.reference_models import REFERENCE_MODELS as MODELS

#: dots zoo pins to HIGHEST whatever the default: SE's squeeze taken as mean_hw(x) · kernel before the conv
#: (``nn.fused.conv_norm_act``), one per SE block, which must equal the mean of the conv's float32 output
PINNED = {"seresnet50.a1_in1k": 16}
OP = re.compile(r"stablehlo\.(dot_general|convolution)\b")
CUSTOM_CALL = re.compile(r"stablehlo\.custom_call\s*@([\w.]+)|call_target_name\s*=\s*\"([^\"]+)\"")


def custom_calls(text: str) -> set[str]:
    """The targets of the custom calls in a program (zoo-cpu-kernels': zoo_pointwise_conv2d, zoo_attention, ...)."""
    return {a or b for a, b in CUSTOM_CALL.findall(text)}


def program(name: str, *, precision: str | None = None, dtype: str | None = None, grad: bool = False,
            platform: str = "cuda") -> str:
    """The program (StableHLO text) for ``platform`` of ``name``'s forward at batch 2, 224², computing in
    ``dtype``, under JAX's default matmul ``precision``; with ``grad``, of a training step's gradient instead."""
    model = zoo_core.create_model(name, dtype=dtype, **({"img_size": 224} if "dinov2" in name else {}))
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    if grad:
        def loss(params, state, x):
            logits, state = model.apply(params, state, x, train=True)
            return jnp.mean(logits ** 2), state

        fn = jax.jit(jax.grad(loss, has_aux=True))
    else:
        fn = jax.jit(lambda p, s, x: model.apply(p, s, x)[0])
    with jax.default_matmul_precision(precision):
        return lowered(fn, platform, params, state, x)


def lowered(fn, platform: str, *args) -> str:
    """``fn``'s program for ``platform`` (StableHLO text), whatever this machine's devices."""
    return fn.trace(*args).lower(lowering_platforms=(platform,)).as_text()


def precisions(name: str, precision: str | None) -> Counter:
    """(op, its operands' precision, its result's element type) → count, for the dots and convolutions in
    the CUDA program of ``name``'s float32 forward under ``precision``."""
    text = program(name, precision=precision)
    assert custom_calls(text) == set()
    found = Counter()
    for line in text.splitlines():
        if (op := OP.search(line)) is None:
            continue
        # dots print "precision = [HIGHEST, HIGHEST]", convolutions "precision_config = [#stablehlo<precision HIGHEST>, ...]"
        given = re.search(r"precision = \[(\w+),", line) or re.search(r"precision_config = \[#stablehlo<precision (\w+)>",
                                                                         line)
        result = re.search(r"-> tensor<[^>]*x(\w+)>", line)
        found[op.group(1), given.group(1) if given else "DEFAULT", result.group(1) if result else "?"] += 1
    return found


@pytest.mark.parametrize("name", MODELS)
def test_float32_reaches_every_dot_and_convolution(name):
    asked = precisions(name, "float32")
    assert asked and {key[1:] for key in asked} == {("HIGHEST", "f32")}, asked
    for precision, shown in ((None, "DEFAULT"), ("tensorfloat32", "HIGH")):
        found = precisions(name, precision)  # elsewhere JAX's default (TF32 on a GPU) or the one asked for stands
        assert sum(found.values()) == sum(asked.values())
        pinned = sum(n for key, n in found.items() if key[1] == "HIGHEST")
        assert pinned == PINNED.get(name, 0) and {key[1] for key in found} - {"HIGHEST"} == {shown}, found


@pytest.mark.parametrize("name", MODELS)
def test_no_cpu_kernel_reaches_a_gpu_or_tpu_program(name):
    for text in (program(name, dtype="bfloat16"), program(name, grad=True), program(name, platform="tpu")):
        assert "stablehlo.convolution" in text or "stablehlo.dot_general" in text
        assert custom_calls(text) == set()


def test_custom_calls_are_found_in_a_cpu_program():
    """The check above can fail: the CPU program of the same forward calls zoo-cpu-kernels where installed."""
    from zoo_core.kernels import cpu_kernels

    found = custom_calls(program("resnet50.a1_in1k", platform="cpu"))
    assert (cpu_kernels() is not None) == any(target.startswith("zoo_") for target in found), found
