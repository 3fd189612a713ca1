"""scikit-learn estimators: `MLPClassifier` and `MLPRegressor`, drop-in replacements for
`sklearn.neural_network`'s, trained by xpnet's Trainer.

Every constructor parameter of scikit-learn's estimators is accepted, in the same order, with the
same defaults, ranges and meaning (scikit-learn's own constraints check them); xpnet's own follow
(class_weight, dropout, batchnorm, backend, device, dtype). `fit(X, y, sample_weight=None)`,
`partial_fit`, `predict`, `predict_proba`, `predict_log_proba`, `score` and the fitted attributes
(coefs_, intercepts_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
n_iter_, n_layers_, n_outputs_, out_activation_, t_, classes_, n_features_in_) are scikit-learn's;
tests/test_sklearn_parity.py runs the same script against both libraries.

What is the same: the objective (the mean loss per batch plus alpha/2 * ||W||^2 / batch weight,
weights only), the stopping rule (tol, n_iter_no_change, early_stopping on the validation score,
ConvergenceWarning when max_iter ends first), the learning-rate schedules of the sgd solver
('constant', 'invscaling' with power_t, 'adaptive'), nesterovs_momentum, Adam's beta_1, beta_2 and
epsilon, binary classification with one logistic output, 'lbfgs' through scipy with max_fun.
Where xpnet differs, each point is said on the parameter below: the initial weights (xpnet's
generator; biases start at 0), Adam's epsilon (added as torch adds it), SGD's momentum when the
rate changes, early_stopping's split (scikit-learn's function, xpnet's seed), multi-output
regression's loss_ (the sum over outputs, not the mean). Not supported (refused in one line):
sparse X, which scikit-learn's accept.

Arrays keep their library: NumPy (or lists, DataFrames) in -> NumPy out; torch tensors in -> torch
tensors out on the same device; CuPy in -> CuPy out. The network trains on `backend` (default: the
input's own library), so a CuPy or CUDA-torch input trains on the GPU without a copy to the host.

Both pass every check of scikit-learn's `check_estimator` (tests/test_sklearn.py), so they list
no expected failures; scikit-learn skips its array-API check unless SCIPY_ARRAY_API=1 (it passes
then) and its pandas checks without pandas.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import column_or_1d, compute_class_weight
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ..backend import namespace_of, to_numpy
from ..errors import ConfigError, DataError, ShapeError  # ValueErrors, as scikit-learn expects
from .base import MLPBase, ParameterError, host_data, is_non_numpy_array, parameter_constraints, store_params

__all__ = ["MLPClassifier", "MLPRegressor", "ParameterError"]

_PARAMETERS = """
    Parameters (scikit-learn's, in its order; where xpnet's meaning differs it says so)
    ----------
    hidden_layer_sizes: the sizes of the hidden layers. activation: 'identity', 'logistic',
        'tanh', 'relu' (xpnet also: 'leaky_relu'), after each hidden layer.
    solver: 'adam', 'sgd' or 'lbfgs' (scipy's L-BFGS-B on the whole data set, maxiter=max_iter,
        maxfun=max_fun, gtol=tol; not with dropout or batchnorm). xpnet also takes 'momentum',
        'nesterov', 'rmsprop', 'adamw' (its optimizers; learning_rate's schedule applies to the
        first two, momentum to them and rmsprop).
    alpha: the L2 penalty: a batch of total weight S (its rows, or the sum of their weights)
        minimises (sum of weighted losses + alpha/2 * ||W||^2) / S over the weights, not the
        biases; its gradient gains alpha * W / S: scikit-learn's formula, also in loss_.
    batch_size: 'auto' is min(200, n_samples); larger than the samples: clipped, with a warning.
    learning_rate: sgd only: 'constant'; 'invscaling', learning_rate_init / (t + 1) ** power_t
        with t the samples seen, set after each epoch; 'adaptive', divided by 5 whenever
        n_iter_no_change + 1 epochs in a row did not improve by tol, until below 1e-6.
    learning_rate_init, power_t: as scikit-learn. max_iter: epochs (iterations for 'lbfgs').
    shuffle: reshuffle every epoch. random_state: the seed of the weights, shuffles, dropout and
        the validation split; xpnet draws its own numbers, so the initial weights (Glorot
        uniform, biases 0) are not scikit-learn's.
    tol, n_iter_no_change: stop after n_iter_no_change + 1 epochs in a row whose loss did not go
        below the best by more than tol (whose validation score did not rise above the best by
        tol, with early_stopping), as scikit-learn does; ConvergenceWarning when max_iter comes
        first.
    verbose: print scikit-learn's lines ("Iteration 3, loss = 0.12345678", "Validation score: ...");
        with 'lbfgs' one summary line instead of scipy's iteration log.
    warm_start: fit goes on from the previous weights (a new optimizer state, as scikit-learn).
    momentum, nesterovs_momentum: sgd's. xpnet keeps a buffer b <- momentum * b + g and steps by
        lr * b (nesterov: lr * (g + momentum * b)); scikit-learn's velocity carries the rate in
        it, which is the same while the rate is constant and differs slightly after it changes.
    early_stopping, validation_fraction: hold out validation_fraction of the rows (stratified
        for a classifier, by scikit-learn's train_test_split), score them after every epoch
        (accuracy or R^2) and keep the weights of the best score.
    beta_1, beta_2, epsilon: Adam's. epsilon is added to the bias-corrected sqrt(v), as torch
        does; scikit-learn adds it to the raw sqrt(v) (a difference only where v is tiny).
    max_fun: lbfgs only: the most evaluations of the loss.

    xpnet's parameters
    ------------------
    dropout (a rate after each hidden layer), batchnorm (after each hidden Dense), backend and
    device (default: the input's library and device, NumPy for host data), dtype (default: the
    input's float type).

    sample_weight (fit, partial_fit): one non-negative weight per sample; each batch's loss is
    the weighted mean sum w_i l_i / sum w_i (scikit-learn's), the penalty is divided by sum w_i.
"""


class MLPClassifier(ClassifierMixin, MLPBase):
    """A multi-layer perceptron classifier: softmax outputs and cross-entropy for 3 classes or
    more, one logistic output and binary cross-entropy for 2, one logistic output per label for
    multilabel y (a 0/1 indicator matrix; classes_ are its columns), as scikit-learn.

    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(X, y)
    >>> clf.predict_proba(X)   # rows sum to 1; columns follow clf.classes_
    {parameters}
    class_weight: None, 'balanced' (n_samples / (n_classes * count of the class)) or a dict
        label -> weight (labels missing from it weigh 1): each sample's weight is multiplied by
        its class's, so the loss is weighted (scikit-learn's MLPClassifier has no class_weight).
    """

    _parameter_constraints = parameter_constraints(class_weight=[dict, StrOptions({"balanced"}), None])
    _y_numeric = False

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-3,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
        dropout=0.0,
        batchnorm=False,
        backend=None,
        device=None,
        dtype=None,
    ):
        store_params(self, locals())

    def _encode_targets(self, y, *, first: bool, incremental: bool):
        """(targets for the loss, class indices, outputs): integer labels for 3 classes or more,
        a (samples, 1) column of 0/1 for 2, the 0/1 indicator matrix itself for multilabel y
        (one logistic output per label, as scikit-learn)."""
        y_host = np.asarray(host_data(y))
        if y_host.ndim == 2 and y_host.shape[1] == 1:
            y_host = column_or_1d(y_host, warn=True)
        multilabel = type_of_target(y_host).startswith("multilabel")
        if not multilabel:
            check_classification_targets(y_host)
        if first:
            self._multilabel = multilabel
            if multilabel:  # scikit-learn's LabelBinarizer: the classes are the columns
                self.classes_ = np.arange(y_host.shape[1])
            else:
                self.classes_ = np.unique(self._partial_classes) if incremental else np.unique(y_host)
            if len(self.classes_) < 2:
                raise DataError(
                    f"y: {type(self).__name__} needs samples of at least 2 classes, got 1 class ({self.classes_[0]!r})"
                )
            one_logistic = multilabel or len(self.classes_) == 2
            self._loss_name = "bce_logits" if one_logistic else "softmax_cross_entropy"
            self.out_activation_ = "logistic" if one_logistic else "softmax"
        if multilabel != self._multilabel or (multilabel and y_host.shape[1] != len(self.classes_)):
            raise DataError(f"y: the model was fitted on {self._target_kind()} targets; these are not of that kind")
        if multilabel:
            if self.class_weight is not None:
                raise ConfigError("class_weight: not available for multilabel targets; give sample_weight")
            indicator = y_host.astype(np.float64)
            return indicator, indicator, indicator.shape[1]
        if not first and self.warm_start and not incremental and set(np.unique(y_host)) != set(self.classes_):
            raise DataError(
                "y: warm_start can only be used where y has the same classes as in the previous call to fit; "
                f"previously {self.classes_.tolist()}, now {np.unique(y_host).tolist()}"
            )
        unknown = np.setdiff1d(y_host, self.classes_)
        if unknown.size:
            raise DataError(f"y: labels {unknown.tolist()} are not among classes_ {self.classes_.tolist()}")
        index = np.searchsorted(self.classes_, y_host).astype(np.int64)
        if len(self.classes_) == 2:
            return index.astype(np.float64).reshape(-1, 1), index, 1
        return index, index, len(self.classes_)

    def _target_kind(self) -> str:
        return f"multilabel ({len(self.classes_)} labels)" if self._multilabel else "single-label"

    def _sample_weight(self, sample_weight, y_labels, n: int):
        sw = super()._sample_weight(sample_weight, y_labels, n)
        if self.class_weight is None:
            return sw
        present = np.unique(y_labels)
        cw = np.ones(len(self.classes_))
        if self.class_weight == "balanced":
            cw[present] = compute_class_weight("balanced", classes=present, y=y_labels)
        else:
            for label, weight in self.class_weight.items():
                where = np.flatnonzero(self.classes_ == label)
                if where.size == 0:
                    raise ConfigError(f"class_weight: {label!r} is not among the classes {self.classes_.tolist()}")
                cw[where[0]] = float(weight)
        row = cw[y_labels]
        return row if sw is None else sw * row

    def fit(self, X, y, sample_weight=None):
        """Train for up to max_iter epochs (iterations for 'lbfgs'); a new network unless warm_start."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch on (X, y). The first call needs `classes` (every label that will appear)."""
        if not hasattr(self, "model_"):
            if classes is None:
                raise ConfigError("classes: the first call to partial_fit needs the list of all classes")
            self._partial_classes = np.asarray(classes)
        return self._partial(X, y, sample_weight)

    def _index(self, proba):
        """The predicted class indices from the probabilities (the 0/1 indicator, multilabel)."""
        xp = namespace_of(proba)
        if self._multilabel:
            return xp.astype(proba > 0.5, xp.int64)
        if proba.shape[1] == 1:  # scikit-learn's LabelBinarizer threshold
            return xp.astype(xp.reshape(proba, (-1,)) > 0.5, xp.int64)
        return xp.argmax(proba, axis=1)

    def predict_proba(self, X):
        proba, X = self._outputs(X)
        if proba.shape[1] == 1:
            proba = namespace_of(proba).concat([1 - proba, proba], axis=1)
        return self._like(proba, X)

    def predict_log_proba(self, X):
        proba = self.predict_proba(X)
        return namespace_of(proba).log(proba) if is_non_numpy_array(proba) else np.log(proba)

    def predict(self, X):
        proba, X = self._outputs(X)
        index = self._index(proba)
        if self._multilabel:
            return self._like(index, X)
        if is_non_numpy_array(X) and np.issubdtype(self.classes_.dtype, np.number):
            labels = self._to_model(self.classes_)
            return self._like(self.model_.backend.xp.take(labels, index, axis=0), X)
        return self.classes_[to_numpy(index)]

    def _validation_score(self, X_model, index, sw):
        proba = self._raw(X_model)
        if not np.all(np.isfinite(to_numpy(proba))):
            return np.nan
        return float(accuracy_score(index, to_numpy(self._index(proba)), sample_weight=sw))

    _metric = staticmethod(accuracy_score)
    score = MLPBase._host_score  # ClassifierMixin's would hand CuPy arrays to NumPy

    @property
    def _stratify(self) -> bool:  # early_stopping's split keeps the class proportions, one label a row
        return not self._multilabel

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, MLPBase):
    """A multi-layer perceptron regressor: linear outputs, scikit-learn's squared error
    (half the squared error, summed over outputs, averaged over samples).
    y of shape (samples,) gives predictions of that shape; (samples, k) gives (samples, k).

    loss: 'squared_error' (scikit-learn's half squared error; for k outputs loss_ is the sum over
        the outputs where scikit-learn reports the mean: the gradients are the same), or
        'poisson' (half the Poisson deviance, an exp output; targets must be >= 0).
    {parameters}
    """

    _parameter_constraints = parameter_constraints(loss=[StrOptions({"squared_error", "poisson"})])

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-3,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        batchnorm=False,
        backend=None,
        device=None,
        dtype=None,
    ):
        store_params(self, locals())

    def _encode_targets(self, y, *, first: bool, incremental: bool):
        if first:
            self._y_1d = y.ndim == 1
            self._loss_name = "poisson" if self.loss == "poisson" else "half_mse"
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        if is_non_numpy_array(y):
            xp = namespace_of(y)
            y2 = xp.reshape(y, (y.shape[0], -1))
        else:
            y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if not first and y2.shape[1] != self.n_outputs_:
            raise ShapeError(f"y: {y2.shape[1]} targets but the model predicts {self.n_outputs_}")
        return y2, y2, int(y2.shape[1])

    def fit(self, X, y, sample_weight=None):
        """Train for up to max_iter epochs (iterations for 'lbfgs'); a new network unless warm_start."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on (X, y), continuing the previous fit (or starting one)."""
        return self._partial(X, y, sample_weight)

    def predict(self, X):
        out, X = self._outputs(X)
        if self._y_1d:
            out = self.model_.backend.xp.reshape(out, (-1,))
        return self._like(out, X)

    def _validation_score(self, X_model, y, sw):
        out = to_numpy(self._raw(X_model))
        if not np.all(np.isfinite(out)):
            return np.nan
        return float(r2_score(to_numpy(y), out, sample_weight=sw))

    _metric = staticmethod(r2_score)
    score = MLPBase._host_score  # RegressorMixin's would hand CuPy arrays to NumPy

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


MLPClassifier.__doc__ = MLPClassifier.__doc__.replace("{parameters}", _PARAMETERS.strip("\n"))
MLPRegressor.__doc__ = MLPRegressor.__doc__.replace("{parameters}", _PARAMETERS.strip("\n"))
