"""The part of xpnet's scikit-learn estimators that classifier and regressor share: the
parameters and their checks (scikit-learn's own constraints), inputs on the host or on the
device, building the network and its Trainer, the solvers, the fitted attributes, and pickling.
The estimators themselves are in __init__.py; scikit-learn's rules between epochs in stopping.py;
the 'lbfgs' solver in lbfgs.py.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..backend import backend_of, device_of, get_backend, is_array, namespace_of, to_numpy
from ..errors import ConfigError, DataError, DivergenceError, ShapeError  # ValueErrors, as scikit-learn expects
from ..io import model_from_record, model_record
from ..nn import Dense, Sequential, get_loss, mlp
from ..optim import MOMENTUM_OPTIMIZERS, adam, batch_scaled_l2, optimizer_from_options, sgd
from ..training import Trainer
from ..tree import map_arrays
from .lbfgs import fit_lbfgs
from .stopping import LearningRate, SklearnEpochs

_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's name -> xpnet's; others are shared
XPNET_SOLVERS = ("momentum", "nesterov", "rmsprop", "adamw")  # xpnet's optimizers beyond scikit-learn's
_SGD_FAMILY = ("sgd", "momentum", "nesterov")  # the solvers learning_rate's schedule applies to
PREDICT_BYTES = 16 * 2**20  # the widest activation of one block of rows predicted at once


class ParameterError(ConfigError, InvalidParameterError):
    """A constructor parameter out of its range: xpnet's ConfigError and scikit-learn's
    InvalidParameterError (a ValueError and a TypeError) at once, with scikit-learn's one line."""


def parameter_constraints(**extra) -> dict:
    """scikit-learn's constraints for its MLPs' parameters (the same ranges, the same messages),
    widened for xpnet's solvers and activations, plus xpnet's own parameters and `extra`."""
    constraints = dict(_SkMLPRegressor._parameter_constraints)
    constraints.pop("loss", None)  # MLPRegressor has it since scikit-learn 1.7
    constraints.update(
        solver=[StrOptions({"lbfgs", "sgd", "adam", *XPNET_SOLVERS})],
        activation=[StrOptions({"identity", "logistic", "tanh", "relu", "leaky_relu"})],
        dropout=[Interval(Real, 0, 1, closed="left")],
        batchnorm=["boolean"],
        backend=[str, None],
        device="no_validation",  # a name, an index or a library's device object: the backend checks it
        dtype=[StrOptions({"float16", "bfloat16", "float32", "float64"}), None],
        **extra,
    )
    return constraints


def store_params(estimator, values: dict) -> None:
    """What scikit-learn's __init__ does: each constructor argument stored under its own name
    (from the constructor's locals()), nothing checked or changed until fit."""
    for name, value in values.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def is_non_numpy_array(x) -> bool:
    """An array of a library other than NumPy (torch, CuPy, array-api-strict...)."""
    return is_array(x) and not isinstance(x, np.ndarray)


def host_data(x):
    """`x` as host data: a NumPy copy of another library's array, anything else as it is."""
    return to_numpy(x) if is_non_numpy_array(x) else x


