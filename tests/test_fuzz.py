"""Input fuzzing: random layer sizes, batch sizes, dtypes, shapes, values (NaN, inf, huge) and
memory layouts (non-contiguous, negatively strided, Fortran-ordered, read-only) go into `fit` and
`predict`. Each run either trains correctly or raises an XpnetError subclass: never another
exception from deep inside, a hang, or a silently wrong result.

"Correctly" is checked against the same data made canonical (a contiguous, writable float64 copy
of X): the run must end the same way, with the same bits. Inputs that cannot be valid (no rows,
NaN/inf, complex/object/string X, rows that disagree) must be refused. The wide search runs on
NumPy; a smaller one runs on every backend.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import xpnet
from helpers import host
from xpnet.errors import ConfigError, XpnetError

X_KINDS = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex128", "object", "str"]
LAYOUTS = ["C", "F", "strided", "reversed", "readonly"]
VALUES = st.one_of(st.floats(-3, 3), st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e300, -0.0, 5e-324]))
FAST = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _as_kind(base: np.ndarray, kind: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        if kind.startswith("float"):
            return base.astype(kind)
        if kind in ("int64", "int8", "uint8"):
            info = np.iinfo(kind)
            return np.clip(np.round(np.nan_to_num(base)), info.min, info.max).astype(kind)
        if kind == "bool":
            return base > 0
        if kind == "complex128":
            return base + 1j
        return base.astype(kind)  # object, str


def _layout(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values in another memory layout."""
    if a.ndim != 2:
        return a
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":  # every other column of a wider array
        wide = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
        wide[:, ::2] = a
        return wide[:, ::2]
    if layout == "reversed":  # negative strides
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
    return a


FAULTS = ["none"] * 6 + ["values", "kind", "shape", "rows", "targets", "config"]


@st.composite
def cases(draw):
    """(X, y, run): mostly valid, or with one kind of fault (several may combine by chance)."""
    fault = draw(st.sampled_from(FAULTS))
    event(f"fault: {fault}")
    n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    hidden = draw(st.lists(st.integers(1, 6), max_size=2))
    n = draw(st.integers(0 if fault == "rows" else 1, 10))
    shape = (n, n_in)
    if fault == "shape":
        shape = draw(st.sampled_from([(n, n_in + 1), (n,), (n, n_in, 1), (n_in,), (n, 0)]))
    values = VALUES if fault == "values" else st.floats(-3, 3)
    base = np.asarray(
        draw(st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))), dtype=np.float64
    ).reshape(shape)
    kinds = X_KINDS if fault == "kind" else [k for k in X_KINDS if k not in ("complex128", "object", "str")]
    X = _layout(_as_kind(base, draw(st.sampled_from(kinds))), draw(st.sampled_from(LAYOUTS)))
    n_y = draw(st.sampled_from([n + 1, max(n - 1, 0), 0])) if fault == "rows" else n
    if n_out > 1 and draw(st.booleans()):  # class labels
        pool = [0, 1, n_out - 1] + ([n_out, -1, 0.5] if fault == "targets" else [])
        labels = draw(st.lists(st.sampled_from(pool), min_size=n_y, max_size=n_y))
        y = np.asarray(labels, dtype=draw(st.sampled_from(["int64", "float64", "int8"])))
        if y.dtype.kind == "i":
            y = np.asarray(labels).astype(np.int64).astype(y.dtype)
    else:  # targets: regression values, 0/1 for one output (bce_logits by default) or any floats
        width = draw(st.sampled_from([n_out, n_out + 1] if fault == "targets" else [n_out]))
        values = VALUES if fault == "targets" else st.floats(-3, 3)
        kinds = ["float64", "float32", "bool", "int64"] + (["complex128"] if fault == "targets" else [])
        raw = draw(st.lists(values, min_size=n_y * width, max_size=n_y * width))
        y = _as_kind(np.asarray(raw, dtype=np.float64).reshape(n_y, width), draw(st.sampled_from(kinds)))
        if width == 1 and draw(st.booleans()):
            y = y.reshape(n_y)
    y = _layout(y, draw(st.sampled_from(LAYOUTS)))
    batch_sizes = [None, 1, 2, 3, 7, 100]
    run = dict(
        batch_size=draw(st.sampled_from(batch_sizes)),
        epochs=draw(st.sampled_from([1, 2])),
        dtype=draw(st.sampled_from(["float32", "float64"])),
        sizes=[n_in, *hidden, n_out],
        extra=draw(st.sampled_from([None, None, "dropout", "batchnorm"])),
        loss=draw(st.sampled_from([None] * 4 + ["mse", "bce_logits", "softmax_cross_entropy"])),
        validation_split=draw(st.sampled_from([0.0] * 4 + [0.3])),
    )
    if fault == "config":
        key, bad = draw(
            st.sampled_from(
                [
                    ("epochs", 0),
                    ("epochs", -1),
                    ("validation_split", 1.0),
                    ("validation_split", float("nan")),
                    ("batch_size", 0),
                ]
            )
        )
        run[key] = bad
    return X, y, run


