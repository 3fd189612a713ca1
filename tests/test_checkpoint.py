"""Checkpoints: exact round trips across backends, atomic writes, and every kind of bad file
refused with a one-line CheckpointError naming the file."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

from xpnet import BatchNorm, Dense, Dropout, HostRandom, ReLU, Sequential, Sigmoid, get_backend, mlp, to_numpy
from xpnet.errors import CheckpointError, ConfigError
from xpnet.io.arrays_file import FORMAT_VERSION, META_KEY, digest, load_arrays, save_arrays
from xpnet.io.model_file import layer_registry, load_model, save_model


def _model(backend, dtype="float32"):
    return Sequential(
        [Dense(3, 5), Sigmoid(), Dense(5, 4), ReLU(), Dense(4, 2, bias=False), Sigmoid(stable=False)],
        seed=7,
        backend=backend,
        dtype=dtype,
    )


def _assert_same(model_a, model_b):
    assert model_a.architecture() == model_b.architecture()
    assert list(model_a.params) == list(model_b.params)
    for k in model_a.params:
        a, b = to_numpy(model_a.params[k]), to_numpy(model_b.params[k])
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_identical_on_numpy_and_fixture_backend(backend, tmp_path, dtype):
    model = _model(backend, dtype)
    path = tmp_path / "m.npz"
    save_model(path, model, metadata={"optimizer": "sgd", "lr": 0.5, "epochs": 3})
    for target in (backend, get_backend("numpy")):
        loaded, meta = load_model(path, backend=target)
        assert meta == {"optimizer": "sgd", "lr": 0.5, "epochs": 3}
        assert loaded.backend.name == target.name and loaded.dtype_name == dtype
        _assert_same(model, loaded)
        x = np.linspace(-2, 2, 12).reshape(4, 3)
        # same values in, so predictions agree to the dtype's rounding across libraries
        y_loaded = loaded.predict(loaded.backend.asarray(x, dtype))
        np.testing.assert_allclose(
            to_numpy(y_loaded),
            to_numpy(model.predict(backend.asarray(x, dtype))),
            rtol={"float32": 1e-5, "float64": 1e-12}[dtype],
        )


def test_loaded_model_lives_on_the_requested_device(backend, tmp_path):
    import array_api_compat

    save_model(tmp_path / "m.npz", _model("numpy"))
    loaded, _ = load_model(tmp_path / "m.npz", backend=backend)
    assert all(array_api_compat.device(v) == backend.device for v in loaded.params.values())
    loaded.predict([[1.0, 2.0, 3.0]])  # strict's device1 raises if any array were left on another device


def test_load_by_backend_name_and_device_string(tmp_path):
    pytest.importorskip("array_api_strict")
    save_model(tmp_path / "m.npz", _model("numpy"))
    loaded, _ = load_model(tmp_path / "m.npz", backend="array_api_strict", device="device1")
    assert str(loaded.backend.device) == str(get_backend("array_api_strict", device="device1").device)
    _assert_same(_model("numpy"), loaded)


def test_mlp_and_leaky_relu_round_trip(backend, tmp_path):
    model = mlp([4, 8, 3], activation="leaky_relu", output="softmax", backend=backend, dtype="float64")
    save_model(tmp_path / "m.npz", model)
    loaded, meta = load_model(tmp_path / "m.npz", backend=backend)
    assert meta == {}
    _assert_same(model, loaded)


def test_registry_knows_every_builtin_layer():
    names = set(layer_registry())
    assert {"Dense", "Sigmoid", "ReLU", "LeakyReLU", "Tanh", "Softmax", "Identity"} <= names


# --- generic arrays and atomic writes ----------------------------------------------------------


def test_save_arrays_rejects_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="JSON"):
        save_arrays(tmp_path / "a.npz", {"x": np.ones(2)}, {"f": float("nan")})
    with pytest.raises(ConfigError, match=META_KEY):
        save_arrays(tmp_path / "a.npz", {META_KEY: np.ones(2)}, {})
    with pytest.raises(ConfigError, match="object"):
        save_arrays(tmp_path / "a.npz", {"x": np.array([{}], dtype=object)}, {})
    with pytest.raises(ConfigError, match="object"):
        save_arrays(tmp_path / "a.npz", {"big": 2**70}, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fail_in", ["replace", "writer"])
def test_interrupted_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "m.npz"
    old = _model("numpy")
    save_model(path, old, metadata={"version": "old"})
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom) if fail_in == "replace" else monkeypatch.setattr(np, "savez", boom)
    new = Sequential(
        [Dense(3, 5), Sigmoid(), Dense(5, 4), ReLU(), Dense(4, 2, bias=False), Sigmoid(stable=False)],
        seed=99,
        backend="numpy",
    )
    with pytest.raises(OSError, match="disk full"):
        save_model(path, new, metadata={"version": "new"})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    loaded, meta = load_model(path, backend="numpy")
    assert meta == {"version": "old"}
    _assert_same(old, loaded)


def test_save_overwrites_atomically_and_into_missing_dir_fails(tmp_path):
    path = tmp_path / "m.npz"
    save_model(path, _model("numpy"), metadata={"n": 1})
    save_model(path, _model("numpy"), metadata={"n": 2})
    assert load_model(path, backend="numpy")[1] == {"n": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    with pytest.raises(CheckpointError, match="does not exist"):
        save_model(tmp_path / "nope" / "m.npz", _model("numpy"))


# --- bad files: each a one-line CheckpointError naming the file -----------------------------


def _saved(tmp_path, name="m.npz"):
    path = tmp_path / name
    save_model(path, _model("numpy"))
    return path


def _rewrite(path, edit, *, rehash=False):
    """Rewrite the file's raw contents: edit(arrays, record) mutates them in place."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(arrays.pop(META_KEY).tobytes())
    edit(arrays, record)
    if rehash:  # a self-consistent file: record and checksum describe the edited tensors
        record["tensors"] = {k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in arrays.items()}
        record["sha256"] = digest(arrays)
    meta = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
    np.savez(path, **arrays, **{META_KEY: meta})


