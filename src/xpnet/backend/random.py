"""Random numbers for xpnet: the array API standard has no random module.

`HostRandom` draws on the host with a seeded NumPy generator and converts, so the same seed gives
the same numbers on every backend (what cross-backend tests compare, and what weight
initialisation uses). `DeviceRandom` draws with the library's own generator on its device
(CuPy, torch), which saves a host-to-device copy per step on a GPU but gives other numbers.
Both offer what training needs: keep_mask, permutation, get_state/set_state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_float, check_int
from ..errors import ConfigError
from .selection import Backend

# One seed gives a run several independent streams of random numbers, one per use, so that
# adding (say) dropout never shifts the shuffle order, and no two seeds share a stream.
SPLIT, SHUFFLE, DROPOUT = 0, 1, 2
_STREAMS = 3


def stream_seed(seed: int | None, stream: int) -> int | None:
    """The seed of stream `stream` (SPLIT, SHUFFLE or DROPOUT) of a run seeded with `seed`."""
    return None if seed is None else _STREAMS * seed + stream


class HostRandom:
    """Seeded random numbers drawn on the host with NumPy, then moved to the backend's device.

    Drawing on the host makes the numbers identical on every backend for the same seed, which is
    what cross-backend tests compare. `legacy=True` uses NumPy's legacy Mersenne Twister
    (`RandomState`), the generator the seed programs use; otherwise PCG64 (`default_rng`).
    """

    can_save_state = True  # get_state() restores the exact stream (exact resume)

    def __init__(self, seed: int | None = None, *, legacy: bool = False) -> None:
        check_int("seed", seed, 0, allow_none=True)
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
        check_float("keep_prob", keep_prob, 0.0, 1.0, low_open=True)
        mask = (self._gen.random(tuple(shape)) < keep_prob).astype(np.float64)
        return xp.asarray(mask, dtype=dtype, device=device)

    def get_state(self) -> dict:
        """A JSON-serialisable snapshot, for exact resume."""
        if self.legacy:
            kind, keys, pos, has_gauss, gauss = self._gen.get_state()
            return {
                "kind": "legacy",
                "keys": keys.tolist(),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "gauss": float(gauss),
            }
        return {"kind": "pcg64", "state": _jsonable(self._gen.bit_generator.state)}

    def set_state(self, state: dict) -> None:
        if state.get("kind") == "legacy":
            self.legacy = True
            self._gen = np.random.RandomState()
            self._gen.set_state(
                (
                    "MT19937",
                    np.asarray(state["keys"], dtype=np.uint32),
                    state["pos"],
                    state["has_gauss"],
                    state["gauss"],
                )
            )
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
        check_int("seed", seed, 0, allow_none=True)
        self.backend = backend
        if backend.name == "torch":
            import torch

            self._gen = torch.Generator(device=backend.device)
            self._gen.manual_seed(int(seed or 0))
        elif backend.name == "cupy":  # pragma: needs a GPU
            import cupy

            with backend.device:
                self._gen = cupy.random.default_rng(seed)
        else:
            raise ConfigError(
                f"device_rng: backend {backend.name!r} has no device generator; "
                "use the host generator (device_rng=False), or cupy or torch"
            )

    @property
    def can_save_state(self) -> bool:
        # CuPy's generators expose no portable state: an exact resume needs the host generator
        return self.backend.name == "torch"

    def random(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Uniform [0, 1) numbers of `dtype`, created on the device."""
        shape = tuple(int(s) for s in shape)
        if self.backend.name == "torch":
            import torch

            return torch.rand(shape, generator=self._gen, device=self.backend.device, dtype=dtype)
        with self.backend.device:  # pragma: needs a GPU
            return self._gen.random(shape, dtype=dtype)

    def keep_mask(self, shape: tuple[int, ...], keep_prob: float, *, xp: Any, device: Any, dtype: Any) -> Any:
        check_float("keep_prob", keep_prob, 0.0, 1.0, low_open=True)
        return xp.astype(self.random(shape, dtype) < keep_prob, dtype)

    def permutation(self, n: int) -> Any:
        if self.backend.name == "torch":
            import torch

            return torch.randperm(int(n), generator=self._gen, device=self.backend.device)
        with self.backend.device:  # pragma: needs a GPU
            return self._gen.permutation(int(n))

    def get_state(self) -> dict:
        if self.backend.name == "torch":
            return {"kind": "torch", "state": self._gen.get_state().tolist()}
        return {"kind": "cupy-unsaved"}  # pragma: needs a GPU (see can_save_state)

    def set_state(self, state: dict) -> None:
        if state.get("kind") == "torch" and self.backend.name == "torch":
            import torch

            self._gen.set_state(torch.tensor(state["state"], dtype=torch.uint8))
        else:
            raise ConfigError(
                f"random state: cannot restore {state.get('kind')!r} into a {self.backend.name} "
                "device generator; train with device_rng=False for exact resume"
            )
