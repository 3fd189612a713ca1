"""Nested states (optimizer states, trainer snapshots): map a function over their arrays, and
flatten them to named leaves and back for checkpoints.

An optimizer state is a tree of tuples, NamedTuples, lists and dicts whose leaves are arrays,
Python numbers or None. `tree_flatten` names each array/number leaf by its path ("0/trace/0.W")
and describes the structure in a JSON-serialisable spec; `save_arrays(path, leaves, {"spec": spec})`
then stores it. To restore, `tree_unflatten(template, leaves, spec)` walks a freshly initialised
state (`optimizer.init(model.params)` on the target backend), which supplies the NamedTuple
classes and each array's backend, device and dtype: so no class is ever looked up from a file.
"""

from __future__ import annotations

from typing import Any

from . import backend as _backend
from .errors import CheckpointError, ConfigError

ROOT = "value"  # the name of the leaf when the whole tree is a single leaf


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def dtype_name(dtype: Any) -> str:
    # "float32" from numpy's float32, torch.float32 and array_api_strict.float32 alike
    return str(dtype).rsplit(".", 1)[-1]


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}/{key}" if prefix else str(key)


def _children(node: Any, prefix: str):
    """(kind, [(path, key, child)]) for a container node; kind None for a leaf."""
    if _is_namedtuple(node):
        return "namedtuple", [(_join(prefix, f), f, getattr(node, f)) for f in node._fields]
    if isinstance(node, (tuple, list)):
        return type(node).__name__, [(_join(prefix, i), i, c) for i, c in enumerate(node)]
    if isinstance(node, dict):
        for k in node:
            if not isinstance(k, str) or "/" in k or not k:
                raise ConfigError(
                    f"tree: dict keys must be non-empty strings without '/', got {k!r} at {prefix or ROOT!r}"
                )
        return "dict", [(_join(prefix, k), k, c) for k, c in node.items()]
    return None, []


def map_arrays(fn, tree):
    """`tree` (dicts, lists, tuples, NamedTuples) with `fn` applied to every array in it; other
    leaves (numbers, None) are kept as they are."""
    if _backend.is_array(tree):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: map_arrays(fn, v) for k, v in tree.items()}
    if _is_namedtuple(tree):
        return type(tree)(*(map_arrays(fn, v) for v in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_arrays(fn, v) for v in tree)
    return tree


def tree_flatten(tree: Any) -> tuple[dict[str, Any], dict]:
    """(leaves, spec): leaves maps each path to an array or Python number; spec (JSON) records
    the containers, field names and leaf kinds, shapes and dtypes, to check a template against."""
    leaves: dict[str, Any] = {}

    def walk(node, path):
        kind, children = _children(node, path)
        if kind == "namedtuple":
            return {
                "type": "namedtuple",
                "name": type(node).__name__,
                "fields": {k: walk(c, p) for p, k, c in children},
            }
        if kind == "dict":
            return {"type": "dict", "items": {k: walk(c, p) for p, k, c in children}}
        if kind is not None:
            return {"type": kind, "items": [walk(c, p) for p, k, c in children]}
        if node is None:
            return {"type": "none"}
        name = path or ROOT
        if isinstance(node, (bool, int, float)):
            leaves[name] = node
            return {"type": type(node).__name__}
        if _backend.is_array(node):
            leaves[name] = node
            return {"type": "array", "shape": [int(s) for s in node.shape], "dtype": dtype_name(node.dtype)}
        raise ConfigError(f"tree: leaf {name!r} is a {type(node).__name__}; expected an array, a number or None")

    spec = walk(tree, "")
    return leaves, spec


def tree_unflatten(template: Any, leaves: dict[str, Any], spec: dict | None = None) -> Any:
    """A tree shaped like `template` with its leaves taken from `leaves` (host arrays as loaded,
    or arrays of any backend). Arrays are moved to the template leaf's backend and device in its
    dtype; numbers become the template leaf's Python type. CheckpointError when the structure,
    names, shapes or dtypes differ (e.g. a state saved by another optimizer)."""
    template_leaves, template_spec = tree_flatten(template)
    if spec is not None and spec != template_spec:
        raise CheckpointError(
            f"saved state structure does not match this optimizer's: saved {_brief(spec)}, "
            f"expected {_brief(template_spec)}"
        )
    missing, extra = set(template_leaves) - set(leaves), set(leaves) - set(template_leaves)
    if missing or extra:
        raise CheckpointError(f"state leaves differ: missing {sorted(missing)}, unexpected {sorted(extra)}")

    def convert(name: str, like: Any, value: Any) -> Any:
        if isinstance(like, (bool, int, float)):
            return type(like)(_backend.to_numpy(value)) if _backend.is_array(value) else type(like)(value)
        host = _backend.to_numpy(value)
        if tuple(host.shape) != tuple(like.shape) or dtype_name(host.dtype) != dtype_name(like.dtype):
            raise CheckpointError(
                f"state leaf {name!r} has shape {tuple(host.shape)} dtype {host.dtype}, "
                f"expected {tuple(like.shape)} {dtype_name(like.dtype)}"
            )
        return _backend.backend_of(like).asarray(host, like.dtype)

    def build(node, path):
        kind, children = _children(node, path)
        if kind == "namedtuple":
            return type(node)(*(build(c, p) for p, k, c in children))
        if kind == "dict":
            return {k: build(c, p) for p, k, c in children}
        if kind is not None:
            return type(node)(build(c, p) for p, k, c in children)
        if node is None:
            return None
        name = path or ROOT
        return convert(name, node, leaves[name])

    return build(template, "")


def _brief(spec: dict) -> str:
    """A one-line summary of a spec: its container names, without leaf details."""
    t = spec.get("type")
    if t == "namedtuple":
        return f"{spec['name']}({', '.join(spec['fields'])})"
    if t in ("tuple", "list"):
        return "(" + ", ".join(_brief(s) for s in spec["items"]) + ")"
    if t == "dict":
        return "{" + ", ".join(spec["items"]) + "}"
    return t
