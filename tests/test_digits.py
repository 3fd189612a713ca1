"""Real data: scikit-learn's 8x8 digits, a 64-64-10 ReLU network trained with Adam, reaches at
least 95% test accuracy (97.5% with these seeds). It takes about half a second on NumPy; speed is
measured by the benchmarks and `xpnet train`'s summary line, never asserted by a test."""

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.optim import adam


def _digits():
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    return model_selection.train_test_split(X / 16.0, y, test_size=0.2, random_state=0, stratify=y)


def test_digits_reach_95_percent(backend):
    X_train, X_test, y_train, y_test = _digits()
    model = xpnet.mlp([64, 64, 10], activation="relu", backend=backend, seed=0)
    history = xpnet.fit(
        model,
        X_train,
        y_train,
        optimizer=adam(3e-3),
        epochs=15,
        batch_size=32,
        seed=0,
        validation_split=0.1,
        patience=5,
    )
    out = model.predict(backend.asarray(X_test, "float32"))
    test_accuracy = float(np.mean(host(out).argmax(axis=1) == y_test))
    assert test_accuracy >= 0.95, (test_accuracy, history)
    assert history.history["val_accuracy"][history.best_epoch] >= 0.9
