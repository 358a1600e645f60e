"""Read a `schema = 1` TOML instance, validate it, and build the `Instance`.

Validation happens on the raw dict (`wattfolio.instance.checks`) before any data class is
built, so every problem in a file is reported at once and the builder below can
trust its input. `python3 -m wattfolio.instance.load FILE` validates one file.
"""
from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from .checks import run_checks
from .raw import defaulted_paths
from .schema import SCHEMA, Field
from .warnings import instance_warnings
from ..errors import EXIT_BAD_INPUT, InstanceError
from .types import Instance, parse_month


def load_instance(path: str | os.PathLike) -> Instance:
    """Read, hash, parse and validate an instance file.

    Raises InstanceError listing every problem found (a missing file, a TOML syntax
    error, or all validation errors at once).
    """
    data, sha256 = read_data(path)
    return parse_instance(data, sha256=sha256)


def read_data(path: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """The raw TOML dict of an instance file and the sha256 of its bytes, unvalidated.

    Raises
    ------
    InstanceError
        The file is missing, unreadable, not UTF-8 or not TOML.
    """
    raw = _read(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InstanceError([f"{path}: not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InstanceError([f"{path}: invalid TOML: {e}"]) from None
    except RecursionError:
        raise InstanceError([f"{path}: nested too deeply to be an instance file"]) from None
    except ValueError as e:  # e.g. an integer past Python's digit limit
        raise InstanceError([f"{path}: invalid TOML: {e}"]) from None
    return data, hashlib.sha256(raw).hexdigest()


def parse_instance(data: dict, sha256: str = "") -> Instance:
    """Validate a parsed TOML dict and build the Instance; raises InstanceError."""
    errors = run_checks(data)
    if errors:
        raise InstanceError(errors)
    fields = {k: f for k, f in SCHEMA.items() if k != "schema"}
    return Instance(**_kwargs(data, fields), sha256=sha256, defaulted=defaulted_paths(data))


def validate_file(path: str | os.PathLike) -> list[str]:
    """Every error in an instance file; [] when it is valid."""
    try:
        load_instance(path)
    except InstanceError as e:
        return e.errors
    return []


def validate_main(path: str) -> int:
    """`wattfolio validate`: OK and a summary (exit 0) or every error (exit 2), and in
    either case every warning, as `warning: ...` lines on stderr."""
    try:
        data, sha256 = read_data(path)
    except InstanceError as e:
        _print("error", e.errors)
        return EXIT_BAD_INPUT
    errors = run_checks(data)
    # a warning can explain an error next to it (55 for a volatility: out of range, and
    # a percent), so warnings are shown either way, after the errors
    _print("error", errors)
    _print("warning", instance_warnings(data))
    if errors:
        return EXIT_BAD_INPUT
    inst = parse_instance(data, sha256=sha256)
    print(f"OK: {path} ({len(inst.sites)} sites, {len(inst.leases)} leases, "
          f"{len(inst.finance.instruments)} instruments)")
    return 0


def _print(kind: str, lines: list[str]) -> None:
    for line in lines:
        print(f"{kind}: {line}", file=sys.stderr)


MAX_INSTANCE_BYTES = 64 * 2 ** 20


def _read(path: str | os.PathLike) -> bytes:
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(st.st_mode):   # a FIFO would block forever, /dev/zero never ends
            raise InstanceError([f"{path}: not a regular file; an instance is a .toml file"])
        if st.st_size > MAX_INSTANCE_BYTES:
            raise InstanceError([f"{path}: {st.st_size:,} bytes; an instance file is at most "
                                 f"{MAX_INSTANCE_BYTES:,}"])
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InstanceError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise InstanceError([f"{path}: is a directory, not an instance file"]) from None
    except OSError as e:
        raise InstanceError([f"{path}: cannot read ({e.strerror})"]) from None


def _kwargs(table: Mapping[str, Any], fields: Mapping[str, Field]) -> dict[str, Any]:
    """Constructor arguments for the keys present; absent ones take the class defaults."""
    out: dict[str, Any] = {}
    for key, f in fields.items():
        if key in table:
            out[key] = _convert(f, table[key])
        elif f.fill:
            out[key] = f.cls()
    return out


def _convert(f: Field, v: Any) -> Any:
    if f.kind == "float":
        return float(v)
    if f.kind == "month":
        return parse_month(v)
    if f.kind == "month_list":
        return tuple(parse_month(x) for x in v)
    if f.kind == "str_list":
        return tuple(v)
    if f.kind == "table":
        return f.cls(**_kwargs(v, f.fields))
    if f.kind == "tables":
        return tuple(f.cls(**_kwargs(x, f.fields)) for x in v)
    if f.kind == "map":
        return tuple(f.cls(id=k, **_kwargs(x, f.fields)) for k, x in v.items())
    return v  # str, int


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python3 -m wattfolio.instance.load INSTANCE.toml", file=sys.stderr)
        sys.exit(2)
    sys.exit(validate_main(sys.argv[1]))
