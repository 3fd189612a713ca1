"""Running out of memory in a training step: one line naming the batch size and what the failed
allocation asked for, the weights of the epoch's start put back (the CLI then exits 2 and writes
no model file, as for every XpnetError). The allocations are simulated: a real one this large
would be refused here but could be granted, then fail, where memory is overcommitted."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import host
from xpnet.backend import out_of_memory
from xpnet.errors import OutOfMemoryError, XpnetError
from xpnet.nn import Dense, Layer, ReLU, Sequential
from xpnet.optim import sgd
from xpnet.training import Trainer


class _FailsOnCall(Layer):
    """Identity until its `fail_at`-th training call, which raises `exc`."""

    def __init__(self, exc, fail_at):
        self._exc, self._fail_at, self._calls = exc, fail_at, 0

    def forward(self, params, state, x, ctx):
        if ctx.training:
            self._calls += 1
            if self._calls == self._fail_at:
                raise self._exc
        return x, state, lambda dy, need_dx=True: (dy, {})

    def config(self):
        return {}


def _torch_oom():
    torch = pytest.importorskip("torch")
    return torch.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79 GiB"
    )


def _numpy_oom():
    return MemoryError("Unable to allocate 36.4 TiB for an array with shape (10000000, 1000000) and data type float32")


@pytest.mark.parametrize("make, asked", [(_numpy_oom, "36.4 TiB"), (_torch_oom, "2.00 GiB")], ids=["numpy", "torch"])
def test_out_of_memory_names_the_batch_size_and_puts_the_weights_back(backend, make, asked):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    model = Sequential([Dense(5, 8), ReLU(), _FailsOnCall(make(), fail_at=7), Dense(8, 3)], backend=backend)
    trainer = Trainer(model, optimizer=sgd(0.1), batch_size=16)
    trainer.fit(X, y, epochs=1)  # 4 steps: fine
    after_epoch = {k: host(v) for k, v in model.params.items()}
    with pytest.raises(OutOfMemoryError) as info:
        trainer.fit(X, y, epochs=2)  # the 3rd step of the 2nd epoch runs out
    msg = str(info.value)
    assert "batch_size 16" in msg and asked in msg and backend.name in msg and "\n" not in msg
    assert isinstance(info.value, XpnetError)  # the CLI: exit 2, one line, no model file written
    for k, v in model.params.items():
        np.testing.assert_array_equal(host(v), after_epoch[k], err_msg=k)
    assert trainer.state.step == 4 and trainer.state.epoch == 1


def test_other_errors_pass_unchanged(numpy_backend):
    model = Sequential([Dense(5, 3), _FailsOnCall(KeyError("not memory"), fail_at=1)], backend=numpy_backend)
    with pytest.raises(KeyError, match="not memory"):
        Trainer(model, optimizer=sgd(0.1)).fit(np.zeros((4, 5)), np.zeros(4, dtype=np.int64), epochs=1)


def test_what_counts_as_out_of_memory():
    assert out_of_memory(_numpy_oom()) == "36.4 TiB"
    assert out_of_memory(MemoryError("Out of memory allocating 1,073,741,824 bytes (allocated so far: 0 bytes).")) == (
        "1,073,741,824 bytes"
    )
    assert (
        out_of_memory(RuntimeError("XLA: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.5GiB"))
        == "1.5GiB"
    )
    assert out_of_memory(MemoryError()) == ""
    assert out_of_memory(RuntimeError("shapes do not match")) is None
    assert out_of_memory(ValueError("out of memory")) is None
