"""The plan MIP: brute-force optima on small problems and one binding test per constraint.

ValueTables are written by hand, so every expected answer is worked out from the numbers
in the test, not from the code under test.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from wattfolio.gpu.value_table import ValueTable
from wattfolio.planning.catalog import build_catalog
from wattfolio.instance.types import (Acquire, Finance, Hpc, Instance, Instrument, Lease, Mining, Plan,
                                Risk, Sale, Site, parse_month)
from wattfolio.mip.model import PlanModel
from wattfolio.mip.solve import Fix, PlanInfeasible, solve

START = parse_month("2026-01")
M6 = START + 6


# ---- builders shared with test_cvar_cuts -------------------------------------------------

def site(sid: str, *, status: str = "operating", hpc_mw: float | None = None,
         sale: bool = False, energize: int | None = None, capex: float = 9e6,
         ownership: float = 1.0, block_mw: float = 0.0) -> Site:
    return Site(
        id=sid, market="ercot", status=status, use="land" if status == "candidate" else "mining",
        capacity_mw=200.0, ownership=ownership,
        mining=Mining(20.0, 5000.0) if status == "operating" else None,
        hpc=Hpc(hpc_mw, capex, 0.1, 6, 1.0, block_mw=block_mw) if hpc_mw else None,
        sale=Sale(1e8, 1.5e8, 2e8, 0.8, 3) if sale else None,
        acquire=Acquire(5e7, energize) if energize is not None else None)


def lease(lid: str, sites: tuple[str, ...], max_mw: float, sign_by: str = "2026-07") -> Lease:
    return Lease(id=lid, tenant="T", sites=sites, max_mw=max_mw, rate_kw_month=150.0,
                 escalator=0.03, tenor_years=10, noi_margin=0.85, sign_by=parse_month(sign_by),
                 default_rate=0.02, renewal_probability=0.6)


def make_instance(sites, leases=(), *, instruments=(), cash: float = 1e12, min_cash: float = 0.0,
                  years: int = 1, step: int = 6, alpha: float = 0.9, floor: float | None = None,
                  weight: float = 0.0, rate: float = 0.1, cost_of_debt: float = 0.08,
                  risk_free_rate: float = 0.04) -> Instance:
    plan = Plan(name="test", start=START, horizon_years=years, decision_step_months=step,
                discount_rate=rate, scenarios=200, seed=1)
    return Instance(plan=plan, risk=Risk(alpha, floor, weight), bitcoin=None, markets=(),
                    hpc_market=None, sites=tuple(sites), leases=tuple(leases),
                    finance=Finance(cash_usd=cash, min_cash_usd=min_cash,
                                    instruments=tuple(instruments), cost_of_debt=cost_of_debt,
                                    risk_free_rate=risk_free_rate))


def make_table(npv, months: int, *, base=None, cash=None, base_cash=None) -> ValueTable:
    npv = np.asarray(npv, dtype=float)
    A, S = npv.shape
    return ValueTable(npv=npv, baseline_npv=np.zeros(S) if base is None else np.asarray(base, float),
                      cash=np.zeros((A, months)) if cash is None else np.asarray(cash, float),
                      baseline_cash=np.zeros(months) if base_cash is None else np.asarray(base_cash, float),
                      xp=np, backend="numpy")


def const_table(actions, values: dict[str, float], months: int, S: int = 4, **kw) -> ValueTable:
    """Deterministic NPVs per unit, by action label."""
    npv = np.array([[values.get(a.label, 0.0)] * S for a in actions])
    return make_table(npv, months, **kw)


def by_label(actions, sol) -> dict[str, float]:
    return {a.label: float(q) for a, q in zip(actions, sol.quantities) if q > 1e-9}


def hand_cvar(values: np.ndarray, alpha: float) -> float:
    """Mean of the worst (1 - alpha) S values (tests use integer (1 - alpha) S)."""
    n = round((1 - alpha) * values.size)
    return float(np.sort(values)[:n].mean())


# ---- brute force ---------------------------------------------------------------------------

def _brute_instance() -> Instance:
    return make_instance(
        [site("a", hpc_mw=100, sale=True), site("b", status="candidate", hpc_mw=80, energize=6),
         site("c", sale=True)],
        [lease("L1", ("a", "b"), 120), lease("L2", ("b",), 50)])


def _feasible_binaries(actions, inst) -> list[np.ndarray]:
    """Every 0/1 vector over the actions that the logic rules allow (written independently:
    one sale and one acquire per site, a sold site does nothing else, a convert at a
    candidate needs an acquire whose energisation is done by the convert's start)."""
    out = []
    for bits in itertools.product((0, 1), repeat=len(actions)):
        taken = [a for a, b in zip(actions, bits) if b]
        ok = True
        for s in {a.site for a in actions}:
            here = [a for a in taken if a.site == s]
            sells = [a for a in here if a.kind == "sell"]
            acqs = [a for a in here if a.kind == "acquire"]
            if len(sells) > 1 or (sells and len(here) > 1) or len(acqs) > 1:
                ok = False
            for c in (a for a in here if a.kind == "convert"):
                st = inst.site(s)
                if st.status == "candidate" and not any(
                        q.start + st.acquire.energize_months <= c.start for q in acqs):
                    ok = False
        if ok:
            out.append(np.array(bits, dtype=float))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_expected_npv_matches_brute_force(seed):
    """Converts have continuous MW, but each convert's MW sits in one site row and one lease
    row: the caps form a bipartite incidence matrix (totally unimodular), so with all caps
    multiples of 10 MW every vertex of the MW polytope is on the 10-MW grid and the linear
    E[NPV] is maximised at one. Cash is ample and draws cost money, so no draws. Enumerating
    the logic-feasible binaries times the 10-MW grid is therefore the exact optimum."""
    inst = _brute_instance()
    actions = build_catalog(inst)
    assert len(actions) == 9     # b's July acquire could not energise before L1/L2's sign_by
    rng = np.random.default_rng(seed)
    S = 200
    f = rng.standard_normal((3, S))
    unit = np.array([1e6 if a.kind == "convert" else 1e8 for a in actions])
    mean = rng.normal(0.1, 0.6, len(actions))
    npv = (mean[:, None] + 0.5 * rng.standard_normal((len(actions), 3)) @ f) * unit[:, None]
    vt = make_table(npv, inst.plan.months, base=rng.normal(1e9, 1e8, S))

    conv = [i for i, a in enumerate(actions) if a.kind == "convert"]
    grids = [np.arange(0, actions[i].max_units + 1, 10.0) for i in conv]
    Q = np.array(list(itertools.product(*grids)))
    site_of = np.array([actions[i].site for i in conv])
    lease_of = np.array([actions[i].lease for i in conv])
    ok = np.ones(len(Q), bool)
    for s in set(site_of):
        ok &= Q[:, site_of == s].sum(1) <= inst.site(s).hpc.max_mw
    for lid in set(lease_of):
        ok &= Q[:, lease_of == lid].sum(1) <= inst.lease(lid).max_mw
    Q = Q[ok]
    mean_npv = npv.mean(1)
    best = -math.inf
    for x in _feasible_binaries(actions, inst):
        allowed = x[conv] > 0
        rows = Q[np.all((Q > 0) <= allowed, axis=1)]
        other = float(np.dot(np.delete(mean_npv, conv), np.delete(x, conv)))
        best = max(best, other + float((rows @ mean_npv[conv]).max()))
    best += vt.baseline_npv.mean()
    sol = solve(inst, actions, vt, gap=1e-9)
    assert sol.objective == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_cvar_floor_matches_brute_force(seed):
    """Binary decisions only (sales and acquisitions): enumeration is exact, and the
    feasible set under a CVaR floor is the enumerated plans whose hand CVaR meets it."""
    inst0 = make_instance([site("a", sale=True), site("c", sale=True), site("e", sale=True)])
    actions = build_catalog(inst0)
    assert len(actions) == 6
    rng = np.random.default_rng(10 + seed)
    S = 200
    f = rng.standard_normal((2, S))
    # actions 0-1 (sell a) pay most but load on the base's own risk factor; 2-3 (sell c)
    # hedge it; 4-5 (sell e) are noise: a floor trades expected value for tail
    mean = np.array([0.5, 0.4, 0.1, 0.05, 0.2, 0.1])[:, None] + rng.normal(0, 0.05, (6, 1))
    load = np.array([2.0, 1.5, -1.0, -0.8, 0.0, 0.0])[:, None] + rng.normal(0, 0.2, (6, 1))
    npv = 1e8 * (mean + load * f[:1] + rng.normal(0, 0.3, (6, 1)) * f[1:])
    base = rng.normal(1e9, 2e8, S) + 1e8 * f[0]
    plans = _feasible_binaries(actions, inst0)
    vals = [base + x @ npv for x in plans]
    stats = [(v.mean(), hand_cvar(v, 0.9)) for v in vals]
    e_best = max(stats)
    c_max = max(c for _, c in stats)
    assert e_best[1] < c_max                           # so floors in between bind
    for floor in np.linspace(e_best[1], c_max, 4)[1:]:
        expect = max(e for e, c in stats if c >= floor - 1e-6)
        inst = make_instance(inst0.sites, floor=float(floor))
        sol = solve(inst, actions, make_table(npv, 12, base=base), gap=1e-9)
        assert sol.objective == pytest.approx(expect, rel=1e-9)
        assert hand_cvar(sol.npv_samples, 0.9) >= floor - 1e-6 * abs(floor)


# ---- one binding test per constraint family -----------------------------------------------

def test_one_sale_per_site():
    inst = make_instance([site("a", sale=True)])
    acts = build_catalog(inst)
    vt = const_table(acts, {"sell:a@2026-01": 10e6, "sell:a@2026-07": 8e6}, 12)
    sol = solve(inst, acts, vt)
    assert by_label(acts, sol) == {"sell:a@2026-01": 1.0}
    assert sol.objective == pytest.approx(10e6)


def test_sold_site_takes_nothing_else():
    inst = make_instance([site("a", sale=True, hpc_mw=100)], [lease("L1", ("a",), 100)])
    acts = build_catalog(inst)
    vt = const_table(acts, {"sell:a@2026-01": 15e6, "convert:a/L1@2026-01": 0.1e6,
                            "convert:a/L1@2026-07": 0.05e6}, 12)
    sol = solve(inst, acts, vt)
    assert by_label(acts, sol) == {"sell:a@2026-01": 1.0}          # 15 > 10 from converting
    assert sol.objective == pytest.approx(15e6)


@pytest.mark.parametrize("early_cost,expect", [
    (-20e6, {"acquire:b@2026-01": 1.0, "convert:b/L1@2026-07": 80.0}),      # -20 + 80
    (-90e6, {"acquire:b@2026-07": 1.0, "convert:b/L1@2027-01": 80.0}),      # -5 + 8
])
def test_acquire_before_convert_with_energize_lag(early_cost, expect):
    inst = make_instance([site("b", status="candidate", hpc_mw=80, energize=6)],
                         [lease("L1", ("b",), 80, "2027-01")], years=2)
    acts = build_catalog(inst)
    assert [a.label for a in acts] == ["acquire:b@2026-01", "acquire:b@2026-07",
                                       "convert:b/L1@2026-07", "convert:b/L1@2027-01"]
    # the July acquire is cheaper but energises too late for the July convert: without
    # the lag, case 2 would take it with the July convert (-5 + 80)
    vals = {"acquire:b@2026-01": early_cost, "acquire:b@2026-07": -5e6,
            "convert:b/L1@2026-07": 1e6, "convert:b/L1@2027-01": 0.1e6}
    sol = solve(inst, acts, const_table(acts, vals, 24))
    assert by_label(acts, sol) == pytest.approx(expect)
    assert sol.objective == pytest.approx(sum(vals[k] * v for k, v in expect.items()))


def test_one_acquire_per_site():
    inst = make_instance([site("d", status="candidate", hpc_mw=50, energize=3)],
                         [lease("L", ("d",), 50, "2026-12")])
    acts = build_catalog(inst)
    assert sum(a.kind == "acquire" for a in acts) == 2
    vt = const_table(acts, {"acquire:d@2026-01": 3e6, "acquire:d@2026-07": 2e6}, 12)
    assert solve(inst, acts, vt).objective == pytest.approx(3e6)


def test_site_mw_cap():
    inst = make_instance([site("a", hpc_mw=100)],
                         [lease("L1", ("a",), 100, "2026-01"), lease("L2", ("a",), 100, "2026-01")])
    acts = build_catalog(inst)
    vt = const_table(acts, {"convert:a/L1@2026-01": 1e6, "convert:a/L2@2026-01": 0.8e6}, 12)
    sol = solve(inst, acts, vt)
    assert by_label(acts, sol) == {"convert:a/L1@2026-01": 100.0}
    assert sol.objective == pytest.approx(100e6)


def test_lease_mw_cap():
    inst = make_instance([site("a", hpc_mw=100), site("b", hpc_mw=100)],
                         [lease("L1", ("a", "b"), 60, "2026-01")])
    acts = build_catalog(inst)
    vt = const_table(acts, {"convert:a/L1@2026-01": 1e6, "convert:b/L1@2026-01": 0.9e6}, 12)
    sol = solve(inst, acts, vt)
    assert by_label(acts, sol) == {"convert:a/L1@2026-01": 60.0}


def test_sign_by_is_enforced_by_the_catalog():
    inst = make_instance([site("a", hpc_mw=100)], [lease("L1", ("a",), 100, "2026-03")], step=3)
    acts = build_catalog(inst)
    converts = [a for a in acts if a.kind == "convert"]
    assert [a.start for a in converts] == [START]          # 2026-04 onwards is after sign_by
    assert all(a.start <= inst.lease("L1").sign_by for a in converts)


def _cash_case(**kw):
    inst = make_instance([site("a", hpc_mw=100)], [lease("L1", ("a",), 100, "2026-01")], **kw)
    acts = build_catalog(inst)
    cash = np.zeros((1, 12))
    cash[0, 3] = -1e6                                        # capex per MW in 2026-04
    return inst, acts, cash


def test_min_cash_binds_in_a_month():
    inst, acts, cash = _cash_case(cash=100e6, min_cash=50e6)
    sol = solve(inst, acts, const_table(acts, {"convert:a/L1@2026-01": 1e6}, 12, cash=cash))
    assert sol.quantities[0] == pytest.approx(50.0)


def test_cash_infeasible_names_the_first_short_month():
    inst, acts, cash = _cash_case(cash=100e6, min_cash=50e6)
    base_cash = np.zeros(12)
    base_cash[5] = -60e6
    vt = const_table(acts, {"convert:a/L1@2026-01": 1e6}, 12, cash=cash, base_cash=base_cash)
    with pytest.raises(PlanInfeasible) as e:
        solve(inst, acts, vt)
    assert e.value.reason == "cash" and e.value.month == START + 5
    assert e.value.shortfall_usd == pytest.approx(10e6)
    assert "2026-06" in str(e.value) and "10,000,000" in str(e.value)


def test_instrument_max_binds():
    eq = Instrument("eq", "equity", 30e6, issue_by=M6, fee=0.01)
    inst, acts, cash = _cash_case(cash=0.0, instruments=(eq,))
    sol = solve(inst, acts, const_table(acts, {"convert:a/L1@2026-01": 1e6}, 12, cash=cash), gap=1e-9)
    assert sol.quantities[0] == pytest.approx(30e6 * 0.99 / 1e6, rel=1e-7)
    assert sol.draws == [("eq", pytest.approx(30e6), START)]   # the July draw comes too late


def test_secured_notes_within_loan_to_cost():
    sn = Instrument("sn", "secured_notes", 1e9, issue_by=M6, maturity=START + 60, loan_to_cost=0.5)
    inst = make_instance([site("a", hpc_mw=100, capex=2e6, ownership=0.5)],
                         [lease("L1", ("a",), 100, "2026-01")], cash=10e6, instruments=(sn,))
    acts = build_catalog(inst)
    cash = np.zeros((1, 12))
    cash[0, 3] = -1.5e6
    sol = solve(inst, acts, const_table(acts, {"convert:a/L1@2026-01": 1e6}, 12, cash=cash), gap=1e-9)
    # draws <= 0.5 x (0.5 x 2e6) q and 10e6 + draws >= 1.5e6 q  =>  q = 10 MW, draws 5e6
    assert sol.quantities[0] == pytest.approx(10.0, rel=1e-7)
    assert sum(d[1] for d in sol.draws) == pytest.approx(5e6, rel=1e-7)


@pytest.mark.parametrize("issue_by,month", [("2026-03", START), ("2026-07", M6)])
def test_issue_by_binds(issue_by, month):
    """Later draws cost less (discounted fee), so only issue_by keeps the draw in January."""
    eq = Instrument("eq", "equity", 1e9, issue_by=parse_month(issue_by), fee=0.01)
    inst = make_instance([site("a", hpc_mw=100)], [lease("L1", ("a",), 100, "2026-01")],
                         cash=0.0, instruments=(eq,))
    acts = build_catalog(inst)
    cash = np.zeros((1, 12))
    cash[0, 9] = -1e6
    sol = solve(inst, acts, const_table(acts, {"convert:a/L1@2026-01": 1e6}, 12, cash=cash), gap=1e-10)
    amount = 100e6 / 0.99
    assert sol.draws == [("eq", pytest.approx(amount, rel=1e-7), month)]
    fee_pv = 0.01 * 1.1 ** (-((month - START) + 0.5) / 12)
    assert sol.objective == pytest.approx(100e6 - fee_pv * amount, rel=1e-9)


# ---- blocks ---------------------------------------------------------------------------------

def _block_case(seed: int, block_mw: float):
    """One site (50 MW, in blocks of `block_mw`), one 45 MW lease, three starts; each
    convert spends $1M/MW in its start month out of $30M of cash that grows $2M a month,
    so cash, the site and the lease all bind somewhere and the continuous optimum is
    fractional."""
    inst = make_instance([site("a", hpc_mw=50, block_mw=block_mw)],
                         [lease("L1", ("a",), 45, "2027-01")], years=2, cash=30e6)
    acts = build_catalog(inst)
    rng = np.random.default_rng(seed)
    S, M = 50, inst.plan.months
    npv = 1e6 * (rng.normal(0.5, 0.5, (len(acts), 1)) + 0.3 * rng.standard_normal((len(acts), S)))
    cash = np.zeros((len(acts), M))
    for a in acts:
        cash[a.index, a.start - START] = -1e6
    vt = make_table(npv, M, base=rng.normal(1e8, 1e7, S), cash=cash, base_cash=np.full(M, 2e6))
    return inst, acts, vt


def _whole(q: float, block: float) -> bool:
    return q == block * round(q / block)          # exactly: 16.0, not 15.9999999


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_blocks_match_brute_force_over_block_counts(seed):
    """Every convert's block count enumerated (site, lease and cumulative cash checked by
    hand): the MIP's E[NPV] is the best of them, its MW whole blocks, and never above the
    same instance without blocks."""
    inst, acts, vt = _block_case(seed, 8.0)
    assert [a.max_units for a in acts] == [40.0] * 3          # 45 MW lease: 5 blocks of 8
    mean, base = vt.npv.mean(1), float(vt.baseline_npv.mean())
    month_cash = np.cumsum(vt.cash, axis=1)                   # (A, M) per MW
    headroom = 30e6 + np.cumsum(vt.baseline_cash)
    best = -math.inf
    for n in itertools.product(range(6), repeat=len(acts)):
        q = 8.0 * np.array(n)
        if q.sum() > 45 or np.any(headroom + q @ month_cash < 0):
            continue
        best = max(best, base + float(mean @ q))
    sol = solve(inst, acts, vt, gap=1e-9)
    assert sol.objective == pytest.approx(best, rel=1e-9)
    assert all(_whole(float(q), 8.0) for q in sol.quantities)
    cont_inst, cont_acts, cont_vt = _block_case(seed, 0.0)
    cont = solve(cont_inst, cont_acts, cont_vt, gap=1e-9)
    assert sol.objective <= cont.objective * (1 + 1e-9)


def test_relaxation_relaxes_block_counts_and_fixes_build_one_block():
    inst, acts, vt = _block_case(0, 8.0)
    pm = PlanModel(inst, acts, vt)
    mip = pm.solve(None, 1e-9).objective
    pm.relax(True)
    lp = pm.solve(None, 0.0)
    counts = np.array([v.value for v in pm.nv])
    pm.relax(False)
    # the lease's 45 MW is no whole number of 8 MW blocks: the relaxation fills it with
    # fractional counts, and the MIP cannot
    assert lp.objective > mip and np.any(np.abs(counts - np.round(counts)) > 1e-6)
    assert pm.solve(None, 1e-9).objective == pytest.approx(mip, rel=1e-9)
    pm.set_start(np.ones(len(acts)))                          # HiGHS completes the counts
    assert pm.solve(None, 1e-9).objective == pytest.approx(mip, rel=1e-9)
    # a fixed convert that loses money builds the least it can: one block
    loser = int(np.argmin(vt.npv.mean(1)))
    vals = {a.label: (-1e6 if a.index == loser else 0.0) for a in acts}
    sol = solve(inst, acts, const_table(acts, vals, inst.plan.months),
                fixes=[Fix("a", "convert", acts[loser].start)])
    assert by_label(acts, sol) == {acts[loser].label: 8.0}


# ---- fixes ----------------------------------------------------------------------------------

def test_fix_forbid_and_require_any():
    inst = make_instance([site("a", sale=True), site("c", sale=True)])
    acts = build_catalog(inst)
    vals = {"sell:a@2026-01": 10e6, "sell:a@2026-07": 8e6, "sell:c@2026-01": -1e6,
            "sell:c@2026-07": -3e6}
    vt = const_table(acts, vals, 12)
    sol = solve(inst, acts, vt, fixes=[Fix("a", "sell", forbid=True), Fix("c", "sell")])
    # a may not sell; c must sell at some date: the cheaper January sale
    assert by_label(acts, sol) == {"sell:c@2026-01": 1.0}
    sol = solve(inst, acts, vt, fixes=[Fix("a", "sell", START + 6), Fix("c", "sell", START + 6)])
    assert by_label(acts, sol) == {"sell:a@2026-07": 1.0, "sell:c@2026-07": 1.0}
    with pytest.raises(PlanInfeasible) as e:
        solve(inst, acts, vt, fixes=[Fix("a", "sell", START), Fix("a", "sell", START + 6)])
    assert e.value.reason == "fixes"
    with pytest.raises(ValueError):
        solve(inst, acts, vt, fixes=[Fix("zz", "sell")])


def test_model_hooks_on_a_built_model():
    inst = make_instance([site("a", sale=True)])
    acts = build_catalog(inst)
    pm = PlanModel(inst, acts, const_table(acts, {"sell:a@2026-01": 10e6, "sell:a@2026-07": 8e6}, 12))
    assert pm.solve().objective == pytest.approx(10e6)
    pm.forbid_actions(lambda a: a.start == START)          # after instantiation: pushed to HiGHS
    out = pm.solve()
    assert out.status == "optimal" and out.objective == pytest.approx(8e6)
    np.testing.assert_allclose(pm.quantities(), [0.0, 1.0])
