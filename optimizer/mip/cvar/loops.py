"""The CVaR loops: Künzi-Bay & Mayer floor cuts, and the weight-mode methods ("naive",
"pool", "rows", "rows-lp"); see `wattfolio.mip.cvar` for why each exists and what was
measured."""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pyomo.environ as pyo

from ...gpu.backend import to_host
from ..build import SCALE
from ..model import PlanModel
from ..session import SolveOutcome, relative_gap
from .engine import CutEngine, Evaluated, LoopResult, TailRows, _stopped

LP_ROUNDS = 60         # cap on the LP phase; it stops earlier when its bound closes
IN_OUT = 0.5           # separation point = IN_OUT * centre + (1 - IN_OUT) * LP optimum
TAIL_MARGIN = 2.0      # scenarios moved into T per evaluated plan: its worst TAIL_MARGIN * n
ROWS_LP_ROUNDS = 30
ROWS_AUTO_MAX = 500    # "auto" uses scenario rows while a plan's TAIL_MARGIN * n stays this small


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.perf_counter(), 0.0)


def _record(rounds: list[dict], t0: float, phase: str, out: SolveOutcome | None,
            ev: Evaluated | None, cuts: int, progress: Callable[[str], None] | None,
            lb: float = math.nan, ub: float = math.nan) -> None:
    r = {"round": len(rounds) + 1, "phase": phase, "seconds": time.perf_counter() - t0,
         "mip_seconds": out.seconds if out else 0.0,
         "objective": out.objective if out else math.nan,
         "cvar": ev.cvar if ev else math.nan, "cuts": cuts,
         "lower": lb, "upper": ub}
    if progress is not None:
        from ...formatting import usd

        model = (f"model objective {usd(r['objective'])}" if math.isfinite(r["objective"])
                 else "no plan")
        cvar = f"CVaR {usd(r['cvar'])}" if math.isfinite(r["cvar"]) else "CVaR not computed"
        progress(f"round {r['round']}, {phase} ({r['seconds']:.1f} s): {model}, {cvar}, "
                 f"{cuts} cut{'s' if cuts != 1 else ''}")
    # rounds go into plan.json: unknown values are null, not NaN / Infinity
    rounds.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                   for k, v in r.items()})


def floor_loop(pm: PlanModel, alpha: float, floor: float, *, gap: float = 1e-4,
               deadline: float | None = None,
               progress: Callable[[str], None] | None = None,
               lp_phase: bool = True) -> LoopResult:
    """Maximise E[NPV] s.t. CVaR_alpha >= floor by Künzi-Bay & Mayer cuts (pm.weight == 0).

    Parameters
    ----------
    pm : PlanModel
        The plan model, built with weight 0. It may already hold floor cuts from earlier
        calls (a liquidity round, a lower frontier floor): they stay valid, since they were
        made for floors no higher than this one, and are kept.
    alpha : float
        CVaR level.
    floor : float
        The floor on CVaR_alpha of plan NPV, USD (``-inf``: no floor, one MIP solve).
    gap : float
        Relative MIP gap of every MIP solve.
    deadline : float or None
        ``time.perf_counter()`` value past which the loop stops.
    progress : callable or None
        Receives one line per round.
    lp_phase : bool
        Run Kelley's loop on the LP relaxation (`_floor_lp_phase`) before the MIP solves,
        so that they start from the cuts the relaxation needs. On a model that already
        holds cuts for this floor, after a first MIP solve and only if its plan misses the
        floor. False: MIP rounds only.

    Returns
    -------
    LoopResult
        method "floor-kbm"; ``rounds`` holds the LP rounds (phase "lp") and the MIP rounds
        (phase "mip") in order. A returned plan is always a MIP solution, evaluated on
        every scenario and meeting the floor.
    """
    eng = CutEngine(pm, alpha, floor)
    t0, rounds = time.perf_counter(), []
    lp = lp_phase and math.isfinite(floor)      # at -inf every plan meets the floor
    # cuts an earlier call made for this floor (solve's liquidity rounds) often already
    # hold at the MIP's plan, where the relaxation can still miss and would add rows
    # that only slow the MIP: there the MIP goes first and the LP phase follows a miss
    mip_first = lp and _held_floor(pm) >= floor / SCALE

    def lp_infeasible() -> LoopResult:
        # every row of the relaxation is valid for the true problem, the floor cuts
        # included: no plan at all, or none that meets the floor
        return LoopResult("infeasible", None, math.nan, math.nan, rounds, pm.n_cuts,
                          "floor-kbm", first_round_infeasible=not eng.floor_cuts)

    if lp and not mip_first and not _floor_lp_phase(pm, eng, t0, rounds, deadline, progress):
        return lp_infeasible()
    while True:
        out = pm.solve(_remaining(deadline), gap)
        if out.status == "infeasible" or not out.has_solution:
            status = "infeasible" if out.status == "infeasible" else "no_solution"
            _record(rounds, t0, "mip", out, None, pm.n_cuts, progress)
            return LoopResult(status, None, math.nan, math.nan, rounds, pm.n_cuts, "floor-kbm",
                              first_round_infeasible=not eng.floor_cuts)
        ev = eng.score(pm.quantities(), pm.draw_amounts())
        _record(rounds, t0, "mip", out, ev, pm.n_cuts, progress)
        if eng.meets_floor(ev):
            return LoopResult("optimal" if out.status == "optimal" else "time_limit", ev,
                              out.bound, relative_gap(ev.objective, out.bound), rounds,
                              pm.n_cuts, "floor-kbm")
        if out.status == "time_limit" or eng.cut(ev) == 0:
            # out of time, or the plan misses the floor only within HiGHS's tolerance on
            # a cut it already has: no plan is certified to meet the floor
            return LoopResult("time_limit" if out.status == "time_limit" else "no_solution",
                              None, out.bound, math.nan, rounds, pm.n_cuts, "floor-kbm")
        if mip_first:
            mip_first = False
            if not _floor_lp_phase(pm, eng, t0, rounds, deadline, progress):
                return lp_infeasible()


