"""Plans on disk: read a plan's decisions and financing, check them against the
instance, and write plan.json / decisions.csv.

A hand-written plan needs only `schema`, `decisions` and `financing`; everything else in
a plan.json (stats, solver, versions) is what `wattfolio plan` adds for the reader.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .catalog import Action, build_catalog, decision_months
from ..errors import PlanError
from .finance import cost_breakdown, draw_errors
from ..instance.types import Instance, month_str, parse_month

DECISION_KEYS = {"site", "action", "start", "mw", "lease"}
FINANCING_KEYS = {"instrument", "amount_usd", "start"}
# what `wattfolio plan` adds for the reader: accepted on reading, derived, not read
FINANCING_INFO_KEYS = {"net_cost_per_usd"}
MW_TOLERANCE = 1e-6


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
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError([f"{path}: cannot read: {e}"]) from None
    except json.JSONDecodeError as e:
        raise PlanError([f"{path}: invalid JSON: {e.msg} (line {e.lineno}, column {e.colno})"]) from None
    return parse_plan(data, instance)


def _month(value: Any, path: str, errors: list[str]) -> int | None:
    try:
        return parse_month(value)
    except ValueError:
        errors.append(f"{path}: expected 'YYYY-MM', got {value!r}")
        return None


def _number(value: Any, path: str, errors: list[str]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        errors.append(f"{path}: must be a number, got {value!r}")
        return None
    return float(value)


def parse_plan(data: Any, instance: Instance) -> PlanSpec:
    """Check a parsed plan against the instance's catalog and its rules."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise PlanError([f"plan: must be a JSON object, got {type(data).__name__}"])
    if data.get("schema") != 1:
        errors.append(f"schema: must be 1, got {data.get('schema')!r}")
    catalog = {(a.site, a.kind, a.start, a.lease): a for a in build_catalog(instance)}
    sites = {s.id: s for s in instance.sites}
    spec = PlanSpec()

    decisions = data.get("decisions", [])
    if not isinstance(decisions, list):
        errors.append(f"decisions: must be a list, got {decisions!r}")
        decisions = []
    for n, d in enumerate(decisions):
        p = f"decisions[{n}]"
        if not isinstance(d, dict):
            errors.append(f"{p}: must be an object, got {d!r}")
            continue
        for k in sorted(set(d) - DECISION_KEYS):
            errors.append(f"{p}.{k}: unknown key")
        site, kind, lease = d.get("site"), d.get("action"), d.get("lease")
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
                          + f" starting {month_str(start)} is not a possible action ({_why_impossible(instance, site, kind, start, lease)})")
            continue
        qty = 1.0
        if kind == "convert":
            mw = _number(d.get("mw"), f"{p}.mw", errors)
            if mw is None:
                continue
            if not 0 < mw <= action.max_units + MW_TOLERANCE:
                errors.append(f"{p}.mw: must be in (0, {action.max_units:g}], got {mw!r}")
                continue
            qty = mw
        if action in spec.actions:
            errors.append(f"{p}: the same action appears twice ({action.label})")
            continue
        spec.actions.append(action)
        spec.quantities.append(qty)

    errors += _plan_rules(instance, spec)
    spec.financing = _parse_financing(data.get("financing", []), instance, errors)
    if errors:
        raise PlanError(errors)
    order = sorted(range(len(spec.actions)), key=lambda i: spec.actions[i].index)
    spec.actions = [spec.actions[i] for i in order]
    spec.quantities = [spec.quantities[i] for i in order]
    return spec


def _why_impossible(instance: Instance, site_id: str, kind: str, start: int, lease_id: str | None) -> str:
    site = instance.site(site_id)
    if start not in decision_months(instance):
        step = instance.plan.decision_step_months
        return f"starts are every {step} months from {month_str(instance.plan.start)} within the horizon"
    if kind == "sell":
        return "the site has no sale option" if site.sale is None else "the sale would close after the horizon"
    if kind == "acquire":
        return "only candidate sites with an acquire option can be acquired"
    if site.hpc is None:
        return "the site has no hpc option"
    lease = instance.lease(lease_id)
    if site_id not in lease.sites:
        return f"lease {lease_id!r} does not list this site"
    if start > lease.sign_by:
        return f"lease {lease_id!r} must be signed by {month_str(lease.sign_by)}"
    return "a candidate site can be converted only after it is acquired and energised"


