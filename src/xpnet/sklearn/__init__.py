"""scikit-learn estimators: `MLPClassifier` and `MLPRegressor`, trained by xpnet's Trainer.

Hyperparameters are named like scikit-learn's `sklearn.neural_network` MLPs where they mean the
same thing, plus xpnet's own (dropout, batchnorm, backend, device, dtype). Arrays keep their
library: NumPy (or lists, DataFrames) in -> NumPy out; torch tensors in -> torch tensors out on
the same device; CuPy in -> CuPy out. The network trains on `backend` (default: the input's own
library), so a CuPy or CUDA-torch input trains on the GPU without a copy to the host.

Both pass every check of scikit-learn's `check_estimator` (tests/test_sklearn.py), so they list
no expected failures; scikit-learn skips its array-API check unless SCIPY_ARRAY_API=1 (it passes
then) and its pandas checks without pandas.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.multiclass import check_classification_targets

from ..backend import namespace_of, to_numpy
from ..errors import ConfigError, DataError, ShapeError  # ValueErrors, as scikit-learn expects
from .base import MLPBase, host_data, is_non_numpy_array

__all__ = ["MLPClassifier", "MLPRegressor"]


class MLPClassifier(ClassifierMixin, MLPBase):
    """A multi-layer perceptron classifier: softmax outputs, cross-entropy loss. Passes every
    scikit-learn estimator check (none expected to fail; see the module docstring for skips).

    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(X, y)
    >>> clf.predict_proba(X)   # rows sum to 1; columns follow clf.classes_
    """

    _loss_name = "softmax_cross_entropy"
    _multi_output = False

    def _encode_targets(self, y, *, first: bool):
        y_host = np.asarray(host_data(y))
        check_classification_targets(y_host)
        if not hasattr(self, "classes_"):  # fit() clears it; partial_fit's first call sets it
            self.classes_ = np.unique(y_host)
        if len(self.classes_) < 2:
            raise DataError(
                f"y: {type(self).__name__} needs samples of at least 2 classes, got 1 class ({self.classes_[0]!r})"
            )
        unknown = np.setdiff1d(y_host, self.classes_)
        if unknown.size:
            raise DataError(f"y: labels {unknown.tolist()} are not among classes_ {self.classes_.tolist()}")
        return np.searchsorted(self.classes_, y_host).astype(np.int64), len(self.classes_)

    def fit(self, X, y):
        self.__dict__.pop("classes_", None)  # a new fit learns the labels afresh
        return super().fit(X, y)

    def partial_fit(self, X, y, classes=None):
        """One epoch on (X, y). The first call needs `classes` (every label that will appear)."""
        if not hasattr(self, "model_") and classes is None:
            raise ConfigError("classes: the first call to partial_fit needs the list of all classes")
        return self._partial_fit(X, y, classes)

    def predict_proba(self, X):
        proba, X = self._outputs(X)
        return self._like(proba, X)

    def predict(self, X):
        proba, X = self._outputs(X)
        xp = self.model_.backend.xp
        index = xp.argmax(proba, axis=1)
        if is_non_numpy_array(X) and np.issubdtype(self.classes_.dtype, np.number):
            labels = self._to_model(self.classes_)
            return self._like(xp.take(labels, index, axis=0), X)
        return self.classes_[to_numpy(index)]

    _metric = staticmethod(accuracy_score)
    score = MLPBase._host_score  # ClassifierMixin's would hand CuPy arrays to NumPy


class MLPRegressor(RegressorMixin, MLPBase):
    """A multi-layer perceptron regressor: linear outputs, mean squared error.
    y of shape (samples,) gives predictions of that shape; (samples, k) gives (samples, k).
    Passes every scikit-learn estimator check (none expected to fail; see the module docstring)."""

    _loss_name = "mse"
    _multi_output = True

    def _encode_targets(self, y, *, first: bool):
        if first:
            self._y_1d = y.ndim == 1
        if is_non_numpy_array(y):
            xp = namespace_of(y)
            y2 = xp.reshape(y, (y.shape[0], -1))
        else:
            y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if not first and y2.shape[1] != self.n_outputs_:
            raise ShapeError(f"y: {y2.shape[1]} targets but the model predicts {self.n_outputs_}")
        self.n_outputs_ = int(y2.shape[1])
        return y2, self.n_outputs_

    def partial_fit(self, X, y):
        """One epoch on (X, y), continuing the previous fit (or starting one)."""
        return self._partial_fit(X, y)

    def predict(self, X):
        out, X = self._outputs(X)
        if self._y_1d:
            out = self.model_.backend.xp.reshape(out, (-1,))
        return self._like(out, X)

    _metric = staticmethod(r2_score)
    score = MLPBase._host_score  # RegressorMixin's would hand CuPy arrays to NumPy

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
