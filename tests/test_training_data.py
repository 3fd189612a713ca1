"""Training data: bad input fails before the first step with one typed line naming the argument;
the default loss follows the targets; host data is converted; the validation split is seeded."""

import numpy as np
import pytest

import xpnet
from train_helpers import RecordingMSE, assert_same_weights, blobs, small_model, weights
from xpnet.errors import BackendMismatchError, ConfigError, DataError, ShapeError
from xpnet.optim import sgd

X, LABELS = blobs(n=12)
NAN_X = X.copy()
NAN_X[3, 1] = np.nan

BAD_INPUT = [
    # (fit arguments, exception, text the one-line message must contain)
    (dict(X=X[:10]), DataError, "different numbers of samples (10 rows vs 12)"),
    (dict(y=np.where(LABELS == 2, 3, LABELS)), DataError, "class labels must lie in [0, 3)"),
    (dict(y=LABELS - 1), DataError, "got labels from -1 to 1"),
    (dict(y=LABELS + 0.5), DataError, "needs integer class labels"),
    (dict(y=LABELS + 0.5, loss="softmax_cross_entropy"), DataError, "needs integer class labels"),
    (dict(X=X[:, :3]), ShapeError, "expects 4 features per row, got 3"),
    (dict(X=NAN_X), DataError, "X: contains NaN or infinite values"),
    (dict(y=np.where(np.eye(3)[LABELS] > 0, np.inf, 0.0)), DataError, "y: contains NaN or infinite values"),
    (dict(y=np.ones((12, 2))), ShapeError, "y: expected 3 columns"),
    (dict(y=np.ones((12, 3, 1))), ShapeError, "y: expected 1-D labels or a 2-D array"),
    (dict(y=[["a"]] * 12), DataError, "y: expected real numbers"),
    (dict(X=[[1, 2]] * 11 + [[1]]), DataError, "X: expected numeric data"),
    (dict(epochs=0), ConfigError, "epochs: expected an integer >= 1, got 0"),
    (dict(epochs=2.5), ConfigError, "epochs"),
    (dict(batch_size=0), ConfigError, "batch_size: expected an integer >= 1 or None, got 0"),
    (dict(validation_split=1.0), ConfigError, "validation_split: expected a finite number in [0, 1), got 1.0"),
    (dict(validation_split=-0.1), ConfigError, "validation_split"),
    (dict(validation_split=0.01), DataError, "leaves 0 for validation"),
    (dict(validation_split=0.2, validation_data=(X, LABELS)), ConfigError, "either validation_split or"),
    (dict(validation_data=(X, LABELS, 1)), ConfigError, "validation_data: expected a pair"),
    (dict(validation_data=(X, LABELS + 5)), DataError, "validation_data y: class labels"),
    (dict(patience=-1), ConfigError, "patience: expected an integer >= 0 or None, got -1"),
    (dict(min_delta=-1.0), ConfigError, "min_delta"),
    (dict(metrics=["f1"]), ConfigError, "metrics: unknown metric 'f1'"),
    (dict(loss="hinge"), ConfigError, "loss: unknown name 'hinge'"),
    (dict(optimizer="adam"), ConfigError, "optimizer: expected an xpnet Optimizer"),
    (dict(callbacks=[1]), ConfigError, "callbacks[0]"),
    (dict(seed=-1), ConfigError, "seed"),
]


@pytest.mark.parametrize("kwargs, exc, text", BAD_INPUT, ids=[f"{i}-{c[2][:30]}" for i, c in enumerate(BAD_INPUT)])
def test_bad_input_fails_before_training_with_one_line(numpy_backend, kwargs, exc, text):
    model = small_model(numpy_backend)
    before = weights(model)
    kwargs = {"X": X, "y": LABELS, "optimizer": sgd(0.1), **kwargs}
    began = []
    kwargs.setdefault("callbacks", [lambda epoch, logs: began.append(epoch)])
    with pytest.raises(exc) as info:
        xpnet.fit(model, kwargs.pop("X"), kwargs.pop("y"), **kwargs)
    message = str(info.value)
    assert text in message and "\n" not in message
    assert not began
    assert_same_weights(weights(model), before)


