"""The one module that knows array libraries by name.

Everything else in xpnet gets its namespace `xp` from its inputs (through array-api-compat) or
from a `Backend` object handed to it. This module selects a library, creates arrays on its
device, moves arrays to the host, and provides random numbers (the array API standard has no
random module). There is no "current backend" global: every call names its backend or takes it
from its arrays, so two callers can never affect each other.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from .errors import BackendError, BackendMismatchError, ConfigError

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
_MODULE = {"numpy": "numpy", "array_api_strict": "array_api_strict", "torch": "torch",
           "cupy": "cupy", "jax": "jax.numpy"}


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
        if self.name == "cupy" and not _is_namespace(data, "cupy"):
            data = np.asarray(data)
        if isinstance(data, np.ndarray) and data.dtype.kind == "f" and data.dtype.name not in ("float32", "float64") \
                and not hasattr(self.xp, data.dtype.name):
            data = data.astype(np.float64)  # float16 on strict, longdouble anywhere: float64 holds float16 exactly
        if self.name == "torch" and isinstance(data, np.ndarray) and (
                not data.flags.writeable or any(s < 0 for s in data.strides)):
            data = np.array(data)  # torch cannot wrap negative strides, nor safely share read-only memory
        return self.xp.asarray(data, dtype=dt, device=self.device)

    def to_host(self, x: Any) -> np.ndarray:
        """A NumPy copy (or view) of `x` on the host."""
        return to_numpy(x)

    def sync(self) -> None:
        """Wait for queued device work (for timing); a no-op on the CPU."""
        if self.name == "cupy":
            import cupy

            cupy.cuda.get_current_stream().synchronize()
        elif self.name == "torch" and str(self.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy" or str(self.device).startswith(("cuda", "gpu"))


class BackendStatus(NamedTuple):
    name: str
    usable: bool
    device: str
    reason: str


def _is_namespace(x: Any, name: str) -> bool:
    return type(x).__module__.split(".")[0] == name


def _import(name: str) -> Any:
    try:
        return importlib.import_module(_MODULE[name])
    except ImportError as exc:
        raise BackendError(f"backend {name!r} is not installed ({exc}); {_INSTALL_HINT[name]}") from None


def _cuda_device_count() -> tuple[int, str]:
    """(count, reason) for CuPy; never raises on a machine without a driver."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        return 0, f"CuPy is not installed; {_INSTALL_HINT['cupy']}"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError, or a CuPy built for another CUDA version
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return 0, f"CuPy is installed but found no usable CUDA device ({msg}); check the driver and that the CuPy build matches its CUDA version"
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
    if device is not None and device not in ("cpu", "gpu") and name == "auto":
        raise ConfigError(f"device: expected 'cpu' or 'gpu', got {device!r}")
    if name == "auto":
        if device == "cpu":
            return "numpy"
        if device == "gpu":
            return "cupy"
        return "cupy" if _cuda_device_count()[0] > 0 else "numpy"
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
        return Backend("numpy", importlib.import_module("array_api_compat.numpy"), "cpu")
    if resolved == "array_api_strict":
        strict = _import("array_api_strict")
        if device == "gpu":
            raise BackendError("backend 'array_api_strict' has no GPU")
        dev = strict.Device(device) if device not in (None, "cpu") else strict.Device("CPU_DEVICE")
        return Backend("array_api_strict", strict, dev)
    if resolved == "torch":
        torch = _import("torch")
        xp = importlib.import_module("array_api_compat.torch")
        if device == "gpu":
            if not torch.cuda.is_available():
                raise BackendError("torch was asked for the GPU but torch.cuda.is_available() is False (a CPU-only build, or no CUDA device)")
            device = "cuda"
        return Backend("torch", xp, torch.device(device or "cpu"))
    if resolved == "cupy":
        n, reason = _cuda_device_count()
        if n == 0:
            raise BackendError(reason)
        if device == "cpu":
            raise BackendError("backend 'cupy' runs on a CUDA GPU only; use numpy for the CPU")
        import cupy

        xp = importlib.import_module("array_api_compat.cupy")
        dev_id = 0 if device in (None, "gpu") else int(str(device).split(":")[-1])
        return Backend("cupy", xp, cupy.cuda.Device(dev_id))
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
            out.append(BackendStatus(name, True, str(b.device), ""))
        except BackendError as exc:
            out.append(BackendStatus(name, False, "-", str(exc)))
        except Exception as exc:  # a broken install must not break the listing
            out.append(BackendStatus(name, False, "-", f"{type(exc).__name__}: {exc}"))
    return out