def _held_floor(pm: PlanModel) -> float:
    """The highest floor the model's floor cuts were made for, in the model's $M (their
    right-hand side, as `PlanModel.add_cut` wrote it); -inf without any."""
    return max((pyo.value(c.lower) for c in pm.m.cuts.values() if c.active and c.has_lb()),
               default=-math.inf)


def _floor_lp_phase(pm: PlanModel, eng: CutEngine, t0: float, rounds: list[dict],
                    deadline: float | None, progress: Callable[[str], None] | None) -> bool:
    """Kelley's loop for the floor on the LP relaxation; leaves its cuts in the model.

    Each round solves the relaxation, evaluates its (fractional) optimum and, while that
    misses the floor, adds the floor cut of its tail weights: valid for every plan, since
    CVaR is the minimum of tail-weighted means whichever point the weights came from.
    It ends when the LP optimum meets the floor (the relaxation is solved; on a model
    whose earlier cuts already hold, after one LP solve), when a cut repeats (the miss is
    HiGHS's tolerance), or after LP_ROUNDS.

    Without in-out stabilisation (`_lp_phase`'s): its centre must be a point that meets
    the floor, and on the relaxation the first such point ends the phase.

    Returns
    -------
    bool
        False when the relaxation is infeasible: the cut model, every row of it valid,
        has no plan, which proves the MIP infeasible too.
    """
    pm.relax(True)
    try:
        for _ in range(LP_ROUNDS):
            out = pm.solve(_remaining(deadline), 0.0)
            if out.status == "infeasible":
                _record(rounds, t0, "lp", out, None, pm.n_cuts, progress)
                return False
            if not out.has_solution or out.status != "optimal":
                # out of time or a numerical status: the MIP rounds decide
                break
            ev = eng.score(pm.quantities(snap=False), pm.draw_amounts())
            # the relaxation's optimum bounds every plan's E[NPV] from above
            _record(rounds, t0, "lp", out, ev, pm.n_cuts, progress, ub=out.objective)
            if eng.meets_floor(ev) or eng.cut(ev) == 0:
                break
    finally:
        pm.relax(False)
    return True