def _plan_rules(instance: Instance, spec: PlanSpec) -> list[str]:
    """The MIP's structural rules, checked on a given plan."""
    errors: list[str] = []
    by_site: dict[str, list[tuple[Action, float]]] = {}
    for a, q in zip(spec.actions, spec.quantities):
        by_site.setdefault(a.site, []).append((a, q))
    for site_id, items in by_site.items():
        site = instance.site(site_id)
        kinds = [a.kind for a, _ in items]
        if kinds.count("sell") > 1:
            errors.append(f"decisions: site {site_id!r} is sold more than once")
        if "sell" in kinds and len(kinds) > 1:
            errors.append(f"decisions: site {site_id!r} is sold, so it can take no other action")
        if kinds.count("acquire") > 1:
            errors.append(f"decisions: site {site_id!r} is acquired more than once")
        mw = sum(q for a, q in items if a.kind == "convert")
        if site.hpc is not None and mw > site.hpc.max_mw + MW_TOLERANCE:
            errors.append(f"decisions: site {site_id!r} converts {mw:g} MW, more than hpc.max_mw {site.hpc.max_mw:g}")
        if site.status == "candidate":
            acquired = [a.start for a, _ in items if a.kind == "acquire"]
            for a, _ in items:
                if a.kind == "convert" and not any(
                        t + site.acquire.energize_months <= a.start for t in acquired):
                    errors.append(f"decisions: {a.label} needs site {site_id!r} acquired at least "
                                  f"{site.acquire.energize_months} months before")
    for lease in instance.leases:
        mw = sum(q for a, q in zip(spec.actions, spec.quantities) if a.lease == lease.id)
        if mw > lease.max_mw + MW_TOLERANCE:
            errors.append(f"decisions: lease {lease.id!r} takes {mw:g} MW, more than its max_mw {lease.max_mw:g}")
    return errors


def _parse_financing(items: Any, instance: Instance, errors: list[str]) -> list[tuple[str, float, int]]:
    """Read the draws; what the instance allows is `finance.draw_errors`' to say."""
    out: list[tuple[str, float, int]] = []
    paths: list[str] = []
    if not isinstance(items, list):
        errors.append(f"financing: must be a list, got {items!r}")
        return out
    grid = set(decision_months(instance))
    for n, f in enumerate(items):
        p = f"financing[{n}]"
        if not isinstance(f, dict):
            errors.append(f"{p}: must be an object, got {f!r}")
            continue
        for k in sorted(set(f) - FINANCING_KEYS - FINANCING_INFO_KEYS):
            errors.append(f"{p}.{k}: unknown key")
        amount = _number(f.get("amount_usd"), f"{p}.amount_usd", errors)
        start = _month(f.get("start"), f"{p}.start", errors)
        if amount is None or start is None:
            continue
        if amount <= 0:  # a zero draw decides nothing
            errors.append(f"{p}.amount_usd: must be > 0, got {amount!r}")
            continue
        if start not in grid:
            known = {k.id: k for k in instance.finance.instruments}.get(f.get("instrument"))
            by = f" no later than issue_by {month_str(known.issue_by)}" if known else ""
            errors.append(f"{p}.start: draws fall on the decision grid (every "
                          f"{instance.plan.decision_step_months} months from "
                          f"{month_str(instance.plan.start)}){by}, got {month_str(start)!r}")
            continue
        out.append((f.get("instrument"), amount, start))
        paths.append(p)
    problems = draw_errors(instance, out, paths)
    errors += problems
    return [] if problems else out


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
    return pd.DataFrame(rows, columns=cols).to_csv(index=False)
