"""Schemas for the JSON records inside xpnet's files, and the one function that checks a value
against one. A file's record is checked whole before any of it is used, so a crafted file (a
list where an object belongs, a string where a number belongs, a record nested too deeply) is
one line naming the file, the field and what was expected, never a traceback later.

A schema is a Python type (str, int, bool, dict, list: int excludes bool), a tuple of schemas
(any of them), or one of the classes below:

    check(record, Fields({"format": Const("xpnet"), "tensors": MapOf(str, TENSOR)}), "m.npz")
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import CheckpointError

MAX_DEPTH = 64  # JSON this deep is crafted: xpnet's records nest a handful of levels


class Const:
    def __init__(self, value: Any) -> None:
        self.value = value

    def describe(self) -> str:
        return repr(self.value)


class OneOf:
    """One of a few JSON values (names)."""

    def __init__(self, *values: Any) -> None:
        self.values = values

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.values))


class Number:
    """A finite JSON number (int or float, not bool), optionally above a bound."""

    def __init__(self, *, above: float | None = None, at_least: float | None = None, integer: bool = False) -> None:
        self.above, self.at_least, self.integer = above, at_least, integer

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        if self.above is not None:
            return f"{kind} > {self.above:g}"
        if self.at_least is not None:
            return f"{kind} >= {self.at_least:g}"
        return kind


class ListOf:
    """A JSON array of items, with a length between min_len and max_len (or exactly length)."""

    def __init__(self, item: Any, *, min_len: int = 0, max_len: int | None = None, length: int | None = None) -> None:
        self.item, self.min_len, self.max_len, self.length = item, min_len, max_len, length

    def describe(self) -> str:
        if self.length is not None:
            return f"a list of {self.length} items"
        if self.max_len is not None:
            return f"a list of {self.min_len} to {self.max_len} items"
        if self.min_len == 1:
            return "a non-empty list"
        return f"a list of at least {self.min_len} items" if self.min_len else "a list"


class MapOf:
    """A JSON object with any keys, each value of one schema."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def describe(self) -> str:
        return "an object"


class Fields:
    """A JSON object with required fields, optional ones, and (extra=True) any others."""

    def __init__(self, required: dict, optional: dict | None = None, *, extra: bool = True) -> None:
        self.required, self.optional, self.extra = required, optional or {}, extra

    def describe(self) -> str:
        return "an object with " + ", ".join(self.required) if self.required else "an object"


ANY = (dict, list, str, int, float, bool, None)  # any JSON value (its depth is still checked)

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


def kind_of(value: Any) -> str:
    """How a JSON value reads in a message: 'a list', 'the string "x"', 'the number 3'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def describe(schema: Any) -> str:
    if isinstance(schema, tuple):
        return " or ".join(describe(s) for s in schema)
    if schema is None:
        return "null"
    return _TYPE_NAMES.get(schema) or schema.describe()


def _fits_type(value: Any, schema: type) -> bool:
    if schema is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, schema)


def _problem(value: Any, schema: Any, where: str) -> str | None:
    """A description of the first place `value` does not fit `schema`, or None."""
    if isinstance(schema, tuple):
        if any(_problem(value, s, where) is None for s in schema):
            return None
        return f"{where} is {kind_of(value)}, expected {describe(schema)}"
    if schema is None:
        return None if value is None else f"{where} is {kind_of(value)}, expected null"
    if isinstance(schema, type):
        return None if _fits_type(value, schema) else f"{where} is {kind_of(value)}, expected {describe(schema)}"
    if isinstance(schema, Const):
        return None if value == schema.value and type(value) is type(schema.value) else _expected(value, schema, where)
    if isinstance(schema, OneOf):
        known = any(value == v and type(value) is type(v) for v in schema.values)
        return None if known else _expected(value, schema, where)
    if isinstance(schema, Number):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (not schema.integer or isinstance(value, int))
        ok = ok and (schema.above is None or value > schema.above)
        ok = ok and (schema.at_least is None or value >= schema.at_least)
        return None if ok else _expected(value, schema, where)
    if isinstance(schema, ListOf):
        n = len(value) if isinstance(value, list) else -1
        if (
            n < 0
            or n < schema.min_len
            or (schema.max_len is not None and n > schema.max_len)
            or (schema.length is not None and n != schema.length)
        ):
            return _expected(value, schema, where)
        for i, item in enumerate(value):
            problem = _problem(item, schema.item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            return _expected(value, schema, where)
        for key, item in value.items():
            problem = _problem(item, schema.value, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(schema, Fields):
        if not isinstance(value, dict):
            return _expected(value, schema, where)
        for key, sub in schema.required.items():
            if key not in value:
                return f"{where} has no field {key!r}"
            problem = _problem(value[key], sub, _join(where, key))
            if problem:
                return problem
        for key, sub in schema.optional.items():
            if key in value:
                problem = _problem(value[key], sub, _join(where, key))
                if problem:
                    return problem
        if not schema.extra:
            unknown = sorted(set(value) - set(schema.required) - set(schema.optional))
            if unknown:
                return f"{where} has unknown field(s) {unknown}"
        return None
    raise TypeError(f"not a schema: {schema!r}")  # pragma: no cover - a programming error


def _expected(value: Any, schema: Any, where: str) -> str:
    return f"{where} is {kind_of(value)}, expected {describe(schema)}"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}"


def depth(value: Any) -> int:
    """How deeply a JSON value nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d + 1)
            if d + 1 > MAX_DEPTH:
                return deepest
            stack.extend((item, d + 1) for item in (v.values() if isinstance(v, dict) else v))
    return deepest


def check(value: Any, schema: Any, source: Any, where: str = "record", error: type[Exception] = CheckpointError) -> Any:
    """`value` when it fits `schema`; otherwise `error` naming `source`, the field (`where` and
    the path below it: run.standardize.mean[3]) and what was expected. Values nested deeper than
    MAX_DEPTH are refused first."""
    if depth(value) > MAX_DEPTH:
        raise error(f"{source}: {where} nests more than {MAX_DEPTH} levels deep")
    problem = _problem(value, schema, where)
    if problem:
        raise error(f"{source}: {problem}")
    return value
