"""The CVaR cut engine: plans evaluated on the device and turned into cuts or tail rows
on a `PlanModel` (the why and the certificates: `wattfolio.mip.cvar`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...gpu.backend import to_host
from ...gpu.risk import cvar as cvar_of
from ...gpu.risk import tail_weights
from ..build import SCALE, linear_expr as _expr
from ..model import PlanModel
from ..session import SolveOutcome, relative_gap

FLOOR_RTOL = 1e-9


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

    def score(self, q: np.ndarray, draws: np.ndarray) -> Evaluated:
        fin = self.pm.financing_cost(draws) + self.pm.revolver_cost_usd()
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