def _refused(path, match):
    with pytest.raises(CheckpointError, match=match) as info:
        load_model(path, backend="numpy")
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_file_and_not_a_zip(tmp_path):
    _refused(tmp_path / "absent.npz", "file not found")
    (tmp_path / "text.npz").write_text("hello, not a model\n")
    _refused(tmp_path / "text.npz", r"not an .npz \(zip\) archive")
    np.save(tmp_path / "plain.npy", np.ones(3))
    _refused(tmp_path / "plain.npy", r"not an .npz \(zip\) archive")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file(tmp_path, keep):
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _refused(path, "corrupt|truncated|not an .npz|missing|checksum")


def test_flipped_tensor_bytes_fail_the_checksum_or_crc(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    offset = data.index(b"\x93NUMPY") + 128 + 4  # inside the first tensor's values
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    _refused(path, "checksum|corrupt")


def test_no_single_byte_flip_loads_different_values(tmp_path):
    """Flip one byte at a time across the whole file: each load is refused or exactly right
    (a flip in a zip timestamp changes nothing); never another exception, never wrong weights."""
    path = _saved(tmp_path)
    good = load_model(path, backend="numpy")[0]
    data = path.read_bytes()
    refused = 0
    for i in range(0, len(data), 3):
        bad = bytearray(data)
        bad[i] ^= 0xFF
        path.write_bytes(bytes(bad))
        try:
            loaded = load_model(path, backend="numpy")[0]
        except CheckpointError:
            refused += 1
            continue
        _assert_same(good, loaded)
    assert refused > len(data) // 6


def test_tensor_with_wrong_shape_or_dtype(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("params/0.W", a["params/0.W"].reshape(5, 3)))
    _refused(path, r"shape \(5, 3\)")
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("params/0.b", a["params/0.b"].astype(np.float64)))
    _refused(path, "dtype")


