"""Training checkpoints and exact resume: a run killed at any moment (SIGKILL mid-epoch, or in the
middle of writing a checkpoint) and resumed ends with the same bits as an uninterrupted run; every
setting that would change the numbers is checked when resuming; bad checkpoint files are refused
with one-line CheckpointErrors and never run code."""

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
from xpnet.errors import CheckpointError, ConfigError, DataError
from xpnet.resume import CheckpointCallback, read_checkpoint, restore_checkpoint, resume_training

from helpers import SRC, host
from test_checkpoint import _rewrite
from train_helpers import assert_same_weights, blobs, weights

TESTS = Path(__file__).resolve().parent
EPOCHS = 6
OPTIMIZER = {"name": "adam", "lr": 0.01}


def make_run(backend="numpy", dtype="float64", *, seed=1, callbacks=(), batch_size=8, optimizer=OPTIMIZER,
             device_rng=False):
    """Mini-batches, dropout, batch norm and Adam: every random stream and optimizer state in play."""
    layers = [xpnet.Dense(4, 16, bias=False), xpnet.BatchNorm(16), xpnet.ReLU(), xpnet.Dropout(0.25),
              xpnet.Dense(16, 3)]
    model = xpnet.Sequential(layers, seed=seed, backend=backend, dtype=dtype)
    return xpnet.Trainer(model, optimizer=xpnet.get_optimizer(**optimizer), batch_size=batch_size, seed=5,
                         patience=50, callbacks=list(callbacks), device_rng=device_rng)


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


class Interrupt(xpnet.Callback):
    """Raises KeyboardInterrupt in batch `batch` of epoch `epoch` (an in-process crash)."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch):
        self.current = epoch

    def on_batch_end(self, step, n_batches):
        if (self.current, step) == (self.epoch, self.batch):
            raise KeyboardInterrupt


# --- a real crash: SIGKILL in a subprocess ----------------------------------------------------


class Pause(xpnet.Callback):
    """In the child: announce being mid-epoch (after a checkpoint exists), then wait to be killed."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch):
        self.current = epoch

    def on_batch_end(self, step, n_batches):
        if (self.current, step) == (self.epoch, self.batch):
            print(f"PAUSED {self.current} {step} of {n_batches}", flush=True)
            time.sleep(120)


def child(directory, mode):
    """The training process the tests kill: checkpoints every epoch into `directory`."""
    X, y = blobs(n=200, n_features=4)
    callbacks = [CheckpointCallback(directory, every=1, config={"optimizer": OPTIMIZER})]
    if mode == "pause":
        callbacks.append(Pause(epoch=3, batch=7))
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
    code = f"import sys; sys.path[:0] = [{str(TESTS)!r}, {str(SRC)!r}]; import test_resume as t; " \
           f"t.child({str(directory)!r}, {mode!r})"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def _uninterrupted():
    X, y = blobs(n=200, n_features=4)
    return fit(make_run(), X, y), X, y


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    proc = _start_child(tmp_path, "pause")
    try:
        line = proc.stdout.readline()  # blocks until the child is paused mid-epoch (or dies)
        assert line.startswith("PAUSED 3 7 of 20"), (line, proc.stderr.read() if proc.poll() is not None else "")
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
    interrupted = make_run(backend, callbacks=[CheckpointCallback(tmp_path, every), Interrupt(epoch=3, batch=2)])
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
        fit(run(callbacks=[CheckpointCallback(tmp_path), Interrupt(epoch=2, batch=1)]), X, y)
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
    later = xpnet.Trainer(xpnet.mlp([4, 8, 3], backend="numpy", dtype="float64"), **stop,
                          callbacks=[CheckpointCallback(tmp_path / "s", resume=True)]).fit(X, y, epochs=20)
    assert later.as_dict() == early.as_dict()  # over: no further epochs


# --- resuming something else is refused ------------------------------------------------------


