"""Choosing an array library and a device: `get_backend`, `backend_of`, `list_backends`.

A `Backend` is a library's array-api-compat namespace plus a device; it creates arrays there.
There is no "current backend" global: every call names its backend or takes it from its arrays,
so two callers can never affect each other.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..errors import BackendError, BackendMismatchError, ConfigError
from .gpu import device_index, is_cuda_device, no_gpu_message, torch_cuda_status
from .host import library_name, to_numpy
from .namespace import compat_namespace, device_of, namespace_of

#: Names accepted by `get_backend`, `--backend` and XPNET_BACKEND.
BACKEND_NAMES = ("auto", "numpy", "array_api_strict", "torch", "cupy", "jax")
ENV_VAR = "XPNET_BACKEND"

_INSTALL_HINT = {
    "cupy": "install the CUDA extra matching your driver: pip install 'xpnet[cuda12]' or 'xpnet[cuda13]'",
    "torch": "install it: pip install 'xpnet[torch]' (CPU build: torch==2.13.0)",
    "array_api_strict": "install it: pip install array-api-strict",
    "jax": "install it: pip install jax",
    "numpy": "install it: pip install numpy",
}
_MODULE = {
    "numpy": "numpy",
    "array_api_strict": "array_api_strict",
    "torch": "torch",
    "cupy": "cupy",
    "jax": "jax.numpy",
}


@dataclass(frozen=True)
class Backend:
    """An array library and a device on it: everything needed to create arrays there."""

    name: str
    xp: Any = field(repr=False)  # the array-api-compat namespace
    device: Any = None

    def dtype(self, dtype: Any) -> Any:
        """The library's dtype object for a name ("float32") or a dtype of this library."""
        if isinstance(dtype, str):
            if dtype not in ("float16", "bfloat16", "float32", "float64"):
                raise ConfigError(f"dtype: expected one of float16, bfloat16, float32, float64, got {dtype!r}")
            if not hasattr(self.xp, dtype):
                raise ConfigError(f"dtype: {dtype} is not supported by the {self.name} backend")
            return getattr(self.xp, dtype)
        return dtype

    def asarray(self, data: Any, dtype: Any = None) -> Any:
        """`data` (host array, list, or an array of this library) as an array on this device."""
        dt = None if dtype is None else self.dtype(dtype)
        if self.name == "cupy" and library_name(data) != "cupy":  # pragma: needs a GPU
            data = np.asarray(data)
        if (
            isinstance(data, np.ndarray)
            and data.dtype.kind == "f"
            and data.dtype.name not in ("float32", "float64")
            and not hasattr(self.xp, data.dtype.name)
        ):
            data = data.astype(np.float64)  # float16 on strict, longdouble anywhere: float64 holds float16 exactly
        if (
            self.name == "torch"
            and isinstance(data, np.ndarray)
            and (not data.flags.writeable or any(s < 0 for s in data.strides))
        ):
            data = np.array(data)  # torch cannot wrap negative strides, nor safely share read-only memory
        return self.xp.asarray(data, dtype=dt, device=self.device)

    def to_host(self, x: Any) -> np.ndarray:
        """A NumPy copy (or view) of `x` on the host."""
        return to_numpy(x)

    def sync(self) -> None:
        """Wait for queued device work (for timing); a no-op on the CPU."""
        if self.name == "cupy":  # pragma: needs a GPU
            import cupy

            cupy.cuda.get_current_stream().synchronize()
        elif self.name == "torch" and str(self.device).startswith("cuda"):  # pragma: needs a GPU
            import torch

            torch.cuda.synchronize()

    @property
    def device_name(self) -> str:
        """The device as a string `get_backend(name, device=...)` accepts ("cpu", "cuda:1",
        "device1"): what files and pickles record instead of a library's device object."""
        if self.name == "cupy":  # pragma: needs a GPU
            return f"cuda:{self.device.id}"
        if self.name == "array_api_strict":
            inner = getattr(self.device, "_device", "CPU_DEVICE")
            return "cpu" if inner == "CPU_DEVICE" else str(inner)
        if self.name == "jax":
            return "cpu" if getattr(self.device, "platform", "cpu") == "cpu" else "gpu"
        return str(self.device)

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy" or str(self.device).startswith(("cuda", "gpu"))


