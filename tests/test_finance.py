"""Financing terms against independent references: closed forms, parity, Monte Carlo."""
from __future__ import annotations

import math

import numpy as np
import pytest

from wattfolio.instance.checks import run_checks
from wattfolio.errors import InstanceError, PlanError
from wattfolio.planning.finance import (Draw, black_scholes_call, conversion_option_per_usd,
                               cost_breakdown, draw_options, draw_terms, financing_cost_and_cash)
from wattfolio.instance.types import (Finance, Instance, Instrument, Plan, Risk, parse_month)

START = parse_month("2026-01")


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _instance(*instruments: Instrument, rate: float = 0.08, years: int = 4,
              cost_of_debt: float | None = 0.08, risk_free: float | None = 0.04) -> Instance:
    plan = Plan(name="f", start=START, horizon_years=years, decision_step_months=6,
                discount_rate=rate, scenarios=10, seed=1)
    return Instance(plan=plan, risk=Risk(), bitcoin=None, markets=(), hpc_market=None, sites=(),
                    finance=Finance(cash_usd=0.0, instruments=tuple(instruments),
                                    cost_of_debt=cost_of_debt, risk_free_rate=risk_free))


def test_black_scholes_hand_value():
    # S=1, K=1.3, sigma=0.6, T=3, r=0.05 worked by hand with erf
    S, K, s, T, r = 1.0, 1.3, 0.6, 3.0, 0.05
    d1 = (math.log(S / K) + (r + s * s / 2) * T) / (s * math.sqrt(T))
    d2 = d1 - s * math.sqrt(T)
    hand = S * _phi(d1) - K * math.exp(-r * T) * _phi(d2)
    assert black_scholes_call(S, K, s, T, r) == pytest.approx(hand, abs=1e-9)


@pytest.mark.parametrize("S,K,s,T,r", [(1.0, 1.375, 0.7, 6.0, 0.10), (50.0, 40.0, 0.3, 0.5, 0.02),
                                       (1.0, 1.0, 1.2, 10.0, 0.0)])
def test_black_scholes_put_call_parity(S, K, s, T, r):
    d1 = (math.log(S / K) + (r + s * s / 2) * T) / (s * math.sqrt(T))
    d2 = d1 - s * math.sqrt(T)
    put = K * math.exp(-r * T) * _phi(-d2) - S * _phi(-d1)
    assert black_scholes_call(S, K, s, T, r) - put == pytest.approx(S - K * math.exp(-r * T), abs=1e-9)


def test_conversion_option_matches_monte_carlo_of_the_dilution():
    """Noteholders' extra value per $: max(S_T/(S_0 (1+p)) - 1, 0), discounted, under GBM."""
    k = Instrument("cv", "convertible", 1e8, issue_by=START + 12, maturity=START + 60,
                   conversion_premium=0.375, equity_volatility=0.7, fee=0.02)
    r, T = 0.1, 5.0
    rng = np.random.default_rng(11)
    z = rng.standard_normal(400_000)
    ST = np.exp((r - 0.5 * 0.7 ** 2) * T + 0.7 * math.sqrt(T) * z)
    pay = math.exp(-r * T) * np.maximum(ST / 1.375 - 1.0, 0.0)
    se = pay.std(ddof=1) / math.sqrt(pay.size)
    value = conversion_option_per_usd(k, START, r)
    assert abs(value - pay.mean()) < 4 * se
    assert value > 0.1  # a 5-year, 70%-vol option on a 37.5% premium is worth a lot


def test_convertible_cash_schedule_and_cost():
    k = Instrument("cv", "convertible", 5e8, issue_by=START + 6, fee=0.025, rate=0.06,
                   maturity=START + 30, conversion_premium=0.3, equity_volatility=0.5)
    inst = _instance(k, rate=0.1, cost_of_debt=0.06, risk_free=0.03)  # a market coupon: no gain
    cost, cash = draw_terms(inst, Draw("cv", "convertible", START + 6))
    expect = np.zeros(48)
    expect[6] = 0.975
    expect[7:31] -= 0.005             # months 7..30: coupon through maturity
    expect[30] -= 1.0                 # principal at maturity
    np.testing.assert_allclose(cash, expect, atol=1e-15)
    T = 24 / 12
    d1 = (math.log(1 / 1.3) + (0.03 + 0.125) * T) / (0.5 * math.sqrt(T))
    call = _phi(d1) - 1.3 * math.exp(-0.03 * T) * _phi(d1 - 0.5 * math.sqrt(T))
    assert cost == pytest.approx((0.025 + call / 1.3) * 1.1 ** (-6.5 / 12), rel=1e-12)


