"""Batch normalisation: gradient checks (training and evaluation), running statistics, agreement
with torch.nn.BatchNorm1d, and a whole network of Dense, BatchNorm, ReLU and Dropout checked
against finite differences."""

import numpy as np
import pytest

import xpnet
from helpers import assert_param_grads_match, host, numerical_grad
from xpnet.nn import BatchNorm, Context, Dense, Dropout

RTOL, ATOL = 1e-6, 1e-8


def _build(backend, n=3, dtype="float64", **kw):
    layer = BatchNorm(n, **kw)
    params, buffers, n_out = layer.build(n, rng=xpnet.HostRandom(0), backend=backend, dtype=backend.dtype(dtype))
    assert n_out == n
    return layer, params, buffers


def _ctx(backend, training):
    return Context(backend.xp, backend.device, training, None)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_gradient(training, backend):
    rng = np.random.default_rng(0)
    layer, params, buffers = _build(backend)
    # non-trivial gamma, beta and running statistics, so every term of the backward rule counts
    host_params = {"gamma": rng.normal(size=3) + 1.5, "beta": rng.normal(size=3)}
    params = {k: backend.asarray(v, "float64") for k, v in host_params.items()}
    buffers = {
        "running_mean": backend.asarray(rng.normal(size=3), "float64"),
        "running_var": backend.asarray(rng.random(3) + 0.5, "float64"),
    }
    x0 = rng.normal(size=(5, 3)) * 2 + 1
    w = backend.asarray(rng.normal(size=(5, 3)), "float64")

    def f_of(name):
        def f(value):
            p, x = dict(params), backend.asarray(x0, "float64")
            if name == "x":
                x = value
            else:
                p[name] = value
            return backend.xp.sum(layer.forward(p, buffers, x, _ctx(backend, training))[0] * w)

        return f

    out = layer.forward(params, buffers, backend.asarray(x0, "float64"), _ctx(backend, training))
    dx, grads = out[2](w)
    assert set(grads) == {"gamma", "beta"}
    for name, got, at in [
        ("x", dx, x0),
        ("gamma", grads["gamma"], host_params["gamma"]),
        ("beta", grads["beta"], host_params["beta"]),
    ]:
        np.testing.assert_allclose(
            host(got), numerical_grad(f_of(name), at.copy(), backend), rtol=RTOL, atol=ATOL, err_msg=name
        )


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-6), ("float64", 1e-14)])
def test_running_statistics_update_and_eval_uses_them(dtype, rtol, backend):
    layer, params, buffers = _build(backend, n=1, dtype=dtype)
    x = backend.asarray([[1.0], [3.0]], dtype)
    y, new, _ = layer.forward(params, buffers, x, _ctx(backend, True))
    # batch mean 2, biased variance 1 (normalises to -1, 1), unbiased variance 2 (running):
    # running_mean = 0.9 * 0 + 0.1 * 2, running_var = 0.9 * 1 + 0.1 * 2
    np.testing.assert_allclose(host(y), [[-1 / np.sqrt(1 + 1e-5)], [1 / np.sqrt(1 + 1e-5)]], rtol=rtol)
    np.testing.assert_allclose(host(new["running_mean"]), [0.2], rtol=rtol)
    np.testing.assert_allclose(host(new["running_var"]), [1.1], rtol=rtol)
    y_eval, _, _ = layer.forward(params, new, backend.asarray([[0.2], [1.2]], dtype), _ctx(backend, False))
    np.testing.assert_allclose(host(y_eval), [[0.0], [1 / np.sqrt(1.1 + 1e-5)]], rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_matches_torch_batchnorm1d(dtype, rtol, backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    gamma, beta = rng.normal(size=4) + 1, rng.normal(size=4)
    tdt = getattr(torch, dtype)
    ref = torch.nn.BatchNorm1d(4, momentum=0.2, eps=1e-3).to(tdt)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(gamma)), ref.bias.copy_(torch.tensor(beta))
    layer, _, buffers = _build(backend, n=4, dtype=dtype, momentum=0.2, eps=1e-3)
    params = {"gamma": backend.asarray(gamma, dtype), "beta": backend.asarray(beta, dtype)}
    tol = dict(rtol=rtol, atol=rtol)
    for step in range(3):  # three training batches: running statistics accumulate
        x, dy = rng.normal(size=(6, 4)) * 3 + step, rng.normal(size=(6, 4))
        xt = torch.tensor(x, dtype=tdt, requires_grad=True)
        ref.weight.grad = ref.bias.grad = None
        yt = ref(xt)
        yt.backward(torch.tensor(dy, dtype=tdt))
        y, buffers, bp = layer.forward(params, buffers, backend.asarray(x, dtype), _ctx(backend, True))
        dx, grads = bp(backend.asarray(dy, dtype))
        np.testing.assert_allclose(host(y), yt.detach().double().numpy(), **tol)
        np.testing.assert_allclose(host(dx), xt.grad.double().numpy(), **tol)
        np.testing.assert_allclose(host(grads["gamma"]), ref.weight.grad.double().numpy(), **tol)
        np.testing.assert_allclose(host(grads["beta"]), ref.bias.grad.double().numpy(), **tol)
        np.testing.assert_allclose(host(buffers["running_mean"]), ref.running_mean.double().numpy(), **tol)
        np.testing.assert_allclose(host(buffers["running_var"]), ref.running_var.double().numpy(), **tol)
    ref.eval()
    x = rng.normal(size=(5, 4))
    y, _, _ = layer.forward(params, buffers, backend.asarray(x, dtype), _ctx(backend, False))
    np.testing.assert_allclose(host(y), ref(torch.tensor(x, dtype=tdt)).detach().double().numpy(), **tol)


def test_whole_network_gradient_dense_batchnorm_relu_dropout(backend):
    rng = np.random.default_rng(4)
    model = xpnet.Sequential(
        [Dense(3, 6), BatchNorm(6), xpnet.ReLU(), Dropout(0.3), Dense(6, 2)], seed=3, backend=backend, dtype="float64"
    )
    x = backend.asarray(rng.normal(size=(8, 3)), "float64")
    y = backend.asarray(rng.integers(0, 2, 8), None)
    loss = xpnet.get_loss("softmax_cross_entropy")

    def forward():  # the same dropout mask on every call: a fresh generator with one seed
        return model.forward(x, training=True, rng=xpnet.HostRandom(5))

    out, _, bp = forward()
    _, grads = bp(loss(out, y)[1])
    assert set(grads) == set(model.params) == {"0.W", "0.b", "1.gamma", "1.beta", "4.W", "4.b"}
    assert_param_grads_match(model, grads, lambda: loss(forward()[0], y)[0], backend, rtol=RTOL, atol=ATOL)


def test_forward_is_pure_and_the_step_commits_the_buffers(backend):
    model = xpnet.Sequential([Dense(2, 2), BatchNorm(2)], seed=0, backend=backend, dtype="float64")
    x = backend.asarray([[1.0, 2.0], [3.0, 5.0]], "float64")
    model.predict(x)
    before = dict(model.buffers)
    _, new, _ = model.forward(x, training=True)  # computing gradients changes nothing in the model
    assert model.buffers == before and all(model.buffers[k] is before[k] for k in before)
    np.testing.assert_array_equal(host(model.buffers["1.running_mean"]), [0.0, 0.0])
    assert host(new["1.running_mean"]).any()
    opt = xpnet.sgd(0.1)
    xpnet.make_train_step(model, xpnet.get_loss("mse"), opt)(x, x, opt.init(model.params))
    np.testing.assert_array_equal(host(model.buffers["1.running_mean"]), host(new["1.running_mean"]))


def test_errors():
    with pytest.raises(xpnet.ShapeError, match=r"BatchNorm\(n_features=4.*expects 4 features.*gives 3"):
        xpnet.Sequential([Dense(2, 3), BatchNorm(4)])
    for kw, pattern in [
        (dict(n_features=0), "n_features.*0"),
        (dict(n_features=2, momentum=1.5), "momentum.*1.5"),
        (dict(n_features=2, eps=0.0), "eps.*0.0"),
    ]:
        with pytest.raises(xpnet.ConfigError, match=pattern):
            BatchNorm(**kw)


def test_training_batch_of_one_is_a_shape_error(backend):
    layer, params, buffers = _build(backend)
    with pytest.raises(xpnet.ShapeError, match="at least 2 rows"):
        layer.forward(params, buffers, backend.asarray([[1.0, 2.0, 3.0]], "float64"), _ctx(backend, True))
