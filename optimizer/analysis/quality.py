"""How good is the plan, and how sure are we? The `quality` section of plan.json.

Four questions a board asks, each answered by sampling, with its uncertainty:

1. **Does the plan's value hold on scenarios it was not chosen on?** In-sample statistics
   flatter the chosen plan (it was picked because it looked good on those scenarios). It is
   re-valued on fresh scenarios (default 10x the in-sample count, another seed); expected
   NPV and CVaR come with 95% intervals on both sets.
2. **How far from optimal can it be?** The Mak-Morton-Wood (1999) optimality gap from
   independent batches (`mmw_gap`).
3. **What does modelling uncertainty buy?** The value of the stochastic solution (VSS,
   Birge 1982) against the plan of the mean-value problem (`vss`).
4. **What would perfect foresight be worth?** The expected value of perfect information
   (EVPI), wait-and-see minus here-and-now (`evpi`).

Intervals: a mean's is mean +- t_{n-1} s/sqrt(n). CVaR's is by *sectioning* (Asmussen &
Glynn 2007, III.5; Nakayama 2014 for quantile-type estimators): the samples are cut into
`SECTIONS` equal sections, CVaR is computed on each, and the interval is the full-sample
CVaR +- t_{B-1} x (s.d. of the section CVaRs)/sqrt(B). Centring on the full-sample
estimate (not the mean of section estimates) avoids most of the small-sample bias of
CVaR on short sections; it costs B sorts of S/B values.

Quantiles of Student's t are computed here (`t_quantile`) to keep SciPy out of the
dependencies; tests check them against SciPy where it is installed.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy.stats import t as student_t

from ..gpu.backend import to_host
from ..gpu.risk import cvar
from ..gpu.value_table import ValueTable

from ..planning.catalog import Action, build_catalog
from ..planning.valuation import value_actions
from ..evaluation import OUT_OF_SAMPLE_SEED_OFFSET, evaluate_spec, plan_samples
from ..planning.finance import financing_cost_and_cash
from ..instance.types import Instance, month_str
from ..mip.model import PlanModel
from ..planning.plan_file import PlanSpec, plan_document
from ..run import PlanResult, clean_plan
from ..mip.solve import Fix, PlanInfeasible, apply_fixes, solve

SECTIONS = 20                       # sections for CVaR intervals
MMW_SEED_OFFSET = 2_000_003         # batch j uses seed + MMW_SEED_OFFSET + j: never in- or out-of-sample
LEVEL = 0.95
FLOOR_TOL = 1e-9                    # relative, as the cut loop's


# ---- Student's t, intervals --------------------------------------------------------------

def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (p in (0, 1))."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p: must be in (0, 1), got {p}")
    if df < 1 or int(df) != df:
        raise ValueError(f"df: must be a positive integer, got {df}")
    return float(student_t.ppf(p, int(df)))


def mean_ci(samples: Any, level: float = LEVEL) -> dict:
    """Mean of i.i.d. samples with its standard error and two-sided t interval."""
    v = np.asarray(to_host(samples), dtype=np.float64)
    n = v.size
    m = float(v.mean())
    if n < 2:
        return {"estimate_usd": m, "se_usd": math.nan, "ci95_usd": [math.nan, math.nan],
                "method": "t interval"}
    se = float(v.std(ddof=1)) / math.sqrt(n)
    h = t_quantile(0.5 + level / 2.0, n - 1) * se
    return {"estimate_usd": m, "se_usd": se, "ci95_usd": [m - h, m + h], "method": "t interval"}


def cvar_ci(samples: Any, alpha: float, sections: int = SECTIONS, level: float = LEVEL) -> dict:
    """CVaR_alpha of the samples with a sectioning interval (see the module docstring).

    Sections are consecutive blocks of scenario numbers; scenarios are i.i.d. by
    construction (counter-based RNG), so blocks are independent."""
    v = np.asarray(to_host(samples), dtype=np.float64)
    est = cvar(v, alpha)
    per = v.size // sections
    if sections < 2 or per * (1.0 - alpha) < 1.0:
        return {"estimate_usd": est, "se_usd": math.nan, "ci95_usd": [math.nan, math.nan],
                "method": f"sectioning: too few scenarios for {sections} sections"}
    sec = np.array([cvar(v[i * per:(i + 1) * per], alpha) for i in range(sections)])
    se = float(sec.std(ddof=1)) / math.sqrt(sections)
    h = t_quantile(0.5 + level / 2.0, sections - 1) * se
    return {"estimate_usd": est, "se_usd": se, "ci95_usd": [est - h, est + h],
            "method": f"sectioning, {sections} sections of {per} scenarios"}


# ---- helpers -----------------------------------------------------------------------------

def objective_of(samples: Any, alpha: float, weight: float) -> float:
    """The plan objective on these scenarios: (1 - w) E[NPV] + w CVaR_alpha."""
    v = np.asarray(to_host(samples), dtype=np.float64)
    e = float(v.mean())
    return e if weight <= 0 else (1.0 - weight) * e + weight * cvar(v, alpha)


def _meets(c: float, floor: float | None) -> bool:
    return floor is None or c >= floor - FLOOR_TOL * max(abs(floor), 1.0)


def _with(instance: Instance, scenarios: int, seed: int) -> Instance:
    return instance.with_plan(scenarios=scenarios, seed=seed)


def _in_sample_table(instance: Instance, result: PlanResult, backend: str) -> tuple[list[Action], ValueTable]:
    catalog = result.catalog or build_catalog(result.instance)
    vt = result.value_table
    if vt is None:
        vt = value_actions(_with(instance, result.scenarios, result.seed), catalog, backend=backend)
    return catalog, vt


def _spec(result: PlanResult) -> PlanSpec:
    return PlanSpec(list(result.actions), list(result.quantities), list(result.financing))


def _expected_cash_from(vt: ValueTable, ref: ValueTable) -> ValueTable:
    """`vt`'s scenarios with `ref`'s expected cash: the cash constraints (in expectation)
    then read the same numbers in every sub-problem, so every sub-problem has the
    candidate plan's feasible set and only the objective is sampled."""
    return replace(vt, cash=ref.cash, baseline_cash=ref.baseline_cash)


