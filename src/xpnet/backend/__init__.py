"""The one package that knows array libraries by name.

Everything else in xpnet gets its namespace `xp` from its inputs (namespace.py, the only module
that imports array-api-compat) or from a `Backend` object handed to it. This package selects a
library and device (selection.py), moves arrays to the host (host.py) and provides random
numbers (random.py: the array API standard has no random module). It imports nothing of xpnet
but the foundation modules errors.py and checks.py: it knows no layers, losses or steps.
"""

from __future__ import annotations

from .host import library_name, to_float, to_numpy
from .memory import out_of_memory
from .namespace import compat_namespace, device_of, is_array, namespace_of, namespace_of_tree, writes_in_place
from .random import DROPOUT, SHUFFLE, SPLIT, DeviceRandom, HostRandom, stream_seed
from .selection import (
    BACKEND_NAMES,
    ENV_VAR,
    Backend,
    BackendStatus,
    auto_backend_name,
    backend_names,
    backend_of,
    check_on,
    cuda_device_count,
    get_backend,
    library_version,
    list_backends,
)

__all__ = [
    "BACKEND_NAMES",
    "DROPOUT",
    "ENV_VAR",
    "SHUFFLE",
    "SPLIT",
    "Backend",
    "BackendStatus",
    "DeviceRandom",
    "HostRandom",
    "auto_backend_name",
    "backend_names",
    "backend_of",
    "check_on",
    "compat_namespace",
    "cuda_device_count",
    "device_of",
    "get_backend",
    "is_array",
    "library_name",
    "library_version",
    "list_backends",
    "namespace_of",
    "namespace_of_tree",
    "out_of_memory",
    "stream_seed",
    "to_float",
    "to_numpy",
    "writes_in_place",
]
