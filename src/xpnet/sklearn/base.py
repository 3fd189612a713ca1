"""The part of xpnet's scikit-learn estimators that classifier and regressor share: checking
inputs on the host or on the device, building the network and its Trainer, training, and
pickling. The estimators themselves are in __init__.py.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..backend import backend_of, device_of, get_backend, is_array, namespace_of, to_numpy
from ..errors import ConfigError, DataError, ShapeError  # ValueErrors, as scikit-learn expects
from ..io import model_from_record, model_record
from ..nn import Sequential, get_loss, mlp
from ..optim import MOMENTUM_OPTIMIZERS, optimizer_from_options
from ..training import Trainer
from ..tree import map_arrays

_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's name -> xpnet's; others are shared


def is_non_numpy_array(x) -> bool:
    """An array of a library other than NumPy (torch, CuPy, array-api-strict...)."""
    return is_array(x) and not isinstance(x, np.ndarray)


def host_data(x):
    """`x` as host data: a NumPy copy of another library's array, anything else as it is."""
    return to_numpy(x) if is_non_numpy_array(x) else x


class MLPBase(BaseEstimator):
    """Shared by both estimators; subclasses set how targets become outputs and back.

    scikit-learn's meanings: hidden_layer_sizes, activation ("logistic" is sigmoid; also leaky_relu),
    learning_rate_init, batch_size ("auto": min(200, n)), max_iter (epochs), shuffle, random_state,
    tol and n_iter_no_change (stop after that many epochs without a tol improvement of the loss, or
    of the validation loss with early_stopping, which holds out validation_fraction and keeps the
    best weights), momentum (sgd family, rmsprop). solver: any xpnet optimizer name (sgd, momentum,
    nesterov, rmsprop, adam, adamw). alpha: L2 rate added to the weights' (not biases') gradient.
    xpnet's: dropout and batchnorm after each hidden layer; backend/device to train on (default:
    the input's library, NumPy for host data); dtype (default: the input's float type).
    """

    _loss_name = "mse"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        momentum=0.9,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dropout=0.0,
        batchnorm=False,
        backend=None,
        device=None,
        dtype=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.batchnorm = batchnorm
        self.backend = backend
        self.device = device
        self.dtype = dtype

    # --- input checks: scikit-learn's for host data, the same rules on the device otherwise -----

    def _check_X(self, X, y=None, *, reset: bool, fitting: bool = False):
        if is_non_numpy_array(X):
            xp = namespace_of(X)
            if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
                raise ShapeError(
                    f"X: expected a 2-D array of at least 1 sample and 1 feature, got shape {tuple(X.shape)}"
                )
            if reset:
                self.n_features_in_ = int(X.shape[1])
            elif X.shape[1] != self.n_features_in_:
                raise ShapeError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input"
                )
            if not bool(xp.all(xp.isfinite(X))):  # one host read per call
                raise DataError("X: contains NaN or infinity")
            return X, y
        if fitting:
            return validate_data(
                self,
                X,
                y,
                reset=reset,
                dtype=(np.float64, np.float32),
                multi_output=self._multi_output,
                y_numeric=self._loss_name == "mse",
            )
        return validate_data(self, X, reset=reset, dtype=(np.float64, np.float32)), None

    def _model_backend(self, X):
        if self.backend is not None or self.device is not None:
            return get_backend(self.backend, device=self.device)
        return backend_of(X) if is_non_numpy_array(X) else get_backend("numpy")

    def _to_model(self, a, dtype: str | None = None):
        """`a` on the model's backend (a host round trip only when the libraries differ)."""
        b = self.model_.backend
        if is_non_numpy_array(a) and backend_of(a).name == b.name and device_of(a) == b.device:
            return a if dtype is None else b.xp.astype(a, b.dtype(dtype))
        return b.asarray(host_data(a), dtype)

    def _like(self, out, X):
        """Outputs in the namespace (and on the device) of the input X."""
        if not is_non_numpy_array(X):
            return to_numpy(out)
        mine, like = backend_of(out), backend_of(X)
        return out if (mine.name, mine.device) == (like.name, like.device) else like.asarray(to_numpy(out))

    # --- fitting -------------------------------------------------------------------------------

    def _hidden(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, (int, np.integer)) else list(sizes)
        if all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
            return [int(s) for s in sizes]
        raise ConfigError(f"hidden_layer_sizes: expected positive integers, got {self.hidden_layer_sizes!r}")

    def _seed(self) -> int:
        # random_state None: a fresh seed from NumPy's global generator, as scikit-learn does
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _start(self, X, n_out: int) -> None:
        """Build the network and its Trainer for a first fit."""
        seed = self._seed()
        backend = self._model_backend(X)
        dtype = self.dtype or ("float32" if "float32" in str(X.dtype) else "float64")
        self.model_ = mlp(
            [self.n_features_in_, *self._hidden(), n_out],
            activation=_ACTIVATIONS.get(self.activation, self.activation),
            output_init="glorot_uniform",
            dropout=self.dropout,
            batchnorm=self.batchnorm,
            seed=seed,
            backend=backend,
            dtype=dtype,
        )
        self._trainer = self._make_trainer(seed, min(200, X.shape[0]) if self.batch_size == "auto" else self.batch_size)

    def _make_trainer(self, seed: int, batch_size: int) -> Trainer:
        opt = optimizer_from_options(
            self.solver,
            lr=self.learning_rate_init,
            l2_rate=self.alpha,
            momentum=self.momentum if self.solver in MOMENTUM_OPTIMIZERS else None,
        )
        # scikit-learn's rule: stop after n_iter_no_change epochs without a `tol` improvement of the
        # training loss, or of the validation loss with early_stopping (whose best weights are kept).
        return Trainer(
            self.model_,
            loss=self._loss_name,
            optimizer=opt,
            batch_size=batch_size,
            shuffle=self.shuffle,
            seed=seed,
            patience=self.n_iter_no_change,
            min_delta=self.tol,
            restore_best=bool(self.early_stopping),
        )

    def _train(self, X, y, epochs: int, validation_fraction: float = 0.0):
        t, dtype = self._trainer, self.model_.dtype_name
        y = self._to_model(y, dtype if self._loss_name == "mse" else None)  # class labels stay integers
        # xpnet's ConfigError/DataError/ShapeError are ValueErrors, as scikit-learn expects
        history = t.fit(
            self._to_model(X, dtype), y, epochs=t.state.epoch + epochs, validation_split=validation_fraction
        )
        self.n_iter_ = len(history.epoch)
        self.loss_curve_ = list(history.history["loss"])
        self.history_ = history.as_dict()
        return self

    def _fit(self, X, y, *, first: bool):
        X, y = self._check_X(X, y, reset=first, fitting=True)
        y_model, n_out = self._encode_targets(y, first=first)
        if first:
            self._start(X, n_out)
        return X, y_model

    def fit(self, X, y):
        """Train a new network for up to max_iter epochs."""
        X, y = self._fit(X, y, first=True)
        return self._train(X, y, self.max_iter, self.validation_fraction if self.early_stopping else 0.0)

    def _partial_fit(self, X, y, classes=None):
        first = not hasattr(self, "model_")
        if first and classes is not None:
            self.classes_ = np.unique(np.asarray(classes))
        X, y = self._fit(X, y, first=first)
        return self._train(X, y, 1)

    def _outputs(self, X):
        check_is_fitted(self)
        X, _ = self._check_X(X, reset=False)
        out = self.model_.predict(self._to_model(X, self.model_.dtype_name))
        return get_loss(self._loss_name).predictions(out), X

    def _host_score(self, X, y, sample_weight=None):
        """Accuracy (classifier) or R^2 (regressor), computed on the host."""
        return float(self._metric(host_data(y), host_data(self.predict(X)), sample_weight=host_data(sample_weight)))

    # --- pickling: the model's arrays go through the host, its backend by name -----------------

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ may return __dict__ itself
        trainer = state.pop("_trainer", None)  # its optimizer is closures: rebuilt when unpickled
        if trainer is not None:  # ... from the loop's state, so partial_fit goes on exactly
            state["_trainer"] = {
                "seed": trainer.seed,
                "batch_size": trainer.batch_size,
                "state": map_arrays(to_numpy, trainer.state_dict()),
            }
        model = state.get("model_")
        if isinstance(model, Sequential):  # Backend objects hold modules, which do not pickle
            tensors, meta = model_record(model)
            state["model_"] = {
                "tensors": tensors,
                "meta": meta,
                "backend": model.backend.name,
                "device": model.backend.device_name,
            }
        return state

    def __setstate__(self, state):
        record = state.get("model_")
        if isinstance(record, dict):  # on the backend and device it was trained on
            backend = get_backend(record["backend"], device=record["device"])
            state["model_"] = model_from_record(record["tensors"], record["meta"], backend, source="pickled estimator")
        trainer_state = state.pop("_trainer", None)
        super().__setstate__(state)
        if trainer_state is not None:
            self._trainer = self._make_trainer(trainer_state["seed"], trainer_state["batch_size"])
            self._trainer.load_state_dict(trainer_state["state"])
