"""The instance reference, generated from the one key table (`instance/schema.py`).

- `json_schema()`: a JSON Schema (draft 2020-12) of a `schema = 1` instance, for editors
  (Even Better TOML / taplo: `#:schema ./docs/instance.schema.json` on a file's first line)
  and for any tool that wants to check a file without Python;
- `markdown()`: docs/instance-reference.md, every key with its unit, default, range and
  meaning, grouped by table, then the checks across keys and the warnings.

Both read only SCHEMA, the data classes' defaults, the named checks' docstrings and the
warning rules, so neither is edited by hand: `python3 -m wattfolio.instance.reference`
rewrites both files and tests/test_reference.py fails while they are stale.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .checks import _ONLY_ON, CHECKS, MARGINAL_FLEET_KEYS
from .rules import fmt
from .schema import _NESTED, NO_DEFAULT, NON_EMPTY, ROOT, Field, default_of
from .warnings import DEFAULT_WARNINGS, UNIT_SLIPS

SCHEMA_ID = "urn:wattfolio:instance:schema-1"
MONTH_PATTERN = "^[0-9]{4}-(0[1-9]|1[0-2])$"
DOCS = Path(__file__).resolve().parents[2] / "docs"
FILES = {"instance.schema.json": lambda: json_text(), "instance-reference.md": lambda: markdown()}

_TYPES = {"str": "string", "float": "number", "int": "integer", "month": "YYYY-MM",
          "str_list": "list of strings", "month_list": "list of YYYY-MM", "table": "table",
          "tables": "array of tables", "map": "table of tables"}


# --------------------------------------------------------------------------- shared

def default_value(parent: Field, key: str) -> Any:
    """The default of an optional key (NO_DEFAULT for a required one): the data class's."""
    f = parent.fields[key]
    if f.required:
        return NO_DEFAULT
    if f.fill:
        return f.cls()
    return default_of(parent.cls, key)


def default_text(parent: Field, key: str) -> str:
    """The default as the reference prints it."""
    f, v = parent.fields[key], default_value(parent, key)
    if f.required:
        return "required"
    if v is NO_DEFAULT or v is None:
        return "none"
    if f.kind in _NESTED:
        if v == ():
            return "none"
        # an absent table with required keys of its own (finance): say what it stands for
        given = [k for k, sub in f.fields.items() if sub.required]
        return ", ".join(f"{k} = {fmt(getattr(v, k))}" for k in given) or "all defaults"
    if isinstance(v, tuple):
        return "[]" if not v else json.dumps(list(v))
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return repr(v)
    return fmt(v)


def range_text(f: Field) -> str:
    """The rule in words for the reference ('' when the key has none)."""
    r = f.rule
    if r is None:
        return ""
    if r.choices is not None:
        return " or ".join(repr(c) for c in r.choices) if len(r.choices) > 1 else repr(r.choices[0])
    if r.lo is not None or r.hi is not None:
        return r.range_text
    if r.min_items is not None:
        return f"at least {r.min_items} item"
    if r.max_items is not None:
        return f"at most {r.max_items} items"
    return r.text


def tables(parent: Field = ROOT, pattern: str = "") -> Iterator[tuple[str, Field]]:
    """(pattern, field) of every table in key-table order: `plan`, `sites[]`, `sites[].hpc`."""
    for key, f in parent.fields.items():
        if f.kind in _NESTED:
            pat = f"{pattern}.{key}" if pattern else key
            pat += {"table": "", "tables": "[]", "map": ".<id>"}[f.kind]
            yield pat, f
            yield from tables(f, pat)


def _header(pattern: str, f: Field) -> str:
    """The TOML header a table is written under: [plan], [[sites]], [sites.hpc], [markets.<id>]."""
    name = pattern.replace("[]", "")
    if f.kind == "tables":
        return f"[[{name}]]"
    return f"[{name}]"


