"""Walking a raw instance dict: the path of every table, typed getters that return None
for a value of the wrong type (so a check skips what `check_types` already reported),
and the way a value is shown in a message."""
from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from typing import Any

from .schema import ROOT, SCHEMA, Field, default_of
from .types import month_str, parse_month


def show(value: Any) -> str:
    """A value as the user would recognise it in their file."""
    return repr(value)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def iter_tables(data: Mapping[str, Any]) -> Iterator[tuple[str, dict, Mapping[str, Field]]]:
    """(path, table, its fields) for the root and every nested table of the right shape."""
    yield from _tables("", data, SCHEMA)


def _tables(path: str, table: Mapping[str, Any], fields: Mapping[str, Field]):
    yield path, table, fields
    for key, f in fields.items():
        value, sub = table.get(key), join(path, key)
        if f.kind == "table" and isinstance(value, dict):
            yield from _tables(sub, value, f.fields)
        elif f.kind == "tables" and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _tables(f"{sub}[{i}]", item, f.fields)
        elif f.kind == "map" and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, dict):
                    yield from _tables(f"{sub}.{name}", item, f.fields)


def _is_number(v: Any) -> bool:
    # bool is an int subclass in Python, but `true` is never a quantity
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type_errors(path: str, f: Field, v: Any) -> list[str]:
    """Why v is not of kind f.kind ([] when it is)."""
    kind = f.kind
    if kind == "str":
        return [] if isinstance(v, str) else [f"{path}: expected a string, got {show(v)}"]
    if kind == "float":
        if not _is_number(v):
            return [f"{path}: expected a number, got {show(v)}"]
        if not math.isfinite(v):
            return [f"{path}: expected a finite number, got {show(v)}"]
        return []
    if kind == "int":
        return [] if isinstance(v, int) and not isinstance(v, bool) else [
            f"{path}: expected an integer, got {show(v)}"]
    if kind == "month":
        try:
            parse_month(v)
        except ValueError as e:
            return [f"{path}: {e}"]
        return []
    if kind in ("str_list", "month_list"):
        if not isinstance(v, list):
            return [f"{path}: expected a list, got {show(v)}"]
        item = Field("str" if kind == "str_list" else "month")
        return [e for i, x in enumerate(v) for e in _type_errors(f"{path}[{i}]", item, x)]
    if kind == "table":
        return [] if isinstance(v, dict) else [f"{path}: expected a table, got {show(v)}"]
    if kind == "tables":
        if not isinstance(v, list):
            return [f"{path}: expected an array of tables, got {show(v)}"]
        return [f"{path}[{i}]: expected a table, got {show(x)}"
                for i, x in enumerate(v) if not isinstance(x, dict)]
    if kind == "map":
        if not isinstance(v, dict):
            return [f"{path}: expected a table of tables, got {show(v)}"]
        return [f"{join(path, k)}: expected a table, got {show(x)}"
                for k, x in v.items() if not isinstance(x, dict)]
    raise AssertionError(f"unknown field kind {kind!r}")


def _well_typed(f: Field, v: Any) -> bool:
    return not _type_errors("", f, v)


def _items(data: Mapping[str, Any], *keys: str) -> list[tuple[str, dict]]:
    """(path, table) of each well-formed entry of an array of tables at data[keys...]."""
    node: Any = data
    for k in keys:
        if not isinstance(node, dict):
            return []
        node = node.get(k)
    if not isinstance(node, list):
        return []
    base = ".".join(keys)
    return [(f"{base}[{i}]", t) for i, t in enumerate(node) if isinstance(t, dict)]


def _str(table: Mapping[str, Any], key: str) -> str | None:
    v = table.get(key)
    return v if isinstance(v, str) else None


def _num(table: Mapping[str, Any], key: str) -> float | None:
    v = table.get(key)
    return v if _is_number(v) and math.isfinite(v) else None


def _month(table: Mapping[str, Any], key: str) -> int | None:
    try:
        return parse_month(table.get(key))
    except ValueError:
        return None


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f", did you mean {close[0]!r}?" if close else ""


def defaulted_paths(data: Mapping[str, Any]) -> frozenset[str]:
    """Paths of the optional keys a raw instance leaves to their defaults.

    Parameters
    ----------
    data : dict
        A raw instance (as `tomllib` returns it).

    Returns
    -------
    frozenset of str
        Paths as messages write them ("risk", "plan.hours_per_month",
        "leases[0].backstop_usd"), of the tables that are there: kept on the Instance so
        that a warning about a default can be told from a value written on purpose.
    """
    return frozenset(join(path, key) for path, table, fields in iter_tables(data)
                     for key, f in fields.items() if not f.required and key not in table)


def as_raw(instance: Any) -> dict[str, Any]:
    """An Instance as the raw dict a file would give.

    Parameters
    ----------
    instance : Instance
        Loaded from a file or built in code.

    Returns
    -------
    dict
        Months as "YYYY-MM", markets keyed by id, a lease's rent once. A key its file left
        out (`instance.defaulted`) that still holds its default is left out again; for an
        instance built in code (`defaulted` None) every key holding its default is, as if
        loaded from the shortest file. `parse_instance` of it gives the instance back.
    """
    return _as_raw(instance, ROOT, "", getattr(instance, "defaulted", None))


def _as_raw(obj: Any, parent: Field, path: str, defaulted: frozenset[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, f in parent.fields.items():
        if key == "schema":
            out[key] = 1
            continue
        v, sub = getattr(obj, key, None), join(path, key)
        if v is None or (key == "rate_kw_month" and getattr(obj, "contract_value_usd", None) is not None):
            continue    # (a lease's rent derived from its contract value is not written twice)
        if ((defaulted is None or sub in defaulted)
                and v == (f.cls() if f.fill else default_of(parent.cls, key))):
            continue
        if f.kind == "month":
            v = month_str(v)
        elif f.kind == "month_list":
            v = [month_str(m) for m in v]
        elif f.kind == "str_list":
            v = list(v)
        elif f.kind == "table":
            v = _as_raw(v, f, sub, defaulted)
        elif f.kind == "tables":
            v = [_as_raw(x, f, f"{sub}[{i}]", defaulted) for i, x in enumerate(v)]
        elif f.kind == "map":
            v = {x.id: _as_raw(x, f, f"{sub}.{x.id}", defaulted) for x in v}
        out[key] = v
    return out
