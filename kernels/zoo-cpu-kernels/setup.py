"""Builds the kernels as one shared library inside the package. It is loaded with ctypes and
registered with XLA (``jax.ffi``), not imported as a Python module; XLA's FFI headers come from
jaxlib, a build requirement."""

import platform

import jax
from setuptools import Extension, setup

flags = ["-O3", "-std=c++17", "-fvisibility=hidden", "-Wno-psabi", "-Wno-attributes"]
if platform.machine().lower() in ("x86_64", "amd64"):
    flags.append("-DZOO_TARGET_CLONES")

setup(ext_modules=[Extension(
    "zoo_cpu_kernels._kernels",
    sources=["zoo_cpu_kernels/attention.cc", "zoo_cpu_kernels/dense3x3.cc", "zoo_cpu_kernels/depthwise.cc", "zoo_cpu_kernels/direct.cc",
             "zoo_cpu_kernels/group_norm.cc", "zoo_cpu_kernels/grouped.cc", "zoo_cpu_kernels/moments.cc", "zoo_cpu_kernels/peak.cc",
             "zoo_cpu_kernels/pointwise.cc", "zoo_cpu_kernels/transpose.cc"],
    depends=["zoo_cpu_kernels/common.h"],
    include_dirs=[jax.ffi.include_dir()],
    extra_compile_args=flags,
    language="c++",
)])
