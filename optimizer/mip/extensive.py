"""The extensive-form CVaR model: the reference the cut loops are checked against.

Rockafellar & Uryasev: ``CVaR_alpha = max_z  z - (1/n) sum_s u_s`` with
``u_s >= z - NPV_s(q, D)``, ``u_s >= 0`` and ``n = (1 - alpha) S``: one variable and one
dense row per scenario on top of the plan MIP. Exact, and slow once S grows: it exists
for tests and the benchmark, never for production solves.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from ..gpu.backend import to_host
from ..gpu.value_table import ValueTable

from ..planning.catalog import Action
from ..instance.types import Instance
from .build import SCALE, linear_expr, plan_columns
from .data import ModelData
from .model import PlanModel
from .session import SolveOutcome


@dataclass
class ExtensiveResult:
    outcome: SolveOutcome
    q: np.ndarray | None          # quantities (A,), None without a solution
    draws: np.ndarray | None      # USD (K,)
    cvar_usd: float               # the model's CVaR term at the solution (nan without one)
    build_seconds: float
    model: PlanModel


def rockafellar_uryasev(npv_usd: np.ndarray, baseline_usd: np.ndarray, *, alpha: float,
                        weight: float = 0.0, floor: float | None = None):
    """An `extra_functionality` hook adding the Rockafellar-Uryasev rows for scenario
    NPVs `npv_usd` (A, S) and `baseline_usd` (S,): ``m.cvar`` in $M, bounding ``eta``
    when `weight` > 0 and held >= `floor` (USD) when given."""

    def add(m: pyo.ConcreteModel, data: ModelData) -> None:
        npv, base = npv_usd / SCALE, baseline_usd / SCALE
        S = npv.shape[1]
        n = (1.0 - alpha) * S
        _, qv, dv = plan_columns(m, data)
        qdv, fin = qv + dv, -data.draw_cost
        m.S = pyo.RangeSet(0, S - 1)
        m.z = pyo.Var()
        m.u = pyo.Var(m.S, bounds=(0.0, None))
        m.tail = pyo.Constraint(m.S, rule=lambda _, s: (
            m.u[s] - m.z + linear_expr(np.concatenate([npv[:, s], fin]), qdv, base[s]) >= 0.0))
        m.cvar = pyo.Expression(expr=m.z - sum(m.u[s] for s in range(S)) / n)
        if weight > 0:
            m.cvar_epi = pyo.Constraint(expr=m.eta <= m.cvar)
        if floor is not None:
            m.floor = pyo.Constraint(expr=m.cvar >= floor / SCALE)

    return add


def build_extensive(instance: Instance, actions: Sequence[Action], vt: ValueTable, *,
                    alpha: float, weight: float = 0.0, floor: float | None = None) -> PlanModel:
    """The plan MIP plus the Rockafellar-Uryasev rows: objective (1-w) E + w CVaR, and
    CVaR >= floor when a floor is given."""
    rows = rockafellar_uryasev(to_host(vt.npv), to_host(vt.baseline_npv), alpha=alpha,
                               weight=weight, floor=floor)
    return PlanModel(instance, actions, vt, weight=weight, extra_functionality=rows)


def solve_extensive(instance: Instance, actions: Sequence[Action], vt: ValueTable, *,
                    alpha: float, weight: float = 0.0, floor: float | None = None,
                    time_limit: float | None = None, gap: float = 1e-4) -> ExtensiveResult:
    """Build and solve the extensive form once."""
    t0 = time.perf_counter()
    pm = build_extensive(instance, actions, vt, alpha=alpha, weight=weight, floor=floor)
    build = time.perf_counter() - t0
    out = pm.solve(time_limit, gap)
    if not out.has_solution:
        return ExtensiveResult(out, None, None, float("nan"), build, pm)
    return ExtensiveResult(out, pm.quantities(), pm.draw_amounts(),
                           float(pyo.value(pm.m.cvar)) * SCALE, build, pm)
