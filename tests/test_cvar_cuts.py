"""CVaR by cutting planes against the extensive form (Rockafellar-Uryasev), the independent
reference: same constraints, one variable and one row per scenario."""
from __future__ import annotations

import numpy as np
import pytest

from wattfolio.planning.catalog import build_catalog
from wattfolio.mip.cvar import CutEngine, floor_loop
from wattfolio.mip.extensive import solve_extensive
from wattfolio.instance.types import Instrument
from wattfolio.mip.model import PlanModel
from wattfolio.mip.solve import PlanInfeasible, solve
from test_model import START, hand_cvar, lease, make_instance, make_table, site

ALPHA = 0.9
GAP = 1e-7


def _case(seed: int, *, floor=None, weight=0.0):
    """Two sites with converts (continuous MW), a sale, an acquire + convert, two leases,
    capex that needs financing (equity and a convertible), and a risk factor that the
    richest actions load on."""
    inst = make_instance(
        [site("a", hpc_mw=100, sale=True), site("b", status="candidate", hpc_mw=80, energize=6),
         site("c", sale=True)],
        [lease("L1", ("a", "b"), 120), lease("L2", ("b",), 50)],
        instruments=(Instrument("eq", "equity", 1.5e8, issue_by=START + 6, fee=0.04),
                     Instrument("cv", "convertible", 1e8, issue_by=START, fee=0.02, rate=0.01,
                                maturity=START + 60, conversion_premium=0.3)),
        cash=8e7, min_cash=2e7, alpha=ALPHA, floor=floor, weight=weight)
    actions = build_catalog(inst)
    rng = np.random.default_rng(seed)
    S, A = 200, len(actions)
    f = rng.standard_normal((3, S))
    conv = np.array([a.kind == "convert" for a in actions])
    unit = np.where(conv, 1e6, 1e8)
    mean = rng.normal(0.3, 0.3, A)
    load = 1.0 + 2.0 * np.abs(mean)
    npv = (mean[:, None] + load[:, None] * (rng.normal(0, 0.5, (A, 1)) * f[:1]
                                            + rng.normal(0, 0.4, (A, 2)) @ f[1:])) * unit[:, None]
    cash = np.zeros((A, 12))
    cash[conv, 2] = -1.2e6                                  # capex per MW in 2026-03
    cash[~conv, 5] = 2e7 * (rng.random((~conv).sum()) - 0.3)
    vt = make_table(npv, 12, base=rng.normal(1e9, 1.5e8, S) + 1e8 * f[0], cash=cash,
                    base_cash=np.full(12, 1e6))
    return inst, actions, vt


def _max_cvar_ef(inst, actions, vt) -> float:
    return solve_extensive(inst, actions, vt, alpha=ALPHA, weight=1.0, gap=GAP).cvar_usd


def _floor_between(inst, actions, vt, share: float) -> float:
    """A floor a share of the way from the E-optimal plan's CVaR to the best CVaR."""
    c0 = hand_cvar(solve(inst, actions, vt, gap=GAP).npv_samples, ALPHA)
    c1 = _max_cvar_ef(inst, actions, vt)
    assert c1 > c0 + 1e6
    return c0 + share * (c1 - c0)


def test_cuts_over_estimate_cvar_everywhere():
    """Validity of every cut: at random plans, each cut's value >= the plan's hand CVaR,
    with equality at the plan that generated it."""
    inst, actions, vt = _case(0)
    pm = PlanModel(inst, actions, vt)
    eng = CutEngine(pm, ALPHA, None)
    rng = np.random.default_rng(5)
    plans = [rng.random(len(actions)) * np.array([a.max_units for a in actions]) for _ in range(6)]
    for qi in plans:
        w = np.zeros(vt.n_scenarios)
        v = vt.plan_npv(qi)
        w[np.argsort(v)[:20]] = 1 / 20                 # hand tail weights: n = 0.1 x 200
        row, const = pm.cut_row(w)
        for qj in plans:
            vj = vt.plan_npv(qj)
            cut_value = (const + row[:len(actions)] @ qj) * 1e6
            assert cut_value >= hand_cvar(vj, ALPHA) - 1e-6 * abs(cut_value)
            if qj is qi:
                assert cut_value == pytest.approx(hand_cvar(vj, ALPHA), rel=1e-12)
    assert eng.score(plans[0], np.zeros(len(pm.draws))).cvar == pytest.approx(
        hand_cvar(vt.plan_npv(plans[0]), ALPHA), rel=1e-12)


