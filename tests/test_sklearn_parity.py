"""xpnet's estimators against scikit-learn's: the same script runs against both libraries and
checks that they take the same arguments, expose the same fitted attributes with the same
meaning, warn alike, print alike and reach comparable scores; the objective (loss, alpha's
penalty, sample weights) and its gradient equal scikit-learn's `_backprop` to rounding; the
stopping rule and the learning-rate schedules are scikit-learn's own arithmetic, checked against
its code on the same sequences; class_weight and sample_weight move the decision boundary."""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.7")  # the signatures compared are 1.7's (loss, sample_weight)

from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_iris,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network._stochastic_optimizers import SGDOptimizer  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from xpnet import sklearn as xs  # noqa: E402
from xpnet.nn import get_loss  # noqa: E402
from xpnet.sklearn.stopping import LearningRate, SklearnEpochs  # noqa: E402

PAIRS = [(sk.MLPClassifier, xs.MLPClassifier), (sk.MLPRegressor, xs.MLPRegressor)]
XPNET_ONLY = {
    "MLPClassifier": ["class_weight", "dropout", "batchnorm", "backend", "device", "dtype"],
    "MLPRegressor": ["dropout", "batchnorm", "backend", "device", "dtype"],
}
FITTED = [
    "coefs_",
    "intercepts_",
    "loss_",
    "best_loss_",
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "n_iter_",
    "n_layers_",
    "n_outputs_",
    "out_activation_",
    "t_",
    "classes_",
    "n_features_in_",
]


@pytest.mark.parametrize("theirs, ours", PAIRS, ids=["classifier", "regressor"])
def test_same_constructor_parameters(theirs, ours):
    """scikit-learn's parameters, in its order, of the same kind, with the same defaults; then
    xpnet's own, keyword-only."""
    t, o = inspect.signature(theirs).parameters, inspect.signature(ours).parameters
    assert list(o)[: len(t)] == list(t)
    for name, p in t.items():
        assert o[name].kind == p.kind and o[name].default == p.default, name
    extra = list(o)[len(t) :]
    assert extra == XPNET_ONLY[ours.__name__]
    assert all(o[name].kind is inspect.Parameter.KEYWORD_ONLY for name in extra)
    for name in ("fit", "partial_fit", "predict", "score"):
        assert list(inspect.signature(getattr(ours, name)).parameters) == list(
            inspect.signature(getattr(theirs, name)).parameters
        ), name
    # every parameter is documented on the class
    assert all(name in ours.__doc__ for name in o)


@pytest.mark.parametrize("theirs, ours", PAIRS, ids=["classifier", "regressor"])
def test_bad_parameters_refused_alike(theirs, ours):
    X, y = make_classification(n_samples=30, random_state=0)
    for bad in [{"alpha": -1.0}, {"learning_rate": "cyclic"}, {"beta_1": 1.0}, {"max_fun": 0}, {"momentum": 2.0}]:
        with pytest.raises(ValueError) as theirs_error:
            theirs(**bad).fit(X, y)
        with pytest.raises(ValueError) as ours_error:
            ours(**bad).fit(X, y)
        assert str(ours_error.value) == str(theirs_error.value).replace(theirs.__name__, ours.__name__)
        assert type(ours_error.value).__mro__[1].__module__.startswith("xpnet")  # a ConfigError too


def _classification(binary):
    if binary == "multilabel":
        X, y = make_multilabel_classification(n_samples=300, n_features=10, n_classes=3, n_labels=1, random_state=0)
        return StandardScaler().fit_transform(X), y
    if binary:
        X, y = make_classification(n_samples=200, n_features=6, random_state=0)
        return StandardScaler().fit_transform(X), y
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _regression():
    X, y = make_regression(n_samples=200, n_features=5, noise=2.0, random_state=0)
    return X, y / np.std(y)


