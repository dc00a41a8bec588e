"""Every way a weights file can be wrong gets a ZooError naming it, in the API and the CLI; a file's
format is judged by its content, not its name; a tensor whose dtype cannot be a weight is refused
with its key named (issue 16)."""

import builtins
import errno
import io
import os
import pickle
import zipfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import zoo_core
from zoo_core import CheckpointFormatError, StateDictMismatchError
from zoo_core.cli import main
from zoo_core.convert import checkpoint_format, load_torch_state_dict
from zoo_core.interop import apply_state_dict, identity
from zoo_core.interop.derived import DerivedStateDict
from zoo_core.testing.hf_cache import safetensors_bytes

from tinynet_weights import tinynet_bytes, tinynet_state_dict

NAME = "tinynet_s.zoo_in1k"
IMAGE = str(sorted((Path(__file__).parents[1] / "examples" / "images").glob("*.jpg"))[0])


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


RECOGNISED = {
    "safetensors": safetensors_bytes({"w": np.ones(3, np.float32)}),
    "torch zip": _zip({"archive/data.pkl": b"\x80\x02}q\x00.", "archive/version": b"3\n"}),
    "legacy torch pickle": pickle.dumps({"w": 1}, protocol=2),
    "npz": _npz(w=np.ones(3, np.float32)),
}


@pytest.mark.parametrize("kind, data", RECOGNISED.items())
@pytest.mark.parametrize("name", ["w.safetensors", "w.bin", "w.pt", "w.npz", "weights"])
def test_the_format_is_judged_by_content_whatever_the_name(tmp_path, kind, data, name):
    """Each format is recognised from its bytes under every name, a misleading one included."""
    (tmp_path / name).write_bytes(data)
    expected = {"safetensors": "safetensors", "torch zip": "torch", "legacy torch pickle": "torch", "npz": "npz"}[kind]
    assert checkpoint_format(tmp_path / name) == expected


@pytest.mark.parametrize("data, says", [
    (b"", r"is empty \(0 bytes\)"),
    (b"abc", "3 bytes long: too short for any weights format"),
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "an HTML page"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "git-lfs pointer"),
    (b'{"error": "Repository not found"}', "JSON error response"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'}", r"single numpy \.npy array, not a state dict"),
    (_zip({"readme.txt": b"hi"}), r"zip archive, but neither a PyTorch checkpoint .* readme\.txt"),
    (b"PK\x03\x04" + bytes(40), "starts as a zip archive but cannot be read as one"),
    (b"GIF89a" + bytes(64), r"not a safetensors file, a PyTorch checkpoint or a numpy \.npz \(it starts with b'GIF89a"),
])
def test_a_file_of_no_known_format_says_what_it_is(tmp_path, data, says):
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    with pytest.raises(CheckpointFormatError, match=rf"^{path}: .*{says}"):
        checkpoint_format(path)


def _weights_folder(tmp_path) -> Path:
    folder = tmp_path / "my-finetune"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(tinynet_bytes())
    (folder / "config.json").write_text("{}")
    return folder


def test_a_directory_as_checkpoint_path_names_the_files_inside(tmp_path):
    """Before: IsADirectoryError from open(). Now the folder is named with the file to pass."""
    folder = _weights_folder(tmp_path)
    with pytest.raises(CheckpointFormatError, match=rf"{folder}: is a directory, not a weights file; pass one of "
                                                    rf"the files in it: {folder / 'model.safetensors'}$"):
        zoo_core.create_pretrained(NAME, checkpoint_path=folder)


def test_the_cli_says_a_directory_is_a_directory_on_one_line(tmp_path, capsys):
    """`zoo predict --checkpoint DIR` and `zoo convert DIR out` name the folder, no traceback: a
    usage error (2) where the option's parser checks it, else the weights error (5)."""
    folder = _weights_folder(tmp_path)
    for argv in (["predict", NAME, IMAGE, "--checkpoint", str(folder)], ["convert", str(folder), str(tmp_path / "o")]):
        assert main(argv) in (2, 5)
        err = capsys.readouterr().err
        assert f"{folder}" in err and "is a directory" in err and "Traceback" not in err, err