# --------------------------------------------------------------------------- JSON Schema

def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of a `schema = 1` instance.

    Returns
    -------
    dict
        Types, required keys, `additionalProperties: false`, numeric bounds, enums,
        month patterns and a `description` (meaning, unit, range, default) on every key;
        the two "exactly one of" rules and the kind-specific instrument terms as
        oneOf / if-then. The other checks across keys (ids that refer to each other,
        capacity, dates inside the horizon, ...) need `wattfolio validate`.
    """
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
           "title": "wattfolio instance (schema = 1)"}
    out.update(_object(ROOT, ""))
    out["description"] = ("A wattfolio instance: what a company owns, the markets it faces and "
                          "the offers on the table. Generated from optimizer/instance/schema.py; "
                          "checks across keys beyond this schema run in `wattfolio validate`.")
    return out


def _object(parent: Field, pattern: str) -> dict[str, Any]:
    props = {key: _property(parent, key, f"{pattern}.{key}" if pattern else key)
             for key in parent.fields}
    required = [k for k, f in parent.fields.items() if f.required]
    obj: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        obj["required"] = required
        obj["x-taplo"] = {"initKeys": required}     # taplo: keys a new table starts with
    obj["additionalProperties"] = False
    extra = _cross_key(parent)
    if extra:
        obj["allOf"] = extra
    return obj


def _property(parent: Field, key: str, pattern: str) -> dict[str, Any]:
    f = parent.fields[key]
    if f.kind == "table":
        s = _object(f, pattern)
    elif f.kind == "tables":
        s = {"type": "array", "items": _object(f, pattern + "[]")}
        if key in NON_EMPTY:
            s["minItems"] = 1
    elif f.kind == "map":
        s = {"type": "object", "additionalProperties": _object(f, pattern + ".<id>")}
        if key in NON_EMPTY:
            s["minProperties"] = 1
    elif f.kind in ("str_list", "month_list"):
        item = {"type": "string"} if f.kind == "str_list" else {"type": "string", "pattern": MONTH_PATTERN}
        s = {"type": "array", "items": item}
    elif f.kind == "month":
        s = {"type": "string", "pattern": MONTH_PATTERN}
    else:
        s = {"type": {"str": "string", "float": "number", "int": "integer"}[f.kind]}
    r = f.rule
    if r is not None:
        if r.choices is not None:
            s.update({"const": r.choices[0]} if len(r.choices) == 1 else {"enum": list(r.choices)})
        if r.lo is not None:
            s["exclusiveMinimum" if r.lo_open else "minimum"] = r.lo
        if r.hi is not None:
            s["exclusiveMaximum" if r.hi_open else "maximum"] = r.hi
        if r.min_items is not None:
            s["minItems"] = r.min_items
        if r.max_items is not None:
            s["maxItems"] = r.max_items
    s["description"] = _description(parent, key)
    d = default_value(parent, key)
    if f.kind not in _NESTED and d is not NO_DEFAULT and d is not None:
        s["default"] = list(d) if isinstance(d, tuple) else d
    return s


def _description(parent: Field, key: str) -> str:
    f = parent.fields[key]
    parts = [f.doc.rstrip(".") + "."]
    if f.kind not in _NESTED:
        parts.append(f"Unit: {f.unit}.")
    rng = range_text(f)
    if rng:
        parts.append(f"Range: {rng}.")
    parts.append("Required." if f.required else f"Default: {default_text(parent, key)}.")
    return " ".join(parts)


def _cross_key(parent: Field) -> list[dict[str, Any]]:
    """The checks across keys that a JSON Schema can say, for the table they live in."""
    names = set(parent.fields)
    out: list[dict[str, Any]] = []
    if {"hashrate_growth", *MARGINAL_FLEET_KEYS} <= names:          # check_network_mode
        fleet = list(MARGINAL_FLEET_KEYS)
        out.append({"oneOf": [
            {"required": ["hashrate_growth"], "not": {"anyOf": [{"required": [k]} for k in fleet]}},
            {"required": fleet, "not": {"required": ["hashrate_growth"]}},
        ]})
    if {"rate_kw_month", "contract_value_usd"} <= names:            # check_lease_rent
        out.append({"oneOf": [{"required": ["rate_kw_month"]}, {"required": ["contract_value_usd"]}]})
    if "kind" in names and set(_ONLY_ON) <= names:                  # check_instrument_terms
        kinds = parent.fields["kind"].rule.choices
        for kind in kinds:
            banned = [k for k, allowed in _ONLY_ON.items() if kind not in allowed]
            then: dict[str, Any] = {"not": {"anyOf": [{"required": [k]} for k in banned]}}
            if "maturity" not in banned:
                then["required"] = ["maturity"]
            out.append({"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                        "then": then})
    return out


def json_text() -> str:
    """docs/instance.schema.json's text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- Markdown

