"""The plan MIP in Pyomo, built from arrays and kept persistent in HiGHS across cut rounds.

Variables: binary ``x[a]`` per candidate action; MW ``q[a]`` in [0, max_units x[a]] for
converts (a sell or acquire's quantity is its x); draws ``D[k]`` per financing option
(instrument, decision month); with CVaR in the objective an epigraph variable ``eta``.
Constraints: one sale per site and a sold site takes nothing else; one acquire per site
and a convert at a candidate site needs an acquire energised by its start; MW caps per
site and per lease; cumulative cash >= min cash in every month; instrument maxima; secured
notes <= loan-to-cost x funded capex. The scenario dimension enters only through cuts
(`add_cut`), each one dense row over the quantities and draws.

Money is modelled in $M (`SCALE`) so that coefficients sit near 1 and HiGHS's absolute
tolerances (1e-7) mean cents, not rounding noise on 1e9-dollar rows.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs
from pyomo.core.expr.numeric_expr import LinearExpression

from ..gpu.backend import to_host
from ..gpu.value_table import ValueTable

from ..planning.catalog import Action
from ..planning.finance import Draw, draw_options, draw_terms
from ..instance.types import Instance

MIN_CONVERT_MW = 1.0   # smallest tranche a convert decision builds
SCALE = 1e6


@dataclass(frozen=True)
class SolveOutcome:
    """One HiGHS run. Money in USD; `gap` is HiGHS's relative MIP gap."""

    status: str            # optimal | time_limit | infeasible | no_solution | other
    objective: float       # incumbent objective (nan without a solution)
    bound: float           # dual bound (nan when unknown)
    gap: float
    seconds: float

    @property
    def has_solution(self) -> bool:
        return not math.isnan(self.objective)


def _expr(coefs: np.ndarray, variables: Sequence, constant: float = 0.0) -> LinearExpression:
    """A linear expression over the nonzero coefficients only (dense rows stay sparse)."""
    nz = np.flatnonzero(coefs)
    return LinearExpression(constant=float(constant), linear_coefs=coefs[nz].tolist(),
                            linear_vars=[variables[i] for i in nz])


