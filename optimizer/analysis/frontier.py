"""The efficient frontier: the best expected NPV at each CVaR floor, from the risk-neutral
plan's CVaR up to the best CVaR any plan reaches.

The catalog is valued once; every point reads the same ValueTable (common scenarios, so
differences between points are the floor's doing, not sampling noise). The floor points
after the first share one persistent PlanModel: `floor_loop` is run on it with a rising
floor, so each point starts from the previous points' CVaR cuts (still valid: a cut
``sum_s w_s NPV_s >= old floor`` is implied by CVaR >= new floor > old floor) and HiGHS
keeps its model. Points are solved to the MIP gap, so E[NPV] is monotone in the floor
only to within that gap.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..gpu.risk import summary
from ..gpu.value_table import ValueTable

from ..planning.catalog import Action, build_catalog
from ..mip.cvar import floor_loop
from ..planning.valuation import value_actions
from ..plan_value import needs_cash_paths, plan_samples
from ..planning.finance import financing_cost_and_cash
from ..formatting import usd
from ..instance.types import Instance
from ..mip.model import PlanModel
from ..planning.plan_file import plan_document
from ..run import clean_plan, plan_instance
from ..mip.solve import Fix, PlanInfeasible, apply_fixes, max_cvar
from .whatif import decision_diff

# The top point's floor is the best CVaR found; backing off by this share of the
# frontier's width absorbs the solver's tolerance on "CVaR >= floor" there.
TOP_BACKOFF = 1e-6


def _row(instance: Instance, floor: float, catalog: Sequence[Action], vt: ValueTable,
         q: np.ndarray, draws: Sequence[tuple[str, float, int]], solver: dict) -> dict:
    taken, qty, financing = clean_plan(catalog, q, draws)
    cost, _ = financing_cost_and_cash(instance, financing)
    samples = plan_samples(vt, [a.index for a in taken], qty, cost)
    stats = summary(samples, instance.risk.alpha)
    doc = plan_document(instance, taken, qty, financing)
    return {"floor_usd": float(floor), "expected_npv_usd": stats["expected_npv_usd"],
            "expected_npv_se_usd": stats["expected_npv_se_usd"], "cvar_usd": stats["cvar_usd"],
            "prob_loss": stats["prob_loss"], "decisions": doc["decisions"],
            "financing": doc["financing"], "solver": solver}


def frontier(instance: Instance, *, points: int = 8, scenarios: int | None = None,
             seed: int | None = None, backend: str = "auto", chunk: int | None = None,
             value_table: ValueTable | None = None, fixes: Sequence[Fix] | None = None,
             gap: float = 1e-4, progress: Callable[[str], None] | None = None,
             valuation_progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Rows ``{floor_usd, expected_npv_usd, cvar_usd, decisions, changed, ...}`` for
    `points` CVaR floors spread evenly from the risk-neutral plan's CVaR (the first row
    is that plan) to the best CVaR_alpha reachable (`wattfolio.mip.solve.max_cvar`). `changed`
    lists the decisions added, removed or resized against the previous row.

    The instance's own floor and weight are ignored: the frontier is the set of
    E[NPV]-maximising plans under each floor. Its liquidity floor and revolver are kept:
    where they apply, every point is a full planning solve (`_cash_aware_points`). Raises PlanInfeasible when no plan meets
    the cash constraints and fixes at all, ValueError on points < 2.
    """
    if points < 2:
        raise ValueError(f"points: must be >= 2, got {points}")
    scenarios = instance.plan.scenarios if scenarios is None else scenarios
    seed = instance.plan.seed if seed is None else seed
    alpha = instance.risk.alpha
    base = replace(instance.with_plan(scenarios=scenarios, seed=seed),
                   risk=replace(instance.risk, cvar_floor_usd=None, weight=0.0))
    catalog = build_catalog(base)
    vt = value_table or value_actions(base, catalog, backend=backend, chunk=chunk,
                                      progress=valuation_progress)
    if vt.n_scenarios != scenarios:
        raise ValueError(f"value_table: has {vt.n_scenarios} scenarios, expected {scenarios}")
    fixes = list(fixes or [])
    say = progress or (lambda _msg: None)

    rn = plan_instance(base, value_table=vt, fixes=fixes)
    c0 = rn.stats["cvar_usd"]
    say(f"risk-neutral plan: E[NPV] {usd(rn.stats['expected_npv_usd'])}, CVaR {usd(c0)}")
    t0 = time.perf_counter()
    top = max_cvar(base, catalog, vt, alpha=alpha, gap=gap, fixes=fixes)
    if top.best is None:
        raise PlanInfeasible(f"no plan reaches a CVaR (max_cvar ended {top.status})",
                             reason="no_solution")
    c1 = max(top.best.cvar, c0)
    say(f"best reachable CVaR {alpha:.0%}: {usd(c1)} ({time.perf_counter() - t0:.1f} s)")

    rows = [{"floor_usd": float(c0), "expected_npv_usd": rn.stats["expected_npv_usd"],
             "expected_npv_se_usd": rn.stats["expected_npv_se_usd"], "cvar_usd": c0,
             "prob_loss": rn.stats["prob_loss"], "decisions": rn.document["decisions"],
             "financing": rn.document["financing"],
             "solver": {"status": rn.solver["status"], "seconds": rn.solver["seconds"],
                        "cuts": rn.solver["cuts"]}}]
    width = c1 - c0
    floors = [c0 + width * k / (points - 1) for k in range(1, points)]
    floors[-1] = c1 - TOP_BACKOFF * max(width, abs(c1), 1.0) if width > 0 else c1
    if needs_cash_paths(base):
        rows += _cash_aware_points(base, floors, vt, fixes, gap, say, points)
        floors = []
    pm = PlanModel(base, catalog, vt)
    apply_fixes(pm, fixes)
    for k, floor in enumerate(floors):
        t = time.perf_counter()
        res = floor_loop(pm, alpha, floor, gap=gap)
        info = {"status": res.status, "seconds": time.perf_counter() - t, "cuts": res.cuts}
        if res.best is not None:
            q, d = res.best.q, res.best.draws
        elif k == len(floors) - 1:
            # the top: the max-CVaR plan itself meets it by construction
            q, d = top.best.q, top.best.draws
            info["status"] = f"{res.status}; max-CVaR plan used"
        else:
            raise PlanInfeasible(f"CVaR floor {floor:,.0f} below the best reachable {c1:,.0f} "
                                 f"was not met (floor loop ended {res.status})",
                                 reason="cvar_floor", floor_usd=floor, best_cvar_usd=c1, alpha=alpha)
        draws = [(k.instrument, float(v), k.month) for k, v in zip(pm.draws, d) if v > 0.5]
        rows.append(_row(base, floor, catalog, vt, q, draws, info))
        say(f"point {k + 2} of {points}, floor {usd(floor)}: E[NPV] {usd(rows[-1]['expected_npv_usd'])}, "
            f"CVaR {usd(rows[-1]['cvar_usd'])} ({info['seconds']:.1f} s, {res.cuts} cuts)")
    prev: list[dict] = []
    for r in rows:
        r["changed"] = decision_diff(prev, r["decisions"])
        prev = r["decisions"]
    return rows