def _scenario_slice(vt: ValueTable, s0: int, s1: int) -> ValueTable:
    return replace(vt, npv=vt.npv[:, s0:s1], baseline_npv=vt.baseline_npv[s0:s1], plan_cash=None)


def _draw_list(pm: PlanModel, amounts: np.ndarray) -> list[tuple[str, float, int]]:
    return [(d.instrument, float(v), d.month) for d, v in zip(pm.draws, amounts) if v > 0.5]


# ---- 1. out of sample ----------------------------------------------------------------------

def out_of_sample(instance: Instance, result: PlanResult, *, scenarios: int | None = None,
                  seed: int | None = None, backend: str = "auto", chunk: int | None = None) -> dict:
    """In-sample vs out-of-sample E[NPV] and CVaR with 95% intervals, and the cash balance
    fan (P5/P50/P95 per month) from the out-of-sample run."""
    alpha = instance.risk.alpha
    n = 10 * result.scenarios if scenarios is None else scenarios
    seed = result.seed + OUT_OF_SAMPLE_SEED_OFFSET if seed is None else seed
    if seed == result.seed:
        raise ValueError(f"oos_seed: must differ from the in-sample seed {result.seed}")
    ev = evaluate_spec(instance, _spec(result), scenarios=n, seed=seed, backend=backend,
                       chunk=chunk, cash_balance=True)
    ins = {"scenarios": result.scenarios, "seed": result.seed,
           "expected_npv": mean_ci(result.samples), "cvar": cvar_ci(result.samples, alpha)}
    oos = {"scenarios": n, "seed": seed, "expected_npv": mean_ci(ev.samples),
           "cvar": cvar_ci(ev.samples, alpha)}
    bias = ins["expected_npv"]["estimate_usd"] - oos["expected_npv"]["estimate_usd"]
    bias_se = math.hypot(ins["expected_npv"]["se_usd"], oos["expected_npv"]["se_usd"])
    pct = np.percentile(ev.cash_balance, [5, 50, 95], axis=0)
    months = [month_str(instance.plan.start + j) for j in range(instance.plan.months)]
    return {
        "alpha": alpha, "in_sample": ins, "out_of_sample": oos,
        "optimism_usd": bias, "optimism_se_usd": bias_se,
        "cash_balance_usd": {"source": f"out-of-sample, {n:,} scenarios", "months": months,
                             "p5": pct[0].tolist(), "p50": pct[1].tolist(), "p95": pct[2].tolist(),
                             "min_cash_usd": instance.finance.min_cash_usd,
                             "prob_below_min_any_month": float(np.mean(
                                 (ev.cash_balance < instance.finance.min_cash_usd).any(axis=1)))},
    }