def _model(backend, run):
    """Dense layers with tanh between them; dropout or batch norm after the first when asked."""
    sizes, layers = run["sizes"], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(xpnet.Dense(a, b))
        if i < len(sizes) - 2:
            layers += {None: [], "dropout": [xpnet.Dropout(0.3)], "batchnorm": [xpnet.BatchNorm(b)]}[
                run["extra"] if i == 0 else None
            ]
            layers.append(xpnet.Tanh())
    return xpnet.Sequential(layers, backend=backend, dtype=run["dtype"], seed=3)


def _train(backend, X, y, run):
    model = _model(backend, run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a huge input's cast is expected
        try:
            xpnet.fit(
                model,
                X,
                y,
                optimizer=xpnet.sgd(0.05),
                epochs=run["epochs"],
                batch_size=run["batch_size"],
                seed=0,
                loss=run["loss"],
                validation_split=run["validation_split"],
            )
        except XpnetError as exc:  # the only kind of exception allowed
            assert "\n" not in str(exc), exc
            return type(exc), str(exc)
    return None, {k: host(v) for k, v in model.params.items()}


def _must_be_refused(X, y, run) -> type | None:
    """The error class an input must get where it cannot be valid (any XpnetError where several
    things are wrong at once and either may be reported first)."""
    split = run["validation_split"]
    if run["epochs"] < 1 or (run["batch_size"] is not None and run["batch_size"] < 1) or not 0 <= split < 1:
        return ConfigError  # checked before the data is looked at
    if X.dtype.kind in "cOU" or y.dtype.kind == "c" or X.shape[0] == 0 or X.ndim > 2:
        return XpnetError
    if X.ndim == 2 and X.shape[0] != y.shape[0]:
        return XpnetError
    if X.dtype.kind == "f":
        with np.errstate(all="ignore"):
            if not np.isfinite(X.astype(run["dtype"])).all():
                return XpnetError
    return None


def _check(backend, X, y, run):
    outcome, detail = _train(backend, X, y, run)
    event(f"outcome: {'trained' if outcome is None else outcome.__name__}")  # --hypothesis-show-statistics
    must = _must_be_refused(X, y, run)
    if must is not None:
        assert outcome is not None and issubclass(outcome, must), (must, outcome, detail)
    if X.dtype.kind in "fiub":  # the canonical twin must end the same way, bit for bit
        twin_outcome, twin = _train(backend, np.array(X, dtype=np.float64, order="C"), np.array(y, order="C"), run)
        assert twin_outcome == outcome, (outcome, detail, twin_outcome, twin)
        if outcome is None:
            for k in detail:
                np.testing.assert_array_equal(detail[k], twin[k], err_msg=k)
    if outcome is None:  # trained: weights finite (the divergence guard is on) and predictions usable
        assert all(np.isfinite(w).all() for w in detail.values())


@settings(max_examples=300, **FAST)
@given(cases())
def test_fit_trains_correctly_or_raises_a_typed_error(case):
    _check("numpy", *case)


@pytest.mark.parametrize("name", ["array_api_strict", "torch"])
@settings(max_examples=60, **FAST)
@given(case=cases())
def test_fit_on_other_backends(name, case):
    pytest.importorskip(name)
    _check(name, *case)


@settings(max_examples=100, **FAST)
@given(
    n_in=st.integers(1, 5),
    n_out=st.integers(1, 3),
    n=st.integers(0, 6),
    kind=st.sampled_from(X_KINDS),
    layout=st.sampled_from(LAYOUTS),
    width=st.integers(0, 6),
    ndim=st.sampled_from([1, 2, 2, 2, 3]),
    values=st.lists(VALUES, min_size=36, max_size=36),
)
def test_predict_answers_or_raises_a_typed_error(n_in, n_out, n, kind, layout, width, ndim, values):
    model = xpnet.mlp([n_in, 4, n_out], backend="numpy", dtype="float64")
    shape = {1: (width,), 2: (n, width), 3: (n, width, 1)}[ndim]
    X = _layout(_as_kind(np.resize(np.asarray(values), shape), kind), layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN/inf inputs give NaN/inf outputs, not errors
        try:
            out = host(model.predict(X))
        except XpnetError:
            assert X.dtype.kind in "cOU" or X.shape[-1:] != (n_in,) or X.ndim not in (1, 2)
            return
        expected = host(model.predict(np.array(X, dtype=np.float64, order="C")))
    assert out.shape == (1 if X.ndim == 1 else n, n_out)
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=100, **FAST)
@given(
    sizes=st.lists(
        st.one_of(st.integers(-2, 6), st.sampled_from([0.5, 2.0, True, None, "3", np.int64(3)])), min_size=0, max_size=4
    ),
    activation=st.sampled_from(["relu", "tanh", "sigmoid", "nope", 3]),
)
def test_building_a_model_succeeds_or_raises_config_error(sizes, activation):
    try:
        model = xpnet.mlp(sizes, activation=activation, backend="numpy")
    except ConfigError:
        return
    assert len(sizes) >= 2 and all(int(s) >= 1 for s in sizes)
    assert model.n_in == sizes[0] and model.n_out == sizes[-1]


# --- what the fuzzing found, each pinned down -------------------------------------------------


def test_numpy_integers_are_integers():
    model = xpnet.mlp([3, np.int64(4), np.int32(2)], backend="numpy", dtype="float64")
    assert model.architecture()[0]["n_out"] == 4 and type(model.architecture()[0]["n_out"]) is int
    h = xpnet.fit(
        model,
        np.ones((6, 3)),
        np.arange(6) % 2,
        epochs=np.int64(2),
        batch_size=np.int16(4),
        patience=np.uint8(3),
        seed=np.int64(1),
    )
    assert len(h.epoch) == 2


def test_a_bad_seed_is_named_as_given():
    for seed in (-1, 1.5, "3", True):
        with pytest.raises(ConfigError, match=f"^seed: expected an integer >= 0 or None, got {seed!r}$"):
            xpnet.Trainer(xpnet.mlp([3, 2], backend="numpy"), seed=seed)


def test_unusual_numpy_input_trains_like_its_plain_copy(backend):
    """Negative strides and read-only memory (torch could not wrap them), float16 (strict has no
    float16) and longdouble (no library but NumPy has it) train as a plain float64 copy does."""
    X = np.random.default_rng(0).normal(size=(8, 3))
    y = np.arange(8) % 2
    readonly = X.copy()
    readonly.flags.writeable = False
    variants = [np.ascontiguousarray(X[::-1])[::-1], readonly, X.astype(np.float16), X.astype(np.longdouble)]
    plain = [X, X, X.astype(np.float16).astype(np.float64), X]
    for given_X, plain_X in zip(variants, plain, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's "non-writable array" warning included
            runs = [xpnet.mlp([3, 4, 2], backend=backend, dtype="float32", seed=1) for _ in range(2)]
            for model, data in zip(runs, (given_X, plain_X), strict=True):
                xpnet.fit(model, data, y, epochs=2, batch_size=3, optimizer=xpnet.sgd(0.1))
        for k in runs[0].params:
            np.testing.assert_array_equal(host(runs[0].params[k]), host(runs[1].params[k]), err_msg=k)


def test_a_one_row_batch_for_batch_norm_is_refused_before_any_step(backend):
    model = xpnet.Sequential([xpnet.Dense(3, 4), xpnet.BatchNorm(4), xpnet.Dense(4, 2)], backend=backend)
    before = {k: host(v) for k, v in model.params.items()}
    with pytest.raises(
        xpnet.ShapeError, match="batch_size: 4 makes a training batch of 1 row.*BatchNorm needs at least 2"
    ):
        xpnet.fit(model, np.ones((9, 3)), np.arange(9) % 2, batch_size=4, epochs=1)
    for k, v in before.items():
        np.testing.assert_array_equal(host(model.params[k]), v)  # nothing was trained
    xpnet.fit(model, np.ones((10, 3)), np.arange(10) % 2, batch_size=4, epochs=1)  # 4 + 4 + 2 rows: fine
