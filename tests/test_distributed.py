"""Many processes through ``jax.distributed``: two local CPU processes (a coordinator on 127.0.0.1)
embed and classify a dataset, each its own share, into one output directory equal to a one-process
run's; an interrupted process resumes its part alone; a data-parallel fine-tune step over both
processes' devices gives the params of one process running the whole global batch. Every launch
has a deadline, so a hung collective fails the test instead of hanging it."""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zoo_core.datasets import embed_dataset, predict_dataset
from zoo_core.distributed import process_range, process_shard
from zoo_core.errors import ArgumentError, InputError, OutputPathError, ZooError
from zoo_core.shards import read_embeddings, read_predictions

from tinynet_weights import tinynet_bytes

DEADLINE = 120  # seconds for one launch of every process

WORKER = textwrap.dedent("""
    import json, sys
    from zoo_core import distributed
    a = json.loads(sys.argv[1])
    if a["task"] == "cli":  # the command line starts jax.distributed itself
        from zoo_core.cli import main
        sys.exit(main([*a["argv"], "--coordinator-address", a["coordinator"], "--num-processes", str(a["processes"]),
                       "--process-id", str(a["process"])]))
    me = distributed.initialize(a["coordinator"], a["processes"], a["process"], initialization_timeout=60,
                                heartbeat_timeout_seconds=10, shutdown_timeout_seconds=3)
    assert distributed.initialize() == me == (a["process"], a["processes"])  # a second call: a no-op
    calls = []

    def on_batch(batch):
        calls.append(batch.start)
        if len(calls) == a.get("interrupt", {}).get(str(me[0])):
            raise KeyboardInterrupt

    if a["task"] == "dataset":
        from zoo_core.datasets import embed_dataset, predict_dataset
        r = embed_dataset("tinynet_s", [a["tree"]], a["out"] + "/e", on_batch=on_batch, **a["kwargs"])
        p = predict_dataset("tinynet_s", [a["tree"]], a["out"] + "/p", top_k=3, format="csv", **a["kwargs"])
        print(json.dumps({"calls": calls, "computed": r.computed, "inputs": r.inputs, "rows": r.rows,
                          "predicted": p.computed}))
    else:
        import jax, optax, zoo_core
        from zoo_core.parallel import data_parallel_train_step, replicate, shard_batch
        assert jax.device_count() == 2 * jax.local_device_count() == 4
        exec(a["setup"])  # model, loss_fn, params, state, images, labels: the same on every process
        optimizer = optax.sgd(0.1, momentum=0.9)
        step = data_parallel_train_step(loss_fn, optimizer)  # every process's devices
        params, state, opt_state = replicate((params, state, optimizer.init(params)), step.mesh)
        # this process's rows of the global batch (here: every process holds it all and takes its share)
        batch = shard_batch((distributed.process_shard(images), distributed.process_shard(labels)), step.mesh)
        for _ in range(2):
            params, state, opt_state, loss = step(params, state, opt_state, *batch)
        assert batch[0].shape == images.shape and len(batch[0].sharding.device_set) == 4
        leaves = jax.tree.leaves((params, state, loss))
        np.savez(f"{a['out']}/{me[0]}.npz", *[np.asarray(x.addressable_data(0)) for x in leaves])
    distributed.barrier("end", timeout=60)
""")

