"""The training loop: mini-batches, the step seam, agreement across backends, early stopping,
the divergence guard, host transfers per epoch, and exact resume from a state_dict."""

import json

import numpy as np
import pytest
from conftest import RTOL

import xpnet
from helpers import host
from train_helpers import RecordingMSE, assert_same_weights, blobs, count_host_transfers, small_model, weights
from xpnet import backend as xb
from xpnet.losses import get_loss
from xpnet.optim import sgd

# --- mini-batches ---------------------------------------------------------------------------------


def _ids_run(backend, seed, epochs=3, shuffle=True):
    X = np.random.default_rng(5).normal(size=(10, 2))
    loss = RecordingMSE()
    model = xpnet.mlp([2, 1], backend=backend, dtype="float64")
    xpnet.fit(
        model,
        X,
        np.arange(10.0),
        loss=loss,
        optimizer=sgd(1e-3),
        epochs=epochs,
        batch_size=4,
        seed=seed,
        shuffle=shuffle,
    )
    return [loss.seen[3 * e : 3 * e + 3] for e in range(epochs)]  # 3 batches per epoch


def test_each_sample_once_per_epoch_with_a_partial_last_batch(backend):
    epochs = _ids_run(backend, seed=0)
    for batches in epochs:
        assert [len(b) for b in batches] == [4, 4, 2]
        assert sorted(sum(batches, [])) == list(range(10))
    orders = [sum(b, []) for b in epochs]
    assert orders[0] != orders[1] and orders[1] != orders[2]  # reshuffled every epoch
    assert _ids_run(backend, seed=0) == epochs  # ... reproducibly for a seed
    assert _ids_run(backend, seed=1) != epochs
    assert [sum(b, []) for b in _ids_run(backend, seed=0, shuffle=False)] == [list(range(10))] * 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_full_batch_sgd_equals_a_train_step_loop(backend, dtype):
    X, labels = blobs()
    model = small_model(backend, dtype)
    history = xpnet.fit(model, X, labels, loss="softmax_cross_entropy", optimizer=sgd(0.3), epochs=6, shuffle=False)
    ref = small_model(backend, dtype)
    b, loss, opt = ref.backend, get_loss("softmax_cross_entropy"), sgd(0.3)
    x, y, state, losses = b.asarray(X, dtype), b.asarray(labels), opt.init(ref.params), []
    for _ in range(6):
        value, _, state = xpnet.train_step(ref, loss, opt, state, x, y)
        losses.append(float(host(value)))
    assert_same_weights(weights(model), weights(ref))
    np.testing.assert_allclose(history.history["loss"], losses, rtol=RTOL[dtype])
    assert losses[-1] < losses[0]


# --- the same run on every backend ----------------------------------------------------------------


def _history(backend, dtype, layers=None, optimizer=None):
    X, labels = blobs(n=50)
    model = (
        small_model(backend, dtype)
        if layers is None
        else xpnet.Sequential(layers(), seed=1, backend=backend, dtype=dtype)
    )
    h = xpnet.fit(
        model, X, labels, optimizer=optimizer or sgd(0.2), epochs=5, batch_size=8, validation_split=0.2, seed=3
    )
    return h.history, weights(model)


