"""Data-parallel training (xpnet.distributed): N processes train the same model as one.

The MPI tests launch `mpiexec -n 2` and `-n 3` as subprocesses with timeouts (tests/mpi_worker.py;
MPICH oversubscribes these 2 cores without flags), never pytest under mpiexec, and compare with
runs in this process: a one-process simulation of the N shards (threads, ranks added in order)
and one process training on the global batch. Cases: tests/distributed_cases.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import distributed_cases as cases
import numpy as np
import pytest

import xpnet
from helpers import SRC, run_cli
from xpnet import distributed

HERE = Path(__file__).resolve().parent
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
needs_mpi4py = pytest.mark.skipif(not HAVE_MPI4PY, reason="no mpi4py (pip install 'xpnet[mpi]')")
needs_mpiexec = pytest.mark.skipif(
    MPIEXEC is None or not HAVE_MPI4PY, reason="no mpiexec or mpi4py (pip install 'xpnet[mpi]')"
)
ENV = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + str(HERE), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
TOL = {"float64": 1e-12, "float32": 1e-5}


def mpiexec(n, *args, timeout=120):
    return subprocess.run(
        [MPIEXEC, "-n", str(n), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV
    )


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """Both launches (N=2 writes a checkpoint after 2 epochs, N=3 resumes it to 4): {N: ranks}."""
    root = tmp_path_factory.mktemp("mpi")
    ranks = {}
    for n in (2, 3):
        out = root / str(n)
        out.mkdir()
        proc = mpiexec(n, sys.executable, HERE / "mpi_worker.py", "equal", out, root / "ckpt")
        assert proc.returncode == 0, proc.stderr[-3000:]
        ranks[n] = [
            (dict(np.load(out / f"rank{r}.npz")), json.loads((out / f"rank{r}.json").read_text())) for r in range(n)
        ]
    return ranks


def _case(arrays, key):
    prefix = f"{key}/"
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def one_process():
    return {name: cases.train(name) for name in cases.CASES}


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", list(cases.CASES))
def test_ordered_reduction_equals_a_simulation_of_the_shards_bit_for_bit(launched, n, name):
    # "ordered" gathers and adds in rank order; on one machine "sum" takes the shared-memory
    # window (shm.py), which adds in rank order too
    simulated = distributed.simulate(n, lambda comm: cases.train(name, comm=comm))
    for variant in ("ordered", "sum"):
        for r, (arrays, info) in enumerate(launched[n]):
            got = _case(arrays, f"{name}/{variant}")
            want, history, path = simulated[r]
            assert got.keys() == want.keys()
            for k in want:
                np.testing.assert_array_equal(got[k], want[k], err_msg=f"{variant} rank {r} {k}")
            assert info[f"{name}/{variant}"]["history"] == history
            assert info[f"{name}/{variant}"]["path"] == path == ("numpy" if name.startswith("fast") else "generic")
            assert info[f"{name}/{variant}"]["shared_memory"] is (variant == "sum")


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", list(cases.CASES))
def test_n_ranks_equal_one_process_on_the_global_batch(launched, one_process, n, name):
    # MPI's own allreduce (shared memory off): its order of the sum is MPICH's
    tol = TOL[cases.CASES[name][0]["dtype"]]
    want, history, _ = one_process[name]
    assert launched[n][0][1][f"{name}/mpi"]["shared_memory"] is False
    first = _case(launched[n][0][0], f"{name}/mpi")
    for k in want:  # relative to each tensor's largest value
        scale = max(1.0, float(np.max(np.abs(want[k]))))
        np.testing.assert_allclose(first[k], want[k], rtol=0, atol=tol * scale, err_msg=k)
    got = launched[n][0][1][f"{name}/mpi"]["history"]
    assert got.keys() == history.keys() and {"loss", "val_loss", "accuracy"} <= set(got)
    for k in history:
        np.testing.assert_allclose(got[k], history[k], rtol=10 * tol, atol=0, err_msg=k)
    for r, (arrays, info) in enumerate(launched[n][1:], 1):  # every rank holds rank 0's model and logs
        for k, v in _case(arrays, f"{name}/mpi").items():
            np.testing.assert_array_equal(v, first[k], err_msg=f"rank {r} {k}")
        assert info[f"{name}/mpi"]["history"] == got


@needs_mpiexec
def test_one_allreduce_of_the_gradient_per_step(launched):
    steps = cases.EPOCHS * -(-72 // cases.BATCH)  # 72 training rows after the 25% split
    n_params = 6 * 16 + 16 + 16 * 3 + 3
    info = launched[2][0][1]
    for variant in ("sum", "mpi", "ordered"):
        assert info[f"fast_f64/{variant}"]["allreduces"] == {str(n_params): steps}
        # "sum" on one machine: every allreduce through the shared-memory window
        assert info[f"fast_f64/{variant}"]["shm_calls"] == (steps if variant == "sum" else 0)
        # batch norm: its three sums over the global batch per step (16 features: two forward, one backward)
        bn = info[f"bn_dropout_f64/{variant}"]["allreduces"]
        assert bn == {str(n_params + 2 * 16): steps, "16": 2 * steps, "32": steps}


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
def test_ranks_with_other_data_or_options_are_refused_naming_the_rank(launched, n):
    for _, info in launched[n]:
        assert info["refused_data"].startswith(f"rank {n - 1} of {n}: its data (sha256")
        assert info["refused_options"].startswith(
            f"rank {n - 1} of {n}: its options differ from rank 0's (at trainer.seed: 1 vs 0)"
        )


@needs_mpiexec
def test_resume_on_another_number_of_processes(launched):
    # 2 epochs on 2 ranks, checkpointed by rank 0; resumed on 3 ranks to 4 epochs: one process's 4 epochs
    want, _, _ = cases.train(cases.RESUME_CASE, epochs=4)
    for arrays, _ in launched[3]:
        got = _case(arrays, "resume")
        for k in want:
            np.testing.assert_allclose(
                got[k], want[k], rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(want[k]))), err_msg=k
            )


@needs_mpiexec
@pytest.mark.parametrize("how", ["raise", "kill", "interrupt"])
def test_a_failing_rank_ends_the_job(how):
    start = time.monotonic()
    proc = mpiexec(2, sys.executable, HERE / "mpi_worker.py", how, timeout=60)
    assert proc.returncode != 0
    assert time.monotonic() - start < 30
    if how == "raise":
        assert "xpnet: rank 1 of 2 failed: RuntimeError: a planted failure" in proc.stderr


# --- the command line ---------------------------------------------------------------------------

TRAIN = ["-m", "xpnet", "train", "--dataset", "iris", "--layers", "8", "--dtype", "float64"]
TRAIN += ["--batchnorm", "--dropout", "0.1", "--optimizer", "momentum", "--batch-size", "16", "--json"]


def _assert_models_close(one, many):
    a, b = np.load(one / "model.npz"), np.load(many / "model.npz")
    floats = [k for k in a.files if a[k].dtype.kind == "f"]
    assert any(k.startswith("params/") for k in floats)
    for k in floats:
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-12, err_msg=k)


@needs_mpiexec
def test_cli_on_two_ranks_equals_one_process_and_resumes_on_three(tmp_path):
    # 2 epochs on 2 ranks (rank 0 checkpoints), resumed on 3 ranks to 4: one process's runs to 1e-12
    two, one = tmp_path / "two", tmp_path / "one"
    proc = mpiexec(2, sys.executable, *TRAIN, "--epochs", "2", "--checkpoint-every", "1", "--distributed", "--out", two)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["processes"] == 2  # rank 0 alone prints
    assert proc.stderr.count("epoch 2/2") == 1  # and shows progress
    first = proc.stderr.splitlines()[0]  # the model line, once, saying how the ranks sum
    assert first.startswith("model: ") and first.endswith("; 2 processes, gradients summed through the host by MPI")
    assert (two / "checkpoint.npz").is_file()
    alone = run_cli(*TRAIN[2:], "--epochs", "2", "--checkpoint-every", "1", "--out", one, env={"OMP_NUM_THREADS": "1"})
    assert alone.returncode == 0, alone.stderr
    _assert_models_close(one, two)
    proc = mpiexec(3, sys.executable, *TRAIN, "--epochs", "4", "--distributed", "--resume", two)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1
    alone = run_cli(*TRAIN[2:], "--epochs", "4", "--resume", one, env={"OMP_NUM_THREADS": "1"})  # exact resume
    assert alone.returncode == 0, alone.stderr
    _assert_models_close(one, two)


@needs_mpi4py
def test_cli_distributed_outside_mpiexec_says_how_to_launch(tmp_path):
    env = {k: v for k, v in ENV.items() if k not in distributed._LAUNCHER_VARS}  # as if not under mpiexec or srun
    args = [sys.executable, "-m", "xpnet", "train", "--dataset", "xor", "--distributed", "--out", str(tmp_path / "o")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "xpnet: error: --distributed: this process was not started by mpiexec; start N processes with an "
        "MPI launcher: mpiexec -n N xpnet train ... --distributed"
    ]
    assert not (tmp_path / "o").exists()


def test_cli_distributed_without_mpi4py_names_the_extra(tmp_path):
    code = "import sys; sys.modules['mpi4py'] = None; from xpnet.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "train", "--dataset", "xor", "--distributed", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "xpnet: error: --distributed needs mpi4py and an MPI library: pip install 'xpnet[mpi]' "
        "(mpi4py and the mpich wheel)"
    )


@needs_mpiexec
def test_cli_refusals_on_several_ranks(tmp_path):
    # a global batch smaller than the number of processes
    proc = mpiexec(3, sys.executable, "-m", "xpnet", "train", "--dataset", "xor", "--batch-size", "2", "--distributed")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "xpnet: error: --batch-size: 2 makes a global batch of 2 row(s) from 4 samples, fewer than the 3 processes; "
        "each process needs at least one row of every batch: choose a batch size (and data size) with at least "
        "that many rows per batch"
    ]
    base = [sys.executable, "-m", "xpnet", "train", "--dataset", "xor", "--distributed"]  # progress on: still one line
    # rank 1 started with another option; then rank 1 failing alone before training (a bad --layers)
    for other, message in [
        (["--seed", "1"], "xpnet: error: rank 1 of 2: its options differ from rank 0's (at command.seed: 1 vs 0)"),
        (["--layers", "x"], "xpnet: error: rank 1 of 2: --layers: expected comma-separated positive integers"),
    ]:
        out = tmp_path / other[0].strip("-")
        args = [MPIEXEC, "-n", "1", *base, "--out", str(out), ":", "-n", "1", *base, "--out", str(out), *other]
        proc = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=120, env=ENV)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
        assert not out.exists()


# --- in this process: the simulation on every backend, and the pieces -------------------------------


def test_simulated_ranks_equal_one_process_on_every_backend(backend):
    # the host-staged allreduce and batch-norm sums of torch and array-api-strict arrays
    want, history, _ = cases.train("bn_dropout_f64", backend=backend, epochs=2)
    for got, got_history, _ in distributed.simulate(
        3, lambda c: cases.train("bn_dropout_f64", comm=c, backend=backend, epochs=2)
    ):
        for k in want:
            np.testing.assert_allclose(
                got[k], want[k], rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(want[k]))), err_msg=k
            )
        np.testing.assert_allclose(got_history["loss"], history["loss"], rtol=1e-12)


def test_shards_cover_every_row_of_a_batch_once():
    for n in (1, 2, 3, 7):
        for start, stop in [(0, 7), (32, 64), (10, 17)]:
            shards = [distributed.shard_rows(start, stop, r, n) for r in range(n)]
            rows = [i for s in shards for i in range(s.start, s.stop)]
            assert rows == list(range(start, stop))
            assert max(s.stop - s.start for s in shards) - min(s.stop - s.start for s in shards) <= 1
            assert all(s.first == start and s.rows == stop - start for s in shards)


def test_a_rank_raising_in_the_simulation_stops_the_others():
    def fn(comm):
        if comm.rank == 1:
            raise ValueError("boom")
        return cases.train("fast_f64", comm=comm)

    with pytest.raises(ValueError, match="boom"):
        distributed.simulate(2, fn)


def test_the_step_takes_the_global_batch_and_steps_on_its_rows():
    # make_train_step(comm=...) with the whole global batch on every rank: each slices its rows
    X, y = cases.data()
    Y = np.eye(3)[y]

    def run(comm):
        model = xpnet.mlp([6, 16, 3], dtype="float64", backend="numpy", seed=0)
        step = xpnet.make_train_step(model, xpnet.losses.MSE(), xpnet.optim.sgd(0.1), comm=comm)
        state = step.init_state()
        for _ in range(3):
            _, out, state = step(X, Y, state)
        return out.shape[0], {k: np.array(v) for k, v in model.params.items()}

    (rows_one, want) = run(None)
    got = distributed.simulate(3, run)
    assert rows_one == 96 and [g[0] for g in got] == [32, 32, 32]
    for _, params in got:
        for k in want:
            np.testing.assert_allclose(params[k], want[k], rtol=0, atol=1e-14, err_msg=k)


def test_the_step_refuses_a_global_batch_smaller_than_the_ranks():
    def run(comm):
        model = xpnet.mlp([6, 4, 3], dtype="float64", backend="numpy", seed=0)
        step = xpnet.make_train_step(model, xpnet.losses.MSE(), xpnet.optim.sgd(0.1), comm=comm)
        step(np.ones((2, 6)), np.ones((2, 3)), step.init_state())

    with pytest.raises(distributed.DistributedError, match="a global batch of 2 row"):
        distributed.simulate(3, run)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow that the guard reports
def test_every_rank_stops_at_the_same_divergence():
    X, y = cases.data()

    def run(comm):
        model = xpnet.mlp([6, 16, 3], dtype="float64", backend="numpy", seed=0)
        try:
            xpnet.fit(model, X, y, optimizer=xpnet.optim.sgd(1e200), batch_size=16, epochs=3, comm=comm)
        except xpnet.errors.DivergenceError as exc:
            return exc.epoch, exc.step, len(exc.history.epoch)
        return None

    results = distributed.simulate(3, run)
    assert results[0] is not None and results == [results[0]] * 3


def test_early_stopping_stops_every_rank_at_the_same_epoch():
    # patience reads the combined validation loss: every rank stops and restores alike, as one process
    X, y = cases.data()

    def run(comm=None):
        model = xpnet.mlp([6, 16, 3], dtype="float64", backend="numpy", seed=0)
        h = xpnet.fit(
            model, X, y, optimizer=xpnet.optim.adam(0.3), batch_size=16, epochs=40, patience=1,
            validation_split=0.25, comm=comm,
        )  # fmt: skip
        return len(h.epoch), h.best_epoch, {k: np.array(v) for k, v in model.params.items()}

    epochs, best, want = run()
    assert epochs < 40  # it did stop early
    for got_epochs, got_best, params in distributed.simulate(2, run):
        assert (got_epochs, got_best) == (epochs, best)
        for k in want:
            np.testing.assert_allclose(params[k], want[k], rtol=0, atol=1e-12, err_msg=k)


def test_sample_weights_and_mixed_precision_are_refused_with_a_communicator():
    X, y = cases.data()

    def weighted(comm):
        model = xpnet.mlp([6, 4, 3], dtype="float64", backend="numpy", seed=0)
        xpnet.fit(model, X, y, batch_size=16, epochs=1, sample_weight=np.ones(len(y)), comm=comm)

    with pytest.raises(distributed.DistributedError, match="sample_weight: not supported in distributed training"):
        distributed.simulate(2, weighted)

    def mixed(comm):
        model = xpnet.mlp([6, 4, 3], dtype="float32", backend="torch", seed=0)
        xpnet.fit(model, X, y, batch_size=16, epochs=1, precision="mixed-bf16", comm=comm)

    pytest.importorskip("torch")
    with pytest.raises(xpnet.errors.ConfigError, match="precision: mixed precision is not supported"):
        distributed.simulate(2, mixed)


def test_bad_reduction_is_refused():
    with pytest.raises(xpnet.errors.ConfigError, match="reduction: expected one of sum, ordered, got 'max'"):
        distributed.Communicator("max")


@needs_mpiexec
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cli_divergence_on_two_ranks_is_one_line_and_saves_the_model(tmp_path):
    args = ["-m", "xpnet", "train", "--dataset", "iris", "--layers", "8", "--epochs", "5", "--optimizer", "sgd"]
    proc = mpiexec(2, sys.executable, *args, "--lr", "1e30", "--distributed", "--quiet", "--out", tmp_path / "d")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xpnet: error: training diverged at epoch 1"), proc.stderr
    assert (tmp_path / "d" / "model.npz").is_file()  # rank 0 saved the last finite model


def test_the_step_refuses_sample_weights_with_a_communicator():
    # the step itself, not only fit: weighted batches are not split across ranks yet
    def run(comm):
        model = xpnet.mlp([6, 4, 3], dtype="float64", backend="numpy", seed=0)
        step = xpnet.make_train_step(model, xpnet.losses.MSE(), xpnet.optim.sgd(0.1), comm=comm)
        step(np.ones((4, 6)), np.ones((4, 3)), step.init_state(), weights=np.ones(4))

    with pytest.raises(xpnet.errors.ConfigError, match="weights: sample weights are not supported in distributed"):
        distributed.simulate(2, run)