def _saved_run(tmp_path):
    X, y = blobs(n=60)
    fit(make_run(callbacks=[CheckpointCallback(tmp_path, config={"optimizer": OPTIMIZER})]), X, y, epochs=2)
    return X, y


@pytest.mark.parametrize("change, match", [
    (dict(batch_size=16), "batch_size differs.*checkpoint 8, now 16"),
    (dict(dtype="float32"), "dtype differs"),
    (dict(optimizer={"name": "sgd", "lr": 0.1}), "structure does not match"),
])
def test_resuming_with_other_settings_is_refused(tmp_path, change, match):
    X, y = _saved_run(tmp_path)
    trainer = make_run(callbacks=[CheckpointCallback(tmp_path, resume=True)], **change)
    with pytest.raises(CheckpointError, match=match) as info:
        fit(trainer, X, y)
    assert "\n" not in str(info.value) and "checkpoint.npz" in str(info.value)


def test_resuming_on_other_data_or_another_model_is_refused(tmp_path):
    X, y = _saved_run(tmp_path)
    with pytest.raises(DataError, match="not the training data"):
        fit(make_run(callbacks=[CheckpointCallback(tmp_path, resume=True)]), X[::-1], y[::-1])
    other = xpnet.Trainer(xpnet.mlp([4, 16, 3], backend="numpy", dtype="float64"), batch_size=8, seed=5, patience=50,
                          callbacks=[CheckpointCallback(tmp_path, resume=True)])
    with pytest.raises(CheckpointError, match="architecture differs"):
        other.fit(X, y, epochs=EPOCHS, validation_split=0.2)
    with pytest.raises(CheckpointError, match="no such directory"):
        fit(make_run(callbacks=[CheckpointCallback(tmp_path / "absent", resume=True)]), X, y)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="file not found"):
        fit(make_run(callbacks=[CheckpointCallback(tmp_path / "empty", resume=True)]), X, y)


def test_resume_training_needs_an_optimizer_from_the_file_or_the_caller(tmp_path):
    X, y = blobs(n=60)
    with pytest.raises(KeyboardInterrupt):
        fit(make_run(callbacks=[CheckpointCallback(tmp_path), Interrupt(epoch=2, batch=0)]), X, y)
    with pytest.raises(ConfigError, match="optimizer"):
        resume_training(tmp_path, X, y)
    trainer = resume_training(tmp_path, X, y, optimizer=xpnet.adam(0.01))
    straight = make_run()
    fit(straight, X, y)
    assert_same_run(trainer, straight)


def test_callback_arguments_are_checked_when_built(tmp_path):
    for every in (0, -1, 1.5, True, None):
        with pytest.raises(ConfigError, match="every: expected an integer >= 1"):
            CheckpointCallback(tmp_path, every=every)
    with pytest.raises(ConfigError, match="config: must be JSON-serialisable"):
        CheckpointCallback(tmp_path, config={"f": object()})


# --- bad files ------------------------------------------------------------------------------


def _refused(directory, match):
    with pytest.raises(CheckpointError, match=match) as info:
        restore_checkpoint(make_run(), directory)
    assert "\n" not in str(info.value) and "checkpoint.npz" in str(info.value)


@pytest.mark.parametrize("edit, match", [
    (lambda a, r: r.__setitem__("format_version", 99), "newer"),
    (lambda a, r: r["meta"].__setitem__("kind", "model"), "not a training checkpoint"),
    (lambda a, r: r["meta"].__setitem__("epoch", "three"), "malformed training record"),
    (lambda a, r: r["meta"].pop("shuffle_rng"), "malformed training record"),
    (lambda a, r: r["meta"].__setitem__("dropout_rng", {"kind": "pcg64", "state": 5}), "malformed"),
    (lambda a, r: r["meta"]["opt_spec"].__setitem__("type", "list"), "structure does not match"),
    (lambda a, r: r["meta"].__setitem__("history_epochs", None), "malformed training record"),
])
def test_a_crafted_record_is_refused(tmp_path, edit, match):
    _saved_run(tmp_path)
    _rewrite(tmp_path / "checkpoint.npz", edit)
    _refused(tmp_path, match)