@pytest.mark.parametrize("seed,share", [(0, 0.5), (1, 0.8)])
def test_floor_cuts_equal_extensive_form(seed, share):
    inst, actions, vt = _case(seed)
    floor = _floor_between(inst, actions, vt, share)
    inst = make_instance(inst.sites, inst.leases, instruments=inst.finance.instruments,
                         cash=inst.finance.cash_usd, min_cash=inst.finance.min_cash_usd,
                         alpha=ALPHA, floor=floor)
    sol = solve(inst, actions, vt, gap=GAP)
    ef = solve_extensive(inst, actions, vt, alpha=ALPHA, floor=floor, gap=GAP)
    assert sol.method == "floor-kbm" and sol.status == "optimal" and len(sol.rounds) > 1
    assert sol.objective == pytest.approx(ef.outcome.objective, rel=10 * GAP)
    c = hand_cvar(sol.npv_samples, ALPHA)
    assert c == pytest.approx(floor, rel=1e-6)                  # the floor binds ...
    assert c == pytest.approx(ef.cvar_usd, rel=1e-6)            # ... in both


@pytest.mark.parametrize("method", ["pool", "naive", "rows", "rows-lp"])
@pytest.mark.parametrize("seed,weight", [(0, 0.3), (2, 0.7)])
def test_weight_mode_equals_extensive_form(seed, weight, method):
    inst, actions, vt = _case(seed, weight=weight)
    sol = solve(inst, actions, vt, gap=GAP, weight_method=method)
    ef = solve_extensive(inst, actions, vt, alpha=ALPHA, weight=weight, gap=GAP)
    assert sol.status == "optimal" and sol.method == f"weight-{method}"
    assert sol.objective == pytest.approx(ef.outcome.objective, rel=10 * GAP)
    assert sol.bound >= sol.objective and sol.gap <= GAP * 1.0001
    assert hand_cvar(sol.npv_samples, ALPHA) == pytest.approx(ef.cvar_usd, rel=1e-6)


@pytest.mark.parametrize("method", ["pool", "rows-lp"])
def test_weight_and_floor_together_equal_extensive_form(method):
    inst, actions, vt = _case(3)
    floor = _floor_between(inst, actions, vt, 0.9)
    inst = make_instance(inst.sites, inst.leases, instruments=inst.finance.instruments,
                         cash=inst.finance.cash_usd, min_cash=inst.finance.min_cash_usd,
                         alpha=ALPHA, floor=floor, weight=0.2)
    sol = solve(inst, actions, vt, gap=GAP, weight_method=method)
    ef = solve_extensive(inst, actions, vt, alpha=ALPHA, weight=0.2, floor=floor, gap=GAP)
    assert sol.objective == pytest.approx(ef.outcome.objective, rel=10 * GAP)
    assert hand_cvar(sol.npv_samples, ALPHA) >= floor * (1 - 1e-9)


def test_tighter_floor_never_raises_expected_npv():
    inst, actions, vt = _case(4)
    c0 = hand_cvar(solve(inst, actions, vt, gap=GAP).npv_samples, ALPHA)
    c1 = _max_cvar_ef(inst, actions, vt)
    means = []
    for share in (0.0, 0.4, 0.7, 0.95):
        floor = c0 + share * (c1 - c0)
        i = make_instance(inst.sites, inst.leases, instruments=inst.finance.instruments,
                          cash=inst.finance.cash_usd, min_cash=inst.finance.min_cash_usd,
                          alpha=ALPHA, floor=floor)
        means.append(float(solve(i, actions, vt, gap=GAP).npv_samples.mean()))
    assert all(b <= a * (1 + 1e-9) for a, b in zip(means, means[1:]))
    assert means[-1] < means[0]                    # and the tightest floor costs something


@pytest.mark.parametrize("weight", [0.0, 0.3])
def test_unreachable_floor_reports_the_best_cvar(weight):
    inst, actions, vt = _case(0)
    best = _max_cvar_ef(inst, actions, vt)
    floor = best + 5e7
    inst = make_instance(inst.sites, inst.leases, instruments=inst.finance.instruments,
                         cash=inst.finance.cash_usd, min_cash=inst.finance.min_cash_usd,
                         alpha=ALPHA, floor=floor, weight=weight)
    with pytest.raises(PlanInfeasible) as e:
        solve(inst, actions, vt, gap=GAP)
    assert e.value.reason == "cvar_floor"
    assert e.value.best_cvar_usd == pytest.approx(best, rel=1e-6)
    msg = str(e.value)
    assert f"{floor:,.0f} is unreachable" in msg and f"CVaR_0.9 any plan reaches is {e.value.best_cvar_usd:,.0f}" in msg


def _mip_rounds(res) -> int:
    return sum(r["phase"] == "mip" for r in res.rounds)