def test_arrays_of_another_backend_are_refused(numpy_backend):
    torch = pytest.importorskip("torch")
    with pytest.raises(BackendMismatchError, match="y is a torch array"):
        xpnet.fit(small_model(numpy_backend), X, torch.asarray(LABELS), optimizer=sgd(0.1), epochs=1)


@pytest.mark.parametrize(
    "targets, n_out, expected",
    [
        (LABELS, 3, "softmax_cross_entropy"),
        (np.eye(3)[LABELS], 3, "softmax_cross_entropy"),
        ((LABELS > 0).astype(int), 1, "bce_logits"),
        ((LABELS > 0).astype(float)[:, None], 1, "bce_logits"),
        (LABELS * 0.3, 1, "mse"),
        (np.eye(3)[LABELS] * 0.5, 3, "mse"),
    ],
)
def test_default_loss_follows_the_targets(backend, targets, n_out, expected):
    trainer = xpnet.Trainer(small_model(backend, sizes=(4, 8, n_out)), optimizer=sgd(0.1))
    trainer.fit(X, targets, epochs=1)
    assert trainer.loss.name == expected
    assert set(trainer.history.history) == ({"loss", "accuracy"} if expected != "mse" else {"loss"})


def test_device_arrays_and_host_lists_train_alike(backend):
    b = backend
    from_host = xpnet.fit(small_model(b), X.tolist(), LABELS.tolist(), optimizer=sgd(0.1), epochs=2)
    on_device = xpnet.fit(small_model(b), b.asarray(X, "float64"), b.asarray(LABELS), optimizer=sgd(0.1), epochs=2)
    assert from_host.as_dict() == on_device.as_dict()


def test_validation_split_is_seeded_and_disjoint(backend):
    def run(seed):
        loss = RecordingMSE()
        xpnet.fit(
            xpnet.mlp([4, 1], backend=backend, dtype="float64"),
            X,
            np.arange(12.0),
            loss=loss,
            optimizer=sgd(1e-3),
            epochs=2,
            validation_split=0.25,
            seed=seed,
        )
        return loss.seen  # per epoch: one full training batch, then the validation pass

    seen = run(0)
    train, val = seen[0], seen[1]
    assert len(train) == 9 and len(val) == 3 and sorted(train + val) == list(range(12))
    assert seen[3] == val and sorted(seen[2]) == sorted(train)  # the same split every epoch
    assert run(0) == seen and run(1)[1] != val


def test_data_on_another_device_is_refused_before_training():
    # same library, other device: the model refuses it rather than failing inside the first step
    model = small_model(xpnet.get_backend("array_api_strict"))
    other = xpnet.get_backend("array_api_strict", device="device1")
    here = model.backend
    with pytest.raises(BackendMismatchError, match="y is on device .*device1.* but the model's parameters are on"):
        xpnet.fit(model, here.asarray(X, "float32"), other.asarray(LABELS), epochs=1)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_one_splitter_holds_out_the_same_rows_everywhere(seed):
    # fit(validation_split=...), `xpnet train --val-split` (train_test_split on the data set) and
    # the estimators' early_stopping all ask io.split.split_rows: the same seed, the same rows
    from xpnet.io import load_dataset, split_rows, train_test_split

    ds = load_dataset("iris")
    _, held = split_rows(len(ds), 0.2, seed)
    _, held_ds = train_test_split(ds, 0.2, seed=seed)
    np.testing.assert_array_equal(held_ds.X, ds.X[held])
    loss = RecordingMSE()  # targets are the row indices: the validation pass shows which rows
    xpnet.fit(
        xpnet.mlp([4, 1], backend="numpy", dtype="float64"),
        ds.X,
        np.arange(150.0),
        loss=loss,
        optimizer=sgd(1e-3),
        epochs=1,
        validation_split=0.2,
        seed=seed,
    )
    assert loss.seen[1] == held.tolist()
