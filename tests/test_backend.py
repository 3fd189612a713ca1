import numpy as np
import pytest

import xpnet
from helpers import run_cli
from xpnet import BackendError, BackendMismatchError, get_backend
from xpnet.backend import HostRandom, backend_of, list_backends, to_numpy


def test_unknown_backend_lists_valid_names():
    with pytest.raises(BackendError, match="unknown backend 'tensorflow'.*numpy.*array_api_strict.*torch.*cupy"):
        get_backend("tensorflow")


def test_env_var_is_the_default(monkeypatch):
    monkeypatch.setenv("XPNET_BACKEND", "array_api_strict")
    assert get_backend().name == "array_api_strict"
    # an explicit name is never affected by the environment
    assert get_backend("numpy").name == "numpy"
    monkeypatch.setenv("XPNET_BACKEND", "numpy")
    assert get_backend().name == "numpy"


def test_auto_picks_numpy_without_gpu(monkeypatch):
    from xpnet.backend import selection as b

    monkeypatch.delenv("XPNET_BACKEND", raising=False)
    monkeypatch.setattr(b, "cuda_device_count", lambda: (0, "no GPU"))
    assert get_backend("auto").name == "numpy"
    assert get_backend(device="cpu").name == "numpy"


def test_auto_picks_cupy_when_a_gpu_is_usable(monkeypatch):
    from xpnet.backend import selection as b

    monkeypatch.setattr(b, "cuda_device_count", lambda: (1, ""))
    assert b._resolve_name("auto", None) == "cupy"
    assert b._resolve_name(None, "gpu") == "cupy"


def test_cupy_missing_names_the_extra(monkeypatch):
    from xpnet.backend import selection as b

    monkeypatch.setattr(b, "cuda_device_count", lambda: (0, "CuPy is not installed; " + b._INSTALL_HINT["cupy"]))
    with pytest.raises(BackendError, match=r"xpnet\[cuda12\]"):
        get_backend("cupy")
    monkeypatch.setattr(b, "torch_cuda_status", lambda: (0, "torch 2.13.0+cpu is a CPU-only build"))
    with pytest.raises(BackendError, match=r"no usable GPU found.*CuPy with a CUDA device \(CuPy is not installed\)"):
        get_backend(device="gpu")


def test_cuda_device_count_explains_each_way_it_finds_none(monkeypatch):
    import importlib
    import types

    from xpnet.backend import selection as b

    real = importlib.import_module

    def fake_cupy(count=None, error=None):
        def get_count():
            if error is not None:
                raise error
            return count

        runtime = types.SimpleNamespace(getDeviceCount=get_count)
        return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))

    def importer(module):
        def imp(name, *args):
            if name == "cupy":
                if module is None:
                    raise ImportError("No module named 'cupy'")
                return module
            return real(name, *args)

        return imp

    cases = [
        (None, "CuPy is not installed; install the CUDA extra"),
        (
            fake_cupy(error=RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected\nmore")),
            "CuPy is installed but found no usable CUDA device (cudaErrorNoDevice: no CUDA-capable device is detected)",
        ),
        (fake_cupy(count=0), "CuPy is installed but no CUDA device is visible"),
    ]
    for module, reason in cases:
        monkeypatch.setattr(b.importlib, "import_module", importer(module))
        assert b.cuda_device_count() == (0, reason) or b.cuda_device_count()[1].startswith(reason)
    monkeypatch.setattr(b.importlib, "import_module", importer(fake_cupy(count=2)))
    assert b.cuda_device_count() == (2, "")


def test_gpu_requested_from_cpu_only_backends():
    with pytest.raises(BackendError, match="CPU only"):
        get_backend("numpy", device="gpu")


def test_list_backends_reports_every_backend():
    rows = {r.name: r for r in list_backends()}
    assert set(rows) == {"numpy", "array_api_strict", "torch", "cupy", "jax"}
    assert rows["numpy"].usable and rows["numpy"].device == "cpu"
    for r in rows.values():
        assert r.usable or r.reason


def test_backends_command_runs():
    out = run_cli("backends", check=True)
    lines = out.stdout.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:-1]}
    assert set(rows) == {"numpy", "array_api_strict", "torch", "cupy", "jax"}
    assert rows["numpy"][0] == "usable" and rows["numpy"][2] == "cpu"  # "unusable" would not pass: whole words
    assert rows["numpy"][1] == np.__version__
    # aligned: every column starts where its header does
    for header in ("status", "version", "device / why not"):
        col = lines[0].index(header)
        assert all(line[col - 2 : col] == "  " and line[col] != " " for line in lines[1:-1]), header
    assert lines[-1].startswith("auto picks: numpy") or lines[-1].startswith("auto picks: cupy")
    if rows["torch"][0] == "usable":  # the CPU threads it runs with, and how to change them
        assert "thread" in " ".join(rows["torch"]) and "XPNET_NUM_THREADS=N" in " ".join(rows["torch"])
    for name, words in rows.items():
        assert words[0] in ("usable", "unusable"), name
        if words[0] == "unusable":
            assert len(words) > 3, name  # the version (or -), then the reason