def test_secured_and_equity_cost_fee_only_and_maturity_beyond_horizon():
    sn = Instrument("sn", "secured_notes", 1e8, issue_by=START, fee=0.01, rate=0.12,
                    maturity=START + 120)
    eq = Instrument("eq", "equity", 1e8, issue_by=START + 12, fee=0.05)
    inst = _instance(sn, eq, rate=0.08, cost_of_debt=0.12)      # notes at a market coupon
    cost, cash = draw_terms(inst, Draw("sn", "secured_notes", START))
    assert cost == pytest.approx(0.01 * 1.08 ** (-0.5 / 12), rel=1e-12)
    assert cash[0] == pytest.approx(0.99)
    np.testing.assert_allclose(cash[1:], -0.01)          # coupons to the horizon, no principal
    cost, cash = draw_terms(inst, Draw("eq", "equity", START + 12))
    assert cost == pytest.approx(0.05 * 1.08 ** (-12.5 / 12), rel=1e-12)
    assert cash[12] == pytest.approx(0.95) and np.count_nonzero(cash) == 1


def test_draw_options_respect_issue_by_and_maturity():
    a = Instrument("a", "equity", 1e8, issue_by=START + 13)
    b = Instrument("b", "secured_notes", 1e8, issue_by=START + 40, maturity=START + 18, rate=0.1)
    opts = draw_options(_instance(a, b))
    assert [(d.instrument, d.month - START) for d in opts] == [("a", 0), ("a", 6), ("a", 12),
                                                              ("b", 0), ("b", 6), ("b", 12)]


def test_financing_cost_and_cash_sums_draws_and_rejects_bad_ones():
    eq = Instrument("eq", "equity", 1e8, issue_by=START + 12, fee=0.04)
    sn = Instrument("sn", "secured_notes", 2e8, issue_by=START + 12, fee=0.01, rate=0.06,
                    maturity=START + 24)
    inst = _instance(eq, sn)
    plan = [("eq", 3e7, START), ("sn", 1e8, START + 7)]   # off-grid month allowed for a hand plan
    cost, cash = financing_cost_and_cash(inst, plan)
    c1, f1 = draw_terms(inst, ("eq", START))
    c2, f2 = draw_terms(inst, ("sn", START + 7))
    assert cost == pytest.approx(3e7 * c1 + 1e8 * c2)
    np.testing.assert_allclose(cash, 3e7 * f1 + 1e8 * f2)
    assert cash[24] == pytest.approx(-1e8 * (1 + 0.005))
    with pytest.raises(PlanError) as e:
        financing_cost_and_cash(inst, [("eq", 6e7, START), ("eq", 6e7, START + 6),
                                       ("zz", 1.0, START), ("sn", 1.0, START + 13)])
    msg = str(e.value)
    assert "over max_usd" in msg and "unknown instrument" in msg and "issue_by" in msg


# ---- adjusted present value at the cost of debt ---------------------------------------------

def _discount(rate: float, month: int) -> float:
    return (1.0 + rate) ** (-((month - START) + 0.5) / 12.0)


def test_zero_coupon_convertible_with_worthless_option_costs_minus_its_coupon_gain():
    # a 1,000% premium at 10% volatility: the conversion option is worth nothing
    cv = Instrument("cv", "convertible", 1e8, issue_by=START + 12, maturity=START + 60,
                    conversion_premium=10.0, equity_volatility=0.1, fee=0.0, rate=0.0)
    c, draw = 0.0775, START + 6
    inst = _instance(cv, rate=0.1, cost_of_debt=c)
    n = 60 - 6
    gain = 1.0 - (1.0 + c / 12.0) ** -n          # 1 - PV at c of the principal alone
    cost, _ = draw_terms(inst, Draw("cv", "convertible", draw))
    assert cost == pytest.approx(-gain * _discount(0.1, draw), rel=1e-9)
    b = cost_breakdown(inst, "cv", draw)
    assert b.option < 1e-15 and b.fee == 0.0
    assert b.coupon_gain == pytest.approx(gain, rel=1e-12)
    assert b.net == pytest.approx(-gain, rel=1e-9)


