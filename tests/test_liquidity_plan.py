"""The liquidity floor in the planner: the cut loop against the extensive form of the same
CVaR bound, the expected-cash fallback at zero volatility, out-of-sample coverage of the
seed plans, chunk invariance of cash paths, and bad input."""
from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from wattfolio.instance.load import load_instance
from wattfolio.instance.types import Instrument, parse_month
from wattfolio.mip.build import SCALE, linear_expr
from wattfolio.mip.model import PlanModel
from wattfolio.mip.solve import solve
from wattfolio.planning.catalog import build_catalog
from wattfolio.planning.finance import draw_terms
from wattfolio.planning.valuation import value_actions
from wattfolio.plan_value import value_plan
from wattfolio.planning.plan_file import PlanSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny.toml"


def tight_tiny(p: float = 0.8, scenarios: int = 120, *, vol: bool = True):
    """tiny with little equity and a small free revolver, so that cash binds."""
    inst = load_instance(TINY).with_plan(scenarios=scenarios)
    equity = replace(inst.finance.instruments[0], max_usd=45e6)
    line = Instrument(id="line", kind="revolver", max_usd=5e6, rate=0.0, commitment_fee=0.0,
                      maturity=parse_month("2028-06"))
    inst = replace(inst, finance=replace(inst.finance, min_cash_usd=4e6, instruments=(equity, line)),
                   risk=replace(inst.risk, liquidity_probability=p))
    if not vol:
        inst = replace(inst, markets=tuple(replace(m, volatility=0.0, hourly_volatility=0.0,
                                                   spike_probability=0.0) for m in inst.markets),
                       bitcoin=replace(inst.bitcoin, volatility=0.0),
                       hpc_market=replace(inst.hpc_market, volatility=0.0),
                       sites=tuple(replace(s, hpc=s.hpc and replace(s.hpc, capex_overrun_volatility=0.0,
                                                                     delay_months_mean=0.0))
                                   for s in inst.sites),
                       leases=tuple(replace(le, default_rate=0.0) for le in inst.leases))
    return inst


def _extensive_liquidity(inst, catalog, vt, p):
    """The same bound solved directly: one shortfall variable per scenario,
    t + sum_s u_s / ((1-p) S) <= 0, u_s >= min - headroom_{s,m}(x) - t for every month."""
    S, M = inst.plan.scenarios, inst.plan.months
    zero = value_actions(inst, catalog, plan_quantities=np.zeros(len(catalog)), backend="numpy")
    base = np.cumsum(zero.plan_cash, axis=1)
    per = []
    for a in range(len(catalog)):
        q = np.zeros(len(catalog))
        q[a] = 1.0
        v = value_actions(inst, catalog, plan_quantities=q, backend="numpy")
        per.append(np.cumsum(v.plan_cash - zero.plan_cash, axis=1))
    per = np.array(per)                                            # (A, S, M)

    def rows(m, data):
        pm_draws = data.draws
        cum_draw = np.cumsum(np.array([draw_terms(inst, d)[1] for d in pm_draws]), axis=1)
        line = np.where(np.arange(M) < parse_month("2028-06") - inst.plan.start, 5e6, 0.0)
        m.t = pyo.Var()
        m.u = pyo.Var(range(S), bounds=(0.0, None))
        m.ef = pyo.ConstraintList()
        from wattfolio.mip.build import plan_columns
        _, qv, dv = plan_columns(m, data)
        cols = qv + dv
        for s in range(S):
            for j in range(M):
                coef = np.concatenate([per[:, s, j] / SCALE, cum_draw[:, j]])
                const = (inst.finance.cash_usd + base[s, j] + line[j] - inst.finance.min_cash_usd) / SCALE
                m.ef.add(m.u[s] + m.t >= -linear_expr(coef, cols, const))
        m.ef.add(m.t + sum(m.u[s] for s in range(S)) / ((1 - p) * S) <= 0)

    pm = PlanModel(inst, catalog, vt, extra_functionality=rows)
    pm.m.cash.deactivate()
    out = pm.solve(None, 1e-9)
    return out.objective


def _in_sample_below_min(inst, catalog, sol) -> float:
    ev = value_plan(inst, PlanSpec([catalog[i] for i in np.flatnonzero(sol.quantities)],
                                   list(sol.quantities[sol.quantities > 0]), sol.draws),
                    seed=inst.plan.seed, backend="numpy")
    return ev.stats["liquidity"]["prob_below_min"]


def test_cut_loop_equals_the_extensive_form_of_the_bound():
    p = 0.8
    inst = tight_tiny(p)
    catalog = build_catalog(inst)
    vt = value_actions(inst, catalog, backend="numpy")
    sol = solve(inst, catalog, vt, gap=1e-9, liquidity_stop="bound")
    ef = _extensive_liquidity(inst, catalog, vt, p)
    assert len(sol.liquidity_rounds) >= 2, "the floor should bind in this case"
    assert sol.objective == pytest.approx(ef, rel=1e-6)
    # and the plan meets the probability it was asked for, in sample
    assert _in_sample_below_min(inst, catalog, sol) <= 1 - p + 1e-9


def test_floor_stop_lies_between_the_bound_and_no_floor_and_meets_the_floor():
    """The default loop stops once the plan keeps headroom in p of the scenarios: its
    cuts are all implied by the bound, so it is worth at least the bound's optimum (the
    extensive form) and at most the plan without a liquidity floor, and it meets the
    floor as the plan's stats count it."""
    p = 0.8
    inst = tight_tiny(p)
    catalog = build_catalog(inst)
    vt = value_actions(inst, catalog, backend="numpy")
    sol = solve(inst, catalog, vt, gap=1e-9)
    ef = _extensive_liquidity(inst, catalog, vt, p)
    free = solve(replace(inst, risk=replace(inst.risk, liquidity_probability=None)), catalog, vt, gap=1e-9)
    assert sol.liquidity_rounds[-1]["new_cuts"] == 0
    assert ef * (1 - 1e-7) <= sol.objective <= free.objective * (1 + 1e-7)
    below = _in_sample_below_min(inst, catalog, sol)
    assert below <= 1 - p + 1e-9
    assert sol.liquidity_rounds[-1]["probability"] == pytest.approx(1 - below, abs=1e-12)