def weight_loop(pm: PlanModel, alpha: float, floor: float | None = None, *,
                gap: float = 1e-4, deadline: float | None = None, method: str = "auto",
                progress: Callable[[str], None] | None = None) -> LoopResult:
    """Maximise (1-w) E + w CVaR (and CVaR >= floor if given) with an epigraph and cuts.

    method "auto" (default): "rows-lp" for small tails, else "pool" (module docstring).
    method "rows" / "rows-lp": tail-scenario rows (`TailRows`), the latter after an LP phase.
    method "pool": LP phase with in-out stabilisation, then MIP rounds that cut
    at every improving solution and start from the best plan, with a progressive gap.
    method "naive": one cut per MIP solve at the target gap (the reference).
    """
    if pm.weight <= 0:
        raise ValueError("weight_loop needs a PlanModel built with weight > 0")
    if method == "auto":
        n = (1.0 - alpha) * pm.vt.n_scenarios
        method = "rows-lp" if math.ceil(TAIL_MARGIN * n) <= ROWS_AUTO_MAX else "pool"
    if method in ("rows", "rows-lp"):
        return _rows_loop(pm, alpha, floor, gap=gap, deadline=deadline, progress=progress,
                          lp_phase=method == "rows-lp")
    eng = CutEngine(pm, alpha, floor)
    eng.add_mean_cut()
    t0, rounds = time.perf_counter(), []
    best: Evaluated | None = None
    ub = math.inf

    def consider(ev: Evaluated) -> None:
        nonlocal best
        if eng.meets_floor(ev) and (best is None or ev.objective > best.objective):
            best = ev

    if method == "pool":
        _lp_phase(pm, eng, t0, rounds, deadline, progress)
        pm.keep_improving_solutions(True)
    mip_gap = gap if method == "naive" else max(gap, 1e-2)
    while True:
        if best is not None and method == "pool":
            pm.set_start(best.q > 0)
        out = pm.solve(_remaining(deadline), mip_gap)
        if out.status == "infeasible" or not out.has_solution:
            _record(rounds, t0, "mip", out, None, pm.n_cuts, progress)
            return _stopped(out, best, ub, rounds, pm.n_cuts, f"weight-{method}", eng)
        if not math.isnan(out.bound):
            # every round's cut model relaxes the true problem: each bound is valid
            ub = min(ub, out.bound)
        ev = eng.score(pm.quantities(), pm.draw_amounts())
        consider(ev)
        new = eng.cut(ev)
        if method == "pool":
            for q, d in pm.improving_solutions():
                other = eng.score(q, d)
                consider(other)
                new += eng.cut(other)
            if best is not None and best is not ev:
                mid = 0.5 * (ev.q + best.q)
                new += eng.cut(eng.score(mid, 0.5 * (ev.draws + best.draws)))
        lb = best.objective if best is not None else -math.inf
        # a dual bound below an evaluated plan's value is HiGHS's tolerance, not news
        ub = max(ub, lb)
        _record(rounds, t0, "mip", out, ev, pm.n_cuts, progress, lb, ub)
        g = relative_gap(lb, ub) if best is not None else math.inf
        if g <= gap * (1 + 1e-9):
            return LoopResult("optimal", best, ub, g, rounds, pm.n_cuts, f"weight-{method}")
        if out.status == "time_limit" or _remaining(deadline) == 0.0:
            return LoopResult("time_limit" if best else "no_solution", best, ub, g, rounds,
                              pm.n_cuts, f"weight-{method}")
        if new == 0:
            if mip_gap <= gap:
                # the MIP's plan is exact on the cut model and nothing new separates:
                # the gap left is HiGHS's own, within its tolerance
                return LoopResult("optimal", best, ub, g, rounds, pm.n_cuts, f"weight-{method}")
            mip_gap = gap
        elif method == "pool":
            mip_gap = max(gap, min(mip_gap, g / 4))


