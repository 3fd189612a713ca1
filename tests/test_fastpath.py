"""The fast NumPy training step (xpnet/fast) against the generic `train_step`.

The fast step does the generic step's arithmetic operation for operation, only into preallocated
buffers and in place, so weights, outputs and (except where noted) losses must be bit-identical
after K steps. Where no fast step supports a configuration exactly, `make_train_step` takes the
generic path and says so (`step.path`).
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import host
from xpnet import Dense, LeakyReLU, ReLU, Sequential, Sigmoid, Softmax, Tanh, mlp
from xpnet.fast import numpy_step
from xpnet.losses import BCE, MSE, HalfSSE, SoftmaxCrossEntropy
from xpnet.optim import Optimizer, adam, adamw, chain, clip_by_global_norm, rmsprop, sgd
from xpnet.training import make_train_step, train_step
from xpnet.tree import tree_flatten

K_STEPS = 7


def _run_both(make_model, loss, opt, batches):
    """Train a generic and a compiled copy on the same batches; return both models and records."""
    gen, fast = make_model(), make_model()  # one for the generic step, one for the compiled
    step = make_train_step(fast, loss, opt)
    assert step.path == "numpy"
    sg, sf = opt.init(gen.params), step.init_state()
    rec_g, rec_f = [], []
    for x, y in batches:
        vg, og, sg = train_step(gen, loss, opt, sg, x, y)
        vf, of, sf = step(x, y, sf)
        assert step.last_path == "numpy"  # the fast step ran this call
        rec_g.append((float(vg), og))
        rec_f.append((float(vf), of))
    _assert_states_identical(sg, sf)
    return gen, fast, rec_g, rec_f


def _assert_states_identical(sg, sf):
    # the same layout (what checkpoints and resume flatten) and the same numbers, bit for bit
    leaves_g, spec_g = tree_flatten(sg)
    leaves_f, spec_f = tree_flatten(sf)
    assert spec_g == spec_f and type(sg) is type(sf)
    for k in leaves_g:
        np.testing.assert_array_equal(np.asarray(leaves_f[k]), np.asarray(leaves_g[k]), err_msg=k)


def _assert_params_identical(gen, fast):
    assert gen.params.keys() == fast.params.keys()
    for k in gen.params:
        assert fast.params[k].dtype == gen.params[k].dtype
        np.testing.assert_array_equal(fast.params[k], gen.params[k], err_msg=k)


def _batches(rng, sizes, n_in, n_out, dtype, labels=False):
    out = []
    for n in sizes:
        x = rng.standard_normal((n, n_in)).astype(dtype)
        y = rng.integers(0, n_out, n) if labels else rng.random((n, n_out)).astype(dtype)
        out.append((x, y))
    return out


def test_seed_network_is_bit_identical(numpy_backend):
    # the seeds' 3-4-1 network, plain sigmoid, half SSE, lr 1, float64: the published digits
    from xpnet.trask.common import trask_network

    X = numpy_backend.asarray([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], "float64")
    y = numpy_backend.asarray([[0], [1], [1], [0]], "float64")
    gen, fast, rg, rf = _run_both(lambda: trask_network([3, 4, 1], numpy_backend), HalfSSE(), sgd(1.0), [(X, y)] * 200)
    _assert_params_identical(gen, fast)
    assert [v for v, _ in rg] == [v for v, _ in rf]
    for (_, og), (_, of) in zip(rg, rf, strict=True):
        np.testing.assert_array_equal(of, og)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_mlp_softmax_labels(numpy_backend, dtype):
    # integer labels; batch sizes change (a last, smaller batch) so buffers per size are used
    rng = np.random.default_rng(0)
    batches = _batches(rng, [16, 16, 5, 16, 5, 16, 16], 12, 4, dtype, labels=True)
    gen, fast, rg, rf = _run_both(
        lambda: mlp([12, 9, 7, 4], activation="relu", dtype=dtype, seed=3, backend=numpy_backend),
        SoftmaxCrossEntropy(),
        sgd(0.05),
        batches,
    )
    _assert_params_identical(gen, fast)
    for (_, og), (_, of) in zip(rg, rf, strict=True):
        np.testing.assert_array_equal(of, og)
    # the labels become the generic's one-hot (a boolean mask read as 0.0 and 1.0): the same value
    assert [v for v, _ in rf] == [v for v, _ in rg]


def test_softmax_one_hot_targets_bit_identical(numpy_backend):
    rng = np.random.default_rng(1)
    batches = [(x, np.eye(5)[lab]) for x, lab in _batches(rng, [8] * K_STEPS, 6, 5, "float64", labels=True)]
    gen, fast, rg, rf = _run_both(
        lambda: mlp([6, 8, 5], activation="tanh", dtype="float64", seed=0, backend=numpy_backend),
        SoftmaxCrossEntropy(),
        sgd(0.1),
        batches,
    )
    _assert_params_identical(gen, fast)
    assert [v for v, _ in rg] == [v for v, _ in rf]


@pytest.mark.parametrize(
    "layers",
    [
        lambda: [Dense(5, 6), Tanh(), Dense(6, 3), Sigmoid()],
        lambda: [Dense(5, 6, bias=False), Sigmoid(stable=True), Dense(6, 3, bias=False)],
        lambda: [Dense(5, 6), ReLU(), Dense(6, 6), Sigmoid(stable=False), Dense(6, 3), Tanh()],
    ],
    ids=["tanh-sigmoid", "stable-sigmoid-nobias", "relu-seedsigmoid-tanh"],
)
@pytest.mark.parametrize("loss", [MSE(), HalfSSE()], ids=["mse", "half_sse"])
def test_regression_stacks_bit_identical(numpy_backend, layers, loss):
    rng = np.random.default_rng(2)
    batches = _batches(rng, [10] * K_STEPS, 5, 3, "float32")
    gen, fast, rg, rf = _run_both(
        lambda: Sequential(layers(), seed=4, backend=numpy_backend), loss, sgd(lambda step: 0.1 / (1 + step)), batches
    )  # a schedule, too
    _assert_params_identical(gen, fast)
    assert [v for v, _ in rg] == [v for v, _ in rf]


def test_outputs_are_fresh_and_held_params_untouched(numpy_backend):
    model = mlp([4, 5, 3], dtype="float64", seed=0, backend=numpy_backend)
    before = {k: v for k, v in model.params.items()}
    copies = {k: np.array(v) for k, v in before.items()}
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(0.5))
    x, y = np.ones((2, 4)), np.array([0, 2])
    state = sgd(0.5).init(model.params)
    _, out1, state = step(x, y, state)
    kept = np.array(out1)
    _, out2, state = step(x, y, state)
    np.testing.assert_array_equal(out1, kept)  # the next step did not overwrite the outputs
    assert not np.array_equal(out1, out2)  # ...and the weights did change
    for k in before:  # arrays held from before the first step are not updated in place
        np.testing.assert_array_equal(before[k], copies[k])
    assert not np.array_equal(model.params["0.W"], copies["0.W"])


def test_replaced_params_are_adopted(numpy_backend):
    # a caller (checkpoint load, model.to) may replace model.params: the step must use the new ones
    model = mlp([3, 4, 2], dtype="float64", seed=0, backend=numpy_backend)
    ref = mlp([3, 4, 2], dtype="float64", seed=5, backend=numpy_backend)
    loss, opt = MSE(), sgd(0.1)
    step = make_train_step(model, loss, opt)
    x, y = np.ones((2, 3)), np.zeros((2, 2))
    state = step(x, y, opt.init(model.params))[2]
    model.params = {k: np.array(v) for k, v in ref.params.items()}
    step(x, y, state)
    train_step(ref, loss, opt, state, x, y)
    _assert_params_identical(ref, model)


def test_inputs_it_does_not_take_go_the_generic_way(numpy_backend):
    # float64 inputs to a float32 model, and labels out of range: the generic step's behaviour

    def make():
        return mlp([3, 4, 2], dtype="float32", seed=0, backend=numpy_backend)

    gen, fast = make(), make()
    loss, opt = SoftmaxCrossEntropy(), sgd(0.1)
    step = make_train_step(fast, loss, opt)
    sg = sf = opt.init(gen.params)
    for x, y in [
        (np.ones((2, 3), np.float32), np.array([0, 5])),
        (np.ones((2, 3), np.float32), np.array([-1, 1])),
        (np.ones((2, 3), np.float64), np.array([0, 1])),
    ]:
        vg, _, sg = train_step(gen, loss, opt, sg, x, y)
        vf, _, sf = step(x, y, sf)
        assert step.path == "numpy" and step.last_path == "generic"
        assert float(vg) == float(vf)
    _assert_params_identical(gen, fast)


def test_no_fast_path_off_numpy(backend):
    # every other library runs the generic math: the step says which path it takes
    model = mlp([3, 4, 2], dtype="float32", seed=0, backend=backend)
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(0.1))
    x, y = backend.asarray(np.ones((2, 3)), "float32"), backend.asarray(np.array([0, 1]))
    value, out, _ = step(x, y, step.init_state())
    assert host(out).shape == (2, 2) and np.isfinite(float(host(value)))
    want = "numpy" if backend.name == "numpy" else "generic"
    assert step.path == step.last_path == want


class _Custom(Optimizer):
    pass


@pytest.mark.parametrize(
    "case",
    [
        "softmax-layer",
        "leaky-relu",
        "bce",
        "clip-chain",
        "rmsprop",
        "adamw",
        "custom-optimizer",
        "activation-before-softmax-ce",
        "float16",
        "two-activations",
    ],
)
def test_unsupported_configurations_return_none(numpy_backend, case):
    layers, loss, opt, dtype = [Dense(3, 4), ReLU(), Dense(4, 2)], MSE(), sgd(0.1), "float32"
    if case == "softmax-layer":
        layers = [Dense(3, 2), Softmax()]
    elif case == "leaky-relu":
        layers = [Dense(3, 4), LeakyReLU(), Dense(4, 2)]
    elif case == "bce":
        layers, loss = [Dense(3, 2), Sigmoid()], BCE()
    elif case == "clip-chain":
        opt = chain(clip_by_global_norm(1.0), sgd(0.1))
    elif case == "rmsprop":
        opt = rmsprop(0.01)
    elif case == "adamw":
        opt = adamw(0.01)
    elif case == "custom-optimizer":
        opt = _Custom(lambda p: 0, lambda g, s, p=None: (g, s))
    elif case == "activation-before-softmax-ce":
        layers, loss = [Dense(3, 2), Sigmoid()], SoftmaxCrossEntropy()
    elif case == "float16":
        dtype = "float16"
    elif case == "two-activations":
        layers = [Dense(3, 4), ReLU(), Tanh(), Dense(4, 2)]
    model = Sequential(layers, seed=0, backend=numpy_backend, dtype=dtype)
    assert make_train_step(model, loss, opt).path == "generic"


# --- optimizers with state, and the weight gradient in blocks of rows ---------------------------

OPTIMIZERS = {
    "momentum": lambda: sgd(0.05, momentum=0.9),
    "nesterov": lambda: sgd(lambda step: 0.05 / (1 + step), momentum=0.8, nesterov=True),
    "adam": lambda: adam(0.01),
    "adam-lr1-schedule": lambda: adam(lambda step: 1.0 if step < 3 else 0.01, b1=0.8, b2=0.99, eps=1e-6),
    "sgd-chain": lambda: chain(sgd(0.1)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS), ids=list(OPTIMIZERS))
def test_stateful_optimizers_bit_identical(numpy_backend, opt, dtype):
    # weights, outputs and the optimizer state (mu, nu, trace, counts) after K steps, bit for bit
    rng = np.random.default_rng(3)
    batches = _batches(rng, [16, 16, 5] + [16] * K_STEPS, 12, 4, dtype, labels=True)
    gen, fast, rg, rf = _run_both(
        lambda: mlp([12, 9, 7, 4], activation="relu", dtype=dtype, seed=3, backend=numpy_backend),
        SoftmaxCrossEntropy(),
        OPTIMIZERS[opt](),
        batches,
    )
    _assert_params_identical(gen, fast)
    for (_, og), (_, of) in zip(rg, rf, strict=True):
        np.testing.assert_array_equal(of, og)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_layers_larger_than_a_block_are_bit_identical(numpy_backend, opt):
    # a 784 x 512 float32 layer (1.5 MiB, three update blocks): the weight gradient is the generic
    # step's one product, whatever the block size (rows of it computed apart differ in the last
    # bits with OpenBLAS 0.3.31), and the update's blocks give the same numbers
    assert len(numpy_step.row_blocks(784, 512, 4, numpy_step.BLOCK_BYTES)) > 1
    make = {"sgd": lambda: sgd(0.05), **OPTIMIZERS}[opt]
    rng = np.random.default_rng(6)
    gen, fast, rg, rf = _run_both(
        lambda: mlp([784, 512, 10], activation="relu", dtype="float32", seed=1, backend=numpy_backend),
        SoftmaxCrossEntropy(),
        make(),
        _batches(rng, [32, 32, 7], 784, 10, "float32", labels=True),
    )
    _assert_params_identical(gen, fast)
    assert [v for v, _ in rf] == [v for v, _ in rg]


@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov", "adam"])
def test_weight_gradient_in_row_blocks(numpy_backend, monkeypatch, opt):
    # updates in blocks of 3 rows (and a last, shorter one) of every weight matrix: elementwise
    # arithmetic, the same numbers block by block
    monkeypatch.setattr(numpy_step, "BLOCK_BYTES", 3 * 9 * 8 * (2 if opt in ("nesterov", "adam") else 1))
    assert len(numpy_step.row_blocks(12, 9, 8, 3 * 9 * 8)) == 4
    make = {"sgd": lambda: sgd(0.05), **OPTIMIZERS}[opt]
    rng = np.random.default_rng(4)
    batches = _batches(rng, [8] * K_STEPS, 12, 4, "float64")
    gen, fast, _, _ = _run_both(
        lambda: mlp([12, 9, 7, 4], activation="tanh", dtype="float64", seed=1, backend=numpy_backend),
        MSE(),
        make(),
        batches,
    )
    _assert_params_identical(gen, fast)


def test_state_moves_between_generic_and_fast_steps(numpy_backend):
    # resume: a state the generic step made (or loaded from a checkpoint) continues on the fast
    # step and back; the fast step takes the state's arrays over (no second copy of Adam's state)

    def make():
        return mlp([5, 6, 3], dtype="float64", seed=2, backend=numpy_backend)

    gen, fast = make(), make()
    opt, loss = adam(0.02), MSE()
    step = make_train_step(fast, loss, opt)
    rng = np.random.default_rng(5)
    batches = _batches(rng, [4] * 6, 5, 3, "float64")
    sg = sf = opt.init(gen.params)
    for j, (x, y) in enumerate(batches):
        _, _, sg = train_step(gen, loss, opt, sg, x, y)
        if j in (2, 3):  # two generic steps in the middle of the fast run
            _, _, sf = train_step(fast, loss, opt, sf, x, y)
            continue
        given, before = sf[0].mu["0.W"], np.array(sf[0].mu["0.W"])
        _, _, sf = step(x, y, sf)
        if j in (0, 4):  # a state the step did not make: copied, the caller's arrays left as they were
            assert sf[0].mu["0.W"] is not given
            np.testing.assert_array_equal(given, before)
        else:  # its own state from the previous step: updated in place, not copied again
            assert sf[0].mu["0.W"] is given
    _assert_states_identical(sg, sf)
    _assert_params_identical(gen, fast)


def test_state_of_another_dtype_goes_the_generic_way(numpy_backend):
    # a float64 state for a float32 model (a foreign checkpoint): the generic step's arithmetic

    def make():
        return mlp([3, 4, 2], dtype="float32", seed=0, backend=numpy_backend)

    gen, fast = make(), make()
    opt, loss = sgd(0.1, momentum=0.9), MSE()
    step = make_train_step(fast, loss, opt)
    state = opt.init({k: np.asarray(v, np.float64) for k, v in gen.params.items()})
    x, y = np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32)
    _, _, sg = train_step(gen, loss, opt, state, x, y)
    _, _, sf = step(x, y, state)
    _assert_states_identical(sg, sf)
    _assert_params_identical(gen, fast)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point: it diverges on purpose
def test_divergence_rollback_restores_the_optimizer_state(numpy_backend):
    # Trainer(check_finite=True) rolls back to the epoch's start when a step goes non-finite:
    # the optimizer state must come back as it was (here: Adam's zeros), not as the fast step left it
    from xpnet import Trainer
    from xpnet.errors import DivergenceError

    model = mlp([3, 4, 2], dtype="float32", seed=0, backend=numpy_backend)
    # Adam moves each weight by about lr: 1e30 makes the next outputs' squares overflow float32
    trainer = Trainer(model, loss=MSE(), optimizer=adam(1e30), batch_size=2, shuffle=False)
    with pytest.raises(DivergenceError):
        trainer.fit(np.ones((6, 3), np.float32), np.zeros((6, 2), np.float32), epochs=1)
    state = trainer.state.opt_state
    assert state[0].count == 0
    for k, v in state[0].mu.items():
        np.testing.assert_array_equal(v, np.zeros_like(v), err_msg=k)