def test_zero_volatility_floor_and_expected_rows_give_the_same_plan():
    """Without randomness every scenario is the expected one: keeping cash above the
    minimum in 80% of scenarios is keeping it in all, as the expected-cash rows do (the
    revolver's line counted in both)."""
    det = tight_tiny(0.8, scenarios=20, vol=False)
    catalog = build_catalog(det)
    vt = value_actions(det, catalog, backend="numpy")
    floor = solve(det, catalog, vt, gap=1e-9)
    # the expected-cash model with the same line: min cash lowered by the line's size
    rows = replace(det, risk=replace(det.risk, liquidity_probability=None),
                   finance=replace(det.finance, min_cash_usd=det.finance.min_cash_usd - 5e6,
                                   instruments=det.finance.instruments[:1]))
    expected = solve(rows, catalog, vt, gap=1e-9)
    np.testing.assert_allclose(floor.quantities, expected.quantities, atol=1e-6)
    assert floor.objective == pytest.approx(expected.objective, rel=1e-9)


def test_cash_paths_do_not_depend_on_the_chunk():
    inst = tight_tiny()
    catalog = build_catalog(inst)
    spec = PlanSpec(catalog[:2], [5.0, 1.0][:len(catalog[:2])], [("equity", 30e6, inst.plan.start)])
    a = value_plan(inst, spec, backend="numpy", chunk=7, cash_balance=True)
    b = value_plan(inst, spec, backend="numpy", chunk=64, cash_balance=True)
    np.testing.assert_array_equal(a.cash_balance, b.cash_balance)
    np.testing.assert_array_equal(a.revolver_drawn, b.revolver_drawn)
    assert a.stats == b.stats


@pytest.mark.slow
@pytest.mark.parametrize("name", ["terawulf", "vivopower"])
def test_seed_plans_meet_their_floor_out_of_sample(name, tmp_path):
    """Plan at the instance's settings (fewer scenarios to keep the suite short), then
    P(cash below minimum) on 10^5 fresh scenarios <= 1 - p + 2 s.e."""
    inst = load_instance(ROOT / "instances" / f"{name}.toml").with_plan(scenarios=2000)
    catalog = build_catalog(inst)
    vt = value_actions(inst, catalog, backend="numpy")
    sol = solve(inst, catalog, vt)
    taken = np.flatnonzero(sol.quantities > 0)
    spec = PlanSpec([catalog[i] for i in taken], list(sol.quantities[taken]), sol.draws)
    n = 100_000
    ev = value_plan(inst, spec, scenarios=n, backend="numpy")
    share = ev.stats["liquidity"]["prob_below_min"]
    p = inst.risk.liquidity_probability
    se = math.sqrt(max(share * (1 - share), 1e-12) / n)
    assert share <= 1 - p + 2 * se


@pytest.mark.parametrize("edit,path", [
    ('[[finance.instruments]]\nid = "rv"\nkind = "revolver"\nrate = 0.05\nmaturity = "2028-01"\n',
     "max_usd"),
    ('[[finance.instruments]]\nid = "rv"\nkind = "revolver"\nmax_usd = 1e6\nrate = 0.05\n'
     'maturity = "2028-01"\nissue_by = "2026-01"\n', "issue_by"),
])
def test_bad_revolver_exits_2_naming_the_path(tmp_path, edit, path):
    f = tmp_path / "bad.toml"
    f.write_text(TINY.read_text() + "\n" + edit)
    r = subprocess.run([sys.executable, "-m", "wattfolio.cli", "validate", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and f"finance.instruments[1].{path}" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["0.0", "1.0", "1.5"])
def test_probability_outside_the_open_interval_exits_2(tmp_path, value):
    f = tmp_path / "bad.toml"
    f.write_text(TINY.read_text().replace("weight = 0.0", f"weight = 0.0\nliquidity_probability = {value}"))
    r = subprocess.run([sys.executable, "-m", "wattfolio.cli", "validate", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "risk.liquidity_probability" in r.stderr


def test_refinance_rate_out_of_range_exits_2(tmp_path):
    text = (ROOT / "instances" / "terawulf.toml").read_text().replace(
        "refinance = { rate = 0.085,", "refinance = { rate = 1.5,")
    f = tmp_path / "bad.toml"
    f.write_text(text)
    r = subprocess.run([sys.executable, "-m", "wattfolio.cli", "validate", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "refinance.rate" in r.stderr


def test_a_plan_short_of_the_floor_says_so(monkeypatch):
    """When the cuts end before the plan meets the floor (here: their round limit set to
    one), the result says so instead of passing the plan off as meeting it."""
    from wattfolio.mip import solve as solve_module
    from wattfolio.run import plan_instance

    inst = tight_tiny(0.8)
    ok = plan_instance(inst, backend="numpy")
    assert ok.solver["liquidity_floor_met"] is True
    assert ok.stats["liquidity"]["prob_below_min"] <= 0.2 + 1e-12
    monkeypatch.setattr(solve_module, "LIQUIDITY_ROUNDS", 1)
    short = plan_instance(inst, backend="numpy")
    assert len(short.solver["liquidity_rounds"]) == 1
    assert short.stats["liquidity"]["prob_below_min"] > 0.2
    assert short.solver["liquidity_floor_met"] is False