# ---- 2. Mak-Morton-Wood optimality gap ------------------------------------------------------

def mmw_gap(instance: Instance, result: PlanResult, *, batches: int = 10,
            batch_scenarios: int | None = None, backend: str = "auto", chunk: int | None = None,
            fixes: Sequence[Fix] | None = None, gap: float = 1e-6,
            progress: Callable[[str], None] | None = None) -> dict:
    """Mak, Morton & Wood (1999) multiple-replication optimality gap of the candidate plan.

    Objective: f_j(x) = (1 - w) mean_j NPV(x) + w CVaR_j NPV(x) over batch j's scenarios,
    maximised over the plans allowed by the instance (cash constraints, fixes) and, with
    a floor, CVaR_j >= floor on that batch. For each of `batches` independent batches
    (new seeds, `batch_scenarios` each): z*_j is the solver's certified upper bound on the
    batch optimum (the MIP dual bound, so the MIP gap cannot make the estimate
    optimistic; solved to a tight gap, 1e-6 by default, so that solver tolerance does not
    swamp the sampling gap) and gap_j = z*_j - f_j(x_hat). E[z*_j] >= the true optimum, so the mean
    of gap_j over-estimates the candidate's true gap in expectation; the report gives
    mean, s.e. and the one-sided 95% upper bound mean + t_{M-1,0.95} s / sqrt(M).

    Cash constraints are in expectation; every batch problem uses the in-sample expected
    cash, so the feasible set is the candidate's in every batch (x_hat is feasible there)
    and only the objective is re-sampled. With a CVaR floor the candidate may miss the
    floor on a batch (sampling noise in CVaR): such batches still count, with
    gap_j = z*_j - f_j(x_hat) (the gap in objective, feasibility reported apart as
    `floor_missed_batches`); a batch on which no plan meets the floor is left out and
    counted in `floor_unreachable_batches`.
    """
    alpha, w = instance.risk.alpha, float(instance.risk.weight or 0.0)
    floor = instance.risk.cvar_floor_usd
    n = min(result.scenarios, 2000) if batch_scenarios is None else batch_scenarios
    if batches < 2:
        raise ValueError(f"batches: must be >= 2, got {batches}")
    catalog, vt_in = _in_sample_table(instance, result, backend)
    rows = [a.index for a in result.actions]
    cost, _ = financing_cost_and_cash(instance, result.financing)
    per: list[dict] = []
    missed = unreachable = 0
    for j in range(batches):
        seed = result.seed + MMW_SEED_OFFSET + j
        inst_j = _with(instance, n, seed)
        vt_j = _expected_cash_from(value_actions(inst_j, catalog, backend=backend, chunk=chunk), vt_in)
        cand = plan_samples(vt_j, rows, result.quantities, cost)
        f_hat = objective_of(cand, alpha, w)
        c_hat = cvar(cand, alpha)
        ok = _meets(c_hat, floor)
        missed += not ok
        try:
            sol = solve(inst_j, catalog, vt_j, fixes=fixes, gap=gap)
        except PlanInfeasible as err:
            if err.reason != "cvar_floor":
                raise
            unreachable += 1
            continue
        z = sol.bound if math.isfinite(sol.bound) else sol.objective
        if ok:
            z = max(z, f_hat)   # x_hat is feasible on this batch: the optimum is at least its value
        per.append({"seed": seed, "z_star_usd": float(z), "candidate_usd": f_hat,
                    "candidate_cvar_usd": c_hat, "gap_usd": float(z - f_hat),
                    "candidate_meets_floor": ok})
        if progress is not None:
            progress(f"MMW batch {j + 1}/{batches}: gap {z - f_hat:,.0f}")
    g = np.array([p["gap_usd"] for p in per])
    m = len(g)
    out: dict[str, Any] = {
        "method": "Mak-Morton-Wood 1999, multiple replications",
        "objective": ("E[NPV]" if w <= 0 else f"(1 - {w:g}) E[NPV] + {w:g} CVaR_{alpha:g}")
        + (f", CVaR_{alpha:g} >= {floor:,.0f} per batch" if floor is not None else ""),
        "batches": m, "batch_scenarios": n, "floor_missed_batches": missed,
        "floor_unreachable_batches": unreachable, "per_batch": per,
    }
    if m < 2:
        out.update(mean_usd=math.nan, se_usd=math.nan, upper95_usd=math.nan, relative_upper95=math.nan)
        return out
    mean, se = float(g.mean()), float(g.std(ddof=1)) / math.sqrt(m)
    upper = mean + t_quantile(LEVEL, m - 1) * se
    h = t_quantile(0.5 + LEVEL / 2.0, m - 1) * se
    ref = abs(objective_of(result.samples, alpha, w))
    out.update(mean_usd=mean, se_usd=se, ci95_usd=[mean - h, mean + h], upper95_usd=upper,
               relative_upper95=upper / max(ref, 1.0))
    return out


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
    f_mv = objective_of(samples, alpha, w)
    c_mv = cvar(samples, alpha)
    diff = np.asarray(result.samples, float) - np.asarray(samples, float)
    out.update(
        mean_value_fundable=True,
        mean_value_financing=plan_document(instance, [], [], financing)["financing"],
        mean_value_objective_usd=f_mv, mean_value_expected_npv_usd=float(np.mean(samples)),
        mean_value_cvar_usd=c_mv, mean_value_meets_floor=_meets(c_mv, floor),
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


# ---- all of it ---------------------------------------------------------------------------

def assess(instance: Instance, result: PlanResult, *, oos_scenarios: int | None = None,
           oos_seed: int | None = None, batches: int = 10, batch_scenarios: int | None = None,
           evpi_scenarios: int = 200, backend: str = "auto", chunk: int | None = None,
           fixes: Sequence[Fix] | None = None,
           progress: Callable[[str], None] | None = None) -> dict:
    """plan.json's `quality` section: `out_of_sample`, `optimality_gap` (MMW), `vss`,
    `evpi`, each documented by its function above. `fixes` are the --fix/--forbid the
    plan was made under: the comparison problems get the same ones. `instance` is the
    one planned (its scenario count and seed come from `result`)."""
    say = progress or (lambda _msg: None)
    say("quality: out-of-sample valuation")
    out = {"out_of_sample": out_of_sample(instance, result, scenarios=oos_scenarios, seed=oos_seed,
                                          backend=backend, chunk=chunk)}
    say("quality: Mak-Morton-Wood batches")
    out["optimality_gap"] = mmw_gap(instance, result, batches=batches,
                                    batch_scenarios=batch_scenarios, backend=backend,
                                    chunk=chunk, fixes=fixes, progress=progress)
    say("quality: value of the stochastic solution")
    out["vss"] = vss(instance, result, backend=backend, fixes=fixes)
    say("quality: expected value of perfect information")
    out["evpi"] = evpi(instance, result, scenarios=evpi_scenarios, backend=backend, fixes=fixes,
                       progress=progress)
    return out
