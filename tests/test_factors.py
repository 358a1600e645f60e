"""Factor processes and one-off events (gpu.factors) against their distributions.

Monte Carlo checks compare a sample mean with its closed-form expectation within four
standard errors computed from the same sample (one-sided false alarms ~3e-5 per check);
everything deterministic is checked exactly. Inputs are `gpu.inputs` arrays built here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from wattfolio.gpu.factors import (
    NEVER,
    bitcoin_paths,
    lease_events,
    power_levels,
    rent_path,
    site_events,
)
from wattfolio.gpu.inputs import BitcoinParams, Horizon, LeaseParams, PowerParams, RentParams, SiteParams

S = 20_000                     # scenarios for the event checks (cheap: a few draws each)
Z = 4.0                        # tolerance in standard errors


def horizon(months=24, seed=13, first=0):
    return Horizon(months=months, first_calendar_month=first, discount_rate=0.1,
                   hours_per_month=24, seed=seed, tv_hpc=0.0, tv_mining=0.0)


def assert_mean(sample, expected, what=""):
    sample = np.asarray(sample, dtype=np.float64)
    se = sample.std(ddof=1) / math.sqrt(sample.size)
    assert abs(sample.mean() - expected) <= Z * se, (what, sample.mean(), expected, se)


def assert_share(flags, p, what=""):
    flags = np.asarray(flags, dtype=np.float64)
    se = math.sqrt(p * (1.0 - p) / flags.size)
    assert abs(flags.mean() - p) <= Z * se, (what, flags.mean(), p, se)


# ---------------------------------------------------------------------------------------
# bitcoin: GBM


def btc_params(months, **kw):
    base = dict(price_usd=90_000.0, drift=0.2, volatility=0.6, hashrate_ehs=800.0,
                hashrate_growth=0.1, fees_btc=0.2, hashrate_price_elasticity=0.5,
                subsidy_btc=np.full(months, 3.125))
    base.update(kw)
    return BitcoinParams(**base)


def test_gbm_mean_and_log_variance():
    n, M = 4000, 24
    btc = btc_params(M)
    price, _ = bitcoin_paths(np, 5, np.arange(n, dtype=np.int64), horizon(M), btc)
    assert np.all(price[:, 0] == btc.price_usd)          # today's price is known
    for m in range(1, M):
        t = m / 12.0
        assert_mean(price[:, m], btc.price_usd * math.exp(btc.drift * t), f"mean m={m}")
        logp = np.log(price[:, m])
        assert_mean(logp, math.log(btc.price_usd) + (btc.drift - 0.5 * btc.volatility ** 2) * t,
                    f"log mean m={m}")
        var, target = logp.var(ddof=1), btc.volatility ** 2 * t
        se = target * math.sqrt(2.0 / (n - 1))           # s.e. of a normal sample variance
        assert abs(var - target) <= Z * se, (m, var, target, se)
    # independent increments: log-returns of successive months are uncorrelated
    r = np.diff(np.log(price[:, 1:]), axis=1)
    rho = np.corrcoef(r[:, 0], r[:, 1])[0, 1]
    assert abs(rho) < Z / math.sqrt(n)


def test_hashprice_formula_per_scenario():
    """hashprice = (subsidy + fees) x 144 x P / (H0 (1+g)^t (P / E-free level)^e x 1e6)."""
    n, M = 50, 30
    sub = np.where(np.arange(M) < 20, 3.125, 1.5625)
    btc = btc_params(M, subsidy_btc=sub)
    price, hp = bitcoin_paths(np, 9, np.arange(n, dtype=np.int64), horizon(M), btc)
    t = np.arange(M) / 12.0
    surprise = np.log(price / btc.price_usd) - btc.drift * t    # sigma W - sigma^2 t / 2
    hashrate = btc.hashrate_ehs * (1.0 + btc.hashrate_growth) ** t * np.exp(
        btc.hashrate_price_elasticity * surprise)
    expected = (sub + btc.fees_btc) * 144.0 * price / (hashrate * 1e6)
    np.testing.assert_allclose(hp, expected, rtol=1e-12)


def test_zero_volatility_bitcoin_is_deterministic():
    M = 24
    btc = btc_params(M, volatility=0.0, drift=0.05, hashrate_growth=0.0, fees_btc=0.0)
    price, hp = bitcoin_paths(np, 1, np.arange(3, dtype=np.int64), horizon(M), btc)
    t = np.arange(M) / 12.0
    np.testing.assert_allclose(price, np.broadcast_to(btc.price_usd * np.exp(0.05 * t), (3, M)),
                               rtol=1e-14)
    np.testing.assert_allclose(hp, 3.125 * 144.0 * price / (btc.hashrate_ehs * 1e6), rtol=1e-14)


# ---------------------------------------------------------------------------------------
# power levels and market rent: log-OU


def one(x, dtype=np.float64):
    return np.array([x], dtype=dtype)


def test_power_level_mean_and_log_variance():
    n, M = 4000, 18
    mean, vol, kappa, amp, peak = 45.0, 0.8, 1.5, 0.25, 8
    power = PowerParams(mean_price=one(mean), volatility=one(vol), mean_reversion=one(kappa),
                        seasonal_amplitude=one(amp), seasonal_peak_month=one(peak, np.int64),
                        hourly_volatility=one(0.0), spike_probability=one(0.0),
                        spike_price=one(0.0), price_cap=one(1e4))
    h = horizon(M, first=4)
    level = power_levels(np, h.seed, np.arange(n, dtype=np.int64), h, power, 0)
    phi = math.exp(-kappa / 12.0)
    s2 = vol * vol * (1.0 - phi * phi) / (2.0 * kappa)     # exact one-month OU variance
    for m in range(M):
        season = mean * math.exp(amp * math.cos(2 * math.pi * ((4 + m) % 12 - (peak - 1)) / 12))
        assert_mean(level[:, m], season, f"level m={m}")
        var = s2 * (1.0 - phi ** (2 * (m + 1))) / (1.0 - phi * phi)   # m+1 shocks so far
        lv = np.log(level[:, m]).var(ddof=1)
        assert abs(lv - var) <= Z * var * math.sqrt(2.0 / (n - 1)), (m, lv, var)


def test_rent_path_starts_at_todays_rent_with_the_right_mean():
    """Today's rent is known (R_0 = rate exactly) and E[R_m] = rate exp(drift m/12):
    month m has seen m shocks, so its log-variance is s^2 (1 - phi^(2m)) / (1 - phi^2)."""
    n, M = 4000, 12
    rent = RentParams(rate_kw_month=150.0, volatility=1.0, drift=0.05, mean_reversion=0.3)
    h = horizon(M)
    R = rent_path(np, h.seed, np.arange(n, dtype=np.int64), h, rent)
    assert np.all(R[:, 0] == rent.rate_kw_month), R[0, 0]
    phi = math.exp(-rent.mean_reversion / 12.0)
    s2 = rent.volatility ** 2 * (1.0 - phi * phi) / (2.0 * rent.mean_reversion)
    for m in range(1, M):
        assert_mean(R[:, m], rent.rate_kw_month * math.exp(rent.drift * m / 12.0), f"rent m={m}")
        var = s2 * (1.0 - phi ** (2 * m)) / (1.0 - phi * phi)
        lv = np.log(R[:, m]).var(ddof=1)
        assert abs(lv - var) <= Z * var * math.sqrt(2.0 / (n - 1)), (m, lv, var)


# ---------------------------------------------------------------------------------------
# one-off events


@pytest.fixture(scope="module")
def sites():
    k = 3
    return SiteParams(
        market=np.zeros(k, np.int64), capacity_mw=np.full(k, 10.0), ownership=np.ones(k),
        mines=np.zeros(k, bool), efficiency_j_per_th=np.ones(k), opex_usd_per_mw_month=np.zeros(k),
        shutdown_after_loss_months=np.zeros(k, np.int64),
        restart_after_profit_months=np.zeros(k, np.int64), restart_cost_usd_per_mw=np.zeros(k),
        pue=np.ones(k), capex_usd_per_mw=np.full(k, 8e6),
        overrun_volatility=np.array([0.0, 0.15, 0.4]),
        build_months=np.full(k, 6, np.int64),
        delay_months_mean=np.array([0.0, 1.0, 3.5]),
        sale_low=np.array([10e6, 5e6, 1e6]), sale_mode=np.array([15e6, 5e6, 9e6]),
        sale_high=np.array([20e6, 12e6, 9e6]),
        close_probability=np.array([1.0, 0.9, 0.35]),
        months_to_close=np.full(k, 3, np.int64), acquire_cost=np.zeros(k))


@pytest.fixture(scope="module")
def events(sites):
    return site_events(np, 17, np.arange(S, dtype=np.int64), sites)


def test_construction_delay_is_poisson(sites, events):
    d = events["delay"]
    assert d.dtype.kind == "i" and np.all(d >= 0)
    assert np.all(d[0] == 0)                                  # mean 0: never late
    for i in (1, 2):
        lam = sites.delay_months_mean[i]
        assert_mean(d[i], lam, f"delay mean site {i}")
        assert_share(d[i] == 0, math.exp(-lam), f"P(no delay) site {i}")
        assert_share(d[i] == 2, math.exp(-lam) * lam ** 2 / 2, f"P(2 months) site {i}")
        v = d[i].var(ddof=1)   # Poisson: variance = mean; s.e. of a variance ~ sqrt((mu4-s^4)/n)
        assert abs(v - lam) <= Z * math.sqrt((lam * (1 + 3 * lam) - lam ** 2) / S), (v, lam)


def test_capex_overrun_is_lognormal_with_mean_one(sites, events):
    o = events["overrun"]
    assert np.all(o[0] == 1.0)                                # no volatility: exactly one
    for i in (1, 2):
        vol = sites.overrun_volatility[i]
        assert_mean(o[i], 1.0, f"overrun site {i}")
        lv = np.log(o[i]).var(ddof=1)
        assert abs(lv - vol * vol) <= Z * vol * vol * math.sqrt(2.0 / (S - 1))


def test_sale_closing_share(sites, events):
    c = events["sale_closes"]
    assert c.dtype == bool and c[0].all()                     # probability one always closes
    for i in (1, 2):
        assert_share(c[i], sites.close_probability[i], f"closes site {i}")


def test_sale_price_is_triangular(sites, events):
    p = events["sale_price"]
    for i in range(3):
        a, b, c = sites.sale_low[i], sites.sale_mode[i], sites.sale_high[i]
        assert np.all((p[i] >= a) & (p[i] <= c))
        assert_mean(p[i], (a + b + c) / 3.0, f"sale price site {i}")
        var = (a * a + b * b + c * c - a * b - a * c - b * c) / 18.0
        # P(price <= mode) = (mode - low) / (high - low)
        assert_share(p[i] <= b, (b - a) / (c - a), f"below mode site {i}")
        assert abs(p[i].var(ddof=1) - var) <= Z * var * math.sqrt(1.4 / S)  # kurtosis 2.4


def test_lease_default_within_tenor_and_renewal():
    """Default month from the plan's start: P(default before month n) = 1 - (1 - rate)^(n/12)."""
    rates = np.array([0.0, 0.02, 0.3])
    tenor = np.array([120, 120, 36], np.int64)
    leases = LeaseParams(rate_kw_month=np.full(3, 150.0), escalator=np.zeros(3),
                         tenor_months=tenor, noi_margin=np.full(3, 0.8), default_rate=rates,
                         backstop_usd_per_mw=np.zeros(3),
                         renewal_probability=np.array([0.0, 0.5, 1.0]),
                         relet_months=np.full(3, 6, np.int64), tenant=np.arange(3),
                         backstop_cost_usd_per_mw=np.zeros(3))
    ev = lease_events(np, 23, np.arange(S, dtype=np.int64), leases)
    k = ev["default_month"]
    assert np.all(k[0] == NEVER) and np.all(k >= 0)
    for i in (1, 2):
        years = tenor[i] / 12.0
        assert_share(k[i] < tenor[i], 1.0 - (1.0 - rates[i]) ** years, f"default lease {i}")
        # within the first year: 1 - (1 - rate)
        assert_share(k[i] < 12, rates[i], f"first-year default lease {i}")
    r = ev["renews"]
    assert not r[0].any() and r[2].all()
    assert_share(r[1], 0.5, "renewal")


def test_events_do_not_depend_on_the_chunk(sites):
    full = site_events(np, 17, np.arange(1000, dtype=np.int64), sites)
    part = site_events(np, 17, np.arange(400, 700, dtype=np.int64), sites)
    for key in full:
        assert np.array_equal(full[key][:, 400:700], part[key]), key
