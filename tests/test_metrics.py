"""Metrics: correct counts for class labels, one-hot rows, binary logits and probabilities; the
metric names recorded; and validation metrics equal to the model evaluated by hand."""

import numpy as np
import pytest

import xpnet
from helpers import host
from train_helpers import blobs, small_model
from xpnet.errors import ConfigError
from xpnet.losses import get_loss
from xpnet.optim import sgd
from xpnet.training.metrics import correct_count, evaluate_sums, resolve_metrics

LOGITS = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 0.0]])
LABELS = np.array([0, 1, 0, 2])  # right, right, wrong, wrong


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_correct_count_multi_class(backend, dtype):
    out = backend.asarray(LOGITS, dtype)
    ce = get_loss("softmax_cross_entropy")
    for y in (backend.asarray(LABELS), backend.asarray(np.eye(3)[LABELS], dtype)):
        count = correct_count(out, y, ce)
        assert count.dtype == out.dtype and count.shape == ()
        assert float(host(count)) == 2.0
    assert xpnet.accuracy(out, backend.asarray(LABELS)) == 0.5


def test_correct_count_binary_thresholds_on_the_output_activation(backend):
    z = backend.asarray([[-1.0], [0.3], [2.0], [-0.2]], "float64")
    y = backend.asarray([[0.0], [1.0], [0.0], [1.0]], "float64")
    # bce_logits: positive where sigmoid(z) > 0.5, i.e. z > 0 -> hits at rows 0 and 1
    assert float(host(correct_count(z, y, get_loss("bce_logits")))) == 2.0
    # outputs that are already probabilities (mse, bce): threshold 0.5 -> 0.3 is negative
    assert float(host(correct_count(z, y, get_loss("bce")))) == 1.0
    assert xpnet.accuracy(z, y, loss="bce_logits") == 0.5


def test_correct_count_one_output_takes_integer_labels(backend):
    # labels (batch,) of an integer dtype against one output: the standard compares a Python float
    # only with floating-point arrays, so the count must not compare the labels with 0.5 directly
    # (hypothesis found fit on array-api-strict raising TypeError here)
    z = backend.asarray([[-1.0], [0.3], [2.0], [-0.2]], "float64")
    y = backend.asarray(np.array([0, 1, 0, 1], dtype=np.int64))
    assert float(host(correct_count(z, y, get_loss("bce_logits")))) == 2.0
    assert float(host(correct_count(z, y, get_loss("bce")))) == 1.0


def test_evaluate_sums_batches_add_up(backend):
    X, labels = blobs(n=13)
    model, loss = small_model(backend), get_loss("softmax_cross_entropy")
    x, y = backend.asarray(X, "float64"), backend.asarray(labels)
    whole = [float(host(v)) for v in evaluate_sums(model, x, y, loss)]
    batched = [float(host(v)) for v in evaluate_sums(model, x, y, loss, batch_size=4)]
    np.testing.assert_allclose(batched, whole, rtol=1e-12)
    np.testing.assert_allclose(whole[0] / 13, float(host(loss(model.predict(x), y)[0])), rtol=1e-12)


def test_resolve_metrics():
    ce, mse = get_loss("softmax_cross_entropy"), get_loss("mse")
    assert resolve_metrics(None, ce) == ("loss", "accuracy")
    assert resolve_metrics(None, mse) == ("loss",)
    assert resolve_metrics("accuracy", mse) == ("loss", "accuracy")
    assert resolve_metrics(["loss", "loss"], ce) == ("loss",)
    with pytest.raises(ConfigError, match="unknown metric 'auc'"):
        resolve_metrics(["auc"], ce)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_history_metrics_equal_the_model_evaluated_by_hand(backend, dtype):
    X, labels = blobs(n=50)
    model = small_model(backend, dtype)
    h = xpnet.fit(
        model, X[:40], labels[:40], optimizer=sgd(0.2), epochs=4, batch_size=16, validation_data=(X[40:], labels[40:])
    )
    assert h.epoch == [0, 1, 2, 3] and h.best_epoch is not None and not h.stopped_early
    assert {k: len(v) for k, v in h.history.items()} == {"loss": 4, "accuracy": 4, "val_loss": 4, "val_accuracy": 4}
    b = backend
    xv, yv = b.asarray(X[40:], dtype), b.asarray(labels[40:])
    out = model.predict(xv)
    tol = 1e-10 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(
        h.history["val_loss"][-1], float(host(get_loss("softmax_cross_entropy")(out, yv)[0])), rtol=tol
    )
    assert h.history["val_accuracy"][-1] == np.mean(host(out).argmax(1) == labels[40:])
    assert 0.0 <= min(h.history["accuracy"]) and max(h.history["accuracy"]) <= 1.0
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert h.best_epoch == int(np.argmin(h.history["val_loss"]))
