"""Plans on disk: read a plan's decisions and financing, check them against the
instance, and write plan.json / decisions.csv.

A hand-written plan needs only `schema`, `decisions` and `financing`; everything else in
a plan.json (stats, solver, versions) is what `wattfolio plan` adds for the reader.
"""
from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .catalog import Action, build_catalog
from ..errors import PlanError
from .finance import cost_breakdown
from ..instance.types import Instance, month_str, parse_month
from .rules import violations, why_ineligible

DECISION_KEYS = {"site", "action", "start", "mw", "lease"}
FINANCING_KEYS = {"instrument", "amount_usd", "start"}
# what `wattfolio plan` adds for the reader: accepted on reading, derived, not read
FINANCING_INFO_KEYS = {"net_cost_per_usd"}


@dataclass
class PlanSpec:
    """What a plan decides: actions with quantities, and financing draws."""
    actions: list[Action] = field(default_factory=list)       # catalog actions taken
    quantities: list[float] = field(default_factory=list)     # MW for convert, 1 otherwise
    financing: list[tuple[str, float, int]] = field(default_factory=list)  # (id, usd, month)


def read_plan(path: str | os.PathLike, instance: Instance) -> PlanSpec:
    """Load a plan file and check it fits the instance; raises PlanError listing every
    problem, each with its path in the file."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):   # a FIFO would block, /dev/zero never ends
            raise PlanError([f"{path}: not a regular file"])
        if st.st_size > MAX_PLAN_BYTES:
            raise PlanError([f"{path}: {st.st_size:,} bytes; a plan file is at most {MAX_PLAN_BYTES:,}"])
        data = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise PlanError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError([f"{path}: cannot read: {e}"]) from None
    except json.JSONDecodeError as e:
        raise PlanError([f"{path}: invalid JSON: {e.msg} (line {e.lineno}, column {e.colno})"]) from None
    except RecursionError:
        raise PlanError([f"{path}: nested too deeply to be a plan file"]) from None
    except ValueError as e:  # NaN/Infinity literals; integers past Python's digit limit
        raise PlanError([f"{path}: invalid JSON: {e}"]) from None
    return parse_plan(data, instance)


MAX_PLAN_BYTES = 64 * 2 ** 20
# what `wattfolio plan` writes besides decisions and financing: accepted, not read
INFO_KEYS = {"instance_sha256", "name", "stats", "solver", "scenarios", "seed", "hours_per_month",
             "backend", "versions", "warnings", "quality", "whatif", "arguments", "revision"}
TOP_KEYS = {"schema", "decisions", "financing"} | INFO_KEYS


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a plan may hold")


def _month(value: Any, path: str, errors: list[str]) -> int | None:
    try:
        return parse_month(value)
    except ValueError:
        errors.append(f"{path}: expected 'YYYY-MM', got {value!r}")
        return None


def _number(value: Any, path: str, errors: list[str]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(f"{path}: must be a number, got {_short(value)}")
        return None
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    if not math.isfinite(v):
        errors.append(f"{path}: must be a finite number, got {_short(value)}")
        return None
    return v


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10 ** 30 else "a huge integer"
    return text if len(text) <= 80 else text[:77] + "..."


def parse_plan(data: Any, instance: Instance) -> PlanSpec:
    """Check a parsed plan against the instance's catalog and its rules."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise PlanError([f"plan: must be a JSON object, got {type(data).__name__}"])
    schema = data.get("schema")
    if type(schema) is not int or schema != 1:
        errors.append(f"schema: must be 1, got {_short(schema)}")
    for k in sorted(set(data) - TOP_KEYS, key=str):
        errors.append(f"{_short(k)}: unknown top-level key (a plan has schema, decisions, financing)")
    catalog = {(a.site, a.kind, a.start, a.lease): a for a in build_catalog(instance)}
    sites = {s.id: s for s in instance.sites}
    spec = PlanSpec()

    decisions = data.get("decisions", [])
    if not isinstance(decisions, list):
        errors.append(f"decisions: must be a list, got {_short(decisions)}")
        decisions = []
    paths: list[str] = []
    for n, d in enumerate(decisions):
        p = f"decisions[{n}]"
        if not isinstance(d, dict):
            errors.append(f"{p}: must be an object, got {_short(d)}")
            continue
        for k in sorted(set(d) - DECISION_KEYS):
            errors.append(f"{p}.{k}: unknown key")
        site, kind, lease = d.get("site"), d.get("action"), d.get("lease")
        bad = [k for k, v in (("site", site), ("action", kind), ("lease", lease))
               if v is not None and not isinstance(v, str)]
        if bad or site is None:
            for k in bad or ["site"]:
                errors.append(f"{p}.{k}: must be text, got {_short(d.get(k))}")
            continue
        if site not in sites:
            errors.append(f"{p}.site: unknown site {site!r}")
            continue
        if kind not in ("convert", "sell", "acquire"):
            errors.append(f"{p}.action: must be convert, sell or acquire, got {kind!r}")
            continue
        start = _month(d.get("start"), f"{p}.start", errors)
        if start is None:
            continue
        if kind == "convert":
            if lease is None or not any(le.id == lease for le in instance.leases):
                errors.append(f"{p}.lease: unknown lease {lease!r}")
                continue
        elif lease is not None or "mw" in d:
            errors.append(f"{p}: 'mw' and 'lease' belong to convert only, got them on {kind!r}")
            continue
        action = catalog.get((site, kind, start, lease if kind == "convert" else None))
        if action is None:
            errors.append(f"{p}: {kind} at {site!r}" + (f" with lease {lease!r}" if lease else "")
                          + f" starting {month_str(start)} is not a possible action "
                          f"({why_ineligible(instance, site, kind, start, lease)})")
            continue
        qty = 1.0
        if kind == "convert":
            mw = _number(d.get("mw"), f"{p}.mw", errors)
            if mw is None:
                continue
            qty = mw
        spec.actions.append(action)
        spec.quantities.append(qty)
        paths.append(p)

    financing, draw_paths = _parse_financing(data.get("financing", []), instance, errors)
    # the plan rules (MW range, tranche and blocks, one sale, caps, issue_by, max_usd,
    # loan-to-cost...) are the same ones the MIP's rows are built from
    errors += violations(instance, spec.actions, spec.quantities, financing, paths=paths,
                         draw_paths=draw_paths)
    if errors:
        raise PlanError(errors)
    spec.financing = financing
    order = sorted(range(len(spec.actions)), key=lambda i: spec.actions[i].index)
    spec.actions = [spec.actions[i] for i in order]
    spec.quantities = [spec.quantities[i] for i in order]
    return spec


