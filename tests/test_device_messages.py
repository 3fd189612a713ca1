"""A GPU asked for where there is none: one line saying what was looked for, with advice that
fits the machine; cuda:N with the default backend; torch's CUDA devices checked before use."""

from __future__ import annotations

import pytest

from xpnet import BackendError, get_backend
from xpnet.backend import gpu
from xpnet.backend import selection as sel
from xpnet.cli import main

NO_CUPY = (0, "CuPy is not installed; " + sel._INSTALL_HINT["cupy"])
CPU_TORCH = (0, "torch 2.13.0+cpu is a CPU-only build")


def _machine(monkeypatch, *, driver, cupy=NO_CUPY, torch=CPU_TORCH):
    monkeypatch.delenv("XPNET_BACKEND", raising=False)
    monkeypatch.setattr(gpu, "driver_found", lambda: driver)
    monkeypatch.setattr(sel, "cuda_device_count", lambda: cupy)
    monkeypatch.setattr(sel, "torch_cuda_status", lambda: torch)
    monkeypatch.setattr(gpu, "torch_cuda_status", lambda: torch)


@pytest.mark.parametrize("device", ["gpu", "cuda:1"])
def test_no_driver_says_what_was_looked_for_and_not_to_install_cupy(monkeypatch, device):
    _machine(monkeypatch, driver=(False, "no /proc/driver/nvidia, no libcuda"))
    with pytest.raises(BackendError) as info:
        get_backend(device=device)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"--device {device}: no usable GPU found")
    for looked_for in ("NVIDIA driver (none: no /proc/driver/nvidia", "CuPy is not installed", "CPU-only build"):
        assert looked_for in msg, msg
    assert "pip install" not in msg  # CuPy cannot help without a driver


def test_a_driver_without_cupy_says_how_to_install_it(monkeypatch):
    _machine(monkeypatch, driver=(True, "/proc/driver/nvidia/version"))
    with pytest.raises(
        BackendError, match=r"driver \(found: /proc/driver/nvidia/version\).*pip install 'xpnet\[cuda12\]'"
    ):
        get_backend(device="gpu")


def test_cuda_n_with_the_default_backend_picks_a_library_that_sees_a_gpu(monkeypatch):
    _machine(monkeypatch, driver=(True, "x"), cupy=(2, ""))
    assert sel._resolve_name(None, "cuda:1") == "cupy"
    assert sel._resolve_name("auto", "gpu") == "cupy"
    _machine(monkeypatch, driver=(True, "x"), torch=(1, ""))  # no CuPy: torch's CUDA
    assert sel._resolve_name(None, "cuda:0") == "torch"
    assert sel._resolve_name(None, None) == "numpy"  # nothing asked: the CPU default stays
    with pytest.raises(Exception, match="expected cpu, gpu or cuda:N"):
        sel._resolve_name(None, "tpu")


def test_torch_cuda_devices_are_checked_before_use(monkeypatch):
    _machine(monkeypatch, driver=(False, "none"))
    with pytest.raises(BackendError, match=r"^--device cuda:0: torch cannot use a GPU here: torch 2.13.0\+cpu"):
        get_backend("torch", device="cuda:0")
    _machine(monkeypatch, driver=(True, "x"), torch=(1, ""))
    with pytest.raises(BackendError, match=r"--device cuda:3: torch sees 1 CUDA device\(s\), cuda:0 to cuda:0"):
        get_backend("torch", device="cuda:3")
    with pytest.raises(Exception, match="expected cpu, gpu, cuda or cuda:N"):
        get_backend("torch", device="cuda:x")


def test_the_real_machine_is_described_without_error():
    found, where = gpu.driver_found()
    n, reason = gpu.torch_cuda_status()
    assert isinstance(found, bool) and where
    assert (n > 0) == (reason == "")


def _has_gpu():
    return sel.cuda_device_count()[0] > 0 or gpu.torch_cuda_status()[0] > 0


@pytest.mark.skipif(not _has_gpu(), reason="needs a CUDA device")
def test_cuda_0_with_the_default_backend_trains_on_the_gpu():  # pragma: needs a GPU
    import xpnet

    b = get_backend(device="cuda:0")
    assert b.is_gpu and b.device_name == "cuda:0"
    model = xpnet.mlp([3, 4, 2], backend=b, seed=0)
    X = b.asarray([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], "float32")
    history = xpnet.fit(model, X, b.asarray([0, 1, 1, 0]), epochs=2)
    assert len(history.epoch) == 2 and b.is_gpu


@pytest.mark.skipif(_has_gpu(), reason="this machine has a GPU")
@pytest.mark.parametrize(
    "args",
    [["--device", "gpu"], ["--device", "cuda:0"], ["--backend", "torch", "--device", "cuda:0"]],
    ids=["gpu", "cuda0-default-backend", "torch-cuda0"],
)
def test_cli_gpu_requests_end_in_one_line(tmp_path, capsys, args):
    if "torch" in args:
        pytest.importorskip("torch")
    code = main(["train", "--dataset", "xor", "--epochs", "1", "--out", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "GPU" in err, err
    assert not (tmp_path / "run").exists()


def test_cli_bfloat16_on_torch_trains_and_numpy_refuses_it_in_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    common = ["train", "--dataset", "xor", "--epochs", "2", "--quiet", "--dtype", "bfloat16"]
    assert main([*common, "--backend", "torch", "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "model.npz").is_file() and capsys.readouterr().out.startswith("trained 2 epochs")
    assert main([*common, "--backend", "numpy", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "bfloat16" in err and not (tmp_path / "b").exists(), err
