"""The bitcoin network and fleet restarts: hashprice against closed forms of the
log-hashrate rule, the old exogenous mode against its own closed form, mothball-and-restart
against hand schedules, and the either/or network keys against their error messages.

References are written out here (closed forms, a month-by-month loop over the rule as
stated, hand-made margin schedules), never taken from the code under test.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from wattfolio.gpu.backend import to_host
from wattfolio.gpu.factors import bitcoin_paths
from wattfolio.gpu.inputs import BitcoinParams, Horizon
from wattfolio.gpu.valuation import mothball
from wattfolio.planning.valuation import value_actions
from wattfolio.errors import InstanceError
from wattfolio.instance.types import (
    Bitcoin, HpcMarket, Instance, Market, Mining, Plan, Risk, Site, TerminalMultiple, parse_month,
)
from wattfolio.instance.load import parse_instance

REPO = Path(__file__).resolve().parents[1]
EFF, POWER = 28.0, 50.0
HP_STAR = EFF * POWER * 24.0 / 1e6          # $ per TH/s per day: eff W per TH/s for 24 h


def horizon(months: int) -> Horizon:
    return Horizon(months=months, first_calendar_month=0, discount_rate=0.1, hours_per_month=24,
                   seed=3, tv_hpc=0.0, tv_mining=0.0)


def economic(months: int, *, speed=1.5, hashrate=1050.0, subsidy=None, **kw) -> BitcoinParams:
    base = dict(price_usd=90_000.0, drift=0.0, volatility=0.0, hashrate_ehs=hashrate,
                hashrate_growth=None, fees_btc=0.0, hashrate_price_elasticity=0.5,
                subsidy_btc=np.full(months, 3.125) if subsidy is None else subsidy,
                marginal_efficiency_j_per_th=EFF, marginal_power_usd_per_mwh=POWER,
                hashrate_adjustment_speed=speed)
    base.update(kw)
    return BitcoinParams(**base)


def today(btc: BitcoinParams) -> float:
    """Today's hashprice: (subsidy + fees) x 144 blocks x price / (EH/s x 1e6 TH/s)."""
    return (btc.subsidy_btc[0] + btc.fees_btc) * 144.0 * btc.price_usd / (btc.hashrate_ehs * 1e6)


# ---------------------------------------------------------------------------------------
# economic network


@pytest.mark.parametrize("hashrate", [700.0, 1050.0, 1600.0])   # above, near and below breakeven
def test_flat_price_reverts_geometrically_to_breakeven(xp_backends, hashrate):
    """x_{m+1} = phi x_m with x = ln(hp / hp*): hp_m = hp* (hp_0 / hp*)^(phi^m)."""
    xp, M, speed = xp_backends.xp, 240, 1.5
    btc = economic(M, speed=speed, hashrate=hashrate)
    _, hp = bitcoin_paths(xp, 1, xp.arange(4, dtype=xp.int64), horizon(M), btc)
    hp = to_host(hp)
    phi = math.exp(-speed / 12.0)
    m = np.arange(M)
    expected = HP_STAR * (today(btc) / HP_STAR) ** (phi ** m)
    np.testing.assert_allclose(hp, np.broadcast_to(expected, hp.shape), rtol=1e-12, atol=0)
    assert hp.dtype == np.float64
    assert abs(hp[0, -1] / HP_STAR - 1.0) < 1e-9          # 20 years at 1.5/y: e^-30 of the gap


def test_zero_speed_keeps_todays_hashprice():
    M = 36
    _, hp = bitcoin_paths(np, 1, np.arange(2, dtype=np.int64), horizon(M), economic(M, speed=0.0))
    np.testing.assert_allclose(hp, today(economic(M)), rtol=1e-13)


def test_halving_halves_hashprice_then_the_gap_decays_by_phi():
    """Fees 0, subsidy halved from month h: that month hp is half what the no-halving rule
    gives from the previous month's state, and ln(hp / hp_no_halving) = -ln 2 phi^(m-h)."""
    M, h, speed = 60, 20, 1.0
    sub = np.where(np.arange(M) < h, 3.125, 1.5625)
    btc = economic(M, speed=speed, subsidy=sub)
    _, hp = bitcoin_paths(np, 1, np.arange(3, dtype=np.int64), horizon(M), btc)
    phi = math.exp(-speed / 12.0)
    x0 = math.log(today(btc) / HP_STAR)
    no_halving_from_prev = HP_STAR * (hp[:, h - 1] / HP_STAR) ** phi
    np.testing.assert_allclose(hp[:, h] / no_halving_from_prev, 0.5, rtol=1e-12)
    m = np.arange(M)
    no_halving = HP_STAR * np.exp(phi ** m * x0)
    np.testing.assert_allclose(hp[0, :h], no_halving[:h], rtol=1e-12)
    gap = np.log(hp[0, h:] / no_halving[h:])
    np.testing.assert_allclose(gap, -math.log(2.0) * phi ** np.arange(M - h), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gap[1:] / gap[:-1], phi, rtol=1e-9)


