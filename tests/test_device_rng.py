"""Random numbers drawn on the device (issue 7's "nothing leaves the device"): exercised with
torch's generator on the CPU, the same code path CuPy's generator takes on a GPU."""

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.backend import DeviceRandom, HostRandom


def _device_backend(backend):
    if backend.name not in ("torch", "cupy"):
        pytest.skip(f"{backend.name} has no device generator")
    return backend


def test_keep_mask_on_device_and_reproducible(backend):
    b = _device_backend(backend)
    m1 = DeviceRandom(b, 3).keep_mask((200, 50), 0.7, xp=b.xp, device=b.device, dtype=b.dtype("float32"))
    m2 = DeviceRandom(b, 3).keep_mask((200, 50), 0.7, xp=b.xp, device=b.device, dtype=b.dtype("float32"))
    assert xpnet.backend_of(m1).device == b.device and m1.dtype == b.dtype("float32")
    np.testing.assert_array_equal(host(m1), host(m2))
    assert set(np.unique(host(m1))) <= {0.0, 1.0}
    assert abs(host(m1).mean() - 0.7) < 0.02


def test_permutation_and_state_roundtrip(backend):
    b = _device_backend(backend)
    r = DeviceRandom(b, 5)
    p = host(r.permutation(100))
    assert sorted(p.tolist()) == list(range(100))
    if b.name == "cupy":
        pytest.skip("CuPy generators have no portable state")
    s = r.get_state()
    a = host(r.permutation(50))
    r2 = DeviceRandom(b, 0)
    r2.set_state(s)
    np.testing.assert_array_equal(host(r2.permutation(50)), a)


def test_training_with_device_rng(backend):
    b = _device_backend(backend)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 6)), rng.integers(0, 3, 64)
    runs = []
    for _ in range(2):
        model = xpnet.Sequential(
            [xpnet.Dense(6, 16), xpnet.ReLU(), xpnet.Dropout(0.3), xpnet.Dense(16, 3)],
            seed=1,
            backend=b,
            dtype="float64",
        )
        hist = xpnet.fit(
            model,
            b.asarray(X, "float64"),
            b.asarray(y),
            optimizer=xpnet.adam(1e-2),
            epochs=5,
            batch_size=16,
            device_rng=True,
        )
        runs.append((hist.history["loss"], {k: host(v) for k, v in model.params.items()}))
    assert runs[0][0] == runs[1][0]  # same seed, same device draws
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])
    assert runs[0][0][-1] < runs[0][0][0]


def test_host_only_backends_refuse_device_rng():
    with pytest.raises(xpnet.ConfigError, match="device_rng: backend 'numpy' has no device generator"):
        xpnet.fit(xpnet.mlp([2, 2], backend="numpy"), [[0.0, 1.0]], [1], device_rng=True, epochs=1)
    with pytest.raises(xpnet.ConfigError, match="seed"):
        DeviceRandom(xpnet.get_backend("numpy"), -1)


def test_a_generator_that_cannot_save_its_state_is_refused_by_a_checkpoint(tmp_path):
    # CuPy's device generator has no portable state (can_save_state False): a checkpointed run
    # could not resume exactly, so it is refused before the first epoch
    class Unsaveable(HostRandom):
        can_save_state = False

    model = xpnet.mlp([2, 2], backend="numpy")
    trainer = xpnet.Trainer(model, optimizer=xpnet.sgd(0.1), callbacks=[xpnet.CheckpointCallback(tmp_path / "c")])
    trainer.state.shuffle_rng = Unsaveable(0)
    with pytest.raises(xpnet.ConfigError, match="cannot save its state"):
        trainer.fit([[0.0, 1.0], [1.0, 0.0]], [1, 0], epochs=1)
    assert not (tmp_path / "c").exists()
    assert HostRandom(0).can_save_state
