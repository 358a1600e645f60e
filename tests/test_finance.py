"""Financing terms against independent references: closed forms, parity, Monte Carlo."""
from __future__ import annotations

import math

import numpy as np
import pytest

from optimizer.errors import PlanError
from optimizer.finance import (Draw, black_scholes_call, conversion_option_per_usd,
                               draw_options, draw_terms, financing_cost_and_cash)
from optimizer.instance import (Finance, Instance, Instrument, Plan, Risk, parse_month)

START = parse_month("2026-01")


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _instance(*instruments: Instrument, rate: float = 0.08, years: int = 4) -> Instance:
    plan = Plan(name="f", start=START, horizon_years=years, decision_step_months=6,
                discount_rate=rate, scenarios=10, seed=1)
    return Instance(plan=plan, risk=Risk(), bitcoin=None, markets=(), hpc_market=None, sites=(),
                    finance=Finance(cash_usd=0.0, instruments=tuple(instruments)))


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
    inst = _instance(k, rate=0.1)
    cost, cash = draw_terms(inst, Draw("cv", "convertible", START + 6))
    expect = np.zeros(48)
    expect[6] = 0.975
    expect[7:31] -= 0.005             # months 7..30: coupon through maturity
    expect[30] -= 1.0                 # principal at maturity
    np.testing.assert_allclose(cash, expect, atol=1e-15)
    T = 24 / 12
    d1 = (math.log(1 / 1.3) + (0.1 + 0.125) * T) / (0.5 * math.sqrt(T))
    call = _phi(d1) - 1.3 * math.exp(-0.1 * T) * _phi(d1 - 0.5 * math.sqrt(T))
    assert cost == pytest.approx((0.025 + call / 1.3) * 1.1 ** (-6.5 / 12), rel=1e-12)


def test_secured_and_equity_cost_fee_only_and_maturity_beyond_horizon():
    sn = Instrument("sn", "secured_notes", 1e8, issue_by=START, fee=0.01, rate=0.12,
                    maturity=START + 120)
    eq = Instrument("eq", "equity", 1e8, issue_by=START + 12, fee=0.05)
    inst = _instance(sn, eq, rate=0.08)
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
