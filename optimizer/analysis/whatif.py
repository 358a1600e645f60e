"""What-ifs: a strategy team's "what if we must sell X / never convert Y" as plan constraints.

`parse_fixes` turns the CLI's ``--fix SITE=ACTION[@YYYY-MM]`` and
``--forbid SITE=ACTION[@YYYY-MM]`` into `wattfolio.planning.fixes.Fix` objects, checking each
against the instance and the set against itself (by the plan rules, `planning.rules`), so that an impossible request is a clear input
error (exit 2) before any scenario is valued, not a solver failure later. `compare` says
what the constraints cost: the value given up in expected NPV and CVaR, and the decisions
that differ.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..planning.catalog import KINDS, build_catalog, decision_months
from ..errors import PlanError
from ..instance.types import Instance, month_str, parse_month
from ..run import PlanResult, plan_instance
from ..planning.fixes import Fix, contradictions
from ..planning.rules import why_ineligible


def _parse_one(flag: str, text: str, instance: Instance, grid: set[int],
               errors: list[str]) -> Fix | None:
    """One ``SITE=ACTION[@YYYY-MM]``; appends a message naming `flag` and `text` on error."""
    where = f"{flag} {text!r}"
    site_id, eq, rest = text.partition("=")
    if not eq or not site_id or not rest:
        errors.append(f"{where}: expected SITE=ACTION[@YYYY-MM], e.g. lake-mariner=convert@2026-07")
        return None
    kind, at, when = rest.partition("@")
    ok = True
    sites = [s.id for s in instance.sites]
    if site_id not in sites:
        errors.append(f"{where}: unknown site {site_id!r} (sites: {', '.join(sites)})")
        ok = False
    if kind not in KINDS:
        errors.append(f"{where}: unknown action {kind!r} (expected {', '.join(KINDS)})")
        ok = False
    start = None
    if at:
        try:
            start = parse_month(when)
        except ValueError:
            errors.append(f"{where}: malformed date {when!r}, expected YYYY-MM")
            return None
        if start not in grid:
            step = instance.plan.decision_step_months
            errors.append(f"{where}: {when} is not a decision month (every {step} months from "
                          f"{month_str(instance.plan.start)} to {month_str(max(grid))})")
            return None
    return Fix(site_id, kind, start, forbid=flag == "--forbid") if ok else None


def parse_fixes(fix: Sequence[str] | None, forbid: Sequence[str] | None,
                instance: Instance) -> list[Fix]:
    """Parse and check ``--fix`` / ``--forbid`` arguments; raise PlanError listing every
    problem, each with the offending argument text.

    Checked one by one: the syntax, the site and action exist, the date is YYYY-MM on the
    decision grid, and some candidate action matches (a site without a sale option cannot
    be sold; a convert after the lease's sign_by does not exist). Checked together by the
    plan rules (`planning.fixes.contradictions`: what would make the MIP infeasible for a
    reason the user wrote down):

    * a fix all of whose matching actions are forbidden (``--fix X=convert@2026-07`` with
      ``--forbid X=convert``);
    * a site fixed to be sold that is also fixed to take another action (a sold site takes
      nothing else), or fixed to be sold (or acquired) at two different dates (one sale,
      one acquisition per site);
    * a fixed convert at a candidate site that no allowed acquisition can precede by its
      energising lag.
    """
    fix, forbid = list(fix or []), list(forbid or [])
    errors: list[str] = []
    grid = set(decision_months(instance))
    parsed: list[tuple[str, Fix]] = []
    for flag, texts in (("--fix", fix), ("--forbid", forbid)):
        for text in texts:
            f = _parse_one(flag, text, instance, grid, errors)
            if f is not None:
                parsed.append((f"{flag} {text!r}", f))
    catalog = build_catalog(instance)
    for where, f in parsed:
        if not any(f.matches(a) for a in catalog):
            why = why_ineligible(instance, f.site, f.kind, f.start)
            errors.append(f"{where}: no candidate action matches ({why})")
    if not errors:
        errors += contradictions(parsed, catalog, instance)
    if errors:
        raise PlanError(errors)
    return [f for _, f in parsed]


# ---- what the constraints cost -----------------------------------------------------------

def _key(d: dict) -> tuple:
    return d["site"], d["action"], d["start"], d.get("lease")


def decision_diff(before: Sequence[dict], after: Sequence[dict], mw_tol: float = 1e-6) -> list[dict]:
    """Decisions (plan.json rows) added, removed or resized going from `before` to `after`:
    each a copy of the decision with ``change`` = added | removed | resized (a resized
    convert also carries ``mw_before``)."""
    old = {_key(d): d for d in before}
    new = {_key(d): d for d in after}
    out = [{"change": "removed", **old[k]} for k in old if k not in new]
    out += [{"change": "added", **new[k]} for k in new if k not in old]
    for k in new:
        if k in old and abs(new[k].get("mw", 0.0) - old[k].get("mw", 0.0)) > mw_tol:
            out.append({"change": "resized", **new[k], "mw_before": old[k]["mw"]})
    return out


def _objective(stats: dict, weight: float) -> float:
    return (1.0 - weight) * stats["expected_npv_usd"] + weight * stats["cvar_usd"]


def compare(free: PlanResult, constrained: PlanResult) -> dict:
    """What the constraints cost: `free` is the plan without them, `constrained` with them,
    both on the same scenarios (same seed and count; ValueError otherwise, since a
    difference across scenario sets would mix sampling noise into the answer).

    ``*_given_up_usd`` = free - constrained (positive: the constraint costs value). The
    expected-NPV difference comes with its paired standard error (same scenarios), which
    says how much of it is sampling noise; the free plan is optimal only to the MIP gap, so
    a slightly negative value within that gap is possible.
    """
    if (free.seed, free.scenarios) != (constrained.seed, constrained.scenarios):
        raise ValueError(f"compare: plans must share scenarios, got seed/count {free.seed}/"
                         f"{free.scenarios} (free) and {constrained.seed}/{constrained.scenarios}")
    w = float(free.instance.risk.weight or 0.0)
    fs, cs = free.stats, constrained.stats
    diff = np.asarray(free.samples, float) - np.asarray(constrained.samples, float)
    se = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan
    fd, cd = free.document, constrained.document
    return {
        "expected_npv_given_up_usd": fs["expected_npv_usd"] - cs["expected_npv_usd"],
        "expected_npv_given_up_se_usd": se,
        "cvar_given_up_usd": fs["cvar_usd"] - cs["cvar_usd"],
        "objective_given_up_usd": _objective(fs, w) - _objective(cs, w),
        "alpha": fs["alpha"],
        "free": {"expected_npv_usd": fs["expected_npv_usd"], "cvar_usd": fs["cvar_usd"],
                 "decisions": fd["decisions"], "financing": fd["financing"]},
        "constrained": {"expected_npv_usd": cs["expected_npv_usd"], "cvar_usd": cs["cvar_usd"],
                        "decisions": cd["decisions"], "financing": cd["financing"]},
        "decisions_changed": decision_diff(fd["decisions"], cd["decisions"]),
        "financing_changed": fd["financing"] != cd["financing"],
    }


def run_whatif(instance: Instance, fixes: Sequence[Fix], *, scenarios: int | None = None,
               seed: int | None = None, backend: str = "auto", chunk: int | None = None,
               time_limit: float | None = None, gap: float = 1e-4,
               valuation_progress: Callable[[int, int], None] | None = None,
               solver_progress: Callable[[str], None] | None = None,
               ) -> tuple[PlanResult, PlanResult, dict[str, Any]]:
    """(constrained plan, free plan, compare(free, constrained)) on one ValueTable: the
    catalog is valued once and both MIPs read it, so the comparison is paired. Raises
    wattfolio.mip.solve.PlanInfeasible when the fixes admit no plan."""
    constrained = plan_instance(instance, scenarios=scenarios, seed=seed, backend=backend,
                                chunk=chunk, time_limit=time_limit, gap=gap, fixes=list(fixes),
                                valuation_progress=valuation_progress,
                                solver_progress=solver_progress)
    free = plan_instance(instance, scenarios=scenarios, seed=seed, backend=backend, chunk=chunk,
                         time_limit=time_limit, gap=gap, value_table=constrained.value_table,
                         solver_progress=solver_progress)
    return constrained, free, compare(free, constrained)
