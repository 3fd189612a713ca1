"""Looking for a GPU: what `--device gpu` (or cuda:N) can use here, and when there is none, a
message saying what was looked for and what was found, so that the advice fits the machine
(installing CuPy cannot help where there is no NVIDIA driver)."""

from __future__ import annotations

import ctypes.util
import importlib
import os
import sys

from ..errors import ConfigError

_CUPY_HINT = "pip install 'xpnet[cuda12]' or 'xpnet[cuda13]' (the extra matching the driver's CUDA version)"


def driver_found() -> tuple[bool, str]:
    """(found, what was looked at) for the NVIDIA driver: its kernel module on Linux, else the
    CUDA driver library (libcuda, nvcuda.dll) that every CUDA library loads."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True, "/proc/driver/nvidia/version"
    lib = "nvcuda" if sys.platform == "win32" else "cuda"
    try:
        path = ctypes.util.find_library(lib)
    except Exception:  # find_library runs ldconfig/gcc; a broken toolchain means "not found"
        path = None
    if path:
        return True, path
    return False, "no /proc/driver/nvidia, no libcuda" if sys.platform != "win32" else "no nvcuda.dll"


def torch_cuda_status() -> tuple[int, str]:
    """(number of CUDA devices torch can use, why none where there are none)."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return 0, "torch is not installed"
    version = getattr(torch, "__version__", "?")
    if getattr(torch.version, "cuda", None) is None:
        return 0, f"torch {version} is a CPU-only build"
    try:
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception as exc:  # a driver too old for this build raises here on some versions
        return 0, f"torch {version} cannot use CUDA ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    return (n, "") if n else (0, f"torch {version} (CUDA {torch.version.cuda}) sees no CUDA device")


def no_gpu_message(cupy_reason: str, device: str = "gpu") -> str:
    """One line for `--device DEVICE` when neither CuPy nor torch can reach a CUDA device."""
    has_driver, driver = driver_found()
    _, torch_reason = torch_cuda_status()
    cupy = cupy_reason.split(";")[0]  # what CuPy found, without its installation advice
    text = (
        f"--device {device}: no usable GPU found; looked for an NVIDIA driver "
        f"({'found: ' if has_driver else 'none: '}{driver}), CuPy with a CUDA device ({cupy}), "
        f"torch with CUDA ({torch_reason})"
    )
    if not has_driver:
        return text + "; this machine needs an NVIDIA GPU and its driver (--device cpu runs here)"
    if cupy_reason.startswith("CuPy is not installed"):
        return text + f"; to use it: {_CUPY_HINT}"
    return text + "; check that the installed CuPy or torch build matches the driver's CUDA version"


def device_index(device: str | None) -> int:
    """0 for None, "gpu", "cuda"; N for "cuda:N" (what --device accepts for a CUDA device)."""
    if device in (None, "gpu", "cuda"):
        return 0
    text = str(device)
    if text.startswith("cuda:") and text[5:].isdigit():
        return int(text[5:])
    raise ConfigError(f"--device {device}: expected cpu, gpu, cuda or cuda:N")


def is_cuda_device(device: str | None) -> bool:
    return device is not None and (device in ("gpu", "cuda") or str(device).startswith("cuda:"))
