"""The training runs the distributed tests compare: the same code in the mpiexec workers
(mpi_worker.py), in the thread simulation and in one process (test_distributed.py)."""

from __future__ import annotations

import numpy as np

import xpnet

# name -> (mlp keywords, optimizer factory). Batch norm runs take SGD with momentum: under Adam the
# bias of a Dense layer before batch norm, whose true gradient is 0, steps by lr on rounding noise,
# so no two summation orders agree there (the weights that matter still do).
CASES = {
    "bn_dropout_f64": (
        {"dtype": "float64", "dropout": 0.2, "batchnorm": True},
        lambda: xpnet.optim.sgd(0.1, momentum=0.9),
    ),
    "bn_dropout_f32": (
        {"dtype": "float32", "dropout": 0.2, "batchnorm": True},
        lambda: xpnet.optim.sgd(0.1, momentum=0.9),
    ),
    "fast_f64": ({"dtype": "float64"}, lambda: xpnet.optim.adam(0.01)),
    "fast_f32": ({"dtype": "float32"}, lambda: xpnet.optim.adam(0.01)),
}
RESUME_CASE = "bn_dropout_f64"
EPOCHS, BATCH = 3, 16


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1).astype(np.int64)
    return X, y


def train(name, *, comm=None, backend="numpy", X=None, seed=0, epochs=EPOCHS, callbacks=(), grad_hooks=()):
    """(params and buffers as float64 host arrays, history dict, the step's path) of one run."""
    kwargs, make_opt = CASES[name]
    X0, y = data()
    X = X0 if X is None else X
    model = xpnet.mlp([6, 16, 3], seed=seed, backend=backend, **kwargs)
    trainer = xpnet.Trainer(
        model,
        optimizer=make_opt(),
        batch_size=BATCH,
        seed=seed,
        callbacks=callbacks,
        grad_hooks=grad_hooks,
        comm=comm,
    )
    history = trainer.fit(X, y, epochs=epochs, validation_split=0.25)
    arrays = {k: np.array(xpnet.to_numpy(v), dtype=np.float64) for k, v in {**model.params, **model.buffers}.items()}
    return arrays, {k: list(v) for k, v in history.as_dict()["history"].items()}, trainer._step.path
