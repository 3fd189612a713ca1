"""The network's public surface around the math: building and refusing models, moving them
between backends, initialisers by name and by function, and the small conveniences
(get_activation, get_optimizer, Standardizer) that other modules lean on."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from helpers import assert_param_grads_match, host
from xpnet.nn import BatchNorm, Dense, ReLU, Sequential, Standardizer, Tanh, get_activation
from xpnet.nn.init import get_initializer, he_normal, initializer_name
from xpnet.nn.losses import SoftmaxCrossEntropy, get_loss
from xpnet.optim import chain, clip_by_global_norm, get_optimizer, l2, sgd


def test_models_that_cannot_be_built_are_refused():
    with pytest.raises(xpnet.ConfigError, match="expected at least one layer"):
        Sequential([])
    with pytest.raises(xpnet.ConfigError, match=r"layers\[1\]: expected an xpnet Layer, got str"):
        Sequential([Dense(2, 2), "relu"])
    with pytest.raises(xpnet.ConfigError, match="must state its input size"):
        Sequential([ReLU()])
    with pytest.raises(xpnet.ShapeError, match=r"Dense\(n_in=5.*expects 5 inputs but the previous layer gives 4"):
        Sequential([Dense(3, 4), Dense(5, 2)])


def test_a_batchnorm_first_layer_states_the_input_size_and_trains(backend):
    # the first layer's backprop is asked for no input gradient: batch norm's short path
    model = Sequential([BatchNorm(3), Dense(3, 2)], seed=0, backend=backend, dtype="float64")
    assert model.n_in == 3
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.normal(size=(6, 3)), "float64")
    y = backend.asarray(rng.integers(0, 2, 6))
    loss = SoftmaxCrossEntropy()
    out, _, bp = model.forward(x, training=True)
    dx, grads = bp(loss(out, y)[1])
    assert dx is None and set(grads) == {"0.gamma", "0.beta", "1.W", "1.b"}
    assert_param_grads_match(
        model, grads, lambda: loss(model.forward(x, training=True)[0], y)[0], backend, rtol=1e-6, atol=1e-8
    )


def test_call_predict_and_as_input(backend):
    model = xpnet.mlp([3, 4, 2], backend=backend, dtype="float64", seed=0)
    x = backend.asarray([[1.0, 2.0, 3.0]], "float64")
    np.testing.assert_array_equal(host(model(x)), host(model.predict(x)))
    np.testing.assert_array_equal(host(model.predict([1.0, 2.0, 3.0])), host(model.predict(x)))  # one row
    with pytest.raises(xpnet.DataError, match="X: expected a numeric 2-D array, got list"):
        model.predict([["a", "b", "c"]])
    with pytest.raises(xpnet.ShapeError, match="expects 3 features per row, got 2"):
        model.predict([[1.0, 2.0]])
    assert "Sequential([" in repr(model) and f"backend={backend.name!r}" in repr(model)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_moves_a_model_between_backends_with_its_values_and_dtype(backend, dtype):
    model = Sequential([Dense(3, 4), BatchNorm(4), Tanh(), Dense(4, 2)], seed=1, backend="numpy", dtype=dtype)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(dtype)
    before = {k: host(v) for k, v in {**model.params, **model.buffers}.items()}
    want = host(model.predict(x))
    assert model.to(backend) is model
    assert model.backend.name == backend.name and model.dtype == backend.dtype(dtype)
    for k, v in {**model.params, **model.buffers}.items():
        assert xpnet.backend_of(v).device == backend.device and v.dtype == backend.dtype(dtype)
        np.testing.assert_array_equal(host(v), before[k], err_msg=k)
    got = host(model.predict(backend.asarray(x, dtype)))
    np.testing.assert_allclose(got, want, rtol={"float32": 1e-5, "float64": 1e-13}[dtype], atol=1e-7)
    model.to("numpy")
    np.testing.assert_array_equal(host(model.params["0.W"]), before["0.W"])


def test_to_keeps_bfloat16_exactly_and_refuses_a_backend_without_it():
    torch = pytest.importorskip("torch")
    model = xpnet.mlp([3, 2], backend="torch", dtype="bfloat16", seed=0)
    w = model.params["0.W"].clone()
    model.to("torch", device="cpu")  # through the host as float32, which holds bfloat16 exactly
    assert model.params["0.W"].dtype == torch.bfloat16 and bool(torch.equal(model.params["0.W"], w))
    with pytest.raises(xpnet.ConfigError, match="bfloat16 is not supported by the numpy backend"):
        model.to("numpy")
    assert model.backend.name == "torch" and model.params["0.W"] is not None


def test_initialisers_by_name_and_by_function(tmp_path):
    assert get_initializer(he_normal) is he_normal
    assert initializer_name(he_normal) == "he_normal" and initializer_name("glorot_uniform") == "glorot_uniform"

    def my_init(rng, shape, fan_in, fan_out):
        return rng.normal(shape, scale=0.01)

    layer = Dense(3, 2, init=my_init)
    assert layer.init == "custom:my_init"  # recorded, and refused when a file asks for it
    with pytest.raises(xpnet.ConfigError, match="names a custom function, which a file cannot hold"):
        Dense(3, 2, init="custom:my_init")
    model = Sequential([layer], seed=0, backend="numpy")
    xpnet.save_model(tmp_path / "m.npz", model)
    with pytest.raises(xpnet.CheckpointError, match="cannot be built"):
        xpnet.load_model(tmp_path / "m.npz", backend="numpy")
    with pytest.raises(xpnet.ConfigError, match="unknown initialiser 'nope'"):
        Dense(3, 2, init="nope")


def test_lookups_pass_objects_through_and_name_what_is_unknown():
    relu = ReLU()
    assert get_activation(relu) is relu
    opt = sgd(0.1)
    assert get_optimizer(opt) is opt
    ce = SoftmaxCrossEntropy()
    assert get_loss(ce) is ce and repr(ce) == "SoftmaxCrossEntropy()"
    with pytest.raises(xpnet.ConfigError, match="activation: unknown name 'swish'"):
        get_activation("swish")


def test_softmax_cross_entropy_names_a_label_count_mismatch(backend):
    z = backend.asarray(np.zeros((3, 2)), "float64")
    with pytest.raises(xpnet.ShapeError, match="3 rows of logits but 2 labels"):
        SoftmaxCrossEntropy()(z, backend.asarray(np.array([0, 1])))


def test_standardizer_round_trip(backend):
    X = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0]])
    s = Standardizer.fit(X)
    assert s.n_features == 3 and s.std[1] == 1.0  # a constant column keeps std 1
    again = Standardizer.from_dict(s.to_dict())
    got = again(backend.asarray(X, "float64"))
    np.testing.assert_array_equal(host(got), [[-1.0, 0.0, -1.0], [1.0, 0.0, 1.0]])
    assert xpnet.backend_of(got).name == backend.name


def test_transforms_with_nothing_to_do(backend):
    clip = clip_by_global_norm(1.0)
    assert clip.update({}, clip.init({}), {}) == ({}, ())
    penalty = l2(0.0)
    g = {"0.W": backend.asarray([1.0, 2.0], "float64")}
    assert penalty.update(g, penalty.init(g), None)[0] is g  # rate 0: the gradients as they are
    with pytest.raises(xpnet.ConfigError, match="include: expected a predicate"):
        l2(0.1, include="weights")
    assert chain(penalty).spec[0] == "chain"
