"""What-ifs: a strategy team's "what if we must sell X / never convert Y" as plan constraints.

`parse_fixes` turns the CLI's ``--fix SITE=ACTION[@YYYY-MM]`` and
``--forbid SITE=ACTION[@YYYY-MM]`` into `wattfolio.mip.solve.Fix` objects, checking each against
the instance and the set against itself, so that an impossible request is a clear input
error (exit 2) before any scenario is valued, not a solver failure later. `compare` says
what the constraints cost: the value given up in expected NPV and CVaR, and the decisions
that differ.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..planning.catalog import KINDS, Action, build_catalog, decision_months
from ..errors import PlanError
from ..instance.types import Instance, month_str, parse_month
from ..run import PlanResult, plan_instance
from ..mip.solve import Fix


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
    be sold; a convert after the lease's sign_by does not exist). Checked together (what
    would make the MIP infeasible for a reason the user wrote down):

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
            errors.append(f"{where}: no candidate action matches ({_why_none(instance, f)})")
    if not errors:
        errors += _contradictions(parsed, catalog, instance)
    if errors:
        raise PlanError(errors)
    return [f for _, f in parsed]


def _why_none(instance: Instance, f: Fix) -> str:
    site = instance.site(f.site)
    if f.kind == "sell":
        return "the site has no sale option" if site.sale is None or site.status == "candidate" \
            else "a sale starting then would close after the horizon"
    if f.kind == "acquire":
        return "only candidate sites with an acquire option can be acquired" \
            if site.status != "candidate" or site.acquire is None \
            else "land is bought only while a lease listing the site can still be signed"
    if site.hpc is None:
        return "the site has no hpc option"
    leases = [le for le in instance.leases if f.site in le.sites]
    if not leases:
        return "no lease lists this site"
    last = max(le.sign_by for le in leases)
    return (f"every lease listing it must be signed by {month_str(last)}"
            + (", and a candidate site must be acquired and energised first"
               if site.status == "candidate" else ""))


def _contradictions(parsed: list[tuple[str, Fix]], catalog: Sequence[Action],
                    instance: Instance) -> list[str]:
    errors: list[str] = []
    fixes = [(w, f) for w, f in parsed if not f.forbid]
    forbids = [(w, f) for w, f in parsed if f.forbid]

    def allowed(f: Fix) -> list[Action]:
        return [a for a in catalog if f.matches(a) and not any(g.matches(a) for _, g in forbids)]

    for w, f in fixes:
        if not allowed(f):
            by = [wg for wg, g in forbids if any(g.matches(a) for a in catalog if f.matches(a))]
            errors.append(f"{w} contradicts {' and '.join(by)}: every action it allows is forbidden")
    for site_id in {f.site for _, f in fixes}:
        here = [(w, f) for w, f in fixes if f.site == site_id]
        sells = [(w, f) for w, f in here if f.kind == "sell"]
        if sells:
            for w, f in here:
                if f.kind != "sell":
                    errors.append(f"{w} contradicts {sells[0][0]}: a sold site takes no other action")
        for kind, rule in (("sell", "a site is sold at most once"),
                           ("acquire", "a site is acquired at most once")):
            dated = [(w, f) for w, f in here if f.kind == kind and f.start is not None]
            if len({f.start for _, f in dated}) > 1:
                errors.append(f"{dated[0][0]} contradicts {dated[1][0]}: {rule}")
        site = instance.site(site_id)
        if site.status == "candidate" and site.acquire is not None:
            lag = site.acquire.energize_months
            acq_fix = [f.start for _, f in here if f.kind == "acquire" and f.start is not None]
            acquires = [a for a in catalog if a.site == site_id and a.kind == "acquire"
                        and not any(g.matches(a) for _, g in forbids)
                        and (not acq_fix or a.start == acq_fix[0])]
            for w, f in here:
                if f.kind == "convert" and not any(
                        b.start + lag <= a.start for a in allowed(f) for b in acquires):
                    errors.append(f"{w}: no allowed acquisition of {site_id!r} is energised "
                                  f"({lag} months) by the convert's start")
    return errors


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