def markdown() -> str:
    """docs/instance-reference.md's text.

    Returns
    -------
    str
        Markdown: every key with its type, unit, default, range and meaning, one table per
        TOML table in key-table order; then the terminal-multiple decision, the checks
        across keys (their docstrings) and the warnings (their rules).
    """
    lines = [
        "# Instance reference (`schema = 1`)",
        "",
        "<!-- Generated from optimizer/instance/schema.py by `python3 -m wattfolio.instance.reference`"
        " (or `wattfolio schema`); do not edit by hand: tests/test_reference.py fails when it is stale. -->",
        "",
        "An instance is a TOML file: what a company owns, the markets it faces and the offers on "
        "the table. `wattfolio init NAME` writes a commented starter that validates as is; "
        "`wattfolio validate FILE` reports every error at once (exit 2) and every warning "
        "(exit 0 when there is no error). The same table as a JSON Schema is "
        "[instance.schema.json](instance.schema.json): put `#:schema ./docs/instance.schema.json` "
        "(a path relative to the file) on an instance's first line for completion and hover "
        "help in Even Better TOML / taplo.",
        "",
        "Ranges are in interval notation (`(0, 1]`: above 0, at most 1). They are where the "
        "scenario engine stays finite and sane: each bound keeps the exp, log and power terms "
        "of the price, rent, hashprice and discounting paths inside float64, and most values "
        "typed in the wrong unit land outside them. An out-of-range value is an error naming "
        "the path, the range and the value. Defaults are the data classes' "
        "(optimizer/instance/types.py).",
        "",
        "Tables: " + ", ".join(f"[`{_header(p, f)}`](#{_anchor(p)})" for p, f in tables()) + ".",
        "",
        _section("", ROOT),
    ]
    for pattern, f in tables():
        lines.append(_section(pattern, f))
    lines += _decisions() + _checks() + _warnings()
    return "\n".join(lines).rstrip("\n") + "\n"


def _anchor(pattern: str) -> str:
    return "table-" + "".join(c for c in pattern.replace(".", "-").replace("<id>", "id")
                              if c.isalnum() or c in "-_")


def _section(pattern: str, f: Field) -> str:
    if not pattern:
        title, need = "Top level", "required"
    else:
        title = f"`{_header(pattern, f)}`"
        need = "required" if f.required else "optional"
        if "." in pattern.replace("[]", "").replace(".<id>", ""):
            need += f", inside `{_header(*_parent_table(pattern))}`"
    out = [f'<a id="{_anchor(pattern)}"></a>' if pattern else "", f"## {title}", "",
           f"{f.doc.rstrip('.')} ({need}).", "",
           "| key | type | unit | default | range | meaning |", "|---|---|---|---|---|---|"]
    for key, sub in f.fields.items():
        if sub.kind in _NESTED:
            sub_pat = (f"{pattern}.{key}" if pattern else key) + {"table": "", "tables": "[]", "map": ".<id>"}[sub.kind]
            meaning = f"{sub.doc}: see [`{_header(sub_pat, sub)}`](#{_anchor(sub_pat)})"
            unit = ""
        else:
            meaning, unit = sub.doc, sub.unit
        row = [f"`{key}`", _TYPES[sub.kind], unit, default_text(f, key), range_text(sub), meaning]
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(x for x in out if x is not None) + "\n"


