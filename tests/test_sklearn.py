"""The scikit-learn estimators: scikit-learn's own estimator checks, Pipeline + GridSearchCV, and
arrays that keep their library (torch in -> torch out; every backend of the fixture)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from xpnet import to_numpy  # noqa: E402
from xpnet.backend import backend_of  # noqa: E402
from xpnet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@parametrize_with_checks([MLPClassifier(random_state=0), MLPRegressor(random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_pipeline_and_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=150, random_state=0))
    grid = GridSearchCV(
        pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (32,)], "mlpclassifier__learning_rate_init": [1e-2]}, cv=3
    )
    grid.fit(X, y)
    assert grid.best_params_["mlpclassifier__hidden_layer_sizes"] in [(4,), (32,)]
    assert grid.best_score_ >= 0.9
    assert grid.score(X, y) >= 0.9
    assert grid.predict(X).dtype == y.dtype  # labels come back as the labels given


def test_classifier_learns_and_keeps_labels():
    X, y = iris()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=200, random_state=0).fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.score(X, names) >= 0.95 and clf.n_iter_ <= 200 and len(clf.loss_curve_) == clf.n_iter_
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert (clf.classes_[proba.argmax(axis=1)] == clf.predict(X)).all()


def test_partial_fit_continues_training():
    X, y = iris()
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    first = clf.loss_curve_[-1]
    for _ in range(30):
        clf.partial_fit(X, y)
    # scikit-learn's counts: n_iter_ is the epochs of the last call, t_ and loss_curve_ add up
    assert clf.n_iter_ == 1 and clf.t_ == 31 * len(X) and len(clf.loss_curve_) == 31
    assert clf.loss_curve_[-1] < 0.5 * first
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    again.partial_fit(X, y)  # an unpickled estimator trains on exactly where it stopped
    clf.partial_fit(X, y)
    assert again.t_ == clf.t_ == 32 * len(X) and again.loss_curve_ == clf.loss_curve_
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_early_stopping_holds_out_validation():
    X, y = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=0)
    reg = MLPRegressor(
        hidden_layer_sizes=(32,),
        learning_rate_init=0.01,
        max_iter=500,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=0,
    ).fit(X, y / 100)
    # scikit-learn's rule: the scores of the last n_iter_no_change + 1 epochs did not beat the best by tol
    assert reg.n_iter_ < 500 and len(reg.validation_scores_) == reg.n_iter_ and reg.best_loss_ is None
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert all(s < reg.best_validation_score_ + reg.tol for s in reg.validation_scores_[-6:])
    assert reg.score(X, y / 100) > 0.8


def _namespace_name(a):
    return type(a).__module__.split(".")[0]


def test_arrays_keep_their_library(backend):
    """torch in -> torch out (CuPy and array-api-strict the same way), on the input's device."""
    X, y = iris()
    Xb, yb = backend.asarray(X, "float64"), backend.asarray(y)
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100, random_state=0).fit(Xb, yb)
    assert clf.model_.backend.name == backend.name  # trained where the data lives
    pred, proba = clf.predict(Xb), clf.predict_proba(Xb)
    for out in (pred, proba):
        assert _namespace_name(out) == _namespace_name(Xb) and backend_of(out).device == backend.device
    assert np.mean(to_numpy(pred) == y) >= 0.9
    # the same estimator on NumPy input answers in NumPy, with the same numbers
    np.testing.assert_allclose(clf.predict_proba(X), to_numpy(proba), rtol=1e-12)
    assert clf.score(Xb, yb) == pytest.approx(np.mean(to_numpy(pred) == y))

    Xr, yr = make_regression(n_samples=80, n_features=3, noise=0.1, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(
        backend.asarray(Xr, "float32"), backend.asarray(yr / 100, "float32")
    )
    out = reg.predict(backend.asarray(Xr, "float32"))
    assert _namespace_name(out) == _namespace_name(backend.asarray(Xr)) and tuple(out.shape) == (80,)
    assert reg.model_.dtype_name == "float32"  # float32 data trains a float32 network


def test_numpy_trained_model_answers_torch_input_in_torch():
    torch = pytest.importorskip("torch")
    X, y = iris()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, y)
    assert clf.model_.backend.name == "numpy"
    out = clf.predict_proba(torch.asarray(X))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), clf.predict_proba(X), rtol=1e-12)


def test_same_seed_same_model_on_every_backend(backend):
    X, y = iris()
    ref = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=3).fit(X, y).predict_proba(X)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=3)
    got = clf.fit(backend.asarray(X, "float64"), backend.asarray(y)).predict_proba(backend.asarray(X, "float64"))
    np.testing.assert_allclose(to_numpy(got), ref, rtol=1e-10)  # float64: RTOL of conftest


def test_weights_and_early_stopping_on_every_backend(backend):
    """sample_weight, class_weight, alpha and early_stopping train where the data lives and give
    NumPy's numbers (float64)."""
    X, y = iris()
    sw = np.linspace(0.2, 2.0, len(y))
    kw = dict(
        hidden_layer_sizes=(8,), max_iter=6, alpha=0.5, class_weight={2: 3.0}, early_stopping=True, random_state=1
    )
    ref = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
    Xb = backend.asarray(X, "float64")
    clf = MLPClassifier(**kw).fit(Xb, backend.asarray(y), sample_weight=backend.asarray(sw, "float64"))
    assert clf.model_.backend.name == backend.name
    np.testing.assert_allclose(to_numpy(clf.predict_proba(Xb)), ref.predict_proba(X), rtol=1e-10)
    assert clf.validation_scores_ == pytest.approx(ref.validation_scores_, rel=1e-12)
    np.testing.assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-10)


def test_interrupt_keeps_the_model_as_scikit_learn_does(monkeypatch):
    from xpnet.sklearn.stopping import SklearnEpochs

    X, y = iris()
    original = SklearnEpochs.on_epoch_end

    def interrupted_after_two(self, epoch, logs):
        original(self, epoch, logs)
        if self.est.n_iter_ == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(SklearnEpochs, "on_epoch_end", interrupted_after_two)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, y)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2 and clf.predict(X).shape == y.shape


def test_divergence_is_a_value_error_naming_the_cure():
    X, y = iris()
    with pytest.raises(ValueError, match=r"non-finite weights at epoch \d+; .*learning_rate_init"):
        MLPRegressor(solver="sgd", learning_rate_init=1e6, momentum=0.0, max_iter=5, random_state=0).fit(X * 1e3, y)


def test_multilabel_on_every_backend(backend):
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=3, random_state=0)
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    ref = MLPClassifier(**kw).fit(X, Y)
    assert ref.out_activation_ == "logistic" and ref.n_outputs_ == 3 and list(ref.classes_) == [0, 1, 2]
    Xb = backend.asarray(X, "float64")
    clf = MLPClassifier(**kw).fit(Xb, backend.asarray(Y))
    pred = clf.predict(Xb)
    assert _namespace_name(pred) == _namespace_name(Xb) and tuple(pred.shape) == (120, 3)
    np.testing.assert_array_equal(to_numpy(pred), ref.predict(X))
    np.testing.assert_allclose(to_numpy(clf.predict_proba(Xb)), ref.predict_proba(X), rtol=1e-10)
    with pytest.raises(ValueError, match="multilabel"):
        clf.partial_fit(Xb, backend.asarray(Y[:, 0]))
