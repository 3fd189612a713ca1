"""The one module that talks to array-api-compat: the namespace and device of arrays.

Public functions of xpnet resolve `xp` from their inputs here, once, and hand it to internal
helpers as a keyword argument (array-api-extra's pattern): resolving costs microseconds per
call, which the small networks' steps notice, and one place keeps the rule easy to check.
"""

from __future__ import annotations

import importlib
from typing import Any

import array_api_compat


def namespace_of(*arrays: Any) -> Any:
    """The array-api-compat namespace of `arrays` (TypeError if they mix libraries)."""
    return array_api_compat.array_namespace(*arrays)


def namespace_of_tree(arrays: dict) -> Any:
    """The namespace of a dict of arrays (gradients, parameters); None for an empty dict."""
    return array_api_compat.array_namespace(*arrays.values()) if arrays else None


def device_of(x: Any) -> Any:
    """The device an array lives on, in its library's own terms."""
    return array_api_compat.device(x)


def is_array(x: Any) -> bool:
    """True for an array of any library array-api-compat knows (not for Python numbers or lists)."""
    return array_api_compat.is_array_api_obj(x)


def writes_in_place(x: Any) -> bool:
    """Whether `x op= y` writes into the array x (NumPy, CuPy, torch, array-api-strict) rather
    than binding the name to a new array (JAX, a read-only NumPy view): the library's property,
    read from the array (array-api-compat knows which libraries' arrays are immutable)."""
    return array_api_compat.is_writeable_array(x)


def compat_namespace(library: str) -> Any:
    """array-api-compat's wrapper namespace for a library ("numpy", "torch", "cupy")."""
    return importlib.import_module(f"array_api_compat.{library}")
