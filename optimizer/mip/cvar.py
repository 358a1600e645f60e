"""CVaR by cutting planes: the plan MIP never sees a scenario, only cuts built from them.

CVaR_alpha of plan NPV is the minimum, over tail-weight vectors w (0 <= w_s <= 1/n,
sum 1, n = (1-alpha) S), of ``sum_s w_s NPV_s(q)``. So for any such w the linear function
``sum_s w_s NPV_s(q)`` over-estimates CVaR at every plan and is exact at the plans whose
worst-n scenarios w picks. A cut costs one product ``npv @ w`` on the device (A numbers
to the host); evaluating a plan costs one ``q @ npv`` and one sort of S values.

**Floor mode** (`risk.cvar_floor_usd`, Künzi-Bay & Mayer 2006): solve the MIP for
E[NPV]; if the plan's CVaR is below the floor, add ``sum_s w_s NPV_s(q) >= floor`` with
w the plan's tail weights and re-solve the persistent model. Cuts only remove plans that
miss the floor, so the final plan is optimal for the true problem to the MIP gap, and an
infeasible cut model proves the floor unreachable.

**Weight mode** (`risk.weight` w > 0; objective (1-w) E + w CVaR through an epigraph
variable eta). Three methods; `weight_loop(method="auto")` picks "rows-lp" while a plan's
tail is small (ceil(TAIL_MARGIN n) <= ROWS_AUTO_MAX scenarios, n = (1-alpha) S) and
"pool" beyond:

* "naive": one cut per MIP solve (eta <= the plan's tail mean). The reference, and a
  trap: each cut is exact only at plans with that tail set, and where the tail moves with
  every swap of a project the MIP walks through one new tail set per full solve.
* "pool": an LP phase (Kelley with in-out stabilisation, Ben-Ameur & Neto 2007), then MIP
  rounds that cut at every improving solution HiGHS saved plus a midpoint, from a MIP
  start, with a progressive gap. Fewer MIP rounds than "naive", still one tail set each.
* "rows" / "rows-lp" (tail-scenario generation, `TailRows`; in the spirit of Espinoza &
  Moreno's aggregation for CVaR, 2014): Rockafellar-Uryasev rows ``u_s >= z - NPV_s`` only
  for the scenarios T that ever reach an evaluated plan's worst TAIL_MARGIN n, every other
  scenario in one aggregated row (valid by Jensen), and ``eta <= z - (sum u)/n``. One row
  per scenario stands for every tail set those scenarios can form, so the master sees
  CVaR's kinks itself; T stays a fraction of S. "rows-lp" first grows T on the LP
  relaxation (LP re-solves, no MIP), then MIP solves add the tails of every improving
  solution until the bound closes or nothing new enters T. Usually one MIP solve.

Exactness (all methods): every cut and every partial RU model over-estimates CVaR, so the
model's MIP dual bound is an upper bound on the true optimum; every evaluated plan's true
objective is a lower bound. The loop stops when (UB - LB) <= gap * max(|LB|, 1), the same
relative gap HiGHS reports, or when nothing new separates at the target gap.

Measured (2-core machine, HiGHS 1.15). The hard case, benchmarks/weight_mode.py (200
one-binary projects x 100 scenarios, cash for ~30 of them, w = 0.5, alpha = 0.9, gap 1e-4;
results/weight_mode.json; seed 0's run shared the 2 cores with another benchmark):
seed 0 / seed 1: "naive" 43 / 60 rounds in 150 s, not converged (gap 2% / 8e-4);
"pool" 17 / 13 MIP rounds, 109 / 50 s; "rows" 3 / 3 MIP rounds, 8.4 / 6.0 s; "rows-lp"
1 / 2 MIP rounds, 3.3 / 4.6 s; our extensive form 9.0 / 3.5 s (5.7 s for seed 0 alone);
mpi-sppy's EF with its CVaR transform (appsi_highs) 16 / 5.4 s; all that finish agree to
1e-15. So at S = 100 "rows-lp" is 15-30x faster than the cut loops and level with the
EF (0.8-2.7x), not decisively faster: the last MIP carries ~45 of the 100 scenario rows.
Its edge over the EF is the row count, expected to grow with S (unmeasured here).
On the synthetic tables of benchmarks/mip_scaling.py
(results/mip_scaling_weight_methods.json, 1e3 scenarios, w = 0.5, gap 1e-3) every method
converges in 1-2 MIP rounds: 10 sites "rows-lp" 1.1 s, "pool" 0.9 s, EF 5.3 s; 50 sites
4.6 s, 5.3 s, EF 18 s. At 1e5 scenarios (results/mip_scaling.json) "pool" takes 13 s at
200 sites, where a per-scenario row set would be thousands of dense rows: hence "auto".
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..gpu.backend import to_host
from ..gpu.risk import cvar as cvar_of
from ..gpu.risk import tail_weights

from .model import SCALE, PlanModel, SolveOutcome, _expr, relative_gap

FLOOR_RTOL = 1e-9
LP_ROUNDS = 60         # cap on the LP phase; it stops earlier when its bound closes
IN_OUT = 0.5           # separation point = IN_OUT * centre + (1 - IN_OUT) * LP optimum


@dataclass
class Evaluated:
    """A plan evaluated on every scenario (money in USD)."""

    q: np.ndarray
    draws: np.ndarray
    values: Any          # device (S,) plan NPV net of financing
    expected: float
    cvar: float
    objective: float     # (1 - w) E + w CVaR


@dataclass
class LoopResult:
    status: str                      # optimal | time_limit | infeasible | no_solution
    best: Evaluated | None
    bound: float                     # certified upper bound (USD), nan when unknown
    gap: float
    rounds: list[dict] = field(default_factory=list)
    cuts: int = 0
    method: str = ""
    # infeasible before any floor cut: the plan constraints themselves (cash, fixes) fail
    first_round_infeasible: bool = False


def _stopped(out: SolveOutcome, best: "Evaluated | None", ub: float, rounds: list[dict], cuts: int,
             method: str, eng: "CutEngine") -> LoopResult:
    """A weight loop whose MIP returned no plan: infeasible or out of time, keeping the
    best plan evaluated so far (then it is a time-limit result with its certified gap)."""
    status = "infeasible" if out.status == "infeasible" else "no_solution"
    if best is not None:
        status = "time_limit"
    return LoopResult(status, best, ub, relative_gap(best.objective, ub) if best else math.nan,
                      rounds, cuts, method, first_round_infeasible=not eng.floor_cuts)


class CutEngine:
    """Evaluates plans on the device and turns them into cuts on a PlanModel."""

    def __init__(self, pm: PlanModel, alpha: float, floor: float | None) -> None:
        self.pm, self.alpha, self.floor = pm, alpha, floor
        self.vt = pm.vt
        self._seen_eta: set[bytes] = set()
        self._seen_floor: set[bytes] = set()

    def evaluate(self, q: np.ndarray, draws: np.ndarray) -> Evaluated:
        fin = self.pm.financing_cost(draws)
        values = self.vt.plan_npv(q) - fin
        e = float(to_host(values.mean()))
        c = cvar_of(values, self.alpha)
        w = self.pm.weight
        return Evaluated(q, draws, values, e, c, (1 - w) * e + w * c)

    @property
    def floor_cuts(self) -> int:
        return len(self._seen_floor)

    def meets_floor(self, ev: Evaluated) -> bool:
        return self.floor is None or ev.cvar >= self.floor - FLOOR_RTOL * max(abs(self.floor), 1.0)

    def cut(self, ev: Evaluated) -> int:
        """Add the cuts the plan's tail weights give (epigraph; floor when missed). Returns
        how many were new; a repeat means the model already holds that cut."""
        xp = self.vt.xp
        w = tail_weights(ev.values, self.alpha, xp=xp)
        key = to_host(xp.flatnonzero(w)).tobytes() + to_host(w[w > 0]).round(15).tobytes()
        added = 0
        if self.pm.weight > 0 and key not in self._seen_eta:
            self._seen_eta.add(key)
            self.pm.add_cut(w)
            added += 1
        if not self.meets_floor(ev) and key not in self._seen_floor:
            self._seen_floor.add(key)
            self.pm.add_cut(w, floor_usd=self.floor)
            added += 1
        return added

    def add_mean_cut(self) -> None:
        """eta <= E[NPV]: uniform weights are tail weights too, and keep eta bounded."""
        S = self.vt.n_scenarios
        self.pm.add_cut(self.vt.xp.full(S, 1.0 / S))


class TailRows:
    """Rockafellar-Uryasev rows for a growing set T of scenarios, the rest in one row.

    ``eta <= z - (1/n) (sum_{s in T} u_s + U_R)`` with ``u_s >= z - NPV_s`` and
    ``U_R >= |R| z - sum_{s in R} NPV_s`` over the other scenarios R, all u >= 0. By
    Jensen ``sum_R (z - NPV_s)^+ >= (|R| z - sum_R NPV_s)^+``, so the right-hand side
    over-estimates CVaR at every plan (a relaxation, like the cuts) and is exact at every
    plan whose tail lies in T (and whose VaR is below the mean of R). One row per tail
    scenario replaces all the cuts over the tail sets those scenarios can form: the
    master sees CVaR's kinks itself instead of learning one tail set per MIP solve.
    """

    def __init__(self, pm: PlanModel, alpha: float) -> None:
        import pyomo.environ as pyo
        self.pm = pm
        S = pm.vt.n_scenarios
        self.n = (1.0 - alpha) * S
        self.in_t = np.zeros(S, dtype=bool)
        m = pm.m
        m.tr_z = pyo.Var()
        m.tr_u = pyo.Var(pyo.Any, dense=False, bounds=(0.0, None))
        m.tr_rest = pyo.Var(bounds=(0.0, None))
        m.tr_rows = pyo.ConstraintList()
        self._live: list = []            # the rest row and the epigraph row, rebuilt on growth
        self._npv_sum = to_host(pm.vt.xp.sum(pm.vt.npv, axis=1)) / SCALE
        self._base_sum = float(to_host(pm.vt.xp.sum(pm.vt.baseline_npv))) / SCALE
        self._rebuild()

    @property
    def size(self) -> int:
        return int(self.in_t.sum())

    def _scenario_rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows (k, A+K) over q and D, constants (k,)) of NPV_s in $M for scenarios idx."""
        vt, pm = self.pm.vt, self.pm
        xi = vt.xp.asarray(idx)
        cols = to_host(vt.npv[:, xi]).T / SCALE
        const = to_host(vt.baseline_npv[xi]) / SCALE
        fin = np.broadcast_to(-pm.draw_cost, (len(idx), len(pm.draw_cost)))
        return np.hstack([cols, fin]), const

    def _rebuild(self) -> None:
        m, pm = self.pm.m, self.pm
        pm.sync_remove(self._live)
        rest = np.flatnonzero(~self.in_t)
        if rest.size:
            rows, const = self._scenario_rows(np.flatnonzero(self.in_t)) if self.size else (None, None)
            coef = self._npv_sum - (rows[:, :len(self._npv_sum)].sum(0) if rows is not None else 0.0)
            c0 = self._base_sum - (const.sum() if const is not None else 0.0)
            row = np.concatenate([coef, -len(rest) * pm.draw_cost])
            rest_con = m.tr_rows.add(m.tr_rest - len(rest) * m.tr_z + _expr(row, pm.qdv, c0) >= 0.0)
        else:
            rest_con = None
            m.tr_rest.fix(0.0)
        tail = [m.tr_u[int(s)] for s in np.flatnonzero(self.in_t)]
        epi = m.tr_rows.add(m.eta <= m.tr_z - (sum(tail) + m.tr_rest) / self.n)
        self._live = [c for c in (rest_con, epi) if c is not None]
        pm.sync_add(self._live)

    def add(self, idx) -> int:
        """Move scenarios idx into T; returns how many were new."""
        idx = np.unique(np.asarray(idx, dtype=np.int64))
        idx = idx[~self.in_t[idx]]
        if not idx.size:
            return 0
        m, pm = self.pm.m, self.pm
        rows, const = self._scenario_rows(idx)
        cons = [m.tr_rows.add(m.tr_u[int(s)] - m.tr_z + _expr(r, pm.qdv, c) >= 0.0)
                for s, r, c in zip(idx, rows, const)]
        pm.sync_add(cons)
        self.in_t[idx] = True
        self._rebuild()
        return int(idx.size)


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
        progress(f"round {r['round']:3d} {phase:5s} {r['seconds']:7.2f}s  model {r['objective']:,.0f}"
                 f"  CVaR {r['cvar']:,.0f}  cuts {cuts}")
    # rounds go into plan.json: unknown values are null, not NaN / Infinity
    rounds.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                   for k, v in r.items()})