class BackendStatus(NamedTuple):
    name: str
    usable: bool
    device: str
    reason: str
    version: str = ""  # the library's version where it imports, else ""


def library_version(name: str) -> str:
    """The installed version of a backend's library ("" where it does not import)."""
    try:
        module = importlib.import_module(_MODULE[name].split(".")[0])
    except Exception:  # not installed, or broken: the listing says why elsewhere
        return ""
    return str(getattr(module, "__version__", ""))


def auto_backend_name() -> str:
    """The backend "auto" picks here (XPNET_BACKEND aside): CuPy with a usable device, else NumPy."""
    return _resolve_name("auto", None)


def _import(name: str) -> Any:
    try:
        return importlib.import_module(_MODULE[name])
    except ImportError as exc:
        raise BackendError(f"backend {name!r} is not installed ({exc}); {_INSTALL_HINT[name]}") from None


def cuda_device_count() -> tuple[int, str]:
    """(count, reason) for CuPy; never raises on a machine without a driver."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        return 0, f"CuPy is not installed; {_INSTALL_HINT['cupy']}"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError, or a CuPy built for another CUDA version
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (
            0,
            f"CuPy is installed but found no usable CUDA device ({msg}); "
            "check the driver and that the CuPy build matches its CUDA version",
        )
    if n == 0:
        return 0, "CuPy is installed but no CUDA device is visible"
    return n, ""


def _resolve_name(name: str | None, device: str | None) -> str:
    if name is None or name == "":
        name = os.environ.get(ENV_VAR) or "auto"
    name = name.strip().lower().replace("-", "_")
    if name == "strict":
        name = "array_api_strict"
    if name not in BACKEND_NAMES:
        raise BackendError(f"unknown backend {name!r}; expected one of: {', '.join(BACKEND_NAMES)}")
    if device is not None and device != "cpu" and not is_cuda_device(device) and name == "auto":
        raise ConfigError(f"device: expected cpu, gpu or cuda:N, got {device!r}")
    if name == "auto":
        if device == "cpu":
            return "numpy"
        n, reason = cuda_device_count()
        if device is None:
            return "cupy" if n > 0 else "numpy"
        # a GPU asked for: CuPy where it sees one, else torch's CUDA, else say what was looked for
        if n > 0:
            return "cupy"
        if torch_cuda_status()[0] > 0:
            return "torch"
        raise BackendError(no_gpu_message(reason, device))
    return name


def get_backend(name: str | Backend | None = None, *, device: Any = None) -> Backend:
    """Select an array library.

    name: one of BACKEND_NAMES, or None for the XPNET_BACKEND environment variable (default
        "auto": CuPy when a CUDA device is usable, else NumPy). A Backend is returned as is.
    device: "cpu" or "gpu" to choose by hardware, or a library device ("cuda:1" for torch,
        "device1" for array-api-strict).
    """
    if isinstance(name, Backend):
        return name
    if device is not None and not isinstance(device, str):
        # a library's device object: strict's Device prints as "array_api_strict.Device('device1')"
        device = getattr(device, "_device", None) or str(device)
    if device is not None and device.lower() in ("cpu", "gpu"):
        device = device.lower()
    resolved = _resolve_name(name, device)
    if resolved == "numpy":
        if device == "gpu":
            raise BackendError("backend 'numpy' runs on the CPU only; use --device gpu with cupy or torch")
        return Backend("numpy", compat_namespace("numpy"), "cpu")
    if resolved == "array_api_strict":
        strict = _import("array_api_strict")
        if device == "gpu":
            raise BackendError("backend 'array_api_strict' has no GPU")
        dev = strict.Device(device) if device not in (None, "cpu") else strict.Device("CPU_DEVICE")
        return Backend("array_api_strict", strict, dev)
    if resolved == "torch":
        torch = _import("torch")
        xp = compat_namespace("torch")
        if is_cuda_device(device):
            # checked here: torch.device("cuda:0") is created without a driver, and the first
            # tensor on it then fails deep inside torch
            n, reason = torch_cuda_status()
            index = device_index(device)
            if n == 0:
                raise BackendError(f"--device {device}: torch cannot use a GPU here: {reason} (--device cpu runs here)")
            if index >= n:
                raise BackendError(f"--device {device}: torch sees {n} CUDA device(s), cuda:0 to cuda:{n - 1}")
            device = f"cuda:{index}"
        return Backend("torch", xp, torch.device(device or "cpu"))
    if resolved == "cupy":
        n, reason = cuda_device_count()
        if n == 0:
            raise BackendError(reason)
        if device == "cpu":  # pragma: needs a GPU (a usable CUDA device got us here)
            raise BackendError("backend 'cupy' runs on a CUDA GPU only; use numpy for the CPU")
        import cupy  # pragma: needs a GPU

        xp = compat_namespace("cupy")  # pragma: needs a GPU
        dev_id = device_index(device)  # pragma: needs a GPU
        if dev_id >= n:  # pragma: needs a GPU
            raise BackendError(  # pragma: needs a GPU
                f"--device {device}: CuPy sees {n} CUDA device(s), cuda:0 to cuda:{n - 1}"
            )
        return Backend("cupy", xp, cupy.cuda.Device(dev_id))  # pragma: needs a GPU
    if resolved == "jax":
        jnp = _import("jax")
        import jax

        return Backend("jax", jnp, jax.devices("cpu" if device in (None, "cpu") else "gpu")[0])
    raise AssertionError(resolved)  # pragma: no cover


def backend_names() -> tuple[str, ...]:
    return tuple(n for n in BACKEND_NAMES if n != "auto")


def list_backends() -> list[BackendStatus]:
    """Every backend, whether it is usable here, its device, and why not where it is not."""
    out = []
    for name in backend_names():
        try:
            b = get_backend(name)
            out.append(BackendStatus(name, True, str(b.device), "", library_version(name)))
        except BackendError as exc:
            out.append(BackendStatus(name, False, "-", str(exc), library_version(name)))
        except Exception as exc:  # a broken install must not break the listing
            out.append(BackendStatus(name, False, "-", f"{type(exc).__name__}: {exc}", library_version(name)))
    return out


def backend_of(*arrays: Any, names: tuple[str, ...] | None = None) -> Backend:
    """The Backend that `arrays` live on; BackendMismatchError if they disagree.

    names: the parameter names of `arrays`, used in the error message.
    """
    arrays_named = [(names[i] if names else f"argument {i}", a) for i, a in enumerate(arrays) if a is not None]
    if not arrays_named:
        raise ConfigError("backend_of: no arrays given")
    libs = {n: library_name(a) for n, a in arrays_named}
    if len(set(libs.values())) > 1:
        where = ", ".join(f"{n} is a {lib} array" for n, lib in libs.items())
        raise BackendMismatchError(f"arrays from different libraries in one call: {where}")
    try:
        xp = namespace_of(*(a for _, a in arrays_named))
    except TypeError as exc:
        raise BackendMismatchError(f"unsupported array type: {exc}") from None
    devices = {n: device_of(a) for n, a in arrays_named}
    first = next(iter(devices.values()))
    if any(d != first for d in devices.values()):
        where = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise BackendMismatchError(f"arrays on different devices in one call: {where}")
    return Backend(next(iter(libs.values())), xp, first)


def check_on(backend: Backend, x: Any, name: str) -> None:
    """BackendMismatchError unless the array `x` lives on `backend`, library and device alike:
    a model refuses arrays it would otherwise have to copy behind the user's back."""
    lib = library_name(x)
    if lib != backend.name:
        raise BackendMismatchError(
            f"{name} is a {lib} array but the model's parameters are on {backend.name}; convert it "
            f"(e.g. xpnet.get_backend({backend.name!r}).asarray(x)) or move the model with model.to({lib!r})"
        )
    dev = device_of(x)
    if dev != backend.device:
        raise BackendMismatchError(f"{name} is on device {dev} but the model's parameters are on {backend.device}")