def test_convert_says_what_a_file_is_when_it_is_no_pytorch_checkpoint(tmp_path):
    """`zoo convert` of a safetensors or .npz file: what it is, not torch.load's complaint (torch not needed)."""
    (tmp_path / "a.pt").write_bytes(tinynet_bytes())
    (tmp_path / "b.pth").write_bytes(_npz(w=np.ones(2, np.float32)))
    with pytest.raises(CheckpointFormatError, match=r"a\.pt: is a safetensors file, not a PyTorch checkpoint"):
        load_torch_state_dict(tmp_path / "a.pt")
    with pytest.raises(CheckpointFormatError, match=r"b\.pth: is a numpy \.npz archive, not a PyTorch checkpoint"):
        load_torch_state_dict(tmp_path / "b.pth")
    folder = _weights_folder(tmp_path)
    with pytest.raises(CheckpointFormatError, match=rf"{folder}: is a directory"):
        zoo_core.convert.convert(folder, tmp_path / "out.safetensors")


@pytest.mark.parametrize("name", ["gone.npz", "gone.safetensors", "gone.pt"])
def test_a_missing_file_is_named(tmp_path, name):
    """Before: numpy's raw FileNotFoundError for an .npz."""
    with pytest.raises(CheckpointFormatError, match=rf"{tmp_path / name}: no such file$"):
        zoo_core.create_pretrained(NAME, checkpoint_path=tmp_path / name)


def test_an_unreadable_file_is_named_with_the_reason(tmp_path, monkeypatch):
    """Permissions: root reads anything, so there the refusal is simulated at open()."""
    path = tmp_path / "w.npz"
    path.write_bytes(_npz(**tinynet_state_dict()))
    path.chmod(0)
    if os.geteuid() == 0:
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if os.fspath(file) == str(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(CheckpointFormatError, match=rf"{path}: cannot be read \(Permission denied\)"):
        zoo_core.create_pretrained(NAME, checkpoint_path=path)


def test_an_npz_holding_python_objects_is_refused_by_name(tmp_path):
    """Before: numpy's ValueError about allow_pickle. Nothing is unpickled."""
    sd = {k: v for k, v in tinynet_state_dict().items()}
    sd["fc.bias"] = np.array([{"evil": 1}] * 10, dtype=object)
    np.savez(tmp_path / "w.npz", **sd)
    with pytest.raises(CheckpointFormatError, match=r"w\.npz: array 'fc\.bias' holds Python objects"):
        zoo_core.create_pretrained(NAME, checkpoint_path=tmp_path / "w.npz")


def _int_safetensors(tmp_path, dtype) -> Path:
    sd = tinynet_state_dict()
    sd["fc.bias"] = np.arange(10).astype(dtype)
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes(sd))
    return path


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_an_integer_or_boolean_weight_is_refused_with_key_dtype_and_file(tmp_path, dtype):
    """Before: loaded as float32 without a word. The header tells, so nothing is read."""
    path = _int_safetensors(tmp_path, dtype)
    model, load = zoo_core.create_pretrained(NAME, checkpoint_path=path)
    with pytest.raises(StateDictMismatchError, match=rf"{path} does not fit the model: 1 problem\n  key 'fc\.bias' holds "
                                                     rf"{np.dtype(dtype)} values, which cannot be weights: params/fc/bias "
                                                     "is float32"):
        load()