def _lp_phase(pm: PlanModel, eng: CutEngine, t0: float, rounds: list[dict],
              deadline: float | None, progress: Callable[[str], None] | None) -> Evaluated | None:
    """Kelley on the LP relaxation with in-out stabilisation; leaves the cuts in the model."""
    pm.relax(True)
    centre: Evaluated | None = None
    try:
        for _ in range(LP_ROUNDS):
            out = pm.solve(_remaining(deadline), 0.0)
            if not out.has_solution or out.status != "optimal":
                break
            ev = eng.score(pm.quantities(snap=False), pm.draw_amounts())
            if centre is None or ev.objective > centre.objective:
                centre = ev
            lb = centre.objective
            _record(rounds, t0, "lp", out, ev, pm.n_cuts, progress, lb, out.objective)
            if relative_gap(lb, out.objective) <= 1e-5:
                break
            sep = ev
            if centre is not ev:
                sep = eng.score(IN_OUT * centre.q + (1 - IN_OUT) * ev.q,
                                   IN_OUT * centre.draws + (1 - IN_OUT) * ev.draws)
                if sep.objective > centre.objective:
                    centre = sep
            added = eng.cut(sep) + (eng.cut(ev) if sep is not ev else 0)
            if added == 0:
                break
    finally:
        pm.relax(False)
    return centre


def _rows_loop(pm: PlanModel, alpha: float, floor: float | None, *, gap: float,
               deadline: float | None, progress: Callable[[str], None] | None,
               lp_phase: bool = False) -> LoopResult:
    """Weight mode by tail-scenario generation: Rockafellar-Uryasev rows for the scenarios
    that ever reach an evaluated plan's tail (`TailRows`), the rest aggregated; every MIP
    solve's improving solutions add their tails; the best plan is the next MIP start."""
    eng = CutEngine(pm, alpha, floor)
    rows_model = TailRows(pm, alpha)
    xp = pm.vt.xp
    per_plan = max(int(math.ceil(TAIL_MARGIN * rows_model.n)), 1)
    method = "weight-rows-lp" if lp_phase else "weight-rows"
    t0, rounds = time.perf_counter(), []
    best: Evaluated | None = None
    ub = math.inf

    def worst(ev: Evaluated) -> np.ndarray:
        return to_host(xp.argsort(ev.values)[:per_plan])

    def consider(ev: Evaluated) -> int:
        nonlocal best
        if eng.meets_floor(ev) and (best is None or ev.objective > best.objective):
            best = ev
        new = rows_model.add(worst(ev))
        if not eng.meets_floor(ev):
            new += eng.cut(ev)
        return new

    if lp_phase:
        pm.relax(True)
        try:
            for _ in range(ROWS_LP_ROUNDS):
                out = pm.solve(_remaining(deadline), 0.0)
                if not out.has_solution or out.status != "optimal":
                    break
                ev = eng.score(pm.quantities(snap=False), pm.draw_amounts())
                new = rows_model.add(worst(ev))
                _record(rounds, t0, "lp", out, ev, rows_model.size, progress, ev.objective,
                        out.objective)
                if new == 0:
                    break
        finally:
            pm.relax(False)
    pm.keep_improving_solutions(True)
    while True:
        if best is not None:
            pm.set_start(best.q > 0)
        out = pm.solve(_remaining(deadline), gap)
        if out.status == "infeasible" or not out.has_solution:
            _record(rounds, t0, "mip", out, None, rows_model.size, progress)
            return _stopped(out, best, ub, rounds, pm.n_cuts + rows_model.size, method, eng)
        if not math.isnan(out.bound):
            ub = min(ub, out.bound)
        ev = eng.score(pm.quantities(), pm.draw_amounts())
        new = consider(ev)
        for q, d in pm.improving_solutions():
            new += consider(eng.score(q, d))
        lb = best.objective if best is not None else -math.inf
        # a dual bound below an evaluated plan's value is HiGHS's tolerance, not news
        ub = max(ub, lb)
        _record(rounds, t0, "mip", out, ev, rows_model.size, progress, lb, ub)
        g = relative_gap(lb, ub) if best is not None else math.inf
        if g <= gap * (1 + 1e-9):
            return LoopResult("optimal", best, ub, g, rounds, pm.n_cuts + rows_model.size, method)
        if out.status == "time_limit" or _remaining(deadline) == 0.0:
            return LoopResult("time_limit" if best else "no_solution", best, ub, g, rounds,
                              pm.n_cuts + rows_model.size, method)
        if new == 0:
            # every evaluated plan's tail is in T: the model is exact at its plan, so the
            # gap left is HiGHS's own, within its tolerance
            return LoopResult("optimal", best, ub, g, rounds, pm.n_cuts + rows_model.size, method)