def test_secured_notes_at_a_market_coupon_cost_exactly_their_fee():
    sn = Instrument("sn", "secured_notes", 1e8, issue_by=START + 12, maturity=START + 54,
                    rate=0.0775, fee=0.02)
    inst = _instance(sn, rate=0.1, cost_of_debt=0.0775)
    for month in (START, START + 12):
        cost, _ = draw_terms(inst, ("sn", month))
        assert cost == pytest.approx(0.02 * _discount(0.1, month), rel=1e-12)
        assert cost_breakdown(inst, "sn", month).coupon_gain == pytest.approx(0.0, abs=1e-15)


def test_coupon_gain_is_one_minus_the_notes_pv_and_ignores_the_horizon():
    """Maturity (10 years) past a 4- or 6-year horizon: the gain runs to maturity, so it is
    the same as with a 12-year horizon that holds the whole contract."""
    c, coupon, n = 0.08, 0.10, 120            # a coupon above market: the gain is a cost
    sn = Instrument("sn", "secured_notes", 1e8, issue_by=START, maturity=START + n,
                    rate=coupon, fee=0.01)
    j = c / 12.0
    pv_note = sum(coupon / 12.0 * (1 + j) ** -k for k in range(1, n + 1)) + (1 + j) ** -n
    gains, costs = [], []
    for years in (4, 6, 12):
        inst = _instance(sn, rate=0.1, years=years, cost_of_debt=c)
        gains.append(cost_breakdown(inst, "sn", START).coupon_gain)
        costs.append(draw_terms(inst, ("sn", START))[0])
    assert gains[0] == pytest.approx(1.0 - pv_note, rel=1e-12) and gains[0] < 0
    assert gains[1] == gains[0] and gains[2] == gains[0]
    assert costs[1] == costs[0] and costs[2] == costs[0]


def test_conversion_option_is_priced_at_the_risk_free_rate():
    from scipy.stats import norm

    cv = Instrument("cv", "convertible", 5.75e8, issue_by=START + 6, maturity=START + 76,
                    conversion_premium=0.375, equity_volatility=0.9, fee=0.025, rate=0.0)
    rf, plan_rate = 0.04, 0.10
    inst = _instance(cv, rate=plan_rate, cost_of_debt=0.0775, risk_free=rf)
    S, K, s, T = 1.0, 1.375, 0.9, 76 / 12
    d1 = (math.log(S / K) + (rf + s * s / 2) * T) / (s * math.sqrt(T))
    call = S * norm.cdf(d1) - K * math.exp(-rf * T) * norm.cdf(d1 - s * math.sqrt(T))
    b = cost_breakdown(inst, "cv", START)
    assert b.option == pytest.approx(call / K, rel=1e-9)
    # and not at the plan's discount rate
    assert abs(b.option - conversion_option_per_usd(cv, START, plan_rate)) > 1e-3
    cost, _ = draw_terms(inst, ("cv", START))
    gain = 1.0 - (1.0 + 0.0775 / 12) ** -76
    assert cost == pytest.approx((0.025 + call / K - gain) * _discount(plan_rate, START), rel=1e-9)


def _terawulf_raw() -> dict:
    from pathlib import Path
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    path = Path(__file__).resolve().parent.parent / "instances" / "terawulf.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("key,message", [
    ("cost_of_debt", "finance.cost_of_debt: required when finance.instruments has debt "
                     "(converts-2032, secured-2030), got none"),
    ("risk_free_rate", "finance.risk_free_rate: required when finance.instruments has a "
                       "convertible (converts-2032), got none"),
])
def test_missing_finance_rate_names_its_path(key, message):
    data = _terawulf_raw()
    del data["finance"][key]
    assert run_checks(data) == [message]


def test_finance_rates_not_required_without_debt_and_checked_when_given():
    data = _terawulf_raw()
    fin = data["finance"]
    del fin["cost_of_debt"], fin["risk_free_rate"]
    fin["instruments"] = [k for k in fin["instruments"] if k["kind"] == "equity"]
    assert run_checks(data) == []
    fin["cost_of_debt"], fin["risk_free_rate"] = 0.0, 1.0
    assert run_checks(data) == ["finance.cost_of_debt: must be in (0, 1), got 0.0",
                                "finance.risk_free_rate: must be in [0, 1), got 1.0"]


def test_instance_built_in_code_without_cost_of_debt_names_the_path():
    sn = Instrument("sn", "secured_notes", 1e8, issue_by=START, maturity=START + 24, rate=0.07)
    with pytest.raises(InstanceError, match=r"^finance\.cost_of_debt: required"):
        draw_terms(_instance(sn, cost_of_debt=None), ("sn", START))