def test_stochastic_paths_follow_the_log_hashrate_rule():
    """With price risk, drift, fees and a halving: the rule as stated, one month at a time,
    y_{m+1} = y_m + (1 - phi) ln(hp_m / hp*) + e (s_{m+1} - s_m), y_0 = ln H_0."""
    M, speed, e, drift, fees = 48, 0.8, 0.5, 0.1, 0.05
    sub = np.where(np.arange(M) < 27, 3.125, 1.5625)
    btc = economic(M, speed=speed, subsidy=sub, volatility=0.6, drift=drift, fees_btc=fees,
                   hashrate_price_elasticity=e)
    price, hp = bitcoin_paths(np, 5, np.arange(200, dtype=np.int64), horizon(M), btc)
    t = np.arange(M) / 12.0
    s = np.log(price / btc.price_usd) - drift * t          # the price surprise
    phi = math.exp(-speed / 12.0)
    y = np.empty_like(price)
    y[:, 0] = math.log(btc.hashrate_ehs)
    ref = np.empty_like(price)
    for m in range(M):
        ref[:, m] = (sub[m] + fees) * 144.0 * price[:, m] / (np.exp(y[:, m]) * 1e6)
        if m + 1 < M:
            y[:, m + 1] = y[:, m] + (1.0 - phi) * np.log(ref[:, m] / HP_STAR) + e * (s[:, m + 1] - s[:, m])
    np.testing.assert_allclose(hp, ref, rtol=1e-11)


def test_economic_paths_do_not_depend_on_the_chunk():
    M = 30
    btc = economic(M, volatility=0.55, fees_btc=0.03)
    _, whole = bitcoin_paths(np, 9, np.arange(10, dtype=np.int64), horizon(M), btc)
    _, part = bitcoin_paths(np, 9, np.arange(4, 10, dtype=np.int64), horizon(M), btc)
    np.testing.assert_array_equal(whole[4:], part)


# ---------------------------------------------------------------------------------------
# exogenous network (the old mode)


def test_exogenous_mode_keeps_the_old_closed_form():
    """hp = (subsidy + fees) 144 P / (H_0 (1 + g)^t exp(e s) 1e6)."""
    M, g, e = 40, 0.2, 0.5
    sub = np.where(np.arange(M) < 28, 3.125, 1.5625)
    btc = BitcoinParams(price_usd=90_000.0, drift=0.05, volatility=0.55, hashrate_ehs=1050.0,
                        hashrate_growth=g, fees_btc=0.03, hashrate_price_elasticity=e, subsidy_btc=sub)
    assert not btc.economic
    price, hp = bitcoin_paths(np, 7, np.arange(100, dtype=np.int64), horizon(M), btc)
    t = np.arange(M) / 12.0
    s = np.log(price / btc.price_usd) - btc.drift * t
    hashrate = 1050.0 * (1.0 + g) ** t * np.exp(e * s)
    np.testing.assert_allclose(hp, (sub + 0.03) * 144.0 * price / (hashrate * 1e6), rtol=1e-13)


# ---------------------------------------------------------------------------------------
# mothball and restart


