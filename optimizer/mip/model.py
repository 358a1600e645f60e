"""`PlanModel`: the plan MIP for one instance, catalog and ValueTable, kept persistent in
HiGHS across cut rounds.

It puts three plain pieces together: the data (`mip.data.model_data`, arrays only, the
rules' groups included), the Pyomo model built from it (`mip.build.create_model`, a fixed
sequence of ``define_*`` steps) and the HiGHS session (`mip.session.HighsSession`). What
it adds is the planning vocabulary the loops speak: CVaR cuts from scenario weights,
fixes on actions, and the solution read back as quantities and draws in USD.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pyomo.environ as pyo

from ..gpu.backend import to_host
from ..gpu.value_table import ValueTable
from ..instance.types import Instance
from ..planning.catalog import Action
from ..planning.finance import Draw
from ..planning.rules import MIN_CONVERT_MW  # noqa: F401  (re-exported: the rules' tranche)
from ..planning.rules import whole_blocks
from .build import SCALE, ExtraFunctionality, block_columns, create_model, linear_expr, plan_columns
from .data import model_data
from .session import HighsSession, SolveOutcome, relative_gap  # noqa: F401  (re-exported)

_expr = linear_expr   # the name the cut code has always used


class PlanModel:
    """The plan MIP for one instance, catalog and ValueTable.

    ``weight`` > 0 adds an epigraph variable eta for CVaR (cuts ``add_cut(...)`` bound it
    from above); ``elastic_cash`` adds a slack per month to the cash rows and minimises
    their sum (the infeasibility diagnosis); ``extra_functionality(m, data)`` adds rows
    of its own once the model is built (`mip.build.create_model`).
    """

    def __init__(self, instance: Instance, actions: Sequence[Action], vt: ValueTable, *,
                 weight: float = 0.0, elastic_cash: bool = False,
                 extra_functionality: ExtraFunctionality | None = None) -> None:
        t0 = time.perf_counter()
        self.instance, self.actions, self.vt = instance, list(actions), vt
        self.weight = float(weight)
        self.data = model_data(instance, self.actions, vt)
        d = self.data
        self.draws: list[Draw] = d.draws
        self.mean_npv, self.mean_baseline = d.mean_npv, d.mean_baseline
        self.draw_cost = d.draw_cost
        self.is_convert, self.max_units = d.is_convert, d.max_units
        self.m = create_model(d, weight=self.weight, elastic_cash=elastic_cash,
                              extra_functionality=extra_functionality)
        self.xv, self.qv, self.dv = plan_columns(self.m, d)
        self.nv = block_columns(self.m, d)
        self.qdv = self.qv + self.dv
        self.cash_rhs_usd = d.cash.rhs
        self.session = HighsSession(self.m, SCALE)
        self.build_seconds = time.perf_counter() - t0

    @property
    def transfer_seconds(self) -> float:
        """Seconds it took to hand the model to HiGHS (0 before the first solve)."""
        return self.session.transfer_seconds

    # ---- cuts and fixes -----------------------------------------------------------------

    def cut_row(self, weights) -> tuple[np.ndarray, float]:
        """(coefficients over q and D in $M, constant in $M) of sum_s w_s NPV_s(q, D)."""
        xp, vt = self.vt.xp, self.vt
        w = xp.asarray(weights, dtype=xp.float64)
        coef_q = to_host(vt.npv @ w) / SCALE
        const = float(to_host(vt.baseline_npv @ w)) / SCALE
        return np.concatenate([coef_q, -self.draw_cost]), const

    def add_cut(self, weights, *, floor_usd: float | None = None) -> None:
        """Add sum_s w_s NPV_s >= floor (floor mode) or eta <= sum_s w_s NPV_s (epigraph).

        Valid for every plan whenever w is a CVaR tail-weight vector (0 <= w <= 1/((1-a)S),
        sum 1): CVaR is the minimum of such weighted means, so each cut over-estimates it.
        """
        row, const = self.cut_row(weights)
        expr = _expr(row, self.qdv, const)
        if hasattr(self.m, "theta"):
            # every scenario's NPV carries the revolver's expected cost, as it carries the
            # financing's (`mip.liquidity`)
            expr = expr - self.m.theta
        if floor_usd is not None:
            con = self.m.cuts.add(expr >= floor_usd / SCALE)
        else:
            con = self.m.cuts.add(self.m.eta <= expr)
        self.session.add_constraints([con])

    def sync_add(self, cons: Sequence) -> None:
        """Hand constraints built on ``self.m`` outside this class to the persistent solver
        (their new variables come with them)."""
        self.session.add_constraints(cons)

    def sync_remove(self, cons: Sequence) -> None:
        """Take constraints out of the persistent solver and deactivate them in the model."""
        self.session.remove_constraints(cons)
        for c in cons:
            c.deactivate()

    @property
    def n_cuts(self) -> int:
        """CVaR cuts added so far."""
        return len(self.m.cuts)

    def _set_bounds(self, idx: Iterable[int], lb: float | None, ub: float | None) -> list[int]:
        idx = list(idx)
        for a in idx:
            if lb is not None:
                self.m.x[a].setlb(lb)
            if ub is not None:
                self.m.x[a].setub(ub)
        self.session.update_variables([self.m.x[a] for a in idx])
        return idx

    def fix_actions(self, predicate: Callable[[Action], bool]) -> list[int]:
        """Force every action matching `predicate` to be taken (x = 1); returns their indices."""
        return self._set_bounds((a.index for a in self.actions if predicate(a)), 1.0, None)

    def forbid_actions(self, predicate: Callable[[Action], bool]) -> list[int]:
        """Forbid every action matching `predicate` (x = 0); returns their indices."""
        return self._set_bounds((a.index for a in self.actions if predicate(a)), None, 0.0)

    def require_any(self, indices: Sequence[int]) -> None:
        """At least one of these actions is taken: sum x >= 1."""
        con = self.m.fixes.add(sum(self.m.x[a] for a in indices) >= 1)
        self.session.add_constraints([con])

    def pin(self, quantities: np.ndarray, draws_usd: np.ndarray | None = None) -> None:
        """Fix the plan: every x to (quantity > 0), every convert's MW to its quantity
        (and its block count where that is whole: otherwise the count stays free and the
        pinned MW, no whole number of blocks, leaves the model infeasible), and with
        `draws_usd` (K,) every draw, leaving the model a feasibility check."""
        q = np.asarray(quantities, dtype=float)
        on = q > 0
        changed = []
        for a in range(len(self.actions)):
            self.m.x[a].setlb(float(on[a]))
            self.m.x[a].setub(float(on[a]))
            changed.append(self.m.x[a])
            if self.is_convert[a]:
                self.m.q[a].setlb(float(q[a]))
                self.m.q[a].setub(float(q[a]))
                changed.append(self.m.q[a])
        for a, v in zip(self.data.blocked, self.nv):
            block = self.data.block_mw[a]
            n = round(q[a] / block)
            whole = whole_blocks(float(q[a]), float(block))
            v.setlb(n if whole else 0)
            v.setub(n if whole else int(self.data.max_blocks[a]))
            changed.append(v)
        if draws_usd is not None:
            for k, v in enumerate(np.asarray(draws_usd, dtype=float)):
                self.m.D[k].setlb(v / SCALE)
                self.m.D[k].setub(v / SCALE)
                changed.append(self.m.D[k])
        self.session.update_variables(changed)

    # ---- solving ------------------------------------------------------------------------

    def solve(self, time_limit: float | None = None, gap: float = 1e-4,
              options: dict | None = None) -> SolveOutcome:
        """Run HiGHS to relative MIP gap `gap` within `time_limit` seconds and load the
        incumbent (if any) into the model's variables."""
        out = self.session.solve(time_limit, gap, options)
        if out.has_solution:
            self.session.load_solution()
        return out

    def set_start(self, x: np.ndarray, quantities: np.ndarray | None = None) -> None:
        """MIP start from binaries x (A,), and with `quantities` (A,) the block counts
        they imply. HiGHS completes the rest: q, D and eta with an LP, and the block
        counts of taken converts not given with a small sub-MIP (`mip_max_start_nodes`)."""
        x = np.round(np.asarray(x, dtype=float))
        cols, vals = list(self.xv), list(x)
        for a, v in zip(self.data.blocked, self.nv):
            if quantities is not None:
                cols.append(v)
                vals.append(float(np.round(quantities[a] / self.data.block_mw[a])))
            elif x[a] == 0:
                # an action left out builds no block: only the taken ones need completing
                cols.append(v)
                vals.append(0.0)
        self.session.set_start(cols, np.array(vals, dtype=float))

    def keep_improving_solutions(self, on: bool = True) -> None:
        """Have HiGHS keep every improving solution (`improving_solutions`)."""
        self.session.keep_improving_solutions(on)

    def improving_solutions(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(quantities (A,), draws (K,) USD) of each improving solution HiGHS found in
        the last run (they satisfy every row the model had then)."""
        s = self.session
        qcols, xcols, dcols = s.columns(self.qv), s.columns(self.xv), s.columns(self.dv)
        ncols = s.columns(self.nv)
        return [(self._clean(v[qcols], v[xcols], v[ncols]), np.maximum(v[dcols], 0.0) * SCALE)
                for v in s.saved_solutions()]

    def relax(self, on: bool) -> None:
        """The LP relaxation (on): x continuous in [0, 1] and block counts continuous
        within their bounds; off: binary and integer again."""
        for v in self.xv:
            v.domain = pyo.UnitInterval if on else pyo.Binary
        for v in self.nv:
            v.domain = pyo.NonNegativeReals if on else pyo.NonNegativeIntegers
        self.session.update_variables(self.xv + self.nv)

    # ---- the loaded solution ------------------------------------------------------------

    def binaries(self) -> np.ndarray:
        """x (A,) of the loaded solution, as HiGHS left them (not snapped)."""
        return np.array([v.value or 0.0 for v in self.xv], dtype=float)

    def _clean(self, q: np.ndarray, x: np.ndarray, n: np.ndarray, snap: bool = True) -> np.ndarray:
        return self.data.plan_quantities(q, x, n, snap)

    def quantities(self, snap: bool = True) -> np.ndarray:
        """Quantities (A,) of the loaded solution: MW for converts (whole blocks where
        built in blocks), 0/1 otherwise (fractional for sell/acquire, and fractional
        blocks, when the model is relaxed and snap is False)."""
        q = np.array([v.value or 0.0 for v in self.qv], dtype=float)
        n = np.array([v.value or 0.0 for v in self.nv], dtype=float)
        return self._clean(q, self.binaries(), n, snap)

    def draw_amounts(self) -> np.ndarray:
        """Draws (K,) in USD of the loaded solution, aligned with `self.draws`."""
        return np.maximum(np.array([v.value or 0.0 for v in self.dv], dtype=float), 0.0) * SCALE

    def eta_value(self) -> float:
        """The epigraph variable's value (the model's CVaR term), USD."""
        return float(self.m.eta.value) * SCALE

    def slack_usd(self) -> np.ndarray:
        """Cash slack per month (elastic model only), USD."""
        return np.array([self.m.slack[j].value or 0.0 for j in range(self.instance.plan.months)]) * SCALE

    def revolver_cost_usd(self) -> float:
        """The model's estimate of the revolver's expected cost (its epigraph theta), USD;
        0 without a revolver."""
        return float(self.m.theta.value or 0.0) * SCALE if hasattr(self.m, "theta") else 0.0

    def financing_cost(self, draws_usd: np.ndarray) -> float:
        """PV value cost (USD) of draws (K,) in USD."""
        return float(self.draw_cost @ draws_usd)

    def expected_value(self, q: np.ndarray, draws_usd: np.ndarray) -> float:
        """E[plan NPV] net of financing, USD."""
        return self.mean_baseline + float(self.mean_npv @ q) - self.financing_cost(draws_usd)