def floor_loop(pm: PlanModel, alpha: float, floor: float, *, gap: float = 1e-4,
               deadline: float | None = None,
               progress: Callable[[str], None] | None = None) -> LoopResult:
    """Maximise E[NPV] s.t. CVaR_alpha >= floor by Künzi-Bay & Mayer cuts (pm.weight == 0)."""
    eng = CutEngine(pm, alpha, floor)
    t0, rounds = time.perf_counter(), []
    while True:
        out = pm.solve(_remaining(deadline), gap)
        if out.status == "infeasible" or not out.has_solution:
            status = "infeasible" if out.status == "infeasible" else "no_solution"
            _record(rounds, t0, "mip", out, None, pm.n_cuts, progress)
            return LoopResult(status, None, math.nan, math.nan, rounds, pm.n_cuts, "floor-kbm",
                              first_round_infeasible=not eng.floor_cuts)
        ev = eng.evaluate(pm.quantities(), pm.draw_amounts())
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
        ev = eng.evaluate(pm.quantities(), pm.draw_amounts())
        consider(ev)
        new = eng.cut(ev)
        if method == "pool":
            for q, d in pm.improving_solutions():
                other = eng.evaluate(q, d)
                consider(other)
                new += eng.cut(other)
            if best is not None and best is not ev:
                mid = 0.5 * (ev.q + best.q)
                new += eng.cut(eng.evaluate(mid, 0.5 * (ev.draws + best.draws)))
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
            ev = eng.evaluate(pm.quantities(snap=False), pm.draw_amounts())
            if centre is None or ev.objective > centre.objective:
                centre = ev
            lb = centre.objective
            _record(rounds, t0, "lp", out, ev, pm.n_cuts, progress, lb, out.objective)
            if relative_gap(lb, out.objective) <= 1e-5:
                break
            sep = ev
            if centre is not ev:
                sep = eng.evaluate(IN_OUT * centre.q + (1 - IN_OUT) * ev.q,
                                   IN_OUT * centre.draws + (1 - IN_OUT) * ev.draws)
                if sep.objective > centre.objective:
                    centre = sep
            added = eng.cut(sep) + (eng.cut(ev) if sep is not ev else 0)
            if added == 0:
                break
    finally:
        pm.relax(False)
    return centre


TAIL_MARGIN = 2.0      # scenarios moved into T per evaluated plan: its worst TAIL_MARGIN * n
ROWS_LP_ROUNDS = 30
ROWS_AUTO_MAX = 500    # "auto" uses scenario rows while a plan's TAIL_MARGIN * n stays this small


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
                ev = eng.evaluate(pm.quantities(snap=False), pm.draw_amounts())
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
        ev = eng.evaluate(pm.quantities(), pm.draw_amounts())
        new = consider(ev)
        for q, d in pm.improving_solutions():
            new += consider(eng.evaluate(q, d))
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
