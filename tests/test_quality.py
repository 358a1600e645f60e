"""Plan quality: intervals that cover known values, the MMW gap, VSS and EVPI.

References are independent of the code under test: closed-form t quantiles (df 1 and 2)
and SciPy's where installed; normal samples whose mean and CVaR are known in closed form;
structural facts (a deterministic problem has EVPI 0; a plan missing obvious value has a
clearly positive gap; VSS and EVPI are never negative for a feasible comparison plan).
"""
from __future__ import annotations

import math
from dataclasses import replace
from statistics import NormalDist

import numpy as np
import pytest

from wattfolio.gpu.backend import to_host
from wattfolio.planning.catalog import build_catalog
from wattfolio.planning.valuation import value_actions
from wattfolio.instance.load import load_instance
from wattfolio.analysis.quality import (cvar_ci, evpi, mean_ci, mean_value_instance, mmw_gap,
                               out_of_sample, t_quantile, vss)
from wattfolio.run import plan_instance
from wattfolio.mip.solve import Fix



def _load(path):
    """A seed instance planned on expected cash (no liquidity floor, no revolver): these
    checks are about the quality statistics, and the per-scenario floor's cut loop would
    multiply their solves (it has tests of its own: tests/test_liquidity_plan.py)."""
    inst = load_instance(path)
    return replace(inst, risk=replace(inst.risk, liquidity_probability=None),
                   finance=replace(inst.finance, instruments=tuple(
                       k for k in inst.finance.instruments if k.kind != "revolver")))


@pytest.fixture(scope="module")

def tiny():
    return _load("instances/tiny.toml")


@pytest.fixture(scope="module")
def tiny_plan(tiny):
    return plan_instance(tiny, scenarios=1000)


# ---- t quantiles -------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.6, 0.9, 0.95, 0.975, 0.995])
def test_t_quantile_closed_forms(p):
    # df = 1 is Cauchy: tan(pi (p - 1/2)); df = 2: (2p - 1) / sqrt(2 p (1 - p))
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9)
    assert t_quantile(1 - p, 2) == pytest.approx(-t_quantile(p, 2), rel=1e-12)


def test_t_quantile_rejects_bad_arguments():
    with pytest.raises(ValueError, match="p: must be in"):
        t_quantile(1.0, 5)
    with pytest.raises(ValueError, match="df: must be a positive integer"):
        t_quantile(0.9, 0)


# ---- interval coverage on samples with known answers ----------------------------------------

def test_mean_and_cvar_intervals_cover_the_truth_about_95_percent():
    mu, sigma, alpha, n, reps = 100.0, 30.0, 0.9, 4000, 300
    z = NormalDist().inv_cdf(1 - alpha)
    true_cvar = mu - sigma * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (1 - alpha)
    rng = np.random.default_rng(12345)
    hit_mean = hit_cvar = 0
    for _ in range(reps):
        x = rng.normal(mu, sigma, n)
        lo, hi = mean_ci(x)["ci95_usd"]
        hit_mean += lo <= mu <= hi
        c = cvar_ci(x, alpha)
        hit_cvar += c["ci95_usd"][0] <= true_cvar <= c["ci95_usd"][1]
    # 300 replications: binomial s.d. of the coverage is 1.3 points
    assert 0.91 <= hit_mean / reps <= 0.985
    assert 0.90 <= hit_cvar / reps <= 0.99


def test_interval_half_widths_shrink_like_root_n():
    rng = np.random.default_rng(7)
    small, large = rng.normal(0, 1, 2000), rng.normal(0, 1, 32000)
    w = [mean_ci(x)["ci95_usd"][1] - mean_ci(x)["ci95_usd"][0] for x in (small, large)]
    assert w[0] / w[1] == pytest.approx(4.0, rel=0.1)
    w = [np.diff(cvar_ci(x, 0.95)["ci95_usd"])[0] for x in (small, large)]
    assert w[0] / w[1] == pytest.approx(4.0, rel=0.35)


# ---- out of sample -----------------------------------------------------------------------

def test_out_of_sample_matches_an_independent_evaluation(tiny, tiny_plan):
    from wattfolio.api import evaluate

    q = out_of_sample(tiny, tiny_plan, scenarios=3000, seed=99)
    ev = evaluate(tiny, tiny_plan, scenarios=3000, seed=99)
    assert q["out_of_sample"]["expected_npv"]["estimate_usd"] == pytest.approx(ev.stats["expected_npv_usd"], rel=1e-12)
    assert q["out_of_sample"]["cvar"]["estimate_usd"] == pytest.approx(ev.stats["cvar_usd"], rel=1e-12)
    fan = q["cash_balance_usd"]
    assert len(fan["p5"]) == len(fan["months"]) == tiny.plan.months
    assert all(a <= b <= c for a, b, c in zip(fan["p5"], fan["p50"], fan["p95"]))
    # the in-sample and out-of-sample means estimate the same number: within 4 s.e.
    assert abs(q["optimism_usd"]) < 4 * q["optimism_se_usd"]
    with pytest.raises(ValueError, match="oos_seed"):
        out_of_sample(tiny, tiny_plan, scenarios=100, seed=tiny_plan.seed)


# ---- Mak-Morton-Wood ---------------------------------------------------------------------

