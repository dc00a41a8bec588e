"""Dataset-scale ``embed`` / ``predict``: inputs from directories, globs and list files, a streamed
pipeline with bounded memory, shards written as they are computed, resumed after an interruption
without recomputing them, bad images skipped and reported; results equal to the one-shot ``embed``
and ``predict``. tinynet at 32 px on weights made here (no network)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from zoo_core.cli import main
from zoo_core.datasets import embed_dataset, predict_dataset
from zoo_core.errors import InputError, ZooError
from zoo_core.inputs import count_images, iter_images
from zoo_core.pipeline import Stats, decode_batches, run
from zoo_core.predict import embed, predict
from zoo_core.shards import read_embeddings

from tinynet_weights import tinynet_bytes

EXAMPLES = sorted((Path(__file__).parents[1] / "examples" / "images").glob("*.jpg"))


@pytest.fixture
def weights(hub):
    hub.add_file("zoo-test/tinynet_s.zoo_in1k", "model.safetensors", tinynet_bytes())


@pytest.fixture
def tree(tmp_path):
    """11 images in nested folders (the examples, copied, and small PNGs), a corrupt one, a text
    file and a hidden folder (both not images), in a known sorted depth-first order."""
    from PIL import Image

    root = tmp_path / "data"
    (root / "a" / "deep").mkdir(parents=True)
    (root / "b").mkdir()
    (root / ".hidden").mkdir()
    for i, src in enumerate(EXAMPLES):
        shutil.copy(src, root / "a" / f"{i}.jpg")
    rng = np.random.default_rng(0)
    for i in range(8):
        where = root / ("b" if i % 2 else "a/deep")
        Image.fromarray(rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)).save(where / f"p{i}.PNG")
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "b" / "notes.txt").write_text("not an image")
    shutil.copy(EXAMPLES[0], root / ".hidden" / "x.jpg")
    return root


def test_inputs_walk_directories_globs_and_list_files_in_a_stable_order(tree, tmp_path):
    found = list(iter_images([tree]))
    rel = [str(Path(p).relative_to(tree)) for p in found]
    assert rel == ["a/0.jpg", "a/1.jpg", "a/2.jpg", "a/deep/p0.PNG", "a/deep/p2.PNG", "a/deep/p4.PNG",
                   "a/deep/p6.PNG", "b/broken.jpg", "b/p1.PNG", "b/p3.PNG", "b/p5.PNG", "b/p7.PNG"]
    assert list(iter_images([f"{tree}/**/*.PNG"])) == [p for p in found if p.endswith(".PNG")]
    assert list(iter_images([f"{tree}/a/*.jpg", str(tree / "b" / "p1.PNG")])) == [*found[:3], found[8]]
    listing = tree / "list.txt"
    listing.write_text(f"# a comment\na/0.jpg\n\n{found[-1]}\n")
    assert list(iter_images([], [str(listing)])) == [str(tree / "a" / "0.jpg"), found[-1]]
    assert count_images([tree], [str(listing)]) == len(found) + 2 and count_images([], ["-"]) is None


def test_the_pipeline_holds_at_most_prefetch_plus_one_batches_and_reads_paths_lazily(tree):
    """A fake model sees each batch; at every call the pipeline has read no more paths than the
    batches consumed plus those it may prefetch, whatever the length of the input."""
    from zoo_core.data import resolve_data_config

    paths = (str(p) for _ in range(1000) for p in EXAMPLES)  # 3000 paths, never collected
    stats, calls = Stats(), []

    def apply(params, state, x):
        calls.append(stats.paths_read)
        assert stats.peak_held <= 3  # prefetch 2, plus the batch being handed on
        return x.mean(axis=(1, 2))

    batches = decode_batches(paths, resolve_data_config("tinynet_s"), batch_size=4, prefetch=2, stats=stats)
    for i, batch in enumerate(run(apply, None, None, batches, stats=stats)):
        assert batch.outputs.shape == (4, 3) and stats.paths_read <= (i + 4) * 4
        if i == 5:
            break
    assert calls == [8, 12, 16, 20, 24, 28, 32][:len(calls)] and stats.peak_held <= 3


def test_embed_dataset_writes_shards_equal_to_embed_and_skips_bad_images(weights, tree, tmp_path):
    out = tmp_path / "out"
    r = embed_dataset("tinynet_s", [tree], out, batch_size=2, shard_size=4)
    good = [p for p in iter_images([tree]) if "broken" not in p]
    names, features = read_embeddings(out)
    assert (r.inputs, r.rows, r.skipped, r.computed) == (12, 11, 1, 11) and names == good
    np.testing.assert_allclose(features, embed("tinynet_s", good), rtol=1e-6, atol=1e-6)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and [s["inputs"] for s in manifest["shards"]] == [4, 4, 4]
    [error] = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert error["path"].endswith("broken.jpg") and "cannot read image" in error["reason"]
    with pytest.raises(InputError, match="broken.jpg"):  # the one-shot form stops at it
        embed("tinynet_s", [str(tree / "b" / "broken.jpg")])


def test_a_rerun_after_an_interruption_recomputes_nothing_written(weights, tree, tmp_path):
    out, calls = tmp_path / "out", []

    def interrupt(batch):
        calls.append(batch.start)
        if len(calls) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_dataset("tinynet_s", [tree], out, batch_size=2, shard_size=4, on_batch=interrupt)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs_done"] == 4 and not manifest["complete"]  # batches 3 and 4: computed, not committed
    with open(out / "errors.jsonl", "a") as f:
        f.write("a line written after the last commit\n")
    calls.clear()
    r = embed_dataset("tinynet_s", [tree], out, batch_size=2, shard_size=4, on_batch=calls.append)
    assert [b.start for b in calls] == [4, 6, 8, 10] and r.computed == 7 and r.rows == 11
    names, features = read_embeddings(out)
    fresh = embed_dataset("tinynet_s", [tree], tmp_path / "fresh", batch_size=2, shard_size=4)
    assert names == read_embeddings(fresh.out)[0] and len((out / "errors.jsonl").read_text().splitlines()) == 1
    np.testing.assert_array_equal(features, read_embeddings(fresh.out)[1])
    again = embed_dataset("tinynet_s", [tree], out, batch_size=2, on_batch=calls.append)
    assert again.computed == 0 and len(calls) == 4  # complete: nothing run, no model loaded
    with pytest.raises(ZooError, match="holds another job's output"):
        embed_dataset("tinynet_s", [tree / "a"], out)


def test_a_rerun_over_changed_inputs_is_refused(weights, tree, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        embed_dataset("tinynet_s", [tree], out, batch_size=2, shard_size=2,
                      on_batch=lambda b: b.start >= 4 and (_ for _ in ()).throw(KeyboardInterrupt))
    (tree / "a" / "00.jpg").write_bytes((tree / "a" / "0.jpg").read_bytes())
    with pytest.raises(ZooError, match="the inputs are not those of the run that wrote shard 0"):
        embed_dataset("tinynet_s", [tree], out, batch_size=2, shard_size=2)
    assert embed_dataset("tinynet_s", [tree], out, batch_size=2, overwrite=True).rows == 12


def test_predict_dataset_rows_equal_predict_as_jsonl_and_csv(weights, tree, tmp_path):
    good = [p for p in iter_images([tree]) if "broken" not in p]
    expected = predict("tinynet_s", good, top_k=3)
    r = predict_dataset("tinynet_s", [tree], tmp_path / "j", top_k=3, batch_size=4, shard_size=4)
    rows = [json.loads(line) for line in (tmp_path / "j" / "predictions.jsonl").read_text().splitlines()]
    assert r.rows == 11 and [row["image"] for row in rows] == good
    for row, e in zip(rows, expected):
        assert [t["index"] for t in row["top"]] == [i for i, _, _ in e.top]
        np.testing.assert_allclose([t["probability"] for t in row["top"]], [p for _, _, p in e.top], rtol=1e-5)
    predict_dataset("tinynet_s", [tree], tmp_path / "c", top_k=3, format="csv", batch_size=4)
    lines = (tmp_path / "c" / "predictions.csv").read_text().splitlines()
    assert lines[0] == "image,index_1,label_1,probability_1,index_2,label_2,probability_2,index_3,label_3,probability_3"
    assert len(lines) == 12 and lines[1].split(",")[:3] == [good[0], str(expected[0].top[0][0]), expected[0].top[0][1]]


def test_the_cli_embeds_and_predicts_a_directory_a_glob_and_a_list_into_out_dirs(weights, tree, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in EXAMPLES))
    code = main(["embed", "tinynet_s", str(tree / "b"), f"{tree}/a/*.jpg", "--list", str(listing),
                 "--out", str(tmp_path / "e"), "--batch-size", "2", "--json"])
    out, err = capsys.readouterr()
    done = json.loads(out)
    assert code == 0 and done["shape"] == [10, 16] and done["skipped"] == 1 and done["inputs"] == 11
    assert "1 image(s) skipped, reasons in" in err and "it/s" not in err  # no progress bar in a pipe
    names, features = read_embeddings(tmp_path / "e")
    np.testing.assert_allclose(features, embed("tinynet_s", names), rtol=1e-6, atol=1e-6)
    code = main(["predict", "tinynet_s", str(tree), "--out", str(tmp_path / "p"), "--progress"])
    out, err = capsys.readouterr()
    assert code == 0 and "11 predictions of 12 images (11 computed now, 1 skipped)" in out and "img/s" in err
    code = main(["predict", "tinynet_s", str(tree), "--out", str(tmp_path / "p")])  # the same command again
    assert code == 0 and "11 predictions of 12 images (0 computed now, 1 skipped)" in capsys.readouterr()[0]
    code = main(["predict", "tinynet_s", "--list", str(listing), "--top-k", "1", "--json"])
    assert code == 0 and [r["image"] for r in json.loads(capsys.readouterr()[0])] == [str(p) for p in EXAMPLES]
    assert main(["predict", "tinynet_s"]) == InputError.exit_code
    assert "give images, directories, glob patterns or --list FILE" in capsys.readouterr()[1]


def test_two_devices_give_the_one_device_shards(weights, tree, tmp_path):
    """With two local devices each batch is split over both (the batch size rounded up to even);
    the shards equal the one-device run's."""
    import os
    import subprocess
    import sys

    one = embed_dataset("tinynet_s", [tree], tmp_path / "one", batch_size=3)
    code = (f"import jax; from zoo_core.datasets import embed_dataset; assert jax.local_device_count() == 2; "
            f"r = embed_dataset('tinynet_s', [{str(tree)!r}], {str(tmp_path / 'two')!r}, batch_size=3, shard_size=4); "
            f"print(r.stats.model_calls)")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["3"]  # 12 inputs in batches of 4
    names, features = read_embeddings(tmp_path / "two")
    assert names == read_embeddings(one.out)[0]
    np.testing.assert_allclose(features, read_embeddings(one.out)[1], rtol=1e-5, atol=1e-5)