@pytest.mark.parametrize("as_npz", [False, True])
def test_integer_weights_in_memory_and_in_an_npz_are_refused(tmp_path, as_npz):
    sd = tinynet_state_dict()
    sd["stem.bn.running_var"] = np.ones(8, np.int32)
    if as_npz:
        np.savez(tmp_path / "w.npz", **sd)
        source = tmp_path / "w.npz"
    else:
        source = ("my weights", sd)
    variant, model = zoo_core.get_variant(NAME), zoo_core.create_model(NAME)
    params, state = zoo_core.nn.abstract_init(model)
    with pytest.raises(StateDictMismatchError, match=r"key 'stem\.bn\.running_var' holds int32 values"):
        zoo_core.loading.load_weights(model, variant, zoo_core.get_family(NAME), source, params, state)


def test_num_batches_tracked_stays_int64_and_is_ignored(tmp_path):
    """tinynet's checkpoints hold int64 *.num_batches_tracked: they still load."""
    sd = tinynet_state_dict()
    assert sd["stem.bn.num_batches_tracked"].dtype == np.int64
    (tmp_path / "w.safetensors").write_bytes(safetensors_bytes(sd))
    params, _ = zoo_core.create_pretrained(NAME, checkpoint_path=tmp_path / "w.safetensors")[1]()
    np.testing.assert_array_equal(params["fc"]["bias"], sd["fc.bias"])


def test_a_lazy_mapping_that_cannot_tell_dtypes_is_checked_as_it_is_read():
    """A derived state dict (a foreign layout's) answers shapes, not dtypes: its integer tensor is
    refused when read, and nothing is written."""
    lazy = DerivedStateDict({"w": lambda: np.arange(3), "b": lambda: np.zeros(3, np.float32)})
    tree = {"w": jnp.zeros(3), "b": jnp.zeros(3)}
    with pytest.raises(StateDictMismatchError, match=r"lazy: key 'w' holds int64 values, which cannot be weights"):
        apply_state_dict(tree, lazy, [("w", "w", identity), ("b", "b", identity)], source="lazy")


def test_an_integer_leaf_takes_an_integer_tensor():
    """The refusal is for floating-point leaves only."""
    out = apply_state_dict({"step": jnp.zeros((), jnp.int32)}, {"step": np.array(5, np.int64)}, [("step", "step", None)])
    assert int(out["step"]) == 5


@pytest.mark.torch
def test_pytorch_checkpoints_are_recognised_in_either_format_and_their_integer_weights_refused(tmp_path):
    """torch.save's legacy pickle (no extension) and its zip (named .bin) load; an int64 weight in
    one is refused with key and file named, as in any other format."""
    torch = pytest.importorskip("torch")
    sd = {k: torch.from_numpy(v) for k, v in tinynet_state_dict().items()}
    torch.save(sd, tmp_path / "weights", _use_new_zipfile_serialization=False)
    params, _ = zoo_core.create_pretrained(NAME, checkpoint_path=tmp_path / "weights")[1]()
    np.testing.assert_array_equal(params["fc"]["bias"], sd["fc.bias"].numpy())
    torch.save({**sd, "fc.bias": torch.arange(10)}, tmp_path / "w.bin")
    with pytest.raises(StateDictMismatchError, match=rf"{tmp_path / 'w.bin'} does not fit the model: 1 problem\n  key 'fc\.bias' holds int64"):
        zoo_core.create_pretrained(NAME, checkpoint_path=tmp_path / "w.bin")[1]()


@pytest.mark.parametrize("low_byte", [0x80, 0x50, 0x4B])
def test_a_safetensors_header_length_that_looks_like_another_format_is_still_safetensors(tmp_path, low_byte):
    """The first byte of a safetensors file is its header length's lowest: 0x80 (a pickle's first
    byte) in one file of 256, 'P'/'K' of a zip's magic too. Padding the header to such a length
    must not make it a PyTorch checkpoint."""
    import json
    import struct

    from zoo_core.convert import checkpoint_format

    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
    n = len(header)
    n += (low_byte - n) % 256
    data = struct.pack("<Q", n) + header.ljust(n).encode() + np.ones(2, np.float32).tobytes()
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    assert data[0] == low_byte
    assert checkpoint_format(path) == "safetensors"