def _parse_financing(items: Any, instance: Instance,
                     errors: list[str]) -> tuple[list[tuple[str, float, int]], list[str]]:
    """Read the draws and their paths in the file; what the instance allows (grid,
    issue_by, max_usd) is `planning.rules`' to say."""
    out: list[tuple[str, float, int]] = []
    paths: list[str] = []
    if not isinstance(items, list):
        errors.append(f"financing: must be a list, got {_short(items)}")
        return out, paths
    for n, f in enumerate(items):
        p = f"financing[{n}]"
        if not isinstance(f, dict):
            errors.append(f"{p}: must be an object, got {_short(f)}")
            continue
        for k in sorted(set(f) - FINANCING_KEYS - FINANCING_INFO_KEYS):
            errors.append(f"{p}.{k}: unknown key")
        if not isinstance(f.get("instrument"), str):
            errors.append(f"{p}.instrument: must be text, got {_short(f.get('instrument'))}")
            continue
        amount = _number(f.get("amount_usd"), f"{p}.amount_usd", errors)
        start = _month(f.get("start"), f"{p}.start", errors)
        if amount is None or start is None:
            continue
        if amount <= 0:  # a zero draw decides nothing
            errors.append(f"{p}.amount_usd: must be > 0, got {amount!r}")
            continue
        out.append((f.get("instrument"), amount, start))
        paths.append(p)
    return out, paths


def plan_document(instance: Instance, actions: Sequence[Action], quantities: Sequence[float],
                  financing: Sequence[tuple[str, float, int]]) -> dict:
    """The decisions and financing sections of plan.json."""
    decisions = []
    for a, q in zip(actions, quantities):
        d: dict[str, Any] = {"site": a.site, "action": a.kind, "start": month_str(a.start)}
        if a.kind == "convert":
            d["mw"] = float(q)
            d["lease"] = a.lease
        decisions.append(d)
    # net value cost per $ at the draw month (fee + option - coupon gain), for the reader
    draws = [{"instrument": k, "amount_usd": float(v), "start": month_str(t),
              "net_cost_per_usd": cost_breakdown(instance, k, t).net} for k, v, t in financing]
    return {"schema": 1, "instance_sha256": instance.sha256, "decisions": decisions, "financing": draws}


def decisions_csv(instance: Instance, actions: Sequence[Action], quantities: Sequence[float]) -> str:
    """decisions.csv: one row per decision, in catalog order."""
    import pandas as pd

    rows = []
    for a, q in zip(actions, quantities):
        site = instance.site(a.site)
        rows.append({
            "site": a.site, "action": a.kind, "start": month_str(a.start),
            "mw": float(q) if a.kind == "convert" else "",
            "lease": a.lease or "",
            "tenant": instance.lease(a.lease).tenant if a.lease else "",
            "market": site.market,
        })
    cols = ["site", "action", "start", "mw", "lease", "tenant", "market"]
    from ..outputs import csv_safe   # a cell starting = + - @ is text, not a formula
    return csv_safe(pd.DataFrame(rows, columns=cols)).to_csv(index=False)