def test_mothball_and_restart_follow_the_hand_schedule():
    """Patience 3, restart after 2 paying months at a cost of 100 per MW.

    month     0   1   2   3   4   5   6    7   8   9  10  11  12  13  14
    margin    5  -1  -2  -3   4   6   7   -1  -1  -1   8  -2   3   3   5
    state     run run run run off off back run run run off off off off back
    earned    5  -1  -2  -3   0   0   7-100 -1 -1 -1   0   0   0   0  5-100

    Three losses (1-3) stop it from month 4; two paying months (4, 5) bring it back in
    month 6, which pays the restart cost; a fresh run of three losses (7-9) stops it again;
    month 11 breaks the paying run, so 12-13 bring it back in 14. Restart 0 never comes
    back; patience 0 never stops; a path that always pays is untouched.
    """
    path = np.array([5, -1, -2, -3, 4, 6, 7, -1, -1, -1, 8, -2, 3, 3, 5], dtype=np.float64)
    paying = np.full(path.size, 2.0)
    margin = np.stack([np.stack([path, paying])] * 3)             # (3 sites, 2 scenarios, 15)
    out = mothball(np, margin, patience=np.array([3, 3, 0]), restart=np.array([2, 0, 2]),
                   restart_cost=np.array([100.0, 100.0, 100.0]))
    restarting = [5, -1, -2, -3, 0, 0, 7 - 100, -1, -1, -1, 0, 0, 0, 0, 5 - 100]
    never_back = [5, -1, -2, -3] + [0] * 11
    np.testing.assert_array_equal(out[0, 0], restarting)
    np.testing.assert_array_equal(out[1, 0], never_back)
    np.testing.assert_array_equal(out[2, 0], path)
    np.testing.assert_array_equal(out[:, 1], margin[:, 1])


def test_mothball_without_restart_arguments_never_restarts():
    margin = np.array([[[-1.0, -1.0, 5.0, 5.0, 5.0, 5.0]]])
    np.testing.assert_array_equal(mothball(np, margin, np.array([2]))[0, 0], [-1, -1, 0, 0, 0, 0])


def test_restart_through_the_engine():
    """The summer months lose money (plan months 3-5 and 15-17 of 24, as in test_engine):
    with patience 3 and restart 3 the fleet is off in months 6-8 and 18-20 and pays the
    restart cost per grid MW in months 9 and 21."""
    own, cap, opex, cost, rev = 0.8, 20.0, 3650.0, 50_000.0, 100.0
    start = parse_month("2026-03")
    plan = Plan(name="t", start=start, horizon_years=2, decision_step_months=6, discount_rate=0.1,
                scenarios=8, seed=7, hours_per_month=24, terminal_multiple=TerminalMultiple())
    # hash revenue 1e6/25 TH/s per MW x 3.125 x 144 x 1e5 / (750 x 1e6) / 24 h = $100/MWh
    btc = Bitcoin(price_usd=100_000.0, drift=0.0, volatility=0.0, network_hashrate_ehs=750.0,
                  hashrate_growth=0.0, fees_btc_per_block=0.0, subsidy_btc=3.125,
                  hashrate_price_elasticity=0.0)
    mkt = Market(id="hub", mean_price=80.0, volatility=0.0, mean_reversion=2.0, seasonal_amplitude=0.3,
                 seasonal_peak_month=7, hourly_volatility=0.0, spike_probability=0.0,
                 spike_price=500.0, price_cap=1000.0)
    site = Site(id="mine", market="hub", status="operating", use="mining", capacity_mw=cap,
                ownership=own, mining=Mining(efficiency_j_per_th=25.0, opex_usd_per_mw_month=opex,
                                             shutdown_after_loss_months=3, restart_after_profit_months=3,
                                             restart_cost_usd_per_mw=cost))
    inst = Instance(plan=plan, risk=Risk(), bitcoin=btc, markets=(mkt,),
                    hpc_market=HpcMarket(rate_kw_month=150.0, volatility=0.1, drift=0.0), sites=(site,))
    vt = value_actions(inst, [], backend="numpy")
    cal = (start % 12 + np.arange(24)) % 12
    price = 80.0 * np.exp(0.3 * np.cos(2.0 * np.pi * (cal - 6) / 12.0))
    margin = 730.0 * np.maximum(rev - price, 0.0) - opex
    assert list(np.flatnonzero(margin < 0)) == [3, 4, 5, 15, 16, 17]
    earned = margin.copy()
    earned[6:9] = earned[18:21] = 0.0
    earned[[9, 21]] -= cost
    np.testing.assert_allclose(vt.baseline_cash, own * cap * earned, rtol=1e-6,
                               atol=1e-6 * own * cap * 730 * rev)


# ---------------------------------------------------------------------------------------
# input: exactly one network mode


def tiny() -> dict:
    return tomllib.loads((REPO / "instances" / "tiny.toml").read_text())


def errors_of(data: dict) -> list[str]:
    with pytest.raises(InstanceError) as info:
        parse_instance(data)
    return info.value.errors