def _assert_histories_agree(got, ref, dtype):
    (h, w), (h_ref, w_ref) = got, ref
    assert h.keys() == h_ref.keys() == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for k in h_ref:
        np.testing.assert_allclose(h[k], h_ref[k], rtol=RTOL[dtype], err_msg=k)
    for k in w_ref:
        np.testing.assert_allclose(w[k], w_ref[k], rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(w_ref[k]).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_history_agrees_across_backends(backend, dtype):
    _assert_histories_agree(_history(backend, dtype), _history("numpy", dtype), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_batchnorm_adam_history_agrees_across_backends(backend, dtype):
    # dropout masks come from the trainer's HostRandom, so they are the same on every backend
    from xpnet.nn import BatchNorm, Dropout
    from xpnet.optim import adam

    def layers():
        # no bias before batch norm: it cancels, leaving a gradient of rounding noise that Adam amplifies
        return [xpnet.Dense(4, 16, bias=False), BatchNorm(16), xpnet.ReLU(), Dropout(0.25), xpnet.Dense(16, 3)]

    ref = _history("numpy", dtype, layers, adam(1e-2))
    _assert_histories_agree(_history(backend, dtype, layers, adam(1e-2)), ref, dtype)


# --- early stopping -------------------------------------------------------------------------------


class _Snapshot(xpnet.Callback):
    """Host copies of the weights at the end of every epoch."""

    def on_train_begin(self, trainer):
        self.trainer, self.weights = trainer, []

    def on_epoch_end(self, epoch, logs):
        self.weights.append(weights(self.trainer.model))

    def on_divergence(self, trainer, event):
        self.divergence = event

    def on_train_end(self, trainer):
        self.ended = True


def _rising_val_loss_run(backend, **kw):
    X, labels = blobs(n=60)
    # validation labels shifted by one class: the better the fit, the worse the validation loss
    model, snap = small_model(backend), _Snapshot()
    h = xpnet.fit(
        model,
        X[:40],
        labels[:40],
        validation_data=(X[40:], (labels[40:] + 1) % 3),
        optimizer=sgd(0.3),
        epochs=20,
        callbacks=[snap],
        **kw,
    )
    return model, h, snap.weights


def test_early_stopping_restores_the_best_weights(backend):
    model, h, snaps = _rising_val_loss_run(backend, patience=2)
    val = h.history["val_loss"]
    assert h.stopped_early and h.best_epoch == int(np.argmin(val))
    assert len(h.epoch) == h.best_epoch + 3  # best, then 2 epochs without improvement
    assert val[-1] > val[h.best_epoch]
    assert_same_weights(weights(model), snaps[h.best_epoch])


def test_early_stopping_without_restore_keeps_the_last_weights(backend):
    model, h, snaps = _rising_val_loss_run(backend, patience=1, restore_best=False)
    assert h.stopped_early and len(h.epoch) == h.best_epoch + 2
    assert_same_weights(weights(model), snaps[-1])


def test_min_delta_counts_small_improvements_as_none(backend):
    X, labels = blobs()
    h = xpnet.fit(small_model(backend), X, labels, optimizer=sgd(0.3), epochs=20, patience=3, min_delta=1e3)
    assert h.stopped_early and h.epoch == [0, 1, 2, 3] and h.best_epoch == 0
    h = xpnet.fit(small_model(backend), X, labels, optimizer=sgd(0.3), epochs=6, patience=3)
    assert not h.stopped_early and len(h.epoch) == 6  # the train loss keeps falling


# --- the divergence guard -------------------------------------------------------------------------


def _exploding_lr(step):
    return 0.01 if step < 25 else 1e8  # fine for two and a half epochs of 10 steps, then not


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings
def test_divergence_stops_with_epoch_and_step_and_keeps_finite_weights(backend):
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = X @ np.array([1.0, -2.0, 3.0])
    model, snap = xpnet.mlp([3, 8, 1], backend=backend, dtype="float64"), _Snapshot()
    with pytest.raises(xpnet.DivergenceError, match=r"epoch 3, step \d+") as info:
        xpnet.fit(
            model,
            X,
            y,
            loss="mse",
            optimizer=sgd(_exploding_lr),
            epochs=10,
            batch_size=2,
            shuffle=False,
            callbacks=[snap],
        )
    err = info.value
    # the same steps by hand: the first whose loss or updated weights are not finite
    ref = xpnet.mlp([3, 8, 1], backend=backend, dtype="float64")
    b, opt, loss = ref.backend, sgd(_exploding_lr), get_loss("mse")
    state, first_bad = opt.init(ref.params), None
    for step in range(30):
        i = step % 10
        value, _, state = xpnet.train_step(
            ref, loss, opt, state, b.asarray(X[2 * i : 2 * i + 2]), b.asarray(y[2 * i : 2 * i + 2, None])
        )
        if not all(np.isfinite(w).all() for w in [host(value), *weights(ref).values()]):
            first_bad = step
            break
    assert (err.epoch, err.step, err.batch) == (2, first_bad, first_bad - 20)
    assert err.history.epoch == [0, 1]  # the epochs before it
    assert snap.divergence == xpnet.training.DivergenceEvent(
        epoch=2, step=first_bad, batch=first_bad - 20, n_batches=10, restored_step=20
    )
    assert len(snap.weights) == 2 and snap.ended  # on_train_end runs after the error too
    assert_same_weights(weights(model), snap.weights[1])  # the start of epoch 2, all finite


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_check_finite_false_trains_on(backend):
    X = np.random.default_rng(0).normal(size=(20, 3))
    h = xpnet.fit(
        xpnet.mlp([3, 8, 1], backend=backend, dtype="float64"),
        X,
        100 * X[:, 0],
        loss="mse",
        optimizer=sgd(_exploding_lr),
        epochs=4,
        batch_size=2,
        shuffle=False,
        check_finite=False,
    )
    assert len(h.epoch) == 4 and not np.isfinite(h.history["loss"][-1])


# --- one device-to-host transfer per epoch --------------------------------------------------------


def test_one_host_transfer_per_epoch(backend, monkeypatch):
    calls = count_host_transfers(monkeypatch, backend)
    X, labels = blobs()

    def transfers(epochs):
        calls.clear()
        xpnet.fit(
            small_model(backend), X, labels, optimizer=sgd(0.1), epochs=epochs, batch_size=4, validation_split=0.25
        )
        return len(calls)

    # 8 steps and a validation pass per epoch, one read (to_numpy, which on strict is one __dlpack__)
    per_epoch = 2 if backend.name == "array_api_strict" else 1
    assert transfers(5) - transfers(2) == 3 * per_epoch


# --- exact resume ---------------------------------------------------------------------------------


def _trainer(backend, seed=1, **kw):
    lr = lambda step: 0.3 / (1 + 0.05 * step)  # noqa: E731 - the optimizer's step count matters
    return xpnet.Trainer(small_model(backend, seed=seed), optimizer=sgd(lr), batch_size=6, seed=4, **kw)


def _host_state(state):
    """The snapshot as a checkpoint file would hold it: NumPy arrays and a JSON round trip."""
    from xpnet.tree import map_arrays

    arrays = {
        k: map_arrays(xb.to_numpy, state[k]) for k in ("params", "buffers", "opt_state", "best_params", "best_buffers")
    }
    rest = json.loads(json.dumps({k: v for k, v in state.items() if k not in arrays}))
    return {**rest, **arrays}


def test_resumed_training_equals_uninterrupted(backend):
    X, labels = blobs()
    straight = _trainer(backend)
    straight.fit(X, labels, epochs=5, validation_split=0.2)
    interrupted = _trainer(backend)
    interrupted.fit(X, labels, epochs=3, validation_split=0.2)
    snapshot = interrupted.state_dict()
    interrupted.fit(X, labels, epochs=5, validation_split=0.2)
    resumed = _trainer(backend, seed=99)  # other initial weights: the snapshot must replace them
    resumed.load_state_dict(_host_state(snapshot))
    resumed.fit(X, labels, epochs=5, validation_split=0.2)
    for t in (interrupted, resumed):
        assert_same_weights(weights(t.model), weights(straight.model))
        assert t.history.as_dict() == straight.history.as_dict()
        assert t.state.step == straight.state.step == 5 * 6


def test_resume_from_an_epoch_end_snapshot_with_early_stopping(backend):
    X, labels = blobs()

    class Keep(xpnet.Callback):
        def on_train_begin(self, trainer):
            self.trainer = trainer

        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                self.state = self.trainer.state_dict()

    keep = Keep()
    straight = _trainer(backend, patience=20, callbacks=[keep])
    straight.fit(X, labels, epochs=6, validation_split=0.2)
    resumed = _trainer(backend, patience=20, seed=7)
    resumed.load_state_dict(keep.state)
    resumed.fit(X, labels, epochs=6, validation_split=0.2)
    assert_same_weights(weights(resumed.model), weights(straight.model))
    assert resumed.history.as_dict() == straight.history.as_dict()


class _Zero(xpnet.GradientTransformation):
    pass


ZERO = _Zero(lambda params: (), lambda grads, state, params=None: ({k: g * 0.0 for k, g in grads.items()}, state))


def _canonical_losses():
    from xpnet.nn.losses import LOSSES

    return sorted(name for name, cls in LOSSES.items() if cls.name == name)


@pytest.mark.parametrize("loss_name", _canonical_losses())
def test_the_epoch_loss_is_the_loss_over_all_rows_whatever_the_batch_size(backend, loss_name):
    # weights that do not move (a zero update): every batch size must report the documented loss
    # of the whole data set, a mean for the mean losses and half_sse's sum for half_sse
    loss = get_loss(loss_name)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(13, 4))
    if loss_name == "softmax_cross_entropy":
        sizes, y = [4, 5, 3], rng.integers(0, 3, 13)
    elif loss.binary:
        sizes, y = [4, 5, 1], rng.integers(0, 2, (13, 1)).astype(np.float64)
    elif loss.non_negative:  # counts
        sizes, y = [4, 5, 2], rng.poisson(2.0, size=(13, 2)).astype(np.float64)
    else:
        sizes, y = [4, 5, 2], rng.normal(size=(13, 2))
    output = "sigmoid" if loss_name == "bce" else None

    def make():
        return xpnet.mlp(sizes, activation="tanh", output=output, backend=backend, dtype="float64", seed=3)

    model = make()
    b = model.backend
    yb = b.asarray(y) if y.ndim == 1 else b.asarray(y, "float64")
    want = float(host(loss(model.predict(b.asarray(X, "float64")), yb)[0]))
    for batch_size in (1, 3, 5, None):
        h = xpnet.fit(make(), X, y, loss=loss, optimizer=ZERO, epochs=1, batch_size=batch_size, metrics=["loss"])
        assert h.history["loss"][0] == pytest.approx(want, rel=1e-12), batch_size
        h = xpnet.fit(
            make(),
            X,
            y,
            loss=loss,
            optimizer=ZERO,
            epochs=1,
            batch_size=batch_size,
            metrics=["loss"],
            validation_data=(X, y),
        )
        assert h.history["val_loss"][0] == pytest.approx(want, rel=1e-12), batch_size
