"""Liquidity in the MIP: cuts that keep cash plus the undrawn revolver above the minimum in
a chosen share of scenarios, and an epigraph for the revolver's expected cost.

**Floor** (`risk.liquidity_probability` p). With g_s(x) the worst-month shortfall of
headroom below `min_cash_usd` in scenario s (convex in the plan x: a maximum of linear
functions), CVaR_p(g(x)) <= 0 implies P(g(x) <= 0) >= p (Nemirovski & Shapiro 2006).
CVaR_p(g) is the maximum, over sets T of the worst (1 - p) S scenarios and a month per
scenario, of the mean of those linear pieces; so each cut ``sum_{s in T} headroom_{s,
m_s}(x) >= 0`` is implied by the bound, and the loop adds the one the current plan
violates most (its tail and worst months), as the CVaR cuts do. The coefficients come
from recomputing the tail scenarios (`planning.liquidity.LiquidityOracle`).

The loop stops cutting once the plan keeps headroom in at least p of the scenarios under
the revolver rule itself (the share its stats report), not once the bound holds to the
dollar: every cut so far is implied by the bound, so the model's feasible set contains
the bound's, and the plan found is worth at least the bound's optimum while meeting the
floor as the board reads it. Waiting for the bound cost TeraWulf 11 more rounds that moved
the tail shortfall from $40M to zero while the share stayed at 98%.

**Cost** (the L-shaped method): the expected PV of revolver interest and fees is convex
in the plan; an epigraph variable theta ($M) enters the objective with weight -(1 - w)
and every CVaR cut (each scenario's NPV carries the same expected cost, as it carries the
financing's), and tangents ``theta >= cost(x0) + g . (x - x0)`` bound it from below.
"""
from __future__ import annotations

import pyomo.environ as pyo

from .build import SCALE, linear_expr
from .model import PlanModel

COST_RTOL = 1e-3          # theta within this share of the true cost ends the cost cuts
VALUE_RTOL = 1e-4         # ... or within this share of the plan's E[NPV] (the MIP gap)
SHORTFALL_TOL_USD = 1.0   # a tail mean shortfall within a dollar meets the bound


def revolver_epigraph(weight: float):
    """An `extra_functionality` that adds theta ($M, >= 0) and charges it to the objective."""
    def add(m: pyo.ConcreteModel, data) -> None:
        m.theta = pyo.Var(bounds=(0.0, None))
        m.obj.expr = m.obj.expr - (1.0 - weight) * m.theta
        m.liquidity_cuts = pyo.ConstraintList()
    return add


def add_liquidity_cut(pm: PlanModel, cq, cd, const_usd: float) -> None:
    """cq . q + cd . D + const >= 0 (USD coefficients; D is held in $M)."""
    import numpy as np
    row = np.concatenate([np.asarray(cq) / SCALE, np.asarray(cd)])
    con = pm.m.liquidity_cuts.add(linear_expr(row, pm.qdv, const_usd / SCALE) >= 0.0)
    pm.sync_add([con])


def add_cost_cut(pm: PlanModel, cq, cd, const_usd: float) -> None:
    """theta >= const + cq . q + cd . D (USD coefficients)."""
    import numpy as np
    row = np.concatenate([np.asarray(cq) / SCALE, np.asarray(cd)])
    con = pm.m.liquidity_cuts.add(pm.m.theta >= linear_expr(row, pm.qdv, const_usd / SCALE))
    pm.sync_add([con])


def theta_usd(pm: PlanModel) -> float:
    """The model's current estimate of the revolver's expected cost, USD."""
    return float(pm.m.theta.value or 0.0) * SCALE if hasattr(pm.m, "theta") else 0.0


STOPS = ("floor", "bound")


def separate(pm: PlanModel, oracle, q, d_usd, stop: str = "floor") -> tuple[int, object]:
    """Add the cuts the plan (q, D) violates; returns (how many, its LiquidityPoint).

    `stop` = "floor" cuts only while the plan misses the floor's share of scenarios (the
    module docstring's rule); "bound" cuts until the CVaR bound holds, the reference the
    extensive form of the bound is tested against.
    """
    if stop not in STOPS:
        raise ValueError(f"liquidity stop must be one of {STOPS}, got {stop!r}")
    pt = oracle.point(q, d_usd)
    new = 0
    misses = oracle.probability is not None and (stop == "bound" or pt.probability < oracle.probability)
    # the bound is a means, the floor the end: a plan that already keeps headroom in p of
    # the scenarios (as its stats count them) needs no further cut, and every cut so far
    # is implied by the bound, so it is worth at least the bound's optimum
    if misses and pt.tail_mean_usd > SHORTFALL_TOL_USD:
        add_liquidity_cut(pm, *oracle.liquidity_cut(pt))
        new += 1
    if hasattr(pm.m, "theta") and pt.cost_active is not None:
        tol = max(COST_RTOL * pt.cost_usd, VALUE_RTOL * abs(pm.expected_value(q, d_usd)), 1.0)
        if pt.cost_usd > theta_usd(pm) + tol:
            add_cost_cut(pm, *oracle.cost_cut(pt))
            new += 1
    return new, pt