class MLPBase(BaseEstimator):
    """Shared by both estimators; subclasses set the loss, how targets become outputs and back,
    and the score (accuracy, R^2). The parameters are documented on the estimators."""

    _loss_name = "half_mse"
    _multi_output = True
    _y_numeric = True
    _stratify = False  # True: early_stopping's split keeps the classes' proportions

    # --- parameters --------------------------------------------------------------------------

    def _check_params(self) -> None:
        try:
            self._validate_params()  # scikit-learn's checks of _parameter_constraints
        except InvalidParameterError as exc:
            raise ParameterError(str(exc)) from None
        if self.solver == "lbfgs" and (self.dropout or self.batchnorm):
            raise ConfigError(
                "solver: 'lbfgs' minimises one deterministic objective; dropout and batchnorm need a stochastic "
                "solver ('adam', 'sgd')"
            )

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
                y_numeric=self._y_numeric,
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

    def _sample_weight(self, sample_weight, y_labels, n: int):
        """The per-row weights on the host, or None (the classifier multiplies in class_weight)."""
        if sample_weight is not None:
            sw = np.asarray(host_data(sample_weight), dtype=np.float64)
            if sw.ndim == 0:
                sw = np.full(n, float(sw))
            if sw.shape != (n,):
                raise ShapeError(f"sample_weight: expected shape ({n},), one weight per sample, got {sw.shape}")
            if not np.all(np.isfinite(sw)) or np.any(sw < 0):
                raise DataError("sample_weight: expected finite, non-negative weights")
            if not np.any(sw > 0):
                raise DataError("sample_weight: every weight is zero; at least one sample must count")
            return sw
        return None

    # --- the network and its training ---------------------------------------------------------

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

    def _initialize(self, X, n_out: int, seed: int) -> None:
        """A new network (Glorot-uniform weights, as scikit-learn draws them) and what
        scikit-learn's _initialize sets."""
        dtype = self.dtype or ("float32" if "float32" in str(X.dtype) else "float64")
        self.model_ = mlp(
            [self.n_features_in_, *self._hidden(), n_out],
            activation=_ACTIVATIONS.get(self.activation, self.activation),
            init="glorot_uniform",
            dropout=self.dropout,
            batchnorm=self.batchnorm,
            seed=seed,
            backend=self._model_backend(X),
            dtype=dtype,
        )
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = n_out
        self.n_layers_ = len(self._hidden()) + 2
        self.__dict__.pop("_trainer", None)
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf

    def _optimizer(self):
        """The solver with scikit-learn's hyperparameters; the sgd family reads self._rate."""
        if self.solver == "adam":
            return adam(float(self.learning_rate_init), b1=self.beta_1, b2=self.beta_2, eps=self.epsilon)
        if self.solver == "sgd":
            nesterov = bool(self.nesterovs_momentum) and self.momentum > 0
            return sgd(self._rate, momentum=float(self.momentum), nesterov=nesterov)
        lr = self._rate if self.solver in _SGD_FAMILY else float(self.learning_rate_init)
        momentum = float(self.momentum) if self.solver in MOMENTUM_OPTIMIZERS else None
        return optimizer_from_options(self.solver, lr=lr, momentum=momentum)

    def _penalty(self):
        return batch_scaled_l2(float(self.alpha)) if self.alpha else None

    def _make_trainer(self, seed: int, batch_size: int) -> Trainer:
        # stopping is scikit-learn's rule, in the SklearnEpochs callback: no patience here
        return Trainer(
            self.model_,
            loss=self._loss_name,
            optimizer=self._optimizer(),
            batch_size=batch_size,
            shuffle=self.shuffle,
            seed=seed,
            metrics=["loss"],
            penalty=self._penalty(),
        )

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped", stacklevel=4
            )
        return int(np.clip(self.batch_size, 1, n))

    def _split(self, X, y_labels, sw, seed: int):
        """early_stopping's held-out rows, drawn by scikit-learn's train_test_split (stratified
        for a classifier): (the rows to train on, (X, y_labels, w) of the held-out rows to score).
        Only the held-out rows are copied; training gathers its batches from X."""
        stratify = y_labels if self._stratify else None
        kept, held = train_test_split(
            np.arange(X.shape[0]), random_state=seed, test_size=self.validation_fraction, stratify=stratify
        )
        if held.shape[0] < 2:
            raise DataError(
                "validation_fraction: the validation set is too small; increase validation_fraction or the data"
            )

        def take(a):
            if a is None or not is_non_numpy_array(a):
                return None if a is None else np.take(a, held, axis=0)
            return namespace_of(a).take(a, backend_of(a).asarray(held), axis=0)

        return kept, (take(X), take(y_labels), take(sw))

    def _fit(self, X, y, sample_weight=None, *, incremental: bool):
        self._check_params()
        first = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, y = self._check_X(X, y, reset=first, fitting=True)
        y_model, y_labels, n_out = self._encode_targets(y, first=first, incremental=incremental)
        sw = self._sample_weight(sample_weight, y_labels, X.shape[0])
        seed = self._seed()
        if first:
            self._initialize(X, n_out, seed)
        if self.solver == "lbfgs":
            return self._fit_lbfgs(X, y_model, sw)
        if self.early_stopping and incremental:
            raise ConfigError("early_stopping: partial_fit does not support early_stopping=True")
        return self._fit_stochastic(X, y_model, y_labels, sw, seed, incremental=incremental)

    def _fit_stochastic(self, X, y_model, y_labels, sw, seed: int, *, incremental: bool):
        """scikit-learn's _fit_stochastic: the Trainer runs the epochs, SklearnEpochs decides
        between them; early_stopping trains on the kept rows (gathered from X, not copied)."""
        dtype = self.model_.dtype_name
        rows, validation = None, None
        if self.early_stopping:
            rows, (X_val, y_val, sw_val) = self._split(X, y_labels, sw, seed)
            X_val = self._to_model(X_val, dtype)

            def validation():
                return self._validation_score(X_val, y_val, sw_val)

        n_train = int(X.shape[0] if rows is None else len(rows))
        if not incremental or not hasattr(self, "_trainer"):  # a new optimizer (and rate) for each fit
            self._rate = LearningRate(self.learning_rate_init)
            self._trainer = self._make_trainer(seed, self._batch_size(n_train))
        trainer = self._trainer
        self._best_weights = None
        epochs = SklearnEpochs(
            self,
            n_train=n_train,
            rate=self._rate if self.solver in _SGD_FAMILY else None,
            validation=validation,
            snapshot=lambda: trainer._snapshot(with_opt_state=False)[:2],  # copies where the step writes in place
        )
        trainer.callbacks = [epochs]
        self.n_iter_ = 0
        interrupted = False
        try:
            trainer.fit(
                self._to_model(X, dtype),
                self._to_model(y_model, None if self._loss_name == "softmax_cross_entropy" else dtype),
                epochs=trainer.state.epoch + (1 if incremental else self.max_iter),
                sample_weight=None if sw is None else self._to_model(sw, dtype),
                rows=None if rows is None else self.model_.backend.asarray(rows),
            )
        except KeyboardInterrupt:  # scikit-learn's: keep what was learnt, say so, return
            warnings.warn("Training interrupted by user.", stacklevel=4)
            interrupted = True
        except DivergenceError as exc:  # a ValueError, as scikit-learn's for non-finite weights
            raise DataError(
                f"fit: the solver produced non-finite weights at epoch {exc.epoch + 1}; the input data may "
                "contain large values and need to be preprocessed, or learning_rate_init be lowered"
            ) from None
        finally:
            trainer.callbacks = []
        if not incremental and not epochs.stopped and not interrupted and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if self._best_weights is not None:  # early_stopping: scikit-learn keeps the best weights
            self.model_.params, self.model_.buffers = (dict(d) for d in self._best_weights)
        self._best_weights = None
        self.history_ = trainer.history.as_dict()
        return self

    def _fit_lbfgs(self, X, y_model, sw):
        dtype = self.model_.dtype_name
        loss = get_loss(self._loss_name)
        y_model = self._to_model(y_model, None if self._loss_name == "softmax_cross_entropy" else dtype)
        self.n_iter_, self.loss_ = fit_lbfgs(
            self.model_,
            loss,
            self._penalty(),
            self._to_model(X, dtype),
            y_model,
            None if sw is None else self._to_model(sw, dtype),
            max_iter=self.max_iter,
            max_fun=self.max_fun,
            tol=self.tol,
            verbose=self.verbose,
        )
        return self

    def fit(self, X, y, sample_weight=None):
        """Train for up to max_iter epochs (iterations for 'lbfgs'); a new network unless
        warm_start. sample_weight: one non-negative weight per sample (see the class docstring)."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self) -> bool:
        """partial_fit exists for the stochastic solvers only (scikit-learn's available_if)."""
        if self.solver == "lbfgs":
            raise AttributeError("partial_fit is only available for stochastic optimizers. lbfgs is not stochastic.")
        return True

    def _partial(self, X, y, sample_weight):
        return self._fit(X, y, sample_weight, incremental=True)

    # --- predictions ---------------------------------------------------------------------------

    def _raw(self, X_model):
        """The network's predictions (probabilities, or the outputs) for model-ready X, computed
        in blocks of rows whose widest activation takes at most PREDICT_BYTES: memory then holds
        the inputs, the outputs and one block's activations, however many rows X has."""
        model, loss = self.model_, get_loss(self._loss_name)
        widest = max(int(p.shape[-1]) for p in model.params.values())
        rows = max(1, PREDICT_BYTES // (8 * widest))
        n = X_model.shape[0]
        if n <= rows:
            return loss.predictions(model.predict(X_model))
        parts = [loss.predictions(model.predict(X_model[a : min(a + rows, n), ...])) for a in range(0, n, rows)]
        return model.backend.xp.concat(parts, axis=0)

    def _outputs(self, X):
        check_is_fitted(self)
        X, _ = self._check_X(X, reset=False)
        return self._raw(self._to_model(X, self.model_.dtype_name)), X

    def _host_score(self, X, y, sample_weight=None):
        """Accuracy (classifier) or R^2 (regressor), computed on the host."""
        return float(self._metric(host_data(y), host_data(self.predict(X)), sample_weight=host_data(sample_weight)))

    # --- fitted attributes read from the network ----------------------------------------------

    def _dense(self) -> list[int]:
        check_is_fitted(self)
        return [i for i, layer in enumerate(self.model_.layers) if isinstance(layer, Dense)]

    @property
    def coefs_(self) -> list:
        """The weight matrices, one per layer (NumPy arrays; (n_in, n_out), as scikit-learn's)."""
        return [np.asarray(to_numpy(self.model_.params[f"{i}.W"])) for i in self._dense()]

    @property
    def intercepts_(self) -> list:
        """The bias vectors, one per layer (NumPy arrays)."""
        return [np.asarray(to_numpy(self.model_.params[f"{i}.b"])) for i in self._dense()]

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
