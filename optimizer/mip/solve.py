"""The solve loop: pick the mode the instance's risk settings ask for, run it, and explain
an impossible plan (cash, an unreachable CVaR floor, contradictory fixes) in words.

Modes: no risk term -> one MIP solve; `risk.cvar_floor_usd` only -> Künzi-Bay & Mayer
floor cuts; `risk.weight` > 0 (with or without a floor) -> the epigraph loop with a
stabilised cut pool. See `wattfolio.mip.cvar` for why and for the certificates.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import PlanInfeasible  # noqa: F401  (raised here, re-exported for callers)
from ..gpu.backend import to_host
from ..gpu.value_table import ValueTable

from ..planning.catalog import Action
from ..planning.finance import drawn_financing
from ..planning.fixes import Fix  # noqa: F401  (defined with the rules; re-exported for callers)
from .cvar import CutEngine, LoopResult, floor_loop, weight_loop
from ..instance.types import Instance, month_str
from .liquidity import revolver_epigraph, separate
from .model import PlanModel, relative_gap
from ..planning.liquidity import LiquidityOracle, revolver_of

CASH_TOL_USD = 1.0
LIQUIDITY_ROUNDS = 40   # liquidity and revolver-cost cut rounds before giving up


@dataclass
class Solution:
    quantities: np.ndarray                          # (A,) MW for converts, 0/1 otherwise
    draws: list[tuple[str, float, int]]             # (instrument id, amount_usd, absolute month)
    status: str                                     # optimal | time_limit
    gap: float
    seconds: float
    rounds: list[dict] = field(default_factory=list)
    cuts: int = 0
    objective: float = math.nan                     # (1-w) E[NPV] + w CVaR, USD
    financing_cost_usd: float = 0.0
    npv_samples: np.ndarray | None = None           # host (S,), net of financing
    method: str = ""
    bound: float = math.nan                         # certified upper bound, USD
    liquidity_rounds: list[dict] = field(default_factory=list)
    revolver_cost_usd: float = 0.0                  # the model's estimate (theta), USD


def apply_fixes(pm: PlanModel, fixes: Sequence[Fix] | None) -> None:
    """Apply --fix / --forbid to a model; a fix matching nothing is an error."""
    for f in fixes or ():
        idx = [a.index for a in pm.actions if f.matches(a)]
        if not idx:
            raise ValueError(f"{f}: no candidate action matches")
        if f.forbid:
            pm.forbid_actions(f.matches)
        elif len(idx) == 1:
            pm.fix_actions(f.matches)
        else:
            pm.require_any(idx)


def _deadline(time_limit: float | None) -> float | None:
    return None if time_limit is None else time.perf_counter() + time_limit


def diagnose_infeasible(instance: Instance, actions: Sequence[Action], vt: ValueTable,
                        fixes: Sequence[Fix] | None = None) -> PlanInfeasible:
    """Why the plan MIP (without CVaR) has no solution: an elastic model with a cash
    slack per month, minimising their sum, names the first month that stays short."""
    pm = PlanModel(instance, actions, vt, elastic_cash=True)
    apply_fixes(pm, fixes)
    out = pm.solve(None, 1e-6)
    if out.has_solution:
        slack = pm.slack_usd()
        short = np.flatnonzero(slack > CASH_TOL_USD)
        if short.size:
            j = int(short[0])
            month = instance.plan.start + j
            return PlanInfeasible(
                f"cash falls below finance.min_cash_usd = {instance.finance.min_cash_usd:,.0f} in "
                f"{month_str(month)} even with every instrument drawn: short by {slack[j]:,.0f}",
                reason="cash", month=month, shortfall_usd=float(slack[j]))
    listed = ", ".join(str(f) for f in fixes or ())
    if listed:
        return PlanInfeasible(f"no plan satisfies the fixes together: {listed}", reason="fixes")
    return PlanInfeasible("the plan model has no feasible solution", reason="no_solution")


def max_cvar(instance: Instance, actions: Sequence[Action], vt: ValueTable, *,
             alpha: float, gap: float = 1e-4, fixes: Sequence[Fix] | None = None,
             deadline: float | None = None) -> LoopResult:
    """The best CVaR_alpha any plan reaches (the weight-mode loop at w = 1)."""
    pm = PlanModel(instance, actions, vt, weight=1.0)
    apply_fixes(pm, fixes)
    return weight_loop(pm, alpha, None, gap=gap, deadline=deadline)


def _unreachable(instance: Instance, actions: Sequence[Action], vt: ValueTable,
                 fixes: Sequence[Fix] | None, gap: float) -> PlanInfeasible:
    alpha, floor = instance.risk.alpha, instance.risk.cvar_floor_usd
    best = max_cvar(instance, actions, vt, alpha=alpha, gap=gap, fixes=fixes)
    reach = best.best.cvar if best.best is not None else math.nan
    return PlanInfeasible(
        f"risk.cvar_floor_usd = {floor:,.0f} is unreachable: the best CVaR_{alpha:g} any plan "
        f"reaches is {reach:,.0f}", reason="cvar_floor", floor_usd=floor, best_cvar_usd=reach,
        alpha=alpha)


def solve(instance: Instance, actions: Sequence[Action], vt: ValueTable, *,
          time_limit: float | None = None, gap: float = 1e-4,
          progress: Callable[[str], None] | None = None,
          fixes: Sequence[Fix] | None = None, weight_method: str = "auto",
          state=None, liquidity_stop: str = "floor") -> Solution:
    """Choose actions and financing for the instance's objective and risk limits.

    Returns the best plan with status "optimal" (within `gap`) or "time_limit" (with its
    certified gap). Raises PlanInfeasible when no plan exists or none was found in time.
    `state` (`planning.valuation.in_sample_state`) lets the liquidity cuts re-value plans
    without drawing the scenarios again. `liquidity_stop` ("floor" or "bound", see
    `mip.liquidity`) says when the liquidity cuts end.
    """
    t0 = time.perf_counter()
    deadline = _deadline(time_limit)
    risk = instance.risk
    alpha, w, floor = risk.alpha, float(risk.weight or 0.0), risk.cvar_floor_usd
    liquid = risk.liquidity_probability is not None
    rv = revolver_of(instance)
    priced = rv.limit_usd > 0 and (rv.rate > 0 or rv.commitment_fee > 0)
    pm = PlanModel(instance, actions, vt, weight=w,
                   extra_functionality=revolver_epigraph(w) if liquid or priced else None)
    if liquid:
        # the per-scenario floor replaces the expected-cash rows (kept as the fallback)
        pm.m.cash.deactivate()
    apply_fixes(pm, fixes)
    oracle = (LiquidityOracle(instance, actions, pm.draws, backend=vt.backend, state=state)
              if liquid or priced else None)

    liquidity_rounds: list[dict] = []
    all_rounds: list[dict] = []     # every CVaR loop's rounds, across liquidity rounds
    best_point = None
    while True:
        if w > 0:
            res = weight_loop(pm, alpha, floor, gap=gap, deadline=deadline, method=weight_method,
                              progress=progress)
        elif floor is not None:
            res = floor_loop(pm, alpha, floor, gap=gap, deadline=deadline, progress=progress)
        else:
            res = _plain(pm, alpha, gap, deadline, progress)
        all_rounds.extend(res.rounds)
        if oracle is None or res.best is None:
            break
        t1 = time.perf_counter()
        new, pt = separate(pm, oracle, res.best.q, res.best.draws, liquidity_stop)
        if best_point is None or pt.probability > best_point.probability:
            best_point = pt
        liquidity_rounds.append({"round": len(liquidity_rounds) + 1, "seconds": time.perf_counter() - t1,
                                 "probability": pt.probability, "tail_shortfall_usd": pt.tail_mean_usd,
                                 "revolver_cost_usd": pt.cost_usd, "new_cuts": new})
        if progress is not None:
            progress(f"liquidity round {len(liquidity_rounds)}: cash holds in {pt.probability:.1%} of "
                     f"scenarios, revolver cost {pt.cost_usd / 1e6:,.1f}M, {new} new cut(s)")
        if new == 0 or len(liquidity_rounds) >= LIQUIDITY_ROUNDS:
            break
        if deadline is not None and time.perf_counter() > deadline:
            break

    if res.best is None and liquidity_rounds and res.status == "infeasible":
        p = risk.liquidity_probability
        bp = best_point
        raise PlanInfeasible(
            f"risk.liquidity_probability = {p:g} is unreachable: the best plan the cut loop found keeps "
            f"cash plus the undrawn revolver above finance.min_cash_usd in {bp.probability:.1%} of "
            f"scenarios; its tightest month is {month_str(instance.plan.start + int(bp.worst[bp.tail[0]]))}",
            reason="liquidity")
    if res.best is None:
        if res.status == "infeasible":
            if res.first_round_infeasible:
                raise diagnose_infeasible(instance, actions, vt, fixes)
            raise _unreachable(instance, actions, vt, fixes, gap)
        timed_out = res.status in ("time_limit", "no_solution") and time_limit is not None \
            and deadline is not None and time.perf_counter() >= deadline
        if floor is not None and not timed_out:
            # a floor past every plan's reach (1e30) can leave HiGHS with no status but
            # "no solution": the cause is still the floor, and the message quotes the reach
            raise _unreachable(instance, actions, vt, fixes, gap)
        raise PlanInfeasible(
            f"no feasible plan found within the time limit ({time_limit} s)"
            if res.status in ("time_limit", "no_solution") and time_limit is not None
            else f"the solver returned no feasible plan (status {res.status})", reason="no_solution")

    best = res.best
    fin = pm.financing_cost(best.draws)
    draws = drawn_financing(pm.draws, best.draws)
    return Solution(
        quantities=best.q, draws=draws,
        status="optimal" if res.status == "optimal" else "time_limit",
        gap=res.gap, seconds=time.perf_counter() - t0, rounds=all_rounds, cuts=res.cuts,
        objective=best.objective, financing_cost_usd=fin,
        npv_samples=to_host(best.values), method=res.method, bound=res.bound,
        liquidity_rounds=liquidity_rounds, revolver_cost_usd=pm.revolver_cost_usd())


def _plain(pm: PlanModel, alpha: float, gap: float, deadline: float | None,
           progress: Callable[[str], None] | None) -> LoopResult:
    """No risk term: one MIP solve for E[NPV]."""
    out = pm.solve(None if deadline is None else max(deadline - time.perf_counter(), 0.0), gap)
    rounds = [{"round": 1, "phase": "mip", "seconds": out.seconds, "mip_seconds": out.seconds,
               "objective": out.objective if out.has_solution else None, "cvar": None, "cuts": 0}]
    if out.status == "infeasible" or not out.has_solution:
        return LoopResult("infeasible" if out.status == "infeasible" else "no_solution", None,
                          math.nan, math.nan, rounds, 0, "mip", first_round_infeasible=True)
    ev = CutEngine(pm, alpha, None).score(pm.quantities(), pm.draw_amounts())
    rounds[0]["cvar"] = ev.cvar
    if progress is not None:
        from ..formatting import usd
        progress(f"round 1, mip ({out.seconds:.1f} s): E[NPV] {usd(ev.expected)}, CVaR {usd(ev.cvar)}")
    return LoopResult("optimal" if out.status == "optimal" else "time_limit", ev, out.bound,
                      relative_gap(ev.objective, out.bound), rounds, 0, "mip")