def _cash_aware_points(base: Instance, floors: Sequence[float], vt: ValueTable, fixes, gap: float,
                       say, points: int) -> list[dict]:
    """Frontier points of an instance whose plans must hold cash scenario by scenario (a
    liquidity floor, a priced revolver): each floor is a full planning solve — the
    liquidity cuts and the revolver's cost included, its stats valued as `evaluate`
    would — so that no point breaks the liquidity floor the first one keeps. The best
    CVaR reachable is computed without the liquidity floor, so the top floors may be out
    of reach with it: the frontier then ends at the last point reached, and says so."""
    rows: list[dict] = []
    for k, floor in enumerate(floors):
        t = time.perf_counter()
        inst = replace(base, risk=replace(base.risk, cvar_floor_usd=float(floor)))
        try:
            res = plan_instance(inst, value_table=vt, fixes=fixes, gap=gap)
        except PlanInfeasible as err:
            say(f"point {k + 2} of {points}, floor {usd(floor)}: not reachable with the liquidity "
                f"floor ({err}); the frontier ends at the previous point")
            break
        info = {"status": res.solver["status"], "seconds": time.perf_counter() - t,
                "cuts": res.solver["cuts"]}
        rows.append({"floor_usd": float(floor), "expected_npv_usd": res.stats["expected_npv_usd"],
                     "expected_npv_se_usd": res.stats["expected_npv_se_usd"],
                     "cvar_usd": res.stats["cvar_usd"], "prob_loss": res.stats["prob_loss"],
                     "decisions": res.document["decisions"], "financing": res.document["financing"],
                     "solver": info})
        say(f"point {k + 2} of {points}, floor {usd(floor)}: E[NPV] {usd(rows[-1]['expected_npv_usd'])}, "
            f"CVaR {usd(rows[-1]['cvar_usd'])} ({info['seconds']:.1f} s, liquidity cuts included)")
    return rows


