"""How good is the plan, and how sure are we? The `quality` section of plan.json.

Four questions a board asks, each answered by sampling, with its uncertainty:

1. **Does the plan's value hold on scenarios it was not chosen on?** In-sample statistics
   flatter the chosen plan (it was picked because it looked good on those scenarios). It is
   re-valued on fresh scenarios (by default as many as in-sample, another seed: the check
   then costs about what the in-sample valuation did, and its E[NPV] carries the same
   standard error, sigma/sqrt(S), printed beside it — TeraWulf at 10^4: $3.3M, 0.26% of
   E[NPV]; `--oos-scenarios` buys a tighter one); expected NPV and CVaR come with 95%
   intervals on both sets.
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

Quantiles of Student's t come from SciPy (`t_quantile` wraps `scipy.stats.t.ppf`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..gpu.risk import cvar

from ..planning.valuation import value_actions
from ..plan_value import OUT_OF_SAMPLE_SEED_OFFSET, value_plan, plan_samples
from ..planning.finance import financing_cost_and_cash
from ..instance.types import Instance
from ..run import PlanResult
from ..mip.solve import Fix, PlanInfeasible, solve


from .intervals import (  # noqa: F401  (re-exported: the quality API)
    FLOOR_TOL, LEVEL, MMW_SEED_OFFSET, SECTIONS, cvar_ci, mean_ci, t_quantile,
)
from .stochastic_value import evpi, fund_plan, mean_value_instance, vss  # noqa: F401
from .subproblems import _expected_cash_from, _in_sample_table, _meets, _spec, _with, objective_of


# Fresh scenarios per in-sample one, by default (module docstring, question 1).
OOS_FACTOR = 1


# ---- 1. out of sample ----------------------------------------------------------------------

def out_of_sample(instance: Instance, result: PlanResult, *, scenarios: int | None = None,
                  seed: int | None = None, backend: str = "auto", chunk: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """In-sample vs out-of-sample E[NPV] and CVaR with 95% intervals, and the cash balance
    fan (P5/P25/P50/P75/P95 per month, `CashFan.to_dict`) from the out-of-sample run."""
    alpha = instance.risk.alpha
    n = OOS_FACTOR * result.scenarios if scenarios is None else scenarios
    seed = result.seed + OUT_OF_SAMPLE_SEED_OFFSET if seed is None else seed
    if seed == result.seed:
        raise ValueError(f"oos_seed: must differ from the in-sample seed {result.seed}")
    ev = value_plan(instance, _spec(result), scenarios=n, seed=seed, backend=backend,
                    chunk=chunk, fan=True, progress=progress)
    ins = {"scenarios": result.scenarios, "seed": result.seed,
           "expected_npv": mean_ci(result.samples), "cvar": cvar_ci(result.samples, alpha)}
    oos = {"scenarios": n, "seed": seed, "expected_npv": mean_ci(ev.samples),
           "cvar": cvar_ci(ev.samples, alpha)}
    if "liquidity" in ev.stats:
        oos["liquidity"] = ev.stats["liquidity"]
    bias = ins["expected_npv"]["estimate_usd"] - oos["expected_npv"]["estimate_usd"]
    bias_se = math.hypot(ins["expected_npv"]["se_usd"], oos["expected_npv"]["se_usd"])
    # the fan is reduced in the same pass, block by block (planning.cash_reduce): plan.json
    # keeps it and the report draws it (CashFan.from_dict), so the page needs no valuation
    fan = ev.cash_fan
    return {
        "alpha": alpha, "in_sample": ins, "out_of_sample": oos,
        "optimism_usd": bias, "optimism_se_usd": bias_se,
        "cash_balance_usd": fan.to_dict(),
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
    cost, _ = financing_cost_and_cash(instance, result.draws)
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


# ---- all of it ---------------------------------------------------------------------------

def assess(instance: Instance, result: PlanResult, *, oos_scenarios: int | None = None,
           oos_seed: int | None = None, batches: int = 10, batch_scenarios: int | None = None,
           evpi_scenarios: int = 200, backend: str = "auto", chunk: int | None = None,
           fixes: Sequence[Fix] | None = None,
           progress: Callable[[str], None] | None = None,
           oos_progress: Callable[[int, int], None] | None = None) -> dict:
    """plan.json's `quality` section: `out_of_sample`, `optimality_gap` (MMW), `vss`,
    `evpi`, each documented by its function above. `fixes` are the --fix/--forbid the
    plan was made under: the comparison problems get the same ones. `instance` is the
    one planned (its scenario count and seed come from `result`)."""
    say = progress or (lambda _msg: None)
    say("quality: out-of-sample valuation")
    out = {"out_of_sample": out_of_sample(instance, result, scenarios=oos_scenarios, seed=oos_seed,
                                          backend=backend, chunk=chunk, progress=oos_progress)}
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