def _library_name(x: Any) -> str:
    mod = type(x).__module__.split(".")[0]
    return {"array_api_strict": "array_api_strict", "jaxlib": "jax"}.get(mod, mod)


def backend_of(*arrays: Any, names: tuple[str, ...] | None = None) -> Backend:
    """The Backend that `arrays` live on; BackendMismatchError if they disagree.

    names: the parameter names of `arrays`, used in the error message.
    """
    arrays_named = [(names[i] if names else f"argument {i}", a) for i, a in enumerate(arrays) if a is not None]
    if not arrays_named:
        raise ConfigError("backend_of: no arrays given")
    libs = {n: _library_name(a) for n, a in arrays_named}
    if len(set(libs.values())) > 1:
        where = ", ".join(f"{n} is a {lib} array" for n, lib in libs.items())
        raise BackendMismatchError(f"arrays from different libraries in one call: {where}")
    try:
        xp = array_api_compat.array_namespace(*(a for _, a in arrays_named))
    except TypeError as exc:
        raise BackendMismatchError(f"unsupported array type: {exc}") from None
    devices = {n: array_api_compat.device(a) for n, a in arrays_named}
    first = next(iter(devices.values()))
    if any(d != first for d in devices.values()):
        where = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise BackendMismatchError(f"arrays on different devices in one call: {where}")
    return Backend(next(iter(libs.values())), xp, first)