def test_mmw_gap_is_tiny_for_a_plan_chosen_on_many_scenarios(tiny, tiny_plan):
    g = mmw_gap(tiny, tiny_plan, batches=5, batch_scenarios=500)
    assert g["batches"] == 5
    # x_hat is feasible on every batch, so each gap is >= 0 (z* is an upper bound)
    assert all(p["gap_usd"] >= -1e-6 * abs(p["candidate_usd"]) for p in g["per_batch"])
    assert g["upper95_usd"] <= 2e-3 * abs(tiny_plan.stats["expected_npv_usd"])
    assert g["ci95_usd"][0] <= 0.0 <= g["ci95_usd"][1] or g["mean_usd"] < 1e-4 * tiny_plan.stats["expected_npv_usd"]


def test_mmw_gap_detects_a_plan_that_leaves_value_behind(tiny):
    # forbidding every conversion gives up most of the value; the batch problems are free
    poor = plan_instance(tiny, scenarios=500, fixes=[Fix("shell", "convert", forbid=True),
                                                     Fix("mine", "convert", forbid=True)])
    free = plan_instance(tiny, scenarios=500)
    g = mmw_gap(tiny, poor, batches=4, batch_scenarios=400)
    assert g["ci95_usd"][0] > 0
    # the gap estimates the value given up (in-sample difference as the reference)
    lost = free.stats["expected_npv_usd"] - poor.stats["expected_npv_usd"]
    assert g["mean_usd"] == pytest.approx(lost, rel=0.15)


# ---- VSS and EVPI ------------------------------------------------------------------------

def test_mean_value_instance_is_deterministic(tiny):
    mv = mean_value_instance(tiny)
    cat = build_catalog(mv)
    assert [a.label for a in cat] == [a.label for a in build_catalog(tiny)]
    vt = value_actions(replace(mv, plan=replace(mv.plan, scenarios=4)), cat)
    npv, base = to_host(vt.npv), to_host(vt.baseline_npv)
    assert np.allclose(npv, npv[:, :1], rtol=1e-12, atol=1e-6)
    assert np.allclose(base, base[0], rtol=1e-12)
    # the hourly price keeps its mean: (1 - p) level + p spike
    m, m0 = mv.markets[0], tiny.markets[0]
    assert m.mean_price == pytest.approx(0.99 * 40.0 + 0.01 * 500.0)
    assert m0.spike_probability == 0.01 and m.spike_probability == 0.0


def _check_vss(result, instance):
    out = vss(instance, result)
    if out["mean_value_fundable"] and out.get("mean_value_feasible", out["mean_value_meets_floor"]):
        # our plan is optimal (to the MIP gap) among plans the mean-value plan belongs to
        assert out["vss_usd"] >= -1e-4 * abs(out["objective_usd"])
    elif not out["mean_value_fundable"]:
        assert out["vss_usd"] is None and out["mean_value_cash_short"]["shortfall_usd"] > 0
    return out


def test_vss_nonnegative_on_tiny(tiny, tiny_plan):
    out = _check_vss(tiny_plan, tiny)
    assert out["mean_value_fundable"]


@pytest.mark.parametrize("path", ["instances/terawulf.toml", "instances/vivopower.toml"])
def test_vss_and_evpi_nonnegative_on_seed_instances(path):
    inst = _load(path)
    inst = replace(inst, plan=replace(inst.plan, hours_per_month=4))
    result = plan_instance(inst, scenarios=100)
    _check_vss(result, inst)
    e = evpi(inst, result, scenarios=4)
    assert e["evpi_usd"] >= 0.0


def test_evpi_nonnegative_and_bounded_on_tiny(tiny, tiny_plan):
    e = evpi(tiny, tiny_plan, scenarios=30)
    assert e["evpi_usd"] >= 0.0
    assert e["wait_and_see_usd"] >= e["here_and_now_usd"]
    assert e["evpi_se_usd"] > 0


def test_evpi_is_zero_when_there_is_no_uncertainty(tiny):
    mv = mean_value_instance(tiny)
    result = plan_instance(replace(mv, plan=replace(mv.plan, scenarios=6)))
    e = evpi(mv, result, scenarios=6)
    assert e["evpi_usd"] == pytest.approx(0.0, abs=1e-6 * abs(e["here_and_now_usd"]))


def test_fund_plan_costs_no_more_than_the_plans_own_financing(tiny, tiny_plan):
    from wattfolio.planning.finance import financing_cost_and_cash
    from wattfolio.analysis.quality import fund_plan

    q = np.zeros(len(tiny_plan.catalog))
    q[[a.index for a in tiny_plan.actions]] = tiny_plan.quantities
    draws = fund_plan(tiny, tiny_plan.catalog, tiny_plan.value_table, q)
    assert isinstance(draws, list) and draws
    own, _ = financing_cost_and_cash(tiny, tiny_plan.draws)
    cheapest, _ = financing_cost_and_cash(tiny, draws)
    assert cheapest <= own + 1.0


def test_fund_plan_names_the_first_short_month(tiny):
    from wattfolio.analysis.quality import fund_plan

    broke = replace(tiny, finance=replace(tiny.finance, instruments=()))
    cat = build_catalog(broke)
    vt = value_actions(replace(broke, plan=replace(broke.plan, scenarios=200)), cat)
    (a,) = [a for a in cat if a.label == "convert:shell/tenant-a@2026-01"]
    q = np.zeros(len(cat))
    q[a.index] = 10.0
    short = fund_plan(broke, cat, vt, q)
    # by hand: cash + cumulative expected cash of baseline and the build, against min cash
    balance = broke.finance.cash_usd + np.cumsum(vt.baseline_cash + 10.0 * vt.cash[a.index])
    gap = broke.finance.min_cash_usd - balance
    first = int(np.argmax(gap > 1.0))
    assert gap[first] > 0
    assert short["month"] == f"2026-{first + 1:02d}"
    assert short["shortfall_usd"] == pytest.approx(gap[first], rel=1e-6)