def _meets(res, floor: float) -> bool:
    """The loop's plan, evaluated on every scenario by hand, meets the floor."""
    return hand_cvar(np.asarray(res.best.values), ALPHA) >= floor - 1e-9 * abs(floor)


def _with_floor(inst, floor, *, min_cash=None):
    min_cash = inst.finance.min_cash_usd if min_cash is None else min_cash
    return make_instance(inst.sites, inst.leases, instruments=inst.finance.instruments,
                         cash=inst.finance.cash_usd, min_cash=min_cash, alpha=ALPHA, floor=floor)


@pytest.mark.parametrize("seed,share", [(0, 0.5), (1, 0.8), (4, 0.95)])
def test_lp_phase_keeps_the_floor_optimum_in_no_more_mip_rounds(seed, share):
    """Kelley on the relaxation before the MIP: LP rounds first, then a whole-decision MIP
    plan that meets the floor, with the MIP-only loop's objective (to the gap) in no more
    MIP rounds."""
    inst, actions, vt = _case(seed)
    floor = _floor_between(inst, actions, vt, share)
    off = floor_loop(PlanModel(inst, actions, vt), ALPHA, floor, gap=GAP, lp_phase=False)
    on = floor_loop(PlanModel(inst, actions, vt), ALPHA, floor, gap=GAP)
    assert off.status == on.status == "optimal" and on.method == "floor-kbm"
    assert on.best.objective == pytest.approx(off.best.objective, rel=10 * GAP)
    assert on.bound >= on.best.objective * (1 - 10 * GAP) and on.gap <= GAP * 1.0001
    phases = [r["phase"] for r in on.rounds]
    n_lp = phases.count("lp")
    assert n_lp > 1 and phases == ["lp"] * n_lp + ["mip"] * (len(phases) - n_lp)
    assert _mip_rounds(on) <= _mip_rounds(off)
    assert _meets(on, floor)
    q = on.best.q
    whole = np.array([a.kind != "convert" for a in actions])
    assert np.all((q[whole] == 0.0) | (q[whole] == 1.0))
    assert all(r["upper"] >= on.best.objective for r in on.rounds if r["phase"] == "lp")


def test_floor_loop_again_on_the_same_model():
    """Calls on one persistent model. Same floor (solve's liquidity rounds): the cuts it
    holds meet the floor at the MIP's plan, so one MIP solve and no LP work; once the
    model changes under them, the MIP's miss brings the LP phase back and the optimum is
    a fresh model's. A higher floor (the frontier's) starts from the LP phase again."""
    inst, actions, vt = _case(1)
    c0 = hand_cvar(solve(inst, actions, vt, gap=GAP).npv_samples, ALPHA)
    c1 = _max_cvar_ef(inst, actions, vt)
    lo, hi = c0 + 0.5 * (c1 - c0), c0 + 0.8 * (c1 - c0)
    pm = PlanModel(inst, actions, vt)
    first = floor_loop(pm, ALPHA, lo, gap=GAP)
    cuts = pm.n_cuts
    again = floor_loop(pm, ALPHA, lo, gap=GAP)
    assert [r["phase"] for r in again.rounds] == ["mip"] and pm.n_cuts == cuts
    assert again.best.objective == pytest.approx(first.best.objective, rel=10 * GAP)

    higher = floor_loop(pm, ALPHA, hi, gap=GAP)
    fresh = floor_loop(PlanModel(inst, actions, vt), ALPHA, hi, gap=GAP, lp_phase=False)
    assert higher.rounds[0]["phase"] == "lp" and higher.status == "optimal" and _meets(higher, hi)
    assert higher.best.objective == pytest.approx(fresh.best.objective, rel=10 * GAP)

    binary = np.array([a.kind != "convert" for a in actions])
    taken = int(np.argmax(first.best.q * binary))
    assert first.best.q[taken] == 1.0

    def no_taken(a) -> bool:
        return a.index == taken

    pm = PlanModel(inst, actions, vt)
    floor_loop(pm, ALPHA, lo, gap=GAP)
    pm.forbid_actions(no_taken)
    moved = floor_loop(pm, ALPHA, lo, gap=GAP)
    ref = PlanModel(inst, actions, vt)
    ref.forbid_actions(no_taken)
    fresh = floor_loop(ref, ALPHA, lo, gap=GAP, lp_phase=False)
    phases = [r["phase"] for r in moved.rounds]
    assert phases[0] == "mip" and "lp" in phases             # a miss, then the LP phase
    assert moved.status == "optimal" and _meets(moved, lo)
    assert moved.best.q[taken] == 0.0
    assert moved.best.objective == pytest.approx(fresh.best.objective, rel=10 * GAP)