def test_mixed_libraries_are_named():
    strict = get_backend("array_api_strict")
    with pytest.raises(BackendMismatchError, match="X is a numpy array, y is a array_api_strict array"):
        backend_of(np.ones(2), strict.asarray([1.0]), names=("X", "y"))


def test_mixed_devices_are_named():
    a = get_backend("array_api_strict").asarray([1.0])
    b = get_backend("array_api_strict", device="device1").asarray([1.0])
    with pytest.raises(BackendMismatchError, match="different devices"):
        backend_of(a, b, names=("X", "y"))


def test_model_refuses_arrays_of_another_library():
    model = xpnet.mlp([3, 2], backend="array_api_strict")
    with pytest.raises(
        BackendMismatchError, match="X is a numpy array but the model's parameters are on array_api_strict"
    ):
        model.predict(np.ones((1, 3)))


def test_arrays_in_give_same_namespace_and_device_out(backend):
    model = xpnet.mlp([3, 4, 2], backend=backend, seed=0)
    x = backend.asarray([[1.0, 2.0, 3.0]], "float32")
    y = model.predict(x)
    got = backend_of(y)
    assert got.name == backend.name and got.device == backend.device


def test_host_random_matches_legacy_numpy():
    r = HostRandom(1, legacy=True)
    # the seed programs' own calls, the reference HostRandom(legacy=True) must reproduce
    np.random.seed(1)  # noqa: NPY002
    np.testing.assert_array_equal(r.uniform_pm1((3, 4)), 2 * np.random.random((3, 4)) - 1)  # noqa: NPY002


def test_host_random_state_roundtrip():
    for legacy in (True, False):
        r = HostRandom(5, legacy=legacy)
        r.random((3,))
        s = r.get_state()
        a = r.random((4,))
        r2 = HostRandom(0, legacy=not legacy)
        r2.set_state(s)
        np.testing.assert_array_equal(r2.random((4,)), a)


def test_to_numpy_from_every_backend(backend):
    x = backend.asarray([[1.0, 2.0]], "float64")
    np.testing.assert_array_equal(to_numpy(x), [[1.0, 2.0]])


def test_bad_seed_is_rejected():
    with pytest.raises(xpnet.ConfigError, match="seed"):
        HostRandom(-1)


def test_dtype_names_are_checked():
    b = get_backend("numpy")
    assert b.dtype("float64") is b.xp.float64 and b.dtype(b.xp.float32) is b.xp.float32
    with pytest.raises(
        xpnet.ConfigError, match="dtype: expected one of float16, bfloat16, float32, float64, got 'int8"
    ):
        b.dtype("int8")
    with pytest.raises(xpnet.ConfigError, match="dtype: bfloat16 is not supported by the numpy backend"):
        b.dtype("bfloat16")


def test_names_devices_and_device_objects():
    strict = get_backend("strict")  # the short name
    assert strict.name == "array_api_strict" and strict.device_name == "cpu"
    dev1 = get_backend("array_api_strict", device="device1")
    assert dev1.device_name == "device1"
    assert get_backend("array_api_strict", device=dev1.device).device == dev1.device  # a device object
    assert get_backend(dev1) is dev1  # a Backend is returned as it is
    assert get_backend("numpy").device_name == "cpu" and get_backend("numpy").to_host(np.ones(2)).shape == (2,)
    get_backend("numpy").sync()  # nothing queued on the CPU
    with pytest.raises(xpnet.ConfigError, match="device: expected cpu, gpu or cuda:N, got 'tpu'"):
        get_backend("auto", device="tpu")
    with pytest.raises(BackendError, match="array_api_strict' has no GPU"):
        get_backend("array_api_strict", device="gpu")


def test_torch_asked_for_a_gpu_it_does_not_have():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is usable here")
    with pytest.raises(BackendError, match=r"--device gpu: torch cannot use a GPU here"):
        get_backend("torch", device="gpu")
    assert get_backend("torch").device_name == "cpu"


def test_a_broken_install_does_not_break_the_listing(monkeypatch):
    from xpnet.backend import selection as b

    real = b.get_backend

    def broken(name=None, **kw):
        if name == "torch":
            raise RuntimeError("libtorch.so: cannot open shared object file")
        return real(name, **kw)

    monkeypatch.setattr(b, "get_backend", broken)
    rows = {r.name: r for r in list_backends()}
    assert not rows["torch"].usable
    assert rows["torch"].reason == "RuntimeError: libtorch.so: cannot open shared object file"
    assert rows["numpy"].usable


def test_backend_of_needs_arrays_it_knows():
    with pytest.raises(xpnet.ConfigError, match="backend_of: no arrays given"):
        backend_of(None)

    class NotAnArray:
        pass

    with pytest.raises(BackendMismatchError, match="unsupported array type"):
        backend_of(NotAnArray())


def test_random_states_are_checked_on_restore():
    r = HostRandom(0)
    with pytest.raises(xpnet.ConfigError, match="random state: unknown kind 'mt'"):
        r.set_state({"kind": "mt"})
    state = r.get_state()
    import json

    assert json.loads(json.dumps(state)) == state  # plain JSON: numpy integers became ints