@pytest.mark.parametrize("edit, match", [
    (lambda a: a.__setitem__("params/0.W", a["params/0.W"].reshape(16, 4)), r"shape \(16, 4\)"),
    (lambda a: a.__setitem__("buffers/1.running_var", a["buffers/1.running_var"].astype(np.float32)), "dtype"),
    (lambda a: a.pop("opt/0/mu/4.b"), "missing"),
    (lambda a: a.pop("best_buffers/1.running_mean"), "best_buffers tensors"),
    (lambda a: a.__setitem__("params/9.W", np.ones(2)), "params tensors"),
])
def test_self_consistent_files_that_do_not_fit_the_model_are_refused(tmp_path, edit, match):
    _saved_run(tmp_path)
    _rewrite(tmp_path / "checkpoint.npz", lambda a, r: edit(a), rehash=True)
    _refused(tmp_path, match)


def test_truncated_or_bit_flipped_files_never_load_other_values(tmp_path):
    _saved_run(tmp_path)
    path = tmp_path / "checkpoint.npz"
    data = path.read_bytes()
    good = make_run()
    restore_checkpoint(good, tmp_path)
    rng = np.random.default_rng(0)
    cases = [data[:n] for n in rng.integers(0, len(data), 15)]
    for i in rng.integers(0, len(data), 60):
        bad = bytearray(data)
        bad[i] ^= 1 << int(rng.integers(8))
        cases.append(bytes(bad))
    refused = 0
    for case in cases:
        path.write_bytes(case)
        trainer = make_run(seed=9)
        try:
            restore_checkpoint(trainer, tmp_path)
        except CheckpointError as exc:
            assert "\n" not in str(exc)
            refused += 1
            continue
        assert_same_run(trainer, good)  # a flip in a zip timestamp changes nothing
    assert refused >= 60


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickles_are_never_unpickled(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps(_Payload(marker)))  # np.load would unpickle this with allow_pickle
    _refused(tmp_path, r"not an .npz \(zip\) archive")
    _saved_run(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("params/0.W", np.array([_Payload(marker)], dtype=object)))
    _refused(tmp_path, r"object \(pickled\) array")
    assert not marker.exists()


# --- the command line: xpnet train --checkpoint-every N, killed, then --resume DIR -------------

CLI_RUN = ("train", "--dataset", "digits", "--layers", "32", "--epochs", "12", "--batch-size", "4",
           "--dropout", "0.2", "--optimizer", "adam", "--dtype", "float64", "--backend", "numpy", "--quiet")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _model_file(directory):
    from xpnet.checkpoint import load_arrays

    return load_arrays(directory / "model.npz")[0]


def test_cli_killed_mid_run_resumes_to_the_uninterrupted_model(tmp_path):
    from helpers import run_cli

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "xpnet", *CLI_RUN, "--checkpoint-every", "1", "--out", str(killed)],
                            env=dict(os.environ, PYTHONPATH=str(SRC), **ONE_THREAD),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def test_cli_resume_refuses_another_command_line(tmp_path):
    from helpers import run_cli

    run = ("train", "--dataset", "xor", "--epochs", "3", "--backend", "numpy", "--quiet")
    assert run_cli(*run, "--checkpoint-every", "2", "--out", tmp_path / "r").returncode == 0
    r = run_cli(*run, "--lr", "0.5", "--resume", tmp_path / "r")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"xpnet: error: --lr: 0.5 is not the interrupted run's None; repeat its command line with --resume {tmp_path / 'r'}"]
    r = run_cli(*run, "--resume", tmp_path / "nothing")
    assert r.returncode == 2 and "no such directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli(*run, "--checkpoint-every", "0", "--out", tmp_path / "z")
    assert r.returncode == 2 and "--checkpoint-every" in r.stderr and not (tmp_path / "z").exists()