@pytest.mark.parametrize("lp_phase", [False, True])
def test_unreachable_floor_is_infeasible_with_or_without_the_lp_phase(lp_phase):
    """Past the best CVaR any plan reaches: infeasible, and not blamed on the plan rows
    (first_round_infeasible is for a model infeasible before any floor cut)."""
    inst, actions, vt = _case(0)
    floor = _max_cvar_ef(inst, actions, vt) + 5e7
    res = floor_loop(PlanModel(inst, actions, vt), ALPHA, floor, gap=GAP, lp_phase=lp_phase)
    assert res.status == "infeasible" and res.best is None and not res.first_round_infeasible
    assert res.cuts > 0
    # here the relaxation with its floor cuts is infeasible already: no MIP solve
    assert {r["phase"] for r in res.rounds} == {"lp" if lp_phase else "mip"}


@pytest.mark.parametrize("lp_phase", [False, True])
def test_infeasible_plan_rows_are_not_blamed_on_the_floor(lp_phase):
    """No plan keeps min cash whatever the floor: infeasible before any floor cut, on the
    relaxation as in the MIP, so solve names cash, not the floor."""
    inst, actions, vt = _case(0)
    inst = _with_floor(inst, -1e12, min_cash=1e10)
    res = floor_loop(PlanModel(inst, actions, vt), ALPHA, -1e12, gap=GAP, lp_phase=lp_phase)
    assert res.status == "infeasible" and res.first_round_infeasible and res.cuts == 0
    assert res.rounds[0]["phase"] == ("lp" if lp_phase else "mip")
    if lp_phase:
        with pytest.raises(PlanInfeasible) as e:
            solve(inst, actions, vt, gap=GAP)
        assert e.value.reason == "cash"


def _knapsack_case(seed: int, n: int = 30, S: int = 40, take: float = 6.0, weight: float = 0.5):
    """The case that stalls the naive loop, small: n one-binary projects (a sale each)
    costing cash up front with cash for about `take` of them (a knapsack), whose richer
    projects load more on a left-skewed common factor and crash on their own more often,
    so a plan's tail scenarios move with every project it swaps."""
    rng = np.random.default_rng(seed)
    sites = [site(f"p{i:02d}", sale=True) for i in range(n)]
    cost = rng.uniform(0.5, 1.5, n) * 1e7
    inst = make_instance(sites, cash=take * cost.mean(), min_cash=0.0, step=12, alpha=ALPHA,
                         weight=weight)
    actions = build_catalog(inst)
    assert len(actions) == n and all(a.kind == "sell" for a in actions)
    f = rng.standard_normal(S) - np.where(rng.random(S) < 0.1, 3.0, 0.0)
    beta = np.abs(rng.normal(0.0, 1.0, n))
    crash = (rng.random((n, S)) < 0.08 * (0.5 + beta[:, None])) * rng.uniform(0.5, 1.5, (n, 1))
    npv = ((0.05 + 0.10 * beta + 0.05 * rng.standard_normal(n))[:, None]
           + 0.15 * beta[:, None] * (f - f.mean()) + 0.09 * rng.standard_t(3, (n, S))
           - crash + crash.mean(1, keepdims=True)) * cost[:, None]
    cash = np.zeros((n, 12))
    cash[:, 0] = -cost
    return inst, actions, make_table(npv, 12, cash=cash)


@pytest.mark.parametrize("seed", [0, 2])
def test_scenario_rows_equal_extensive_form_where_naive_cuts_stall(seed):
    """The default weight method ("auto" -> scenario rows at this size) against the
    extensive form on a knapsack with a mean/tail conflict, where one cut per MIP solve
    needs many rounds."""
    from wattfolio.mip.cvar import weight_loop
    inst, actions, vt = _knapsack_case(seed)
    w = inst.risk.weight
    ef = solve_extensive(inst, actions, vt, alpha=ALPHA, weight=w, gap=GAP)
    res = weight_loop(PlanModel(inst, actions, vt, weight=w), ALPHA, gap=GAP)
    assert res.method == "weight-rows-lp" and res.status == "optimal"
    assert res.best.objective == pytest.approx(ef.outcome.objective, rel=10 * GAP)
    assert res.bound >= res.best.objective and res.gap <= GAP * 1.0001
    assert hand_cvar(vt.plan_npv(res.best.q), ALPHA) == pytest.approx(ef.cvar_usd, rel=1e-6)
    if seed == 2:                                # the trap, and the way out of it (fast seed)
        naive = weight_loop(PlanModel(inst, actions, vt, weight=w), ALPHA, gap=GAP,
                            method="naive")
        assert naive.best.objective == pytest.approx(ef.outcome.objective, rel=10 * GAP)
        assert len(naive.rounds) >= 5 * sum(r["phase"] == "mip" for r in res.rounds)
