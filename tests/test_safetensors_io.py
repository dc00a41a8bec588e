"""The safetensors reader: exact fp16/bf16 loading and a clear error for every malformed file."""

import json
import struct

import ml_dtypes
import numpy as np
import pytest

from zoo_core import CheckpointFormatError
from zoo_core.interop import SafetensorsFile, load_safetensors_state_dict, read_parity, save_safetensors, write_parity
from zoo_core.kernels import cpu_kernels


def raw_file(path, header: dict, data: bytes, *, header_bytes: bytes | None = None):
    hb = header_bytes if header_bytes is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(hb)) + hb + data)
    return path


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]}


def test_round_trip_keeps_values_and_order(tmp_path):
    tensors = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([1, 2], np.int64)}
    save_safetensors(tmp_path / "m.safetensors", tensors)
    f = SafetensorsFile(tmp_path / "m.safetensors")
    assert set(f) == {"a", "b"} and f.shape("b") == (2, 3) and f.dtype("a") == "I64"
    sd = load_safetensors_state_dict(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(sd["b"], tensors["b"])
    assert sd["a"].dtype == np.int64


def test_bf16_and_fp16_load_exactly_as_float32(tmp_path):
    values = np.array([1.5, -2.25, 3.0e-3, 65504.0], np.float32)
    bf = values.astype(ml_dtypes.bfloat16)
    fp = values.astype(np.float16)
    data = bf.tobytes() + fp.tobytes()
    raw_file(tmp_path / "h.safetensors", {"bf": entry("BF16", (4,), 0, 8), "fp": entry("F16", (4,), 8, 16)}, data)
    sd = load_safetensors_state_dict(tmp_path / "h.safetensors")
    assert sd["bf"].dtype == np.float32 and sd["fp"].dtype == np.float32
    np.testing.assert_array_equal(sd["bf"], bf.astype(np.float32))
    np.testing.assert_array_equal(sd["fp"], fp.astype(np.float32))


@pytest.mark.parametrize("cut", [0, 5, 12, 40, 63])
def test_a_truncated_file_says_how_many_bytes_it_has(tmp_path, cut):
    save_safetensors(tmp_path / "m.safetensors", {"w": np.ones((4, 4), np.float32)})
    full = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(full[: len(full) - 64 + cut] if cut else b"")
    with pytest.raises(CheckpointFormatError, match=r"t.safetensors: (is empty|truncated \(\d+ of (at least )?\d+ bytes\))"):
        SafetensorsFile(tmp_path / "t.safetensors")


def test_an_html_page_or_lfs_pointer_is_named_as_such(tmp_path):
    (tmp_path / "a").write_bytes(b"<!DOCTYPE html><html><body>Sign in</body></html>")
    (tmp_path / "b").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(CheckpointFormatError, match="an HTML page"):
        SafetensorsFile(tmp_path / "a")
    with pytest.raises(CheckpointFormatError, match="git-lfs pointer"):
        SafetensorsFile(tmp_path / "b")


def test_overlapping_offsets_name_both_tensors(tmp_path):
    raw_file(tmp_path / "o", {"x": entry("F32", (2,), 0, 8), "y": entry("F32", (2,), 4, 12)}, bytes(12))
    with pytest.raises(CheckpointFormatError, match="tensors 'x' and 'y' overlap"):
        SafetensorsFile(tmp_path / "o")


def test_offsets_that_disagree_with_the_shape_name_the_tensor(tmp_path):
    raw_file(tmp_path / "s", {"x": entry("F32", (3,), 0, 8)}, bytes(8))
    with pytest.raises(CheckpointFormatError, match="tensor 'x': data_offsets \\[0, 8\\] hold 8 bytes but F32\\[3\\] needs 12"):
        SafetensorsFile(tmp_path / "s")


def test_duplicate_keys_in_the_header_are_refused(tmp_path):
    hb = b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}'
    raw_file(tmp_path / "d", {}, bytes(8), header_bytes=hb)
    with pytest.raises(CheckpointFormatError, match="duplicate tensor name 'x'"):
        SafetensorsFile(tmp_path / "d")


def test_unsupported_dtype_names_key_and_dtype(tmp_path):
    raw_file(tmp_path / "u", {"q": entry("F8_E4M3", (4,), 0, 4)}, bytes(4))
    with pytest.raises(CheckpointFormatError, match="tensor 'q': unsupported dtype 'F8_E4M3'"):
        SafetensorsFile(tmp_path / "u")


def test_a_non_float_tensor_read_as_float_is_refused(tmp_path):
    save_safetensors(tmp_path / "i", {"n": np.array([1], np.int64)})
    with pytest.raises(CheckpointFormatError, match="tensor 'n' has dtype I64"):
        SafetensorsFile(tmp_path / "i").read_float32("n")


def test_a_file_that_shrinks_after_opening_raises_instead_of_crashing(tmp_path):
    save_safetensors(tmp_path / "m", {"w": np.ones(1000, np.float32)})
    f = SafetensorsFile(tmp_path / "m")
    with open(tmp_path / "m", "r+b") as fh:
        fh.truncate(200)
    with pytest.raises(CheckpointFormatError, match="file shrank while reading"):
        f["w"]