def test_tiny_is_an_economic_network():
    inst = parse_instance(tiny())
    assert inst.bitcoin.economic and inst.bitcoin.hashrate_growth is None
    assert inst.bitcoin.breakeven_hashprice == pytest.approx(25.0 * 100.0 * 24e-6, rel=1e-15)


def test_one_marginal_key_alone_names_the_missing_ones():
    data = tiny()
    for k in ("marginal_power_usd_per_mwh", "hashrate_adjustment_speed"):
        del data["bitcoin"][k]
    assert errors_of(data) == [
        "bitcoin.marginal_power_usd_per_mwh: required with bitcoin.marginal_efficiency_j_per_th, got none",
        "bitcoin.hashrate_adjustment_speed: required with bitcoin.marginal_efficiency_j_per_th, got none",
    ]
    data = tiny()
    del data["bitcoin"]["marginal_efficiency_j_per_th"]
    assert errors_of(data) == [
        "bitcoin.marginal_efficiency_j_per_th: required with bitcoin.marginal_power_usd_per_mwh "
        "and bitcoin.hashrate_adjustment_speed, got none"]


def test_both_modes_is_an_error_naming_paths_and_values():
    data = tiny()
    data["bitcoin"]["hashrate_growth"] = 0.2
    assert errors_of(data) == [
        "bitcoin.hashrate_growth: give either hashrate_growth (exogenous network) or the "
        "marginal-fleet keys (economic network), not both, got bitcoin.hashrate_growth = 0.2 and "
        "bitcoin.marginal_efficiency_j_per_th = 25.0 and bitcoin.marginal_power_usd_per_mwh = 100.0 "
        "and bitcoin.hashrate_adjustment_speed = 0.0"]


def test_neither_mode_is_an_error():
    data = tiny()
    for k in ("marginal_efficiency_j_per_th", "marginal_power_usd_per_mwh", "hashrate_adjustment_speed"):
        del data["bitcoin"][k]
    assert errors_of(data) == [
        "bitcoin: needs a network model, either bitcoin.hashrate_growth (exogenous growth) or "
        "bitcoin.marginal_efficiency_j_per_th, bitcoin.marginal_power_usd_per_mwh, "
        "bitcoin.hashrate_adjustment_speed (economic), got neither"]


def test_exogenous_file_keeps_loading():
    data = tiny()
    for k in ("marginal_efficiency_j_per_th", "marginal_power_usd_per_mwh", "hashrate_adjustment_speed"):
        del data["bitcoin"][k]
    data["bitcoin"]["hashrate_growth"] = 0.0
    b = parse_instance(data).bitcoin
    assert not b.economic and b.hashrate_growth == 0.0


@pytest.mark.parametrize("table, key, value, expected", [
    ("bitcoin", "marginal_efficiency_j_per_th", 0.0,
     "bitcoin.marginal_efficiency_j_per_th: must be in [1, 1000], got 0.0"),
    ("bitcoin", "marginal_power_usd_per_mwh", -5.0,
     "bitcoin.marginal_power_usd_per_mwh: must be in [0.01, 1e6], got -5.0"),
    ("bitcoin", "hashrate_adjustment_speed", -0.5,
     "bitcoin.hashrate_adjustment_speed: must be in [0, 100], got -0.5"),
    ("mining", "restart_after_profit_months", -1,
     "sites[0].mining.restart_after_profit_months: must be in [0, 600], got -1"),
    ("mining", "restart_after_profit_months", 2.5,
     "sites[0].mining.restart_after_profit_months: expected an integer, got 2.5"),
    ("mining", "restart_cost_usd_per_mw", -1.0,
     "sites[0].mining.restart_cost_usd_per_mw: must be in [0, 1e13], got -1.0"),
])
def test_bad_values(table, key, value, expected):
    data = tiny()
    (data["bitcoin"] if table == "bitcoin" else data["sites"][0]["mining"])[key] = value
    assert errors_of(data) == [expected]


def test_economic_network_needs_a_block_reward():
    data = tiny()
    data["bitcoin"]["subsidy_btc"] = 0.0
    assert errors_of(data) == [
        "bitcoin.subsidy_btc: subsidy_btc + fees_btc_per_block must be > 0 with an economic "
        "network, got 0.0 + 0.0"]


def test_restart_defaults():
    m = Mining(efficiency_j_per_th=20.0, opex_usd_per_mw_month=5000.0)
    assert (m.restart_after_profit_months, m.restart_cost_usd_per_mw) == (3, 0.0)
    assert replace(m, restart_after_profit_months=0).restart_after_profit_months == 0