def _parent_table(pattern: str) -> tuple[str, Field]:
    found = ("", ROOT)
    for p, f in tables():
        if pattern.startswith(p + ".") and len(p) > len(found[0]):
            found = (p, f)
    return found


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _decisions() -> list[str]:
    return [
        "## Value past the horizon (a decision)", "",
        "Leases are valued to the end of their contract, also past the horizon, and then the "
        "space's residual at `plan.terminal_multiple.hpc` x its annual market NOI; a mining "
        "fleet is valued only to the horizon, plus `plan.terminal_multiple.mining` x its last "
        "12 months' margin. Left at 0 by default, the mining multiple would drop every fleet's "
        "value past the horizon while the leases keep theirs: every plan would lean toward "
        "converting and selling. So `plan.terminal_multiple.mining` is **required once a site "
        "has a `[sites.mining]` table**, and `plan.terminal_multiple.hpc` **once there is a "
        "lease**; writing 0 is allowed and means what it says. An instance with neither may "
        "leave the table out.", "",
    ]


def _checks() -> list[str]:
    out = ["## Checks across keys", "",
           "Beyond each key's type and range, `wattfolio validate` runs these named checks "
           "(optimizer/instance/checks.py), in this order, and reports every failure at once:", ""]
    for check in CHECKS:
        doc = " ".join((check.__doc__ or "").strip().split("\n\n")[0].split())
        out.append(f"- `{check.__name__}`: {doc}")
    return out + [""]


def _warnings() -> list[str]:
    out = ["## Warnings", "",
           "Warnings are shown (`warning: ...` lines from `wattfolio validate` and the other "
           "commands, a `warnings` list in plan.json) and never fatal. A value outside its "
           "range that also looks like a unit slip gets both the error and the warning.", "",
           "Defaults with consequences:", ""]
    out += [f"- `{path}`: {what}." for path, what in DEFAULT_WARNINGS]
    out += ["", "Values that look typed in another unit:", "",
            "| keys | when | e.g. |", "|---|---|---|"]
    for slip in UNIT_SLIPS:
        keys = ", ".join(f"`{k}`" for k in slip.keys)
        example = f"{fmt(slip.example)}: {slip.hint(slip.example)}"
        out.append(f"| {_cell(keys)} | {_cell(slip.when)} | {_cell(example)} |")
    return out + [""]


# --------------------------------------------------------------------------- files

def write_docs(directory: str | Path = DOCS) -> list[Path]:
    """Write the generated reference files.

    Parameters
    ----------
    directory : str or Path
        Where to write them (default: the repository's docs/).

    Returns
    -------
    list of Path
        instance.schema.json and instance-reference.md, as written.
    """
    out = []
    for name, make in FILES.items():
        path = Path(directory) / name
        path.write_text(make(), encoding="utf-8")
        out.append(path)
    return out


def stale_docs(directory: str | Path = DOCS) -> list[str]:
    """The generated files that are not what SCHEMA gives now.

    Parameters
    ----------
    directory : str or Path
        Where they live (default: the repository's docs/).

    Returns
    -------
    list of str
        Names of the files missing or different ([] when all are current).
    """
    stale = []
    for name, make in FILES.items():
        path = Path(directory) / name
        if not path.is_file() or path.read_text(encoding="utf-8") != make():
            stale.append(name)
    return stale


if __name__ == "__main__":
    for p in write_docs(sys.argv[1] if len(sys.argv) > 1 else DOCS):
        print(f"wrote {p}")