def test_parity_fixture_round_trip(tmp_path):
    x = np.ones((1, 3, 4, 4), np.float32)
    sd = {"conv.weight": np.zeros((2, 3, 1, 1), np.float32)}
    write_parity(tmp_path / "p.safetensors", x, sd, {"logits": np.ones((1, 2), np.float32)})
    p = read_parity(tmp_path / "p.safetensors")
    assert p.input.shape == x.shape and list(p.state_dict) == ["conv.weight"]
    assert set(p.output) == {"logits"}
    write_parity(tmp_path / "q.safetensors", x, sd, np.zeros(3, np.float32))
    assert read_parity(tmp_path / "q.safetensors").output.shape == (3,)


@pytest.mark.parametrize(("shape", "axes"), [
    ((4, 3, 3, 5), (2, 3, 1, 0)),  # conv OIHW → HWIO
    ((7, 5), (1, 0)),  # linear (out, in) → (in, out)
    ((3, 4, 5), (0, 2, 1)),  # the leading axis stays first
    ((6,), None),
    ((), None),
    ((0, 3), (1, 0)),
    ((700, 600), (1, 0)),  # 1.7 MB: its own memory map, read in several blocks
    ((1100, 701), (1, 0)),  # 3.1 MB: several blocks of the compiled transpose, odd widths
    ((13, 11, 1, 1), (2, 3, 1, 0)),  # a 1×1 conv: the compiled transpose's case too
    ((1, 9), (1, 0)),
])
@pytest.mark.parametrize("stored", [np.float32, ml_dtypes.bfloat16, np.float64])
@pytest.mark.parametrize("kernels", ["compiled transpose", "numpy"])
def test_read_permuted_equals_transposing_what_was_read(tmp_path, monkeypatch, shape, axes, stored, kernels):
    if kernels == "numpy":
        monkeypatch.setenv("ZOO_CPU_KERNELS", "0")
    elif cpu_kernels() is None:
        pytest.skip("zoo-cpu-kernels is not installed")
    values = np.random.default_rng(0).standard_normal(shape).astype(stored)
    save_safetensors(tmp_path / "m", {"pad": np.zeros(3, np.int8), "w": values})  # "w" starts unaligned
    f = SafetensorsFile(tmp_path / "m")
    for dtype in (None, np.float32, np.float64):
        got = f.read_permuted("w", axes, dtype)
        want = np.transpose(values, axes).astype(dtype or stored)
        assert got.dtype == want.dtype and got.flags.c_contiguous and (got.size == 0 or got.ctypes.data % 64 == 0)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("shape", "axes", "stored", "dtype", "compiled"), [
    ((7, 5), (1, 0), np.float32, np.float32, True),  # linear (out, in) → (in, out)
    ((4, 6, 1, 1), (2, 3, 1, 0), np.float32, np.float32, True),  # 1×1 conv
    ((4, 6, 3, 3), (2, 3, 1, 0), np.float32, np.float32, False),  # 3×3: not a 2-D transpose
    ((7, 5), (1, 0), ml_dtypes.bfloat16, np.float32, False),  # a dtype conversion: numpy's copy
    ((7, 5), (1, 0), np.float64, np.float64, False),  # 8-byte elements
])
def test_read_permuted_uses_the_compiled_transpose_for_2d_transposes_only(tmp_path, monkeypatch, shape, axes,
                                                                           stored, dtype, compiled):
    kernels = cpu_kernels()
    if kernels is None:
        pytest.skip("zoo-cpu-kernels is not installed")
    calls = []
    transpose_into = kernels.transpose_into
    monkeypatch.setattr(kernels, "transpose_into", lambda src, dst: calls.append(src.shape) or transpose_into(src, dst))
    values = np.random.default_rng(0).standard_normal(shape).astype(stored)
    save_safetensors(tmp_path / "m", {"w": values})
    got = SafetensorsFile(tmp_path / "m").read_permuted("w", axes, dtype)
    np.testing.assert_array_equal(got, np.transpose(values, axes).astype(dtype))
    assert bool(calls) == compiled


def test_read_permuted_into_a_new_layout_raises_when_the_file_shrinks(tmp_path):
    save_safetensors(tmp_path / "m", {"w": np.ones((600, 700), np.float32)})
    f = SafetensorsFile(tmp_path / "m")
    with open(tmp_path / "m", "r+b") as fh:
        fh.truncate(1 << 20)  # cut inside the second block
    with pytest.raises(CheckpointFormatError, match=r"tensor 'w': file shrank while reading \(got \d+ of 1680000"):
        f.read_permuted("w", (1, 0))


def test_read_permuted_refuses_what_is_not_a_permutation(tmp_path):
    save_safetensors(tmp_path / "m", {"w": np.ones((2, 3), np.float32)})
    with pytest.raises(ValueError, match=r"'w'.*\(0, 0\) is not a permutation"):
        SafetensorsFile(tmp_path / "m").read_permuted("w", (0, 0))