class PlanModel:
    """The plan MIP for one instance, catalog and ValueTable.

    ``weight`` > 0 adds an epigraph variable eta for CVaR (cuts ``add_cut(..., epigraph=True)``
    bound it from above); ``elastic_cash`` adds a slack per month to the cash rows and
    minimises their sum (the infeasibility diagnosis); ``relax`` makes x continuous.
    """

    def __init__(self, instance: Instance, actions: Sequence[Action], vt: ValueTable, *,
                 weight: float = 0.0, elastic_cash: bool = False) -> None:
        t0 = time.perf_counter()
        self.instance, self.actions, self.vt = instance, list(actions), vt
        self.weight = float(weight)
        self.draws: list[Draw] = draw_options(instance)
        A, M, K = len(self.actions), instance.plan.months, len(self.draws)
        if vt.n_actions != A:
            raise ValueError(f"ValueTable has {vt.n_actions} actions, the catalog {A}")
        self.mean_npv = to_host(vt.xp.mean(vt.npv, axis=1)) if A else np.zeros(0)
        self.mean_baseline = float(to_host(vt.xp.mean(vt.baseline_npv)))
        terms = [draw_terms(instance, d) for d in self.draws]
        self.draw_cost = np.array([c for c, _ in terms])                      # per $
        draw_cash = np.array([f for _, f in terms]).reshape(K, M)             # per $

        kind = np.array([a.kind for a in self.actions])
        self.is_convert = kind == "convert"
        self.max_units = np.array([a.max_units for a in self.actions], dtype=float)

        m = self.m = pyo.ConcreteModel()
        m.A = pyo.RangeSet(0, A - 1)
        m.x = pyo.Var(m.A, domain=pyo.Binary)
        conv = np.flatnonzero(self.is_convert).tolist()
        m.C = pyo.Set(initialize=conv, ordered=True)
        m.q = pyo.Var(m.C, bounds=lambda _, a: (0.0, self.max_units[a]))
        m.K = pyo.RangeSet(0, K - 1)
        caps = {k.id: k.max_usd / SCALE for k in instance.finance.instruments}
        m.D = pyo.Var(m.K, bounds=lambda _, k: (0.0, caps[self.draws[k].instrument]))
        self.xv = [m.x[a] for a in range(A)]
        self.qv = [m.q[a] if self.is_convert[a] else m.x[a] for a in range(A)]
        self.dv = [m.D[k] for k in range(K)]
        self.qdv = self.qv + self.dv

        self._logic_rows(m)
        self._capacity_rows(m)

        # cumulative cash: rows stay independent so the elastic slack names its month
        cum_act = np.cumsum(vt.cash, axis=1) / SCALE if A else np.zeros((0, M))
        cum_draw = np.cumsum(draw_cash, axis=1)
        rhs = (instance.finance.min_cash_usd - instance.finance.cash_usd
               - np.cumsum(vt.baseline_cash)) / SCALE
        coef = np.vstack([cum_act, cum_draw])                                # (A+K, M)
        m.Mo = pyo.RangeSet(0, M - 1)
        if elastic_cash:
            m.slack = pyo.Var(m.Mo, bounds=(0.0, None))
        m.cash = pyo.Constraint(m.Mo, rule=lambda _, j: (
            _expr(coef[:, j], self.qdv) + (m.slack[j] if elastic_cash else 0.0) >= rhs[j]))
        self.cash_rhs_usd = rhs * SCALE

        # instrument maxima over all draw months; secured notes within loan-to-cost
        by_inst: dict[str, list[int]] = defaultdict(list)
        for i, d in enumerate(self.draws):
            by_inst[d.instrument].append(i)
        inst_ids = list(by_inst)
        m.I = pyo.RangeSet(0, len(inst_ids) - 1)
        m.inst_max = pyo.Constraint(m.I, rule=lambda _, i: (
            sum(m.D[k] for k in by_inst[inst_ids[i]]) <= caps[inst_ids[i]]))
        secured = [i for i, d in enumerate(self.draws) if d.kind == "secured_notes"]
        if secured:
            ltc = np.array([instance.instrument(self.draws[i].instrument).loan_to_cost
                            for i in secured])
            funded = np.zeros(A)
            for a in conv:
                site = instance.site(self.actions[a].site)
                funded[a] = site.ownership * site.hpc.capex_usd_per_mw / SCALE
            row = np.concatenate([-funded, np.zeros(K)])
            row[A + np.array(secured)] = 1.0 / ltc
            m.ltc = pyo.Constraint(expr=_expr(row, self.qdv) <= 0.0)

        m.cuts = pyo.ConstraintList()
        m.fixes = pyo.ConstraintList()
        if elastic_cash:
            m.obj = pyo.Objective(expr=sum(m.slack[j] for j in range(M)), sense=pyo.minimize)
        else:
            if self.weight > 0:
                m.eta = pyo.Var()
            m.obj = pyo.Objective(expr=self._objective_expr(), sense=pyo.maximize)
        self.build_seconds = time.perf_counter() - t0
        self.transfer_seconds = 0.0
        self._opt: Highs | None = None
        self._results = None

    # ---- model pieces -------------------------------------------------------------------

    def _logic_rows(self, m: pyo.ConcreteModel) -> None:
        acts, inst = self.actions, self.instance
        link = np.flatnonzero(self.is_convert).tolist()
        m.link = pyo.Constraint(link, rule=lambda _, a: m.q[a] <= self.max_units[a] * m.x[a])
        # a convert that is taken builds something: without this a fixed (or free) x = 1
        # could sit at 0 MW, a decision that decides nothing
        m.tranche = pyo.Constraint(link, rule=lambda _, a: (
            m.q[a] >= min(MIN_CONVERT_MW, self.max_units[a]) * m.x[a]))
        sells, acqs, others = defaultdict(list), defaultdict(list), defaultdict(list)
        for a in acts:
            {"sell": sells, "acquire": acqs}.get(a.kind, others)[a.site].append(a.index)
            if a.kind == "acquire":
                others[a.site].append(a.index)
        # a sold site takes nothing else: x_b + sum(sells) <= 1 for every other action b
        pairs = [(s, b) for s in sells for b in others.get(s, [])]
        m.one_sale = pyo.Constraint(list(sells), rule=lambda _, s: sum(m.x[a] for a in sells[s]) <= 1)
        m.sold_idle = pyo.Constraint(range(len(pairs)), rule=lambda _, i: (
            m.x[pairs[i][1]] + sum(m.x[a] for a in sells[pairs[i][0]]) <= 1))
        m.one_acquire = pyo.Constraint(list(acqs), rule=lambda _, s: sum(m.x[a] for a in acqs[s]) <= 1)
        # a convert at a candidate site needs an acquire energised by its start
        need = []
        for a in acts:
            if a.kind != "convert":
                continue
            site = inst.site(a.site)
            if site.status != "candidate":
                continue
            lag = site.acquire.energize_months if site.acquire else 0
            ready = [b for b in acqs.get(a.site, []) if acts[b].start + lag <= a.start]
            need.append((a.index, ready))
        m.acquired = pyo.Constraint(range(len(need)), rule=lambda _, i: (
            m.x[need[i][0]] <= sum(m.x[b] for b in need[i][1])))

    def _capacity_rows(self, m: pyo.ConcreteModel) -> None:
        by_site, by_lease = defaultdict(list), defaultdict(list)
        for a in self.actions:
            if a.kind == "convert":
                by_site[a.site].append(a.index)
                by_lease[a.lease].append(a.index)
        inst = self.instance
        sites, leases = list(by_site), list(by_lease)
        m.site_mw = pyo.Constraint(range(len(sites)), rule=lambda _, i: (
            sum(m.q[a] for a in by_site[sites[i]]) <= inst.site(sites[i]).hpc.max_mw))
        m.lease_mw = pyo.Constraint(range(len(leases)), rule=lambda _, i: (
            sum(m.q[a] for a in by_lease[leases[i]]) <= inst.lease(leases[i]).max_mw))

    def _objective_expr(self):
        w = self.weight
        coef = (1.0 - w) * np.concatenate([self.mean_npv / SCALE, -self.draw_cost])
        expr = _expr(coef, self.qdv, (1.0 - w) * self.mean_baseline / SCALE)
        return expr + w * self.m.eta if w > 0 else expr

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
        if floor_usd is not None:
            con = self.m.cuts.add(_expr(row, self.qdv, const) >= floor_usd / SCALE)
        else:
            con = self.m.cuts.add(self.m.eta <= _expr(row, self.qdv, const))
        if self._opt is not None:
            self._opt.add_constraints([con])

    def sync_add(self, cons: Sequence) -> None:
        """Hand constraints built on ``self.m`` outside this class to the persistent solver
        (their new variables come with them)."""
        if self._opt is not None and cons:
            self._opt.add_constraints(list(cons))

    def sync_remove(self, cons: Sequence) -> None:
        """Take constraints out of the persistent solver and deactivate them in the model."""
        if self._opt is not None and cons:
            self._opt.remove_constraints(list(cons))
        for c in cons:
            c.deactivate()

    @property
    def n_cuts(self) -> int:
        return len(self.m.cuts)

    def _set_bounds(self, idx: Iterable[int], lb: float | None, ub: float | None) -> list[int]:
        idx = list(idx)
        for a in idx:
            if lb is not None:
                self.m.x[a].setlb(lb)
            if ub is not None:
                self.m.x[a].setub(ub)
        if self._opt is not None and idx:
            self._opt.update_variables([self.m.x[a] for a in idx])
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
        if self._opt is not None:
            self._opt.add_constraints([con])

    # ---- solving ------------------------------------------------------------------------

    def _solver(self) -> Highs:
        if self._opt is None:
            t0 = time.perf_counter()
            opt = Highs()
            au = opt.config.auto_updates
            # every change goes through add_constraints / update_variables explicitly:
            # the automatic scan walks all constraints on every re-solve
            for flag in ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                         "check_for_new_or_removed_params", "check_for_new_objective",
                         "update_constraints", "update_vars", "update_parameters",
                         "update_named_expressions", "update_objective"):
                setattr(au, flag, False)
            opt.config.load_solutions = False
            opt.config.raise_exception_on_nonoptimal_result = False
            opt.set_instance(self.m)
            self._opt = opt
            self.transfer_seconds = time.perf_counter() - t0
        return self._opt

    def solve(self, time_limit: float | None = None, gap: float = 1e-4,
              options: dict | None = None) -> SolveOutcome:
        """Run HiGHS to relative MIP gap `gap` within `time_limit` seconds."""
        opt = self._solver()
        t0 = time.perf_counter()
        kw = {"rel_gap": gap, "solver_options": dict(options or {})}
        if time_limit is not None:
            kw["time_limit"] = max(float(time_limit), 0.01)
        res = opt.solve(self.m, **kw)
        secs = time.perf_counter() - t0
        self._results = res
        tc = res.termination_condition
        obj = res.incumbent_objective
        has = obj is not None
        if has:
            res.solution_loader.load_vars()
        if tc == TerminationCondition.convergenceCriteriaSatisfied:
            status = "optimal"
        elif tc == TerminationCondition.maxTimeLimit:
            status = "time_limit"
        elif tc in (TerminationCondition.provenInfeasible,
                    TerminationCondition.infeasibleOrUnbounded):
            status = "infeasible"
        else:
            status = "other" if has else "no_solution"
        bound = res.objective_bound
        objective = obj * SCALE if has else math.nan
        bound = bound * SCALE if bound is not None and math.isfinite(bound) else math.nan
        g = relative_gap(objective, bound)
        return SolveOutcome(status, objective, bound, g, secs)

    # Pyomo's interface exposes neither MIP starts nor HiGHS's pool of improving
    # solutions; both live on the highspy object it wraps. These three methods are the
    # only places that reach into it.
    def _highs_columns(self, variables: Sequence) -> np.ndarray:
        vmap = self._solver()._pyomo_var_to_solver_var_map
        return np.array([vmap[id(v)] for v in variables], dtype=np.int32)

    def set_start(self, x: np.ndarray) -> None:
        """MIP start from binaries x (A,): HiGHS completes q, D and eta with an LP."""
        h = self._solver()._solver_model
        cols = self._highs_columns(self.xv)
        h.setSolution(len(cols), cols, np.asarray(np.round(x), dtype=np.float64))

    def keep_improving_solutions(self, on: bool = True) -> None:
        self._solver()._solver_model.setOptionValue("mip_improving_solution_save", on)

    def improving_solutions(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(quantities (A,), draws (K,) USD) of each improving solution HiGHS found in
        the last run (they satisfy every row the model had then)."""
        h = self._solver()._solver_model
        qcols, xcols = self._highs_columns(self.qv), self._highs_columns(self.xv)
        dcols = self._highs_columns(self.dv)
        out = []
        for sol in h.getSavedMipSolutions():
            v = np.asarray(sol.col_value)
            out.append((self._clean(v[qcols], v[xcols]), np.maximum(v[dcols], 0.0) * SCALE))
        return out

    def relax(self, on: bool) -> None:
        """Make x continuous in [0, 1] (on) or binary again (off)."""
        domain = pyo.UnitInterval if on else pyo.Binary
        for v in self.xv:
            v.domain = domain
        if self._opt is not None:
            self._opt.update_variables(self.xv)

    def binaries(self) -> np.ndarray:
        return np.array([v.value or 0.0 for v in self.xv], dtype=float)

    def _clean(self, q: np.ndarray, x: np.ndarray, snap: bool = True) -> np.ndarray:
        if snap:
            # binaries come back as 0.9999999: snap them so plans and cuts see clean decisions
            x = np.round(x)
            q = np.where(self.is_convert, q * x, x)
        return np.clip(q, 0.0, self.max_units)

    def quantities(self, snap: bool = True) -> np.ndarray:
        """Quantities (A,) of the loaded solution: MW for converts, 0/1 otherwise
        (fractional for sell/acquire when the model is relaxed and snap is False)."""
        q = np.array([v.value or 0.0 for v in self.qv], dtype=float)
        return self._clean(q, self.binaries(), snap)

    def draw_amounts(self) -> np.ndarray:
        """Draws (K,) in USD of the loaded solution, aligned with `self.draws`."""
        return np.maximum(np.array([v.value or 0.0 for v in self.dv], dtype=float), 0.0) * SCALE

    def eta_value(self) -> float:
        return float(self.m.eta.value) * SCALE

    def slack_usd(self) -> np.ndarray:
        """Cash slack per month (elastic model only), USD."""
        return np.array([self.m.slack[j].value or 0.0 for j in range(self.instance.plan.months)]) * SCALE

    def financing_cost(self, draws_usd: np.ndarray) -> float:
        return float(self.draw_cost @ draws_usd)

    def expected_value(self, q: np.ndarray, draws_usd: np.ndarray) -> float:
        """E[plan NPV] net of financing, USD."""
        return self.mean_baseline + float(self.mean_npv @ q) - self.financing_cost(draws_usd)


def relative_gap(objective: float, bound: float) -> float:
    """(bound - objective) / max(|objective|, 1) for a maximisation; nan when unknown."""
    if math.isnan(objective) or math.isnan(bound):
        return math.nan
    return max(bound - objective, 0.0) / max(abs(objective), 1.0)