# ---- the command -------------------------------------------------------------------------

def _decisions_text(decisions: Sequence[dict]) -> str:
    def one(d: dict) -> str:
        mw = f" {d['mw']:g} MW" if "mw" in d else ""
        lease = f" ({d['lease']})" if d.get("lease") else ""
        return f"{d['action']} {d['site']}@{d['start']}{mw}{lease}"
    return "; ".join(one(d) for d in decisions) or "keep every site as it is"


def _changes_text(changed: Sequence[dict]) -> str:
    sign = {"added": "+", "removed": "-", "resized": "~"}
    return "; ".join(f"{sign[c['change']]}{c['action']} {c['site']}@{c['start']}"
                     + (f" {c['mw']:g} MW" if "mw" in c else "") for c in changed)


def frontier_csv(rows: Sequence[dict]) -> str:
    import pandas as pd

    table = pd.DataFrame([{
        "floor_usd": r["floor_usd"], "expected_npv_usd": r["expected_npv_usd"],
        "expected_npv_se_usd": r["expected_npv_se_usd"], "cvar_usd": r["cvar_usd"],
        "prob_loss": r["prob_loss"], "decisions": _decisions_text(r["decisions"]),
        "changed": _changes_text(r["changed"]), "solver_status": r["solver"]["status"],
    } for r in rows])
    from ..outputs import csv_safe
    return csv_safe(table).to_csv(index=False)


def frontier_document(instance: Instance, rows: Sequence[dict], *, scenarios: int, seed: int,
                      backend: str, fixes: Sequence[Fix] = ()) -> dict[str, Any]:
    """frontier.json: what the report draws (E[NPV] against CVaR, one point per row)."""
    return {"schema": 1, "name": instance.plan.name, "instance_sha256": instance.sha256,
            "alpha": instance.risk.alpha, "scenarios": scenarios, "seed": seed,
            "backend": backend, "fixes": [str(f) for f in fixes],
            "instance_floor_usd": instance.risk.cvar_floor_usd, "points": list(rows)}


def frontier_summary(rows: Sequence[dict]) -> str:
    """One sentence on what the frontier shows: that the floor does not bind (every
    floor gives the same plan), or what the safest plan costs in E[NPV] and gains in CVaR.

    Parameters
    ----------
    rows : sequence of dict
        `frontier`'s rows.

    Returns
    -------
    str
    """
    from ..formatting import usd

    if not rows:
        return "No frontier: no point was solved."
    first, last = rows[0], rows[-1]
    distinct = 1 + sum(1 for r in rows[1:] if r.get("changed"))
    if distinct == 1:
        return (f"The CVaR floor does not bind: the risk-neutral plan already has the best CVaR "
                f"reachable ({usd(first['cvar_usd'])}), so every floor gives the same plan, "
                f"E[NPV] {usd(first['expected_npv_usd'])}.")
    cost = first["expected_npv_usd"] - last["expected_npv_usd"]
    gain = last["cvar_usd"] - first["cvar_usd"]
    return (f"{distinct} distinct plans: raising CVaR from {usd(first['cvar_usd'])} to "
            f"{usd(last['cvar_usd'])} (+{usd(gain)}) costs {usd(cost)} of E[NPV] "
            f"({usd(first['expected_npv_usd'])} to {usd(last['expected_npv_usd'])}).")


def frontier_files(instance: Instance, rows: Sequence[dict], *, scenarios: int, seed: int,
                   backend: str, fixes: Sequence[Fix] = ()) -> dict[str, str]:
    """frontier.json, frontier.csv and frontier.svg: what `wattfolio frontier` and
    `wattfolio plan --frontier` both write.

    Parameters
    ----------
    instance : Instance
    rows : sequence of dict
        `frontier`'s rows.
    scenarios, seed : int
    backend : str
    fixes : sequence of Fix

    Returns
    -------
    dict
        File name to content, for `wattfolio.outputs.write_outputs`.
    """
    from ..outputs import to_json
    from ..report.charts import frontier_svg, standalone

    good = [r for r in rows if r.get("cvar_usd") is not None and r.get("expected_npv_usd") is not None]
    svg = standalone(frontier_svg([r["cvar_usd"] for r in good], [r["expected_npv_usd"] for r in good],
                                  [bool(r.get("changed")) and i > 0 for i, r in enumerate(good)]))
    doc = frontier_document(instance, rows, scenarios=scenarios, seed=seed, backend=backend, fixes=fixes)
    doc["summary"] = frontier_summary(rows)
    return {"frontier.json": to_json(doc), "frontier.csv": frontier_csv(rows), "frontier.svg": svg}
