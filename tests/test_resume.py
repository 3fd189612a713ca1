"""Training checkpoints and exact resume: a run killed at any moment (SIGKILL mid-epoch, or in the
middle of writing a checkpoint; the library or `xpnet train`) and resumed ends with the same bits as
an uninterrupted run, on every backend. What is refused is in test_resume_refusals.py."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import xpnet
from helpers import SRC, host
from train_helpers import assert_same_weights, blobs, weights
from xpnet.errors import CheckpointError, ConfigError
from xpnet.training.checkpoints import CheckpointCallback, read_checkpoint, restore_checkpoint, resume_training

TESTS = Path(__file__).resolve().parent
EPOCHS = 6
OPTIMIZER = {"name": "adam", "lr": 0.01}


def make_run(
    backend="numpy", dtype="float64", *, seed=1, callbacks=(), batch_size=8, optimizer=OPTIMIZER, device_rng=False
):
    """Mini-batches, dropout, batch norm and Adam: every random stream and optimizer state in play."""
    layers = [
        xpnet.Dense(4, 16, bias=False),
        xpnet.BatchNorm(16),
        xpnet.ReLU(),
        xpnet.Dropout(0.25),
        xpnet.Dense(16, 3),
    ]
    model = xpnet.Sequential(layers, seed=seed, backend=backend, dtype=dtype)
    return xpnet.Trainer(
        model,
        optimizer=xpnet.get_optimizer(**optimizer),
        batch_size=batch_size,
        seed=5,
        patience=50,
        callbacks=list(callbacks),
        device_rng=device_rng,
    )


def fit(trainer, X, y, epochs=EPOCHS):
    return trainer.fit(X, y, epochs=epochs, validation_split=0.2)


def assert_same_run(a, b):
    """Same weights, optimizer state, random streams and history, bit for bit."""
    assert_same_weights(weights(a.model), weights(b.model))
    sa, sb = a.state_dict(), b.state_dict()
    la, lb = xpnet.tree_flatten(sa["opt_state"])[0], xpnet.tree_flatten(sb["opt_state"])[0]
    assert la.keys() == lb.keys()
    for k in la:
        np.testing.assert_array_equal(host(la[k]), host(lb[k]), err_msg=k)
    for k in ("epoch", "step", "shuffle_rng", "dropout_rng", "history", "best", "wait"):
        assert sa[k] == sb[k], k


class AtBatch(xpnet.Callback):
    """Calls `action()` after batch `batch` of epoch `epoch`."""

    def __init__(self, epoch, batch, action):
        self.epoch, self.batch, self.action, self.current = epoch, batch, action, None

    def on_epoch_begin(self, epoch):
        self.current = epoch

    def on_batch_end(self, step, n_batches):
        if (self.current, step) == (self.epoch, self.batch):
            self.action()


def _raise_interrupt():
    raise KeyboardInterrupt


def interrupt_at(epoch, batch):
    """An in-process crash mid-epoch."""
    return AtBatch(epoch, batch, _raise_interrupt)


# --- a real crash: SIGKILL in a subprocess ----------------------------------------------------


def child(directory, mode):
    """The training process the tests kill: checkpoints every epoch into `directory`."""
    X, y = blobs(n=200, n_features=4)
    callbacks = [CheckpointCallback(directory, every=1, config={"optimizer": OPTIMIZER})]
    if mode == "pause":

        def pause():  # announce being mid-epoch (a checkpoint exists), then wait to be killed
            print("PAUSED 3 7", flush=True)
            time.sleep(120)

        callbacks.append(AtBatch(3, 7, pause))
    else:  # die inside the 4th checkpoint write: temp file written and synced, not yet renamed
        real, count = os.fsync, [0]

        def fsync(fd):
            real(fd)
            if stat.S_ISREG(os.fstat(fd).st_mode):  # the file's fsync, not the directory's
                count[0] += 1
                if count[0] == 4:
                    print("DYING IN SAVE", flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)

        os.fsync = fsync
    fit(make_run(callbacks=callbacks), X, y)


def _start_child(directory, mode):
    code = (
        f"import sys; sys.path[:0] = [{str(TESTS)!r}, {str(SRC)!r}]; import test_resume as t; "
        f"t.child({str(directory)!r}, {mode!r})"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    proc = _start_child(tmp_path, "pause")
    try:
        line = proc.stdout.readline()  # blocks until the child is paused mid-epoch (or dies)
        assert line.startswith("PAUSED 3 7"), (line, proc.stderr.read() if proc.poll() is not None else "")
        _, meta = read_checkpoint(tmp_path)
        assert meta["epoch"] == 3  # the end of epoch 2 is on disk; epoch 3 is half done
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    X, y = blobs(n=200, n_features=4)
    resumed = make_run(seed=99, callbacks=[CheckpointCallback(tmp_path, resume=True)])  # other init: replaced
    fit(resumed, X, y)
    straight = make_run()
    fit(straight, X, y)
    assert_same_run(resumed, straight)
    assert read_checkpoint(tmp_path)[1]["epoch"] == EPOCHS  # and it checkpointed on to the end


def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path):
    proc = _start_child(tmp_path, "save")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL and "DYING IN SAVE" in out, err
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "checkpoint.npz"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # the write that never finished
    assert read_checkpoint(tmp_path)[1]["epoch"] == 3  # the 3rd checkpoint, whole
    X, y = blobs(n=200, n_features=4)
    trainer = resume_training(tmp_path, X, y)  # model and optimizer rebuilt from the file
    straight = make_run()
    fit(straight, X, y)
    assert_same_run(trainer, straight)


# --- in process, on every backend ------------------------------------------------------------


@pytest.mark.parametrize("every", [1, 2])
def test_interrupted_and_resumed_equals_uninterrupted_on_every_backend(backend, tmp_path, every):
    X, y = blobs(n=60)
    interrupted = make_run(backend, callbacks=[CheckpointCallback(tmp_path, every), interrupt_at(epoch=3, batch=2)])
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, X, y)
    assert read_checkpoint(tmp_path)[1]["epoch"] == (3 if every == 1 else 2)  # epoch 3 never got saved
    resumed = make_run(backend, seed=7, callbacks=[CheckpointCallback(tmp_path, every, resume=True)])
    fit(resumed, X, y)
    straight = make_run(backend)
    fit(straight, X, y)
    assert_same_run(resumed, straight)


def test_resume_with_the_device_generator(backend, tmp_path):
    """device_rng draws shuffles and masks with torch's (or CuPy's) own generator: its state is
    saved too (torch), or checkpointing is refused up front (CuPy, whose state cannot be read)."""
    X, y = blobs(n=60)
    if backend.name not in ("torch", "cupy"):
        pytest.skip("no device generator on this backend")
    run = lambda **kw: make_run(backend, device_rng=True, **kw)  # noqa: E731
    if backend.name == "cupy":
        with pytest.raises(ConfigError, match="device_rng"):
            fit(run(callbacks=[CheckpointCallback(tmp_path)]), X, y)
        return
    with pytest.raises(KeyboardInterrupt):
        fit(run(callbacks=[CheckpointCallback(tmp_path), interrupt_at(epoch=2, batch=1)]), X, y)
    resumed = run(seed=7, callbacks=[CheckpointCallback(tmp_path, resume=True)])
    fit(resumed, X, y)
    straight = run()
    fit(straight, X, y)
    assert_same_run(resumed, straight)
    with pytest.raises(CheckpointError, match="device_rng differs"):
        fit(make_run(backend, callbacks=[CheckpointCallback(tmp_path, resume=True)]), X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resume_across_backends_starts_from_identical_values(backend, tmp_path, dtype):
    X, y = blobs(n=60)
    fit(make_run("numpy", dtype, callbacks=[CheckpointCallback(tmp_path)]), X, y, epochs=2)
    there = make_run(backend, dtype, seed=3)
    restore_checkpoint(there, tmp_path)
    here = make_run("numpy", dtype, seed=3)
    restore_checkpoint(here, tmp_path)
    assert_same_run(there, here)


def test_a_finished_or_early_stopped_run_resumes_to_the_same_end(tmp_path):
    X, y = blobs(n=60)
    straight = make_run(callbacks=[CheckpointCallback(tmp_path, every=4)])
    fit(straight, X, y)  # 6 epochs with every=4: the last epoch is saved all the same
    again = make_run(seed=4, callbacks=[CheckpointCallback(tmp_path, resume=True)])
    fit(again, X, y)
    assert again.state.step == straight.state.step and len(again.history.epoch) == EPOCHS
    assert_same_run(again, straight)

    model = xpnet.mlp([4, 8, 3], backend="numpy", dtype="float64")
    stop = dict(optimizer=xpnet.sgd(0.01), patience=1, min_delta=10.0, seed=0)  # stops after epoch 1
    early = xpnet.Trainer(model, callbacks=[CheckpointCallback(tmp_path / "s")], **stop).fit(X, y, epochs=20)
    assert early.stopped_early and len(early.epoch) == 2
    later = xpnet.Trainer(
        xpnet.mlp([4, 8, 3], backend="numpy", dtype="float64"),
        **stop,
        callbacks=[CheckpointCallback(tmp_path / "s", resume=True)],
    ).fit(X, y, epochs=20)
    assert later.as_dict() == early.as_dict()  # over: no further epochs


# --- the command line: xpnet train --checkpoint-every N, killed, then --resume DIR -------------

CLI_RUN = (
    "train",
    "--dataset",
    "digits",
    "--layers",
    "32",
    "--epochs",
    "12",
    "--batch-size",
    "4",
    "--dropout",
    "0.2",
    "--optimizer",
    "adam",
    "--dtype",
    "float64",
    "--backend",
    "numpy",
    "--quiet",
)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _model_file(directory):
    from xpnet.io.model_file import load_arrays

    return load_arrays(directory / "model.npz")[0]


def test_cli_killed_mid_run_resumes_to_the_uninterrupted_model(tmp_path):
    from helpers import run_cli

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "xpnet", *CLI_RUN, "--checkpoint-every", "1", "--out", str(killed)],
        env=dict(os.environ, PYTHONPATH=str(SRC), **ONE_THREAD),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoint.npz").exists():  # an epoch is ~0.2 s: the kill lands mid-run
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        time.sleep(0.25)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert not (killed / "model.npz").exists()  # it died before the end
    assert read_checkpoint(killed)[1]["epoch"] < 12

    r = run_cli(*CLI_RUN, "--resume", killed, env=ONE_THREAD)
    assert r.returncode == 0, r.stderr
    straight = tmp_path / "straight"
    r = run_cli(*CLI_RUN, "--out", straight, env=ONE_THREAD)
    assert r.returncode == 0, r.stderr
    a, b = _model_file(killed), _model_file(straight)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert (killed / "history.json").read_text() == (straight / "history.json").read_text()
    assert {p.name for p in killed.iterdir()} == {p.name for p in straight.iterdir()} | {"checkpoint.npz"}
