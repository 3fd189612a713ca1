"""Callbacks: hooks called in order with the right arguments, a True from on_epoch_end stops
training, plain functions work, and History serialises."""

import json

import pytest

import xpnet
from train_helpers import blobs, small_model
from xpnet.errors import ConfigError
from xpnet.optim import sgd
from xpnet.training.callbacks import History, as_callbacks


class Recorder(xpnet.Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, trainer):
        self.events.append(("train_begin", type(trainer).__name__))

    def on_epoch_begin(self, epoch):
        self.events.append(("epoch_begin", epoch))

    def on_batch_end(self, step, n_batches):
        self.events.append(("batch_end", step, n_batches))

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, trainer):
        self.events.append(("train_end",))


def test_hooks_are_called_in_order(backend):
    X, labels = blobs(n=10)
    rec = Recorder()
    xpnet.fit(small_model(backend), X, labels, optimizer=sgd(0.1), epochs=2, batch_size=4, callbacks=rec)

    def epoch(e):
        return [
            ("epoch_begin", e),
            ("batch_end", 0, 3),
            ("batch_end", 1, 3),
            ("batch_end", 2, 3),
            ("epoch_end", e, ["accuracy", "loss"]),
        ]

    assert rec.events == [("train_begin", "Trainer"), *epoch(0), *epoch(1), ("train_end",)]


def test_a_callback_returning_true_stops_training(backend):
    X, labels = blobs()
    seen = []

    def stop_at_one(epoch, logs):
        seen.append((epoch, logs["loss"]))
        return epoch == 1

    rec = Recorder()
    h = xpnet.fit(small_model(backend), X, labels, optimizer=sgd(0.1), epochs=10, callbacks=[stop_at_one, rec])
    assert h.epoch == [0, 1] and [e for e, _ in seen] == [0, 1]
    assert [loss for _, loss in seen] == h.history["loss"]
    assert rec.events[-2:] == [("epoch_end", 1, ["accuracy", "loss"]), ("train_end",)]  # every callback still ran


def test_resumed_fit_numbers_epochs_on(backend):
    X, labels = blobs()
    rec = Recorder()
    trainer = xpnet.Trainer(small_model(backend), optimizer=sgd(0.1), callbacks=[rec])
    trainer.fit(X, labels, epochs=2)
    rec.events.clear()
    h = trainer.fit(X, labels, epochs=3)
    assert [e for e in rec.events if e[0] == "epoch_begin"] == [("epoch_begin", 2)]
    assert h.epoch == [0, 1, 2] and len(h.history["loss"]) == 3


def test_as_callbacks_rejects_non_callables():
    assert as_callbacks(None) == []
    assert len(as_callbacks(lambda e, logs: None)) == 1
    with pytest.raises(ConfigError, match=r"callbacks\[1\]: expected a Callback"):
        as_callbacks([Recorder(), "print"])


def test_history_round_trips_through_json():
    h = History()
    h.append(0, {"loss": 1.5, "accuracy": 0.5})
    h.append(1, {"loss": 1.0, "accuracy": 0.75})
    h.best_epoch, h.stopped_early = 1, True
    d = json.loads(json.dumps(h.as_dict()))
    assert d == {
        "history": {"loss": [1.5, 1.0], "accuracy": [0.5, 0.75]},
        "epoch": [0, 1],
        "best_epoch": 1,
        "stopped_early": True,
    }
    assert History.from_dict(d).as_dict() == d