SETUP = textwrap.dedent("""
    import jax, numpy as np, optax, zoo_core
    model = zoo_core.create_model("tinynet_s")
    params, state = model.init(jax.random.key(0))
    rng = np.random.default_rng(0)
    images = rng.standard_normal((8, 12, 12, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 8)

    def loss_fn(params, state, images, labels):
        logits, state = model.apply(params, state, images, train=True)  # BatchNorm: the global batch's statistics
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), state
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(task: str, n: int = 2, *, devices: int = 1, **args) -> list[tuple[int, str, str]]:
    """Run the worker as processes 0..n-1 of one ``jax.distributed`` job; each one's exit code,
    stdout and stderr. Past ``DEADLINE`` every process is killed and the test fails."""
    coordinator = f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if "_proxy" not in k.lower()}  # gRPC would route 127.0.0.1 through one
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_COORDINATOR_BIND_ADDRESS=coordinator)  # loopback only, and no IPv6 needed
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, json.dumps({"task": task, "coordinator": coordinator,
                                                                          "processes": n, "process": i, **args})],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(n)]
    try:
        outputs = [p.communicate(timeout=DEADLINE) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail(f"the {n} processes did not finish within {DEADLINE} s")
    return [(p.returncode, *o) for p, o in zip(procs, outputs)]


def _ok(results) -> list[dict]:
    for code, out, err in results:
        assert code == 0, err[-3000:]
    return [json.loads(out.strip().splitlines()[-1]) for _, out, _ in results]


def test_process_range_splits_contiguously_and_evenly():
    assert [process_range(13, i, 2) for i in range(2)] == [(0, 7), (7, 13)]
    assert [process_range(2, i, 3) for i in range(3)] == [(0, 1), (1, 2), (2, 2)]
    items = list(range(10))
    assert sum((process_shard(items, i, 4) for i in range(4)), []) == items
    assert [len(process_shard(items, i, 4)) for i in range(4)] == [3, 3, 2, 2]
    assert process_shard(items) == items  # one process: everything
    with pytest.raises(ArgumentError, match="process_id=2"):
        process_range(5, 2, 2)


@pytest.fixture
def dataset(tmp_path):
    """13 inputs: 12 small PNGs and, last (in process 1's share of 7/6), a corrupt JPEG; tinynet
    weights as a local checkpoint."""
    from PIL import Image

    root = tmp_path / "data"
    (root / "z").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8)).save(root / f"{i:02d}.png")
    (root / "z" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    weights = tmp_path / "tinynet.safetensors"
    weights.write_bytes(tinynet_bytes())
    return root, {"batch_size": 2, "shard_size": 2, "checkpoint_path": str(weights)}


def test_two_processes_write_the_one_process_output_and_resume_their_own_part(dataset, tmp_path):
    tree, kwargs = dataset
    one_e = embed_dataset("tinynet_s", [tree], tmp_path / "one_e", **kwargs)
    one_p = predict_dataset("tinynet_s", [tree], tmp_path / "one_p", top_k=3, format="csv", **kwargs)
    assert (one_e.inputs, one_e.rows, one_e.skipped, one_p.rows) == (13, 12, 1, 12)
    args = {"tree": str(tree), "out": str(tmp_path / "many"), "kwargs": kwargs}

    # process 1 is interrupted at its third batch: its first shard is committed, the job dies
    (code0, _, _), (code1, _, err1) = launch("dataset", interrupt={"1": 3}, **args)
    assert code1 != 0 and "KeyboardInterrupt" in err1
    parts = tmp_path / "many" / "e"
    done = [json.loads((parts / f"process-0000{i}-of-00002" / "manifest.json").read_text()) for i in range(2)]
    assert (done[0]["complete"], done[0]["inputs_done"]) == (True, 7) and done[1]["inputs_done"] == 2
    assert not (parts / "manifest.json").exists()
    with pytest.raises(Exception, match="has not finished"):
        read_embeddings(parts)
    with pytest.raises(OutputPathError, match="unfinished run on 2 processes"):
        embed_dataset("tinynet_s", [tree], parts, **kwargs)  # one process cannot resume it

    # the same job again: process 0 computes nothing, process 1 only what it had not committed
    first, second = _ok(launch("dataset", **args))
    assert first["calls"] == [] and second["calls"] == [2, 4] and (first["computed"], second["computed"]) == (0, 3)
    assert first["inputs"] == second["inputs"] == 13 and first["rows"] == 12
    names, features = read_embeddings(parts)
    assert names == read_embeddings(one_e.out)[0]
    np.testing.assert_array_equal(features, read_embeddings(one_e.out)[1])  # bitwise: the same rows, same kernels
    assert (parts / "errors.jsonl").read_bytes() == (tmp_path / "one_e" / "errors.jsonl").read_bytes()
    assert read_predictions(tmp_path / "many" / "p") == read_predictions(one_p.out)
    assert ((tmp_path / "many" / "p" / "predictions.csv").read_bytes()
            == (tmp_path / "one_p" / "predictions.csv").read_bytes())  # one header, rows in order
    again = embed_dataset("tinynet_s", [tree], parts, **kwargs)  # complete: one process reads it as its own
    assert (again.computed, again.rows) == (0, 12)

    # the command line, with jax.distributed's names: JSON lines this time, the same rows
    argv = ["predict", "tinynet_s", str(tree), "--out", str(tmp_path / "cli"), "--top-k", "3", "--batch-size", "2",
            "--checkpoint", kwargs["checkpoint_path"], "--json"]
    results = launch("cli", argv=argv)
    assert [code for code, _, _ in results] == [0, 0], results[0][2][-3000:] + results[1][2][-3000:]
    summaries = [json.loads(out[out.index("{"):]) for _, out, _ in results]
    assert [(s["inputs"], s["rows"], s["skipped"], s["computed"]) for s in summaries] == [(13, 12, 1, 7), (13, 12, 1, 5)]
    assert read_predictions(tmp_path / "cli") == read_predictions(one_p.out)


def test_a_data_parallel_step_over_two_processes_equals_one_process(tmp_path):
    """Two processes of two CPU devices each, 4 rows each: params, BatchNorm state and loss after
    two SGD-momentum steps equal those of one device running the 8 rows."""
    import jax
    import optax

    namespace = {}
    exec(SETUP, namespace)
    loss_fn = namespace["loss_fn"]
    params, state, images, labels = (namespace[k] for k in ("params", "state", "images", "labels"))
    optimizer = optax.sgd(0.1, momentum=0.9)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, state, opt_state):
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    for _ in range(2):
        params, state, opt_state, loss = step(params, state, opt_state)
    expected = [np.asarray(x) for x in jax.tree.leaves((params, state, loss))]
    for code, _, err in launch("step", devices=2, out=str(tmp_path), setup=SETUP):
        assert code == 0, err[-3000:]
    for i in range(2):
        with np.load(tmp_path / f"{i}.npz") as f:
            got = [f[f"arr_{k}"] for k in range(len(f.files))]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            # not bitwise: float32 sums in another order (a partial sum on each of the 4 devices, then
            # across them, against 8 rows on one); measured at most 6e-8 apart
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_what_cannot_be_split_over_processes_is_refused_before_any_work(dataset, tmp_path, monkeypatch, capsys):
    import jax

    from zoo_core.cli import main
    from zoo_core.distributed import initialize

    tree, kwargs = dataset
    with pytest.raises(ArgumentError, match="process_id=2 is not allowed: expected an int < num_processes=2"):
        initialize("127.0.0.1:1", num_processes=2, process_id=2)
    jax.devices()  # the backend runs: too late to join a job
    with pytest.raises(ZooError, match="could not start.*before any JAX calls"):
        initialize("127.0.0.1:1", num_processes=2, process_id=1)
    assert main(["predict", "tinynet_s", str(tree), "--num-processes", "2"]) == ArgumentError.exit_code
    assert "--distributed splits an --out directory's job; give --out DIR" in capsys.readouterr()[1]
    with pytest.raises(KeyboardInterrupt):  # an unfinished run on one process
        embed_dataset("tinynet_s", [tree], tmp_path / "one", on_batch=lambda b: b.start and (_ for _ in ()).throw(
            KeyboardInterrupt), **kwargs)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    with pytest.raises(InputError, match="cannot be split over processes"):
        embed_dataset("tinynet_s", [], tmp_path / "out", lists=["-"], **kwargs)
    with pytest.raises(OutputPathError, match="holds an unfinished run on one process"):
        embed_dataset("tinynet_s", [tree], tmp_path / "one", **kwargs)


def test_the_training_docs_show_the_step_this_file_runs():
    """The many-process snippet of docs/training.md is lines of ``WORKER``, which the step test runs."""
    from pathlib import Path

    docs = (Path(__file__).parents[1] / "docs" / "training.md").read_text()
    [block] = re.findall(r"```python3\n(.*?)```", docs, flags=re.S)
    assert "data_parallel_train_step" in block and textwrap.indent(block, "    ") in WORKER