def test_consistent_file_that_does_not_fit_its_architecture(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("params/0.W", a["params/0.W"].reshape(5, 3)), rehash=True)
    _refused(path, "architecture needs")
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("params/0.W", a["params/0.W"].astype(np.float64)), rehash=True)
    _refused(path, "dtype")
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.pop("params/2.b"), rehash=True)
    _refused(path, r"params tensors do not fit the architecture: missing \['2.b'\]")
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("params/9.W", np.ones(2, np.float32)), rehash=True)
    _refused(path, r"unexpected \['9.W'\]")
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("other/x", np.ones(2, np.float32)), rehash=True)
    _refused(path, "do not belong")


def test_missing_or_extra_tensor(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.pop("params/2.W"))
    _refused(path, r"missing tensor\(s\) \['params/2.W'\]")
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("sneaky", np.ones(1)))
    _refused(path, "unexpected tensor.*sneaky")


def test_newer_format_version(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: r.__setitem__("format_version", FORMAT_VERSION + 1))
    _refused(path, "newer")


def test_pickled_object_array_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: a.__setitem__("params/0.b", np.array([Payload()], dtype=object)))
    _refused(path, r"object \(pickled\) array")
    assert not marker.exists()


def test_not_an_xpnet_file_or_not_a_model(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    _refused(tmp_path / "other.npz", "not an xpnet file")
    save_arrays(tmp_path / "state.npz", {"x": np.ones(3)}, {"kind": "train_state"})
    _refused(tmp_path / "state.npz", "not a model")
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: r["meta"]["architecture"][0].__setitem__("type", "Evil"))
    _refused(path, "unknown or ambiguous type 'Evil'")
    path = _saved(tmp_path)
    _rewrite(path, lambda a, r: r["meta"]["architecture"][0].__setitem__("n_out", -1))
    _refused(path, "layer 0 .*cannot be built")


def test_load_arrays_reports_the_same_problems(tmp_path):
    save_arrays(tmp_path / "a.npz", {"x": np.arange(4.0)}, {"k": 1})
    with zipfile.ZipFile(tmp_path / "a.npz") as z:
        assert sorted(z.namelist()) == sorted([f"{META_KEY}.npy", "x.npy"])
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "a.npz").write_bytes(data[:-30])
    with pytest.raises(CheckpointError, match="a.npz"):
        load_arrays(tmp_path / "a.npz")


def test_bfloat16_round_trip_is_exact_through_float32(tmp_path):
    torch = pytest.importorskip("torch")
    model = Sequential([Dense(3, 4), Sigmoid()], seed=3, backend="torch", dtype="bfloat16")
    save_model(tmp_path / "m.npz", model)
    arrays, _ = load_arrays(tmp_path / "m.npz")
    assert arrays["params/0.W"].dtype == np.float32  # NumPy has no bfloat16
    loaded, _ = load_model(tmp_path / "m.npz", backend="torch")
    assert loaded.params["0.W"].dtype == torch.bfloat16
    assert bool(torch.equal(loaded.params["0.W"], model.params["0.W"]))


def test_dropout_and_batchnorm_round_trip_with_running_statistics(backend, tmp_path):
    model = Sequential(
        [Dense(3, 4), BatchNorm(4), ReLU(), Dropout(0.3), Dense(4, 2)], seed=1, backend=backend, dtype="float64"
    )
    x = backend.asarray(np.random.default_rng(0).normal(size=(8, 3)), "float64")
    model.buffers = model.forward(x, training=True, rng=HostRandom(2))[1]  # running statistics off their start
    save_model(tmp_path / "m.npz", model)
    loaded, _ = load_model(tmp_path / "m.npz", backend=backend)
    assert loaded.architecture() == model.architecture() and list(loaded.buffers) == list(model.buffers)
    for k in model.buffers:
        np.testing.assert_array_equal(to_numpy(loaded.buffers[k]), to_numpy(model.buffers[k]))
    np.testing.assert_array_equal(to_numpy(loaded.predict(x)), to_numpy(model.predict(x)))
