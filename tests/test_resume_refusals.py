"""Resuming something else is refused: other settings, data or model, a command line that is not
the interrupted run's, and damaged or crafted checkpoint files (one-line CheckpointErrors; pickles
are never unpickled)."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
from test_checkpoint import _rewrite
from test_resume import EPOCHS, OPTIMIZER, assert_same_run, fit, interrupt_at, make_run

import xpnet
from helpers import run_cli
from train_helpers import blobs
from xpnet.errors import CheckpointError, ConfigError, DataError
from xpnet.training.checkpoints import CheckpointCallback, restore_checkpoint, resume_training

# --- resuming something else is refused ------------------------------------------------------


def _saved_run(tmp_path):
    X, y = blobs(n=60)
    fit(make_run(callbacks=[CheckpointCallback(tmp_path, config={"optimizer": OPTIMIZER})]), X, y, epochs=2)
    return X, y


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(batch_size=16), "batch_size differs.*checkpoint 8, now 16"),
        (dict(dtype="float32"), "dtype differs"),
        (dict(optimizer={"name": "sgd", "lr": 0.1}), "structure does not match"),
    ],
)
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
    other = xpnet.Trainer(
        xpnet.mlp([4, 16, 3], backend="numpy", dtype="float64"),
        batch_size=8,
        seed=5,
        patience=50,
        callbacks=[CheckpointCallback(tmp_path, resume=True)],
    )
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
        fit(make_run(callbacks=[CheckpointCallback(tmp_path), interrupt_at(epoch=2, batch=0)]), X, y)
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


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda a, r: r.__setitem__("format_version", 99), "newer"),
        (lambda a, r: r["meta"].__setitem__("kind", "model"), "not a training checkpoint"),
        (lambda a, r: r["meta"].__setitem__("epoch", "three"), "malformed training record"),
        (lambda a, r: r["meta"].pop("shuffle_rng"), "malformed training record"),
        (lambda a, r: r["meta"].__setitem__("dropout_rng", {"kind": "pcg64", "state": 5}), "malformed"),
        (lambda a, r: r["meta"]["opt_spec"].__setitem__("type", "list"), "structure does not match"),
        (lambda a, r: r["meta"].__setitem__("history_epochs", None), "malformed training record"),
    ],
)
def test_a_crafted_record_is_refused(tmp_path, edit, match):
    _saved_run(tmp_path)
    _rewrite(tmp_path / "checkpoint.npz", edit)
    _refused(tmp_path, match)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda a: a.__setitem__("params/0.W", a["params/0.W"].reshape(16, 4)), r"shape \(16, 4\)"),
        (lambda a: a.__setitem__("buffers/1.running_var", a["buffers/1.running_var"].astype(np.float32)), "dtype"),
        (lambda a: a.pop("opt/0/mu/4.b"), "missing"),
        (lambda a: a.pop("best_buffers/1.running_mean"), "best_buffers tensors"),
        (lambda a: a.__setitem__("params/9.W", np.ones(2)), "params tensors"),
    ],
)
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
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps(_Payload(marker)))  # np.load would unpickle this with allow_pickle
    _refused(tmp_path, r"not an .npz \(zip\) archive")
    _saved_run(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("params/0.W", np.array([_Payload(marker)], dtype=object)))
    _refused(tmp_path, r"object \(pickled\) array")
    assert not marker.exists()


def test_cli_resume_refuses_another_command_line(tmp_path):
    run = ("train", "--dataset", "xor", "--epochs", "3", "--backend", "numpy", "--quiet")
    assert run_cli(*run, "--checkpoint-every", "2", "--out", tmp_path / "r").returncode == 0
    r = run_cli(*run, "--lr", "0.5", "--resume", tmp_path / "r")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "xpnet: error: --lr: 0.5 is not the interrupted run's None; "
        f"repeat its command line with --resume {tmp_path / 'r'}"
    ]
    r = run_cli(*run, "--resume", tmp_path / "nothing")
    assert r.returncode == 2 and "no such directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli(*run, "--checkpoint-every", "0", "--out", tmp_path / "z")
    assert r.returncode == 2 and "--checkpoint-every" in r.stderr and not (tmp_path / "z").exists()


def test_a_header_claiming_a_huge_tensor_is_refused_without_allocating_it(tmp_path):
    _saved_run(tmp_path)
    path = tmp_path / "checkpoint.npz"
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    members["params/0.W.npy"] = header.getvalue() + bytes(64)  # claims 7 TiB, holds 64 bytes
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    _refused(tmp_path, "its header declares 8000000000000 bytes .* the archive holds 64")
