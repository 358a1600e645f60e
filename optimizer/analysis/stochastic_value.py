"""The value of the stochastic solution (our plan against the mean-value plan on the same
scenarios) and the expected value of perfect information (wait-and-see solves).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..gpu.backend import to_host
from ..gpu.risk import cvar
from ..gpu.value_table import ValueTable

from ..planning.catalog import Action, build_catalog
from ..planning.valuation import value_actions
from ..plan_value import needs_cash_paths, plan_samples, value_plan
from ..planning.finance import financing_cost_and_cash
from ..instance.types import Instance, month_str
from ..mip.model import PlanModel
from ..planning.plan_file import PlanSpec, plan_document
from ..run import PlanResult, clean_plan
from ..mip.solve import Fix, PlanInfeasible, apply_fixes, solve


from .subproblems import (objective_of, _draw_list, _expected_cash_from, _in_sample_table, _meets, _scenario_slice,
                          _with)


# ---- 3. value of the stochastic solution ---------------------------------------------------

def mean_value_instance(instance: Instance) -> Instance:
    """The mean-value (expected-value) problem's instance: every random input replaced by
    its expectation, so that all scenarios are one and the same deterministic path.

    * Bitcoin: volatility 0, so the price is its mean P0 e^{drift t} and the hashrate its
      trend, or for an economic network its deterministic reversion to breakeven (the
      price-surprise term vanishes).
    * Power, per market: monthly-level and hourly volatility 0, no spike hours, and the
      level raised to the hourly price's mean, (1 - p) x mean_price + p x min(spike, cap)
      for spike probability p (the cap on the lognormal part is ignored: it binds with
      negligible probability at these volatilities).
    * HPC market rent: volatility 0, so rent follows rate x e^{drift t}, its mean.
    * Capex overrun: volatility 0 (the lognormal multiplier has mean 1).
    * Construction delay: the Poisson delay becomes its mean, rounded to whole months
      and added to build_months (the engine has no fixed delay; the capex is then spread
      over the longer build, a second-order timing shift).
    * Sale price: the triangular's mean (low + mode + high) / 3 as a point.
    * Yes/no events cannot take a fractional value in a single path; each takes its more
      likely outcome: a sale closes iff close_probability >= 0.5, a lease renews iff
      renewal_probability >= 0.5, and a tenant defaults never when surviving its tenor is
      the more likely outcome ((1 - default_rate)^tenor >= 0.5, true for every seed
      instance). A lease more likely to default than not keeps its hazard (documented
      limit: the mean-value plan then still sees some randomness).

    Risk settings: the weight is set to 0 (CVaR of one deterministic value is the value);
    a CVaR floor stays as "NPV >= floor" on the deterministic path.
    """
    b = replace(instance.bitcoin, volatility=0.0)
    markets = tuple(replace(
        m, mean_price=(1.0 - m.spike_probability) * m.mean_price
        + m.spike_probability * min(m.spike_price, m.price_cap),
        volatility=0.0, hourly_volatility=0.0, spike_probability=0.0) for m in instance.markets)
    h = replace(instance.hpc_market, volatility=0.0)
    sites = []
    for s in instance.sites:
        hpc = s.hpc and replace(s.hpc, capex_overrun_volatility=0.0, delay_months_mean=0.0,
                                build_months=s.hpc.build_months + int(round(s.hpc.delay_months_mean)))
        sale = s.sale
        if sale is not None:
            mid = (sale.low_usd + sale.mode_usd + sale.high_usd) / 3.0
            sale = replace(sale, low_usd=mid, mode_usd=mid, high_usd=mid,
                           close_probability=1.0 if sale.close_probability >= 0.5 else 0.0)
        sites.append(replace(s, hpc=hpc, sale=sale))
    leases = tuple(replace(
        le, renewal_probability=1.0 if le.renewal_probability >= 0.5 else 0.0,
        default_rate=0.0 if (1.0 - le.default_rate) ** le.tenor_years >= 0.5 else le.default_rate)
        for le in instance.leases)
    risk = replace(instance.risk, weight=0.0)
    plan = replace(instance.plan, scenarios=1, hours_per_month=2)   # every hour is the same
    return replace(instance, plan=plan, risk=risk, bitcoin=b, markets=markets, hpc_market=h,
                   sites=tuple(sites), leases=leases)


def _pinned_model(instance: Instance, catalog: Sequence[Action], vt: ValueTable,
                  quantities: np.ndarray, fixes: Sequence[Fix] | None, elastic: bool) -> PlanModel:
    """A risk-neutral PlanModel whose every action's binary and MW are pinned to
    `quantities`: only the financing is left to choose."""
    pm = PlanModel(replace(instance, risk=replace(instance.risk, cvar_floor_usd=None, weight=0.0)),
                   catalog, vt, elastic_cash=elastic)
    apply_fixes(pm, fixes)
    q = np.asarray(quantities, dtype=float)
    on = q > 0
    pm.fix_actions(lambda a: bool(on[a.index]))
    pm.forbid_actions(lambda a: not on[a.index])
    for a in catalog:
        if a.kind == "convert" and on[a.index]:
            pm.m.q[a.index].setlb(float(q[a.index]))
            pm.m.q[a.index].setub(float(q[a.index]))
    return pm


def fund_plan(instance: Instance, catalog: Sequence[Action], vt: ValueTable,
              quantities: np.ndarray, fixes: Sequence[Fix] | None = None
              ) -> list[tuple[str, float, int]] | dict:
    """Least-cost financing of fixed actions (quantities (A,) over the catalog) under the
    instance's expected-cash constraints read from `vt` (an LP: every action is pinned).
    When no financing keeps min cash, returns {"month", "shortfall_usd"}: the first month
    that stays short with every instrument drawn (the elastic model's least total slack)."""
    pm = _pinned_model(instance, catalog, vt, quantities, fixes, elastic=False)
    out = pm.solve(None, 1e-9)
    if out.has_solution:
        return _draw_list(pm, pm.draw_amounts())
    pm = _pinned_model(instance, catalog, vt, quantities, fixes, elastic=True)
    pm.solve(None, 1e-9)
    slack = pm.slack_usd()
    j = int(np.argmax(slack > 1.0))
    return {"month": month_str(instance.plan.start + j), "shortfall_usd": float(slack[j])}


def vss(instance: Instance, result: PlanResult, *, backend: str = "auto",
        fixes: Sequence[Fix] | None = None) -> dict:
    """VSS = f(ours) - f(mean-value plan), both on the in-sample scenarios, where f is the
    plan objective ((1 - w) E[NPV] + w CVaR).

    The mean-value plan is the optimum of `mean_value_instance` (one deterministic
    scenario). Its actions and MW are kept; its financing is re-chosen at least cost under
    the stochastic model's expected cash (`fund_plan`): financing sized for the
    deterministic cash flows may not keep min cash in expectation, and re-funding can only
    help the mean-value plan, so the VSS reported is if anything conservative. When the
    mean-value plan misses the CVaR floor on the scenarios it is not a feasible plan, and
    `mean_value_meets_floor` says so (that is part of what the stochastic model buys);
    when no financing can carry it, `mean_value_fundable` is false, VSS is null and
    `mean_value_cash_short` names the first month it runs short and by how much (the
    mean-value plan counts on outcomes, such as a sale closing, that are only likely).
    """
    alpha, w, floor = instance.risk.alpha, float(instance.risk.weight or 0.0), instance.risk.cvar_floor_usd
    catalog, vt_in = _in_sample_table(instance, result, backend)
    mv = mean_value_instance(_with(instance, result.scenarios, result.seed))
    mv_catalog = build_catalog(mv)
    if [a.label for a in mv_catalog] != [a.label for a in catalog]:
        raise RuntimeError("mean-value instance changed the catalog")  # would be a bug here
    vt_mv = value_actions(mv, mv_catalog, backend=backend)
    floor_dropped = False
    try:
        sol = solve(mv, mv_catalog, vt_mv, fixes=fixes)
    except PlanInfeasible as err:
        if err.reason != "cvar_floor":
            raise
        # the deterministic path cannot reach the floor: plan for it without one
        floor_dropped = True
        sol = solve(replace(mv, risk=replace(mv.risk, cvar_floor_usd=None)), mv_catalog, vt_mv,
                    fixes=fixes)
    mv_taken, mv_qty, _ = clean_plan(catalog, sol.quantities, sol.draws)
    q = np.zeros(len(catalog))
    q[[a.index for a in mv_taken]] = mv_qty
    ours = objective_of(result.samples, alpha, w)
    out: dict[str, Any] = {
        "objective_usd": ours,
        "mean_value_problem_value_usd": float(sol.objective),
        "mean_value_floor_dropped": floor_dropped,
        "mean_value_decisions": plan_document(instance, mv_taken, mv_qty, [])["decisions"],
        "how": "mean-value plan's actions and MW, financing re-chosen at least cost under "
               "expected cash, valued on the in-sample scenarios",
    }
    draws = fund_plan(instance, catalog, vt_in, q, fixes)
    if isinstance(draws, dict):
        out.update(mean_value_fundable=False, mean_value_cash_short=draws, vss_usd=None,
                   mean_value_objective_usd=None, mean_value_meets_floor=None)
        return out
    _, _, financing = clean_plan([], [], draws)
    cost, _ = financing_cost_and_cash(instance, financing)
    samples = plan_samples(vt_in, [a.index for a in mv_taken], mv_qty, cost)
    liquid = None
    if needs_cash_paths(instance):
        # valued as our plan is: the revolver's cost charged, its liquidity measured
        ev = value_plan(instance, PlanSpec(mv_taken, mv_qty, financing), scenarios=result.scenarios,
                        seed=result.seed, backend=backend)
        samples = ev.samples
        p = instance.risk.liquidity_probability
        liq = ev.stats["liquidity"]
        liquid = p is None or liq["prob_below_min"] <= 1.0 - p + 1e-12
        out.update(mean_value_liquidity=liq)
    f_mv = objective_of(samples, alpha, w)
    c_mv = cvar(samples, alpha)
    diff = np.asarray(result.samples, float) - np.asarray(samples, float)
    out.update(
        mean_value_fundable=True,
        mean_value_financing=plan_document(instance, [], [], financing)["financing"],
        mean_value_objective_usd=f_mv, mean_value_expected_npv_usd=float(np.mean(samples)),
        mean_value_cvar_usd=c_mv, mean_value_meets_floor=_meets(c_mv, floor),
        # a mean-value plan that runs short of cash in more scenarios than the floor allows is
        # not a plan the stochastic model could choose: part of what the stochastic model buys
        mean_value_meets_liquidity=liquid,
        mean_value_feasible=_meets(c_mv, floor) and liquid is not False,
        vss_usd=ours - f_mv,
        # paired s.e. of the E[NPV] difference (exact for w = 0): how much is sampling noise
        vss_se_usd=float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan,
        same_plan=[(a.index, round(x, 6)) for a, x in zip(mv_taken, mv_qty)]
        == [(a.index, round(x, 6)) for a, x in zip(result.actions, result.quantities)],
    )
    return out


# ---- 4. expected value of perfect information ---------------------------------------------

def evpi(instance: Instance, result: PlanResult, *, scenarios: int = 200, backend: str = "auto",
         fixes: Sequence[Fix] | None = None, gap: float = 1e-6,
         progress: Callable[[str], None] | None = None) -> dict:
    """EVPI = WS - RP on the first `scenarios` in-sample scenarios, risk-neutral.

    RP (here and now): max_x mean_s NPV_s(x) over those scenarios. WS (wait and see): the
    mean over s of max_x NPV_s(x), each scenario solved alone. Both keep the expected-cash
    constraints (the in-sample expected cash) and the fixes, so they share one feasible
    set, and the RP plan x_RP is feasible in every scenario's problem: per scenario
    d_s = max(WS_s, NPV_s(x_RP)) - NPV_s(x_RP) >= 0, EVPI = mean d_s with s.e.
    sd(d)/sqrt(n). The CVaR floor and weight are left out: EVPI is defined for the
    expected-value problem. Solves use a tight MIP gap (default 1e-6) so that solver
    tolerance is small against the EVPI.
    """
    catalog, vt_in = _in_sample_table(instance, result, backend)
    n = min(scenarios, vt_in.n_scenarios)
    rn = replace(instance, risk=replace(instance.risk, cvar_floor_usd=None, weight=0.0))
    sub = _expected_cash_from(_scenario_slice(vt_in, 0, n), vt_in)
    rp = solve(rn, catalog, sub, fixes=fixes, gap=gap)
    rp_values = np.asarray(to_host(sub.plan_npv(rp.quantities)), float) - rp.financing_cost_usd
    ws = np.empty(n)
    for s in range(n):
        one = _scenario_slice(sub, s, s + 1)
        sol = solve(rn, catalog, one, fixes=fixes, gap=gap)
        ws[s] = max(float(sol.objective), rp_values[s])
        if progress is not None and (s + 1) % 25 == 0:
            progress(f"EVPI: {s + 1}/{n} wait-and-see solves")
    d = ws - rp_values
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    rp_value = float(rp_values.mean())
    return {"scenarios": n, "here_and_now_usd": rp_value, "wait_and_see_usd": float(ws.mean()),
            "evpi_usd": float(d.mean()), "evpi_se_usd": se,
            "relative": float(d.mean()) / max(abs(rp_value), 1.0),
            "objective": "E[NPV] (risk-neutral), expected-cash constraints kept"}
