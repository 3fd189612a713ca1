"""The divergence guard (issue 6), beyond tests/test_train.py's basic case: a non-finite gradient
behind a finite loss is caught; the last finite state (weights, buffers, optimizer state, random
streams) is kept and saved by a training checkpoint; the guard adds no device-to-host transfer;
the CLI saves the last finite model and exits 2 with one line naming epoch and step."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from helpers import host, run_cli
from train_helpers import assert_same_weights, count_host_transfers, weights
from xpnet.losses import MSE
from xpnet.training.checkpoints import CheckpointCallback, read_checkpoint

N, BATCH = 40, 4  # 10 steps per epoch


class PoisonedMSE(MSE):
    """MSE whose gradient (not its value) turns NaN from training step `bad` on: only the
    guard's check of the updated weights can see it."""

    def __init__(self, bad):
        self.bad, self.calls = bad, 0

    def __call__(self, out, y):
        value, dout = super().__call__(out, y)
        self.calls += 1
        return value, (dout * float("nan") if self.calls > self.bad else dout)


class EpochStarts(xpnet.Callback):
    """Host copies of the weights at the start of every epoch."""

    def on_train_begin(self, trainer):
        self.trainer, self.weights = trainer, {}

    def on_epoch_begin(self, epoch):
        self.weights[epoch] = weights(self.trainer.model)


def _data():
    X = np.random.default_rng(0).normal(size=(N, 3))
    return X, X @ np.array([1.0, -2.0, 3.0])


def _trainer(backend, loss, callbacks=(), **kw):
    model = xpnet.Sequential(
        [xpnet.Dense(3, 8), xpnet.Tanh(), xpnet.Dropout(0.2), xpnet.Dense(8, 1)],
        seed=2,
        backend=backend,
        dtype="float64",
    )
    return xpnet.Trainer(
        model, loss=loss, optimizer=xpnet.adam(0.01), batch_size=BATCH, seed=3, callbacks=list(callbacks), **kw
    )


def test_a_nan_gradient_behind_a_finite_loss_stops_training(backend):
    X, y = _data()
    starts = EpochStarts()
    trainer = _trainer(backend, PoisonedMSE(bad=23), [starts])
    with pytest.raises(
        xpnet.DivergenceError, match=r"^training diverged at epoch 3, step 23 \(batch 4 of 10\)"
    ) as info:
        trainer.fit(X, y, epochs=5)
    assert (info.value.epoch, info.value.step, info.value.batch) == (2, 23, 3)
    assert "\n" not in str(info.value)
    kept = weights(trainer.model)
    assert_same_weights(kept, starts.weights[2])  # the last verified-finite weights: epoch 2's start
    assert all(np.isfinite(w).all() for w in kept.values())
    assert trainer.state.step == 20 and trainer.state.epoch == 2 and len(trainer.history.epoch) == 2


def test_the_whole_loop_state_is_rolled_back_not_just_the_weights(backend):
    """After the error, training on with a healthy loss continues exactly as a run that never
    met the poisoned epoch: optimizer state, step count and both random streams were restored."""
    X, y = _data()
    poisoned = _trainer(backend, PoisonedMSE(bad=23))
    with pytest.raises(xpnet.DivergenceError):
        poisoned.fit(X, y, epochs=4)
    poisoned.loss = MSE()
    poisoned.fit(X, y, epochs=4)
    healthy = _trainer(backend, MSE())
    healthy.fit(X, y, epochs=4)
    assert_same_weights(weights(poisoned.model), weights(healthy.model))
    assert poisoned.history.as_dict() == healthy.history.as_dict()


def test_the_last_finite_state_is_saved_by_a_training_checkpoint(backend, tmp_path):
    X, y = _data()
    trainer = _trainer(backend, PoisonedMSE(bad=33), [CheckpointCallback(tmp_path, every=2)])
    with pytest.raises(xpnet.DivergenceError, match="epoch 4, step 33"):
        trainer.fit(X, y, epochs=6)
    arrays, meta = read_checkpoint(tmp_path)
    assert meta["epoch"] == 3 and meta["step"] == 30  # not the epoch-2 file of every=2: epoch 3's start
    saved = {k[len("params/") :]: v for k, v in arrays.items() if k.startswith("params/")}
    assert_same_weights(saved, {k: host(v) for k, v in trainer.model.params.items()})


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_guard_adds_no_device_to_host_transfer(backend, monkeypatch):
    """The same diverging run with the guard on and off reads the device equally often: the
    guard's flag rides in the epoch's one transfer (on strict every way to the host is counted)."""
    calls = count_host_transfers(monkeypatch, backend)

    def transfers(check_finite, epochs):
        calls.clear()
        trainer = _trainer(backend, PoisonedMSE(bad=23), check_finite=check_finite)
        try:
            trainer.fit(*_data(), epochs=epochs)
        except xpnet.DivergenceError:
            pass
        return len(calls)

    # the guarded run dies in its 3rd epoch: as many reads as 3 unguarded epochs, one per epoch
    assert transfers(True, 5) == transfers(False, 3)
    per_epoch = transfers(False, 5) - transfers(False, 4)
    assert per_epoch == (2 if backend.name == "array_api_strict" else 1)  # strict: to_numpy + __dlpack__


def test_cli_saves_the_last_finite_model_and_exits_2(tmp_path):
    out = tmp_path / "run"
    r = run_cli(
        "train",
        "--dataset",
        "digits",
        "--layers",
        "32",
        "--optimizer",
        "sgd",
        "--lr",
        "1e6",
        "--epochs",
        "5",
        "--dtype",
        "float64",
        "--backend",
        "numpy",
        "--out",
        out,
        "--quiet",
        env={"PYTHONWARNINGS": "ignore"},
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "diverged at epoch" in lines[0] and "step" in lines[0], r.stderr
    assert "check_finite" not in lines[0] and "--lr" in lines[0], lines[0]  # the advice in flags
    assert str(out) in lines[0]
    model, _ = xpnet.load_model(out / "model.npz", backend="numpy")
    assert all(np.isfinite(host(v)).all() for v in model.params.values())