def is_array(x: Any) -> bool:
    return array_api_compat.is_array_api_obj(x)


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any supported library to a NumPy array on the host."""
    if isinstance(x, np.ndarray):
        return x
    lib = _library_name(x)
    if lib == "cupy":
        return x.get()
    if lib == "torch":
        return x.detach().cpu().numpy()
    try:
        return np.from_dlpack(x)
    except Exception:
        return np.asarray(x)


def to_float(x: Any) -> float:
    """A 0-d array as a Python float (a device-to-host transfer on a GPU: call it rarely)."""
    return float(to_numpy(x))


# --- random numbers -------------------------------------------------------------------------


class HostRandom:
    """Seeded random numbers drawn on the host with NumPy, then moved to the backend's device.

    Drawing on the host makes the numbers identical on every backend for the same seed, which is
    what cross-backend tests compare. `legacy=True` uses NumPy's legacy Mersenne Twister
    (`RandomState`), the generator the seed programs use; otherwise PCG64 (`default_rng`).
    """

    def __init__(self, seed: int | None = None, *, legacy: bool = False) -> None:
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
            raise ConfigError(f"seed: expected a non-negative integer or None, got {seed!r}")
        self.legacy = legacy
        self._gen = np.random.RandomState(seed) if legacy else np.random.default_rng(seed)

    # the seeds' weights: 2 * random(shape) - 1, drawn in float64 on the host
    def uniform_pm1(self, shape: tuple[int, ...]) -> np.ndarray:
        return 2 * self._gen.random(shape) - 1

    def uniform(self, low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
        return self._gen.uniform(low, high, shape)

    def normal(self, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        return self._gen.normal(0.0, scale, shape)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape)

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        return self._gen.random(shape)

    def permutation(self, n: int) -> np.ndarray:
        return self._gen.permutation(n)

    def keep_mask(self, shape: tuple[int, ...], keep_prob: float, *, xp: Any, device: Any, dtype: Any) -> Any:
        """A dropout mask: 1 with probability keep_prob, else 0, in `dtype` on `device`.

        Drawn on the host so the same seed gives the same mask on every backend (one host-to-device
        copy per call; fine on the CPU, a cost on a GPU)."""
        if isinstance(keep_prob, bool) or not isinstance(keep_prob, (int, float)) or not 0 < keep_prob <= 1:
            raise ConfigError(f"keep_prob: expected a number in (0, 1], got {keep_prob!r}")
        mask = (self._gen.random(tuple(shape)) < keep_prob).astype(np.float64)
        return xp.asarray(mask, dtype=dtype, device=device)

    def get_state(self) -> dict:
        """A JSON-serialisable snapshot, for exact resume."""
        if self.legacy:
            kind, keys, pos, has_gauss, gauss = self._gen.get_state()
            return {"kind": "legacy", "keys": keys.tolist(), "pos": int(pos),
                    "has_gauss": int(has_gauss), "gauss": float(gauss)}
        return {"kind": "pcg64", "state": _jsonable(self._gen.bit_generator.state)}

    def set_state(self, state: dict) -> None:
        if state.get("kind") == "legacy":
            self.legacy = True
            self._gen = np.random.RandomState()
            self._gen.set_state(("MT19937", np.asarray(state["keys"], dtype=np.uint32), state["pos"],
                                 state["has_gauss"], state["gauss"]))
        elif state.get("kind") == "pcg64":
            self.legacy = False
            self._gen = np.random.default_rng()
            self._gen.bit_generator.state = state["state"]
        else:
            raise ConfigError(f"random state: unknown kind {state.get('kind')!r}")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


class DeviceRandom:
    """Random numbers drawn by the backend's own generator, on its device (CuPy, torch).

    On a GPU a host-drawn dropout mask costs a host-to-device copy every step; this generator
    draws where the arrays live. Its numbers differ from HostRandom's (and between libraries), so
    cross-backend comparisons use HostRandom. Same interface as HostRandom for what training uses:
    keep_mask, permutation, get_state/set_state.
    """

    def __init__(self, backend: Backend, seed: int | None = 0) -> None:
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
            raise ConfigError(f"seed: expected a non-negative integer or None, got {seed!r}")
        self.backend = backend
        if backend.name == "torch":
            import torch

            self._gen = torch.Generator(device=backend.device)
            self._gen.manual_seed(int(seed or 0))
        elif backend.name == "cupy":
            import cupy

            with backend.device:
                self._gen = cupy.random.default_rng(seed)
        else:
            raise ConfigError(f"device_rng: backend {backend.name!r} has no device generator; "
                              "use the host generator (device_rng=False), or cupy or torch")

    def random(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Uniform [0, 1) numbers of `dtype`, created on the device."""
        shape = tuple(int(s) for s in shape)
        if self.backend.name == "torch":
            import torch

            return torch.rand(shape, generator=self._gen, device=self.backend.device, dtype=dtype)
        with self.backend.device:
            return self._gen.random(shape, dtype=dtype)

    def keep_mask(self, shape: tuple[int, ...], keep_prob: float, *, xp: Any, device: Any, dtype: Any) -> Any:
        if isinstance(keep_prob, bool) or not isinstance(keep_prob, (int, float)) or not 0 < keep_prob <= 1:
            raise ConfigError(f"keep_prob: expected a number in (0, 1], got {keep_prob!r}")
        return xp.astype(self.random(shape, dtype) < keep_prob, dtype)

    def permutation(self, n: int) -> Any:
        if self.backend.name == "torch":
            import torch

            return torch.randperm(int(n), generator=self._gen, device=self.backend.device)
        with self.backend.device:
            return self._gen.permutation(int(n))

    def get_state(self) -> dict:
        if self.backend.name == "torch":
            return {"kind": "torch", "state": self._gen.get_state().tolist()}
        # CuPy's generators expose no portable state: an exact resume needs the host generator
        return {"kind": "cupy-unsaved"}

    def set_state(self, state: dict) -> None:
        if state.get("kind") == "torch" and self.backend.name == "torch":
            import torch

            self._gen.set_state(torch.tensor(state["state"], dtype=torch.uint8))
        else:
            raise ConfigError(f"random state: cannot restore {state.get('kind')!r} into a {self.backend.name} "
                              "device generator; train with device_rng=False for exact resume")
# --- per-library fast paths -----------------------------------------------------------------


def compile_train_step(model: Any, loss_fn: Any, optimizer: Any):
    """A training step specialised for the model's array library, or None where no fast path
    applies. The step is `step(x, y, opt_state, rng=None) -> (loss, outputs, opt_state)`, the same
    contract as `train.train_step`, and leaves `model.params` holding the updated arrays (updated
    in place: see xpnet/fast/numpy_step.py). Each fast path is proven equal to the generic step in
    tests/test_fastpath.py."""
    from .fast import compile_train_step as _compile

    return _compile(model, loss_fn, optimizer)