def _counts():
    """Poisson counts whose log-mean is linear in the features."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    return X, rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1] + 0.5)).astype(float)


CONFIGS = {
    "adam multiclass": ("classifier", False, dict(learning_rate_init=0.01, max_iter=200)),
    "sgd invscaling binary": (
        "classifier",
        True,
        dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, power_t=0.25, max_iter=150),
    ),
    "sgd adaptive": ("classifier", False, dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.1)),
    "early stopping": ("classifier", True, dict(early_stopping=True, learning_rate_init=0.01, max_iter=300)),
    "lbfgs classifier": ("classifier", False, dict(solver="lbfgs", max_iter=200)),
    "multilabel": ("classifier", "multilabel", dict(learning_rate_init=0.01, max_iter=200)),
    "multilabel early stopping": (
        "classifier",
        "multilabel",
        dict(early_stopping=True, learning_rate_init=0.01, max_iter=200),
    ),
    "adam regressor": ("regressor", False, dict(learning_rate_init=0.01, max_iter=300)),
    "regressor early stopping": ("regressor", False, dict(early_stopping=True, learning_rate_init=0.01, max_iter=300)),
    "lbfgs regressor": ("regressor", False, dict(solver="lbfgs", max_iter=300, max_fun=400)),
    "poisson regressor": ("poisson", False, dict(loss="poisson", learning_rate_init=0.01, max_iter=300)),
}


def _script(cls, kind, binary, params):
    """The user's script: fit, predict, score, read the fitted attributes."""
    X, y = _classification(binary) if kind == "classifier" else _counts() if kind == "poisson" else _regression()
    est = cls(hidden_layer_sizes=(16,), random_state=0, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    out = {
        "present": [name for name in FITTED if hasattr(est, name)],
        "coef shapes": [c.shape for c in est.coefs_],
        "intercept shapes": [b.shape for b in est.intercepts_],
        "structure": (est.n_layers_, est.n_outputs_, est.out_activation_, est.n_features_in_),
        "score": est.score(X, y),
        "predict": (est.predict(X).shape, est.predict(X).dtype.kind),
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
        "n_iter_ within max_iter": 1 <= est.n_iter_ <= params.get("max_iter", 200),
        "loss_ a float": isinstance(float(est.loss_), float) and np.isfinite(est.loss_),
    }
    if kind == "classifier":
        out["classes"] = est.classes_.tolist()
        out["proba"] = est.predict_proba(X).shape
        if binary != "multilabel":  # one label per row: the probabilities sum to 1
            np.testing.assert_allclose(est.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    if hasattr(est, "loss_curve_"):  # the stochastic solvers' bookkeeping
        n_train = len(X) - (int(np.ceil(0.1 * len(X))) if params.get("early_stopping") else 0)
        out["t_ is samples seen"] = est.t_ == est.n_iter_ * n_train
        out["curve"] = len(est.loss_curve_) == est.n_iter_ and est.loss_ == est.loss_curve_[-1]
        if params.get("early_stopping"):
            out["best"] = (est.best_loss_ is None, est.best_validation_score_ == max(est.validation_scores_))
            out["scores"] = len(est.validation_scores_) == est.n_iter_
        else:
            out["best"] = (est.best_loss_ == min(est.loss_curve_), est.validation_scores_, est.best_validation_score_)
    return out


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_same_script_same_attributes(config):
    kind, binary, params = CONFIGS[config]
    theirs_cls, ours_cls = PAIRS[0] if kind == "classifier" else PAIRS[1]
    theirs = _script(theirs_cls, kind, binary, params)
    ours = _script(ours_cls, kind, binary, params)
    score_t, score_o = theirs.pop("score"), ours.pop("score")
    converged_t, converged_o = theirs.pop("converged"), ours.pop("converged")
    assert ours == theirs
    # comparable results: different initial weights and random streams, the same problem
    assert score_o >= min(0.9, score_t - 0.05) if kind != "poisson" else score_o >= score_t - 0.1, (score_o, score_t)
    if not params.get("early_stopping") and params.get("solver") != "lbfgs":
        assert converged_o == converged_t or score_o >= score_t - 0.02


def test_partial_fit_only_for_stochastic_solvers():
    for solver in ("adam", "sgd", "lbfgs"):
        assert hasattr(xs.MLPClassifier(solver=solver), "partial_fit") == hasattr(
            sk.MLPClassifier(solver=solver), "partial_fit"
        )
        # scikit-learn's regressor means the same, but its available_if lambda never calls the check
        assert hasattr(xs.MLPRegressor(solver=solver), "partial_fit") == (solver != "lbfgs")


@pytest.mark.parametrize("theirs, ours", PAIRS, ids=["classifier", "regressor"])
def test_convergence_warning_alike(theirs, ours):
    X, y = _classification(False)
    for cls in (theirs, ours):
        with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
            cls(max_iter=3, random_state=0).fit(X, y)
        with pytest.warns(ConvergenceWarning):
            cls(solver="lbfgs", max_iter=2, random_state=0).fit(X, y)


def test_verbose_prints_the_same_lines():
    X, y = _classification(False)

    def lines(cls, **kw):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(max_iter=4, verbose=True, random_state=0, **kw).fit(X, y)
        return [re.sub(r"\d+\.\d+", "X", line) for line in buf.getvalue().splitlines()]

    for kw in ({}, {"early_stopping": True}):
        theirs, ours = lines(sk.MLPClassifier, **kw), lines(xs.MLPClassifier, **kw)
        assert ours == theirs and len(ours) >= 4


def _objective_pair(est, X, y, sw):
    """scikit-learn's _backprop and xpnet's loss + penalty + backward at est's weights."""
    if isinstance(est, xs.MLPRegressor):
        theirs = sk.MLPRegressor(loss=est.loss, activation=est.activation, alpha=est.alpha)
    else:
        theirs = sk.MLPClassifier(activation=est.activation, alpha=est.alpha)
    theirs.coefs_, theirs.intercepts_ = est.coefs_, est.intercepts_
    theirs.n_layers_, theirs.out_activation_ = est.n_layers_, est.out_activation_
    if est._loss_name == "softmax_cross_entropy":
        target = np.eye(len(est.classes_))[y]
    else:
        target = y.reshape(len(y), -1).astype(float)
    n = len(theirs.coefs_)
    acts = [X] + [None] * n
    loss_t, cg, ig = theirs._backprop(X, target, sw, acts, [None] * n, [None] * n, [None] * n)
    m = est.model_
    out, _, backprop = m.forward(m.backend.asarray(X), training=True)
    yt = y if est._loss_name == "softmax_cross_entropy" else target
    value, dout = get_loss(est._loss_name)(out, m.backend.asarray(yt), None if sw is None else m.backend.asarray(sw))
    _, grads = backprop(dout)
    extra, grads = est._penalty()(m.params, grads, float(len(X)) if sw is None else float(np.sum(sw)))
    ours_grads = [np.asarray(grads[f"{i}.W"]) for i in est._dense()] + [
        np.asarray(grads[f"{i}.b"]) for i in est._dense()
    ]
    return (loss_t, cg + ig), (float(value + extra), ours_grads)


@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression", "two outputs", "poisson"])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_and_gradient_are_scikit_learns(problem, weighted):
    """alpha's penalty alpha/2 ||W||^2 / S and its gradient alpha W / S, the (weighted) mean
    loss: the same numbers as scikit-learn's _backprop at the same weights."""
    if problem == "regression":
        X, y = _regression()
    elif problem == "poisson":
        X, y = _counts()
    elif problem == "two outputs":
        X, y = _regression()
        y = np.stack([y, -0.5 * y], axis=1)
    else:
        X, y = _classification(problem == "binary")
    cls = xs.MLPClassifier if problem in ("multiclass", "binary") else xs.MLPRegressor
    loss = {"loss": "poisson"} if problem == "poisson" else {}
    est = cls(hidden_layer_sizes=(7, 5), activation="tanh", alpha=0.3, max_iter=2, random_state=0, **loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    sw = np.random.default_rng(0).uniform(0.0, 3.0, len(X)) if weighted else None
    labels = np.searchsorted(est.classes_, y) if cls is xs.MLPClassifier else y
    (loss_t, grads_t), (loss_o, grads_o) = _objective_pair(est, X, labels, sw)
    if problem != "two outputs":  # there scikit-learn's loss_ is the mean over outputs (the docstring says so)
        np.testing.assert_allclose(loss_o, loss_t, rtol=1e-12)
    for g_o, g_t in zip(grads_o, grads_t, strict=True):
        np.testing.assert_allclose(g_o, g_t, rtol=1e-10, atol=1e-14)


def _fake(**kw):
    base = dict(tol=1e-4, n_iter_no_change=2, verbose=False, learning_rate="constant", learning_rate_init=0.1)
    base.update(power_t=0.5, n_iter_=0, t_=0, loss_curve_=[], best_loss_=np.inf, _no_improvement_count=0)
    base.update(validation_scores_=None, best_validation_score_=None)
    return SimpleNamespace(**{**base, **kw})


LOSSES = [1.0, 0.9, 0.89995, 0.8999, 0.8998, 0.7, 0.69999, 0.69998, 0.69997, 0.5, 0.49999, 0.49998, 0.49997]


@pytest.mark.parametrize("schedule", ["constant", "adaptive", "invscaling"])
def test_stopping_rule_and_rates_are_scikit_learns(schedule):
    """The same loss sequence through scikit-learn's own _update_no_improvement_count,
    trigger_stopping and iteration_ends, and through xpnet's callback: the same counts, rates
    and stopping epoch."""
    theirs = _fake(learning_rate=schedule)
    opt = SGDOptimizer([np.zeros(1)], learning_rate_init=0.1, lr_schedule=schedule, power_t=0.5)
    ours, rate = _fake(learning_rate=schedule), LearningRate(0.1)
    callback = SklearnEpochs(ours, n_train=10, rate=rate)
    stop_t = stop_o = None
    for epoch, loss in enumerate(LOSSES):
        if stop_t is None:
            theirs.loss_curve_.append(loss)
            theirs.t_ += 10
            sk.MLPClassifier._update_no_improvement_count(theirs, False, None, None, None)
            opt.iteration_ends(theirs.t_)
            if theirs._no_improvement_count > theirs.n_iter_no_change:
                if opt.trigger_stopping("", False):
                    stop_t = epoch
                else:
                    theirs._no_improvement_count = 0
        if stop_o is None:
            if callback.on_epoch_end(epoch, {"loss": loss}):
                stop_o = epoch
            assert ours._no_improvement_count == theirs._no_improvement_count and ours.best_loss_ == theirs.best_loss_
            assert rate.value == pytest.approx(opt.learning_rate, rel=1e-15)
    assert stop_o == stop_t and (stop_o is not None) == (schedule != "adaptive")


def _boundary_data():
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=400) < 0.2).astype(int)  # imbalanced, overlapping classes on one feature
    X = (rng.normal(size=400) + 1.5 * y).reshape(-1, 1)
    return X, y


def _boundary(est) -> float:
    """Where the predicted class turns from 0 to 1 along the feature."""
    grid = np.linspace(-3, 5, 801).reshape(-1, 1)
    return float(grid[np.argmax(est.predict(grid) == 1), 0])


def test_class_weight_and_sample_weight_move_the_decision_boundary():
    X, y = _boundary_data()
    kw = dict(hidden_layer_sizes=(8,), learning_rate_init=0.05, max_iter=150, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = xs.MLPClassifier(**kw).fit(X, y)
        balanced = xs.MLPClassifier(class_weight="balanced", **kw).fit(X, y)
        heavy = xs.MLPClassifier(class_weight={1: 10.0}, **kw).fit(X, y)
        by_sample = xs.MLPClassifier(**kw).fit(X, y, sample_weight=np.where(y == 1, 10.0, 1.0))
        theirs = sk.MLPClassifier(**kw).fit(X, y, sample_weight=np.where(y == 1, 10.0, 1.0))
        theirs_plain = sk.MLPClassifier(**kw).fit(X, y)
    # weighting the rare class moves the boundary towards the common one, as in scikit-learn
    assert _boundary(heavy) < _boundary(balanced) < _boundary(plain) - 0.3
    assert _boundary(theirs) < _boundary(theirs_plain) - 0.3
    assert abs(_boundary(heavy) - _boundary(theirs)) < 0.3
    # class_weight is sample_weight by class: the same network, step for step
    for a, b in zip(heavy.coefs_ + heavy.intercepts_, by_sample.coefs_ + by_sample.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
    recall = [float(np.mean(m.predict(X)[y == 1] == 1)) for m in (plain, balanced)]
    assert recall[1] > recall[0] + 0.2


def test_warm_start_goes_on_as_scikit_learn():
    X, y = _classification(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in (sk.MLPClassifier, xs.MLPClassifier):
            est = cls(max_iter=5, warm_start=True, random_state=0).fit(X, y)
            first = est.loss_curve_[-1]
            est.fit(X, y)
            assert est.n_iter_ == 5 and est.t_ == 10 * len(X) and len(est.loss_curve_) == 10
            assert est.loss_curve_[-1] < first
            with pytest.raises(ValueError, match="warm_start"):
                est.fit(X[y < 2], y[y < 2])
