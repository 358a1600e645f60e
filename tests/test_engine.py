"""The valuation engine (wattfolio.planning.valuation -> gpu.valuation) against hand computations.

Every reference is computed here from the instance's numbers with closed forms (geometric
series, Black-76) or per-scenario hand schedules; the engine is used only for the random
draws a hand computation cannot reproduce (site and lease events, market rent), taken
from `gpu.factors` directly. Small instances are built with the data classes of
`wattfolio.instance.types`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from wattfolio.gpu.backend import to_host
from wattfolio.gpu.factors import bitcoin_paths, lease_events, rent_path, site_events
from wattfolio.gpu.valuation import mining_margin
from wattfolio.planning.catalog import Action, build_catalog
from wattfolio.planning.valuation import engine_inputs, value_actions
from wattfolio.instance.types import (
    Bitcoin,
    HpcMarket,
    Hpc,
    Instance,
    Lease,
    Market,
    Mining,
    Plan,
    Risk,
    Sale,
    Site,
    TerminalMultiple,
    parse_month,
)
from wattfolio.instance.load import load_instance

ROOT = Path(__file__).resolve().parents[1]
START = parse_month("2026-03")          # calendar index 2: seasonality is not aligned to 0

# hash revenue of the default bitcoin/miner below: 1e6/25 TH/s per MW x
# 3.125 x 144 x 1e5 / (750 x 1e6) $/TH/s/day / 24 h = $100/MWh
EFF, SUBSIDY, PRICE, HASHRATE = 25.0, 3.125, 100_000.0, 750.0


def hash_revenue(subsidy=SUBSIDY, fees=0.0, price=PRICE, hashrate=HASHRATE, eff=EFF):
    """$ per MWh a miner earns: (1e6/eff) TH/s per MW x hashprice / 24."""
    return (1e6 / eff) * (subsidy + fees) * 144.0 * price / (hashrate * 1e6) / 24.0


def market(**kw) -> Market:
    base = dict(id="hub", mean_price=80.0, volatility=0.0, mean_reversion=2.0,
                seasonal_amplitude=0.0, seasonal_peak_month=7, hourly_volatility=0.0,
                spike_probability=0.0, spike_price=500.0, price_cap=1000.0)
    base.update(kw)
    return Market(**base)


def bitcoin(**kw) -> Bitcoin:
    base = dict(price_usd=PRICE, drift=0.0, volatility=0.0, network_hashrate_ehs=HASHRATE,
                hashrate_growth=0.0, fees_btc_per_block=0.0, subsidy_btc=SUBSIDY,
                halvings=(), hashrate_price_elasticity=0.0)
    base.update(kw)
    return Bitcoin(**base)


def make_instance(sites, leases=(), *, mkt=None, btc=None, years=3, hours=24, scenarios=64,
                  seed=7, tv=(0.0, 0.0), rate=0.10, start=START, rent=None) -> Instance:
    plan = Plan(name="t", start=start, horizon_years=years, decision_step_months=6,
                discount_rate=rate, scenarios=scenarios, seed=seed, hours_per_month=hours,
                terminal_multiple=TerminalMultiple(hpc=tv[0], mining=tv[1]))
    return Instance(plan=plan, risk=Risk(), bitcoin=btc or bitcoin(), markets=(mkt or market(),),
                    hpc_market=rent or HpcMarket(rate_kw_month=150.0, volatility=0.1, drift=0.0),
                    sites=tuple(sites), leases=tuple(leases))


def mining_site(**kw) -> Site:
    base = dict(id="mine", market="hub", status="operating", use="mining", capacity_mw=20.0,
                ownership=0.8, mining=Mining(efficiency_j_per_th=EFF, opex_usd_per_mw_month=3650.0,
                                             shutdown_after_loss_months=0))
    base.update(kw)
    return Site(**base)


def season_price(mean, amplitude, peak, start, months):
    """mean x exp(A cos(2 pi (calendar month - (peak - 1)) / 12)), calendar month 0..11."""
    cal = (start % 12 + np.arange(months)) % 12
    return mean * np.exp(amplitude * np.cos(2.0 * np.pi * (cal - (peak - 1)) / 12.0))


def norm_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


# ---------------------------------------------------------------------------------------
# 1. a lease annuity in closed form


def test_lease_annuity_matches_closed_form():
    own, capex, B, Y, t0 = 0.51, 8.0e6, 6, 4, 6          # horizon 5 y = t0 + B + 12 Y
    rate_kw, esc, noi, r = 150.0, 0.03, 0.8, 0.10
    shell = Site(id="shell", market="hub", status="development", use="land", capacity_mw=15.0,
                 ownership=own,
                 hpc=Hpc(max_mw=10.0, capex_usd_per_mw=capex, capex_overrun_volatility=0.0,
                         build_months=B, delay_months_mean=0.0, pue=1.3))
    lease = Lease(id="L", tenant="T", sites=("shell",), max_mw=10.0, rate_kw_month=rate_kw,
                  escalator=esc, tenor_years=Y, noi_margin=noi, sign_by=START + 24,
                  default_rate=0.0, renewal_probability=0.5, backstop_usd=0.0, relet_months=6)
    inst = make_instance([shell], [lease], years=5, rate=r, scenarios=50)
    assert inst.plan.months == t0 + B + 12 * Y
    act = Action(index=0, site="shell", kind="convert", start=START + t0, lease="L", max_units=10.0)
    vt = value_actions(inst, [act], backend="numpy", chunk=16)

    v = (1.0 + r) ** (-1.0 / 12.0)
    capex_pv = -capex * own / B * v ** (t0 + 0.5) * (1.0 - v ** B) / (1.0 - v)
    R = t0 + B
    q = (1.0 + esc) * v ** 12
    rent_pv = (own * 1000.0 * rate_kw * noi * v ** (R + 0.5) * (1.0 - v ** 12) / (1.0 - v)
               * (1.0 - q ** Y) / (1.0 - q))
    npv = to_host(vt.npv)
    assert npv.shape == (1, 50)
    np.testing.assert_allclose(npv[0], capex_pv + rent_pv, rtol=1e-9, atol=0)
    assert np.all(to_host(vt.baseline_npv) == 0.0)

    # expected monthly cash: the hand schedule
    sched = np.zeros(inst.plan.months)
    sched[t0:t0 + B] = -capex * own / B
    for y in range(Y):
        sched[R + 12 * y:R + 12 * y + 12] = own * 1000.0 * rate_kw * noi * (1.0 + esc) ** y
    np.testing.assert_allclose(vt.cash[0], sched, rtol=1e-13, atol=0)
    assert np.all(vt.cash[0][sched == 0.0] == 0.0)


# ---------------------------------------------------------------------------------------
# 2. a mining month without randomness


@pytest.mark.parametrize("hours", [24, 7])
def test_zero_volatility_mining_month(hours):
    own, cap, opex = 0.8, 20.0, 3650.0
    mean, amp, peak = 80.0, 0.3, 7          # summer peaks at $108/MWh > $100: curtailed
    inst = make_instance([mining_site()], mkt=market(mean_price=mean, seasonal_amplitude=amp,
                                                     seasonal_peak_month=peak),
                         years=2, hours=hours, scenarios=8)
    vt = value_actions(inst, [], backend="numpy")
    M = inst.plan.months
    price = season_price(mean, amp, peak, START, M)
    rev = hash_revenue()
    assert (price > rev).any() and (price < rev).any()
    expected = own * cap * (730.0 * np.maximum(rev - price, 0.0) - opex)
    scale = own * cap * 730.0 * rev
    np.testing.assert_allclose(vt.baseline_cash, expected, rtol=1e-6, atol=1e-6 * scale)
    v = 1.1 ** (-1.0 / 12.0)
    npv = float((expected * v ** (np.arange(M) + 0.5)).sum())
    np.testing.assert_allclose(to_host(vt.baseline_npv), npv, rtol=1e-6)


@pytest.mark.parametrize("patience", [3, 4])
def test_mothballing_after_consecutive_losing_months(patience):
    """Summer months at $104/MWh > $100 hash revenue lose the opex three months running
    (plan months 3-5): a fleet with patience 3 that never restarts stops for good from
    month 6 (no margin, no opex); with patience 4 it mines through."""
    own, cap, opex = 0.8, 20.0, 3650.0
    site = mining_site(mining=Mining(efficiency_j_per_th=EFF, opex_usd_per_mw_month=opex,
                                     shutdown_after_loss_months=patience,
                                     restart_after_profit_months=0))
    inst = make_instance([site], mkt=market(mean_price=80.0, seasonal_amplitude=0.3),
                         years=2, scenarios=8)
    vt = value_actions(inst, [], backend="numpy")
    margin = 730.0 * np.maximum(hash_revenue() - season_price(80.0, 0.3, 7, START, 24), 0.0) - opex
    assert list(np.flatnonzero(margin < 0)) == [3, 4, 5, 15, 16, 17]
    if patience == 3:
        margin[6:] = 0.0
    np.testing.assert_allclose(vt.baseline_cash, own * cap * margin, rtol=1e-6,
                               atol=1e-6 * own * cap * 730 * 100)


# ---------------------------------------------------------------------------------------
# 3. hourly prices: Black-76 and spikes


def test_curtailed_margin_is_a_black76_put():
    """E[sum_h max(K - p_h, 0)] x 730/H = 730 x Black-76 put(F, K, sigma_h, T=1)."""
    mean, amp, sig, opex = 90.0, 0.15, 0.5, 3650.0
    S, H = 4000, 24
    inst = make_instance([mining_site()], mkt=market(mean_price=mean, seasonal_amplitude=amp,
                                                     hourly_volatility=sig),
                         years=1, hours=H, scenarios=S, seed=11)
    inputs = engine_inputs(inst, [])
    scen = np.arange(S, dtype=np.int64)
    _, hashprice = bitcoin_paths(np, inputs.horizon.seed, scen, inputs.horizon, inputs.bitcoin)
    margin = mining_margin(np, inputs, scen, hashprice)[0] + opex    # (S, M): 730/H x sum
    K = hash_revenue()
    F = season_price(mean, amp, 7, START, 12)
    z_scores = []
    for m in range(12):
        d1 = (math.log(F[m] / K) + 0.5 * sig * sig) / sig
        d2 = d1 - sig
        put = K * norm_cdf(-d2) - F[m] * norm_cdf(-d1)
        se = margin[:, m].std(ddof=1) / math.sqrt(S)
        z_scores.append((margin[:, m].mean() - 730.0 * put) / se)
    assert np.all(np.abs(z_scores) < 4.0), z_scores


def _hour_price_means(F, sig, p, spike, cap, S=3000, H=48, months=4, seed=5):
    """Per-scenario mean hourly price, read from sum_h max(rev - p_h, 0) with rev above
    every possible price (so the max never binds)."""
    from wattfolio.gpu.factors import hourly_margin_sums
    from wattfolio.gpu.inputs import PowerParams

    one = lambda x: np.array([x], dtype=np.float64)  # noqa: E731
    power = PowerParams(mean_price=one(F), volatility=one(0.0), mean_reversion=one(1.0),
                        seasonal_amplitude=one(0.0), seasonal_peak_month=np.array([1]),
                        hourly_volatility=one(sig), spike_probability=one(p),
                        spike_price=one(spike), price_cap=one(cap))
    rev = 2000.0
    # |z| <= 5.8 (Box-Muller floor): lognormal hours stay below F e^{5.8 sig} < rev
    assert F * math.exp(5.8 * sig) < rev and spike < rev
    scen = np.arange(S, dtype=np.int64)
    level = np.full((S, months), F)
    revenue = np.full((1, S, months), rev)
    sums = hourly_margin_sums(np, seed, scen, 0, level, revenue, power, 0, H)[0]
    return rev - sums.sum(axis=1) / (H * months)


def test_spike_regime_mean_hourly_price():
    F, sig, p, spike = 40.0, 0.3, 0.05, 500.0
    per_scen = _hour_price_means(F, sig, p, spike, cap=1000.0)
    expected = (1.0 - p) * F + p * spike
    se = per_scen.std(ddof=1) / math.sqrt(per_scen.size)
    assert abs(per_scen.mean() - expected) < 4.0 * se, (per_scen.mean(), expected, se)


def test_price_cap_binds_spikes_and_the_lognormal_tail():
    """With cap < spike: E[p] = (1-p) (F - Black call(F, cap, sigma)) + p cap."""
    F, sig, p, spike, cap = 40.0, 0.6, 0.05, 500.0, 60.0
    per_scen = _hour_price_means(F, sig, p, spike, cap=cap)
    d1 = (math.log(F / cap) + 0.5 * sig * sig) / sig
    call = F * norm_cdf(d1) - cap * norm_cdf(d1 - sig)
    expected = (1.0 - p) * (F - call) + p * cap
    se = per_scen.std(ddof=1) / math.sqrt(per_scen.size)
    assert abs(per_scen.mean() - expected) < 4.0 * se, (per_scen.mean(), expected, se)


# ---------------------------------------------------------------------------------------
# halvings flow through to hash revenue


def test_halving_halves_hashprice_and_mining_revenue():
    start = parse_month("2026-01")
    halving = parse_month("2028-04")                    # plan month 27
    inst = make_instance([mining_site()], btc=bitcoin(halvings=(halving,)), start=start,
                         mkt=market(mean_price=30.0), years=3, scenarios=4)
    inputs = engine_inputs(inst, [])
    sub = inputs.bitcoin.subsidy_btc
    assert np.all(sub[:27] == SUBSIDY) and np.all(sub[27:] == SUBSIDY / 2)
    scen = np.arange(4, dtype=np.int64)
    _, hp = bitcoin_paths(np, 7, scen, inputs.horizon, inputs.bitcoin)
    assert np.all(hp[:, 27] == 0.5 * hp[:, 26])
    assert np.all(hp[:, :27] == hp[:, :1]) and np.all(hp[:, 27:] == hp[:, 27:28])
    vt = value_actions(inst, [], backend="numpy")
    own_cap = 0.8 * 20.0
    rev = np.where(np.arange(36) < 27, hash_revenue(), hash_revenue(subsidy=SUBSIDY / 2))
    expected = own_cap * (730.0 * np.maximum(rev - 30.0, 0.0) - 3650.0)
    np.testing.assert_allclose(vt.baseline_cash, expected, rtol=1e-6)


# ---------------------------------------------------------------------------------------
# 6-8. chunking, backends, incrementality


@pytest.fixture(scope="module")
def tiny():
    inst = load_instance(ROOT / "instances" / "tiny.toml")
    return inst, build_catalog(inst)


def test_chunk_size_does_not_change_the_table(tiny):
    inst, cat = tiny
    ref = value_actions(inst, cat, backend="numpy", chunk=100)
    for chunk in (1000, 37):
        vt = value_actions(inst, cat, backend="numpy", chunk=chunk)
        assert np.array_equal(to_host(vt.npv), to_host(ref.npv)), chunk
        assert np.array_equal(to_host(vt.baseline_npv), to_host(ref.baseline_npv)), chunk
        np.testing.assert_allclose(vt.cash, ref.cash, rtol=1e-12, atol=0)
        np.testing.assert_allclose(vt.baseline_cash, ref.baseline_cash, rtol=1e-12, atol=0)


@pytest.mark.gpu
def test_numpy_and_cupy_tables_agree(tiny):
    inst, cat = tiny
    a = value_actions(inst, cat, backend="numpy", chunk=256)
    b = value_actions(inst, cat, backend="cupy", chunk=256)
    assert b.backend == "cupy"
    na, nb = to_host(a.npv), to_host(b.npv)
    scale = np.abs(na).max(axis=1, keepdims=True)
    np.testing.assert_allclose(nb, na, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(to_host(b.baseline_npv), to_host(a.baseline_npv), rtol=1e-6)
    np.testing.assert_allclose(b.cash, a.cash, rtol=1e-6, atol=1e-6 * np.abs(a.cash).max())


def test_rows_do_not_depend_on_the_other_actions(tiny):
    inst, cat = tiny
    full = to_host(value_actions(inst, cat, backend="numpy", chunk=300).npv)
    kinds = {a.kind for a in cat}
    assert {"convert", "sell"} <= kinds
    for pick in ([len(cat) - 1], [0, len(cat) // 2, len(cat) - 2], [a.index for a in cat if a.kind == "convert"][::-2]):
        sub = [cat[i] for i in pick]
        part = to_host(value_actions(inst, sub, backend="numpy", chunk=300).npv)
        assert np.array_equal(part, full[pick]), pick


# ---------------------------------------------------------------------------------------
# 9. a sale, per scenario


@pytest.mark.parametrize("close_probability", [1.0, 0.7])
def test_sale_npv_per_scenario(close_probability):
    own, cap, opex, r = 0.6, 20.0, 3650.0, 0.10
    mean, amp = 70.0, 0.3
    tvm = 2.0
    site = mining_site(ownership=own, sale=Sale(low_usd=10e6, mode_usd=15e6, high_usd=25e6,
                                                 close_probability=close_probability,
                                                 months_to_close=3))
    S = 200
    inst = make_instance([site], mkt=market(mean_price=mean, seasonal_amplitude=amp),
                         years=3, scenarios=S, tv=(0.0, tvm), seed=3)
    act = Action(index=0, site="mine", kind="sell", start=START + 6)
    vt = value_actions(inst, [act], backend="numpy", chunk=64)
    npv = to_host(vt.npv)[0]

    M, close = 36, 6 + 3
    v = (1.0 + r) ** (-1.0 / 12.0)
    disc = v ** (np.arange(M) + 0.5)
    margin = 730.0 * np.maximum(hash_revenue() - season_price(mean, amp, 7, START, M), 0.0) - opex
    lost = own * cap * ((margin * disc)[close:].sum()
                        + tvm * max(margin[-12:].sum(), 0.0) * v ** M)
    ev = site_events(np, inst.plan.seed, np.arange(S, dtype=np.int64),
                     engine_inputs(inst, [act]).sites)
    price, closes = ev["sale_price"][0], ev["sale_closes"][0]
    if close_probability == 1.0:
        assert closes.all()
    else:
        assert 0 < closes.sum() < S
    proceeds = own * price * v ** (close + 0.5)
    expected = np.where(closes, proceeds - lost, 0.0)
    tol = 1e-6 * abs(lost) + 1e-9 * np.abs(proceeds)
    assert np.all(np.abs(npv - expected) <= tol), np.abs(npv - expected).max()
    # the expected cash of the action: proceeds at closing, the margin gone after it
    share = closes.mean()
    cash = np.zeros(M)
    cash[close] = own * (price * closes).mean()
    cash[close:] -= share * own * cap * margin[close:]
    np.testing.assert_allclose(vt.cash[0], cash, rtol=1e-9, atol=1e-6 * own * cap * 730 * 100)


# ---------------------------------------------------------------------------------------
# a convert with every event, per scenario


def hand_convert_npv(inst: Instance, act: Action, margin: np.ndarray):
    """NPV per scenario of one critical MW converted, from the lease's terms and the
    engine's draws (overrun, delay, default month, renewal, market rent), month by month
    to the contract's end: the guarantor tops re-let income up to the contract until its
    cap is used, and the space's residual is tv_hpc x annual market NOI where the contract
    (or, without renewal, the re-let vacancy after it) ends."""
    p, site, lease = inst.plan, inst.site(act.site), inst.lease(act.lease)
    S, M, r = p.scenarios, p.months, p.discount_rate
    inputs = engine_inputs(inst, [act])
    scen = np.arange(S, dtype=np.int64)
    sev = site_events(np, p.seed, scen, inputs.sites)
    lev = lease_events(np, p.seed, scen, inputs.leases)
    W = M + 400
    market_rent = rent_path(np, p.seed, scen, inputs.horizon, inputs.rent, months=W)
    i = [s.id for s in inst.sites].index(site.id)
    own, h = site.ownership, site.hpc
    t0, B, T, L = act.start - p.start, h.build_months, 12 * lease.tenor_years, lease.relet_months
    noi = own * 1000.0 * lease.noi_margin
    cap_total = own * lease.backstop_usd / lease.max_mw
    v = (1.0 + r) ** (-1.0 / 12.0)
    out = np.empty(S)
    for s in range(S):
        R = t0 + B + int(sev["delay"][i, s])
        E = R + T
        D = max(int(lev["default_month"][0, s]), R)
        defaulted = D < E
        start_market = E if lev["renews"][0, s] else E + L
        if defaulted:
            start_market = max(start_market, D + L)
        cash = np.zeros(W)
        cap = cap_total
        for m in range(W):
            if t0 <= m < t0 + B:
                cash[m] -= own * h.capex_usd_per_mw * sev["overrun"][i, s] / B
            if t0 <= m < M:
                cash[m] -= own * h.pue * margin[i, s, m]
            if R <= m < E:
                contract = noi * lease.rate_kw_month * (1.0 + lease.escalator) ** ((m - R) // 12)
                if not defaulted or m < D:
                    cash[m] += contract
                else:
                    relet = min(noi * market_rent[s, m], contract) if m >= D + L else 0.0
                    pay = min(contract - relet, cap)
                    cap -= pay
                    cash[m] += relet + pay
        residual = p.terminal_multiple.hpc * 12.0 * noi * market_rent[s, start_market] * v ** start_market
        lost_tv = p.terminal_multiple.mining * own * h.pue * max(margin[i, s, -12:].sum(), 0.0)
        out[s] = (cash * v ** (np.arange(W) + 0.5)).sum() + residual - lost_tv * v ** M
    return out, lev["default_month"][0], sev


def _convert_case(backstop, tv_hpc, S=300):
    site = mining_site(ownership=0.9, hpc=Hpc(max_mw=10.0, capex_usd_per_mw=8e6,
                                               capex_overrun_volatility=0.2, build_months=6,
                                               delay_months_mean=2.0, pue=1.25))
    lease = Lease(id="L", tenant="T", sites=("mine",), max_mw=10.0, rate_kw_month=150.0,
                  escalator=0.04, tenor_years=3, noi_margin=0.8, sign_by=START + 24,
                  default_rate=0.3, renewal_probability=0.5, backstop_usd=backstop,
                  relet_months=4)
    inst = make_instance([site], [lease], mkt=market(mean_price=70.0, seasonal_amplitude=0.3),
                         years=5, scenarios=S, tv=(tv_hpc, 2.0), seed=21,
                         rent=HpcMarket(rate_kw_month=140.0, volatility=0.3, drift=0.02))
    act = Action(index=0, site="mine", kind="convert", start=START + 3, lease="L", max_units=10.0)
    inputs = engine_inputs(inst, [act])
    scen = np.arange(S, dtype=np.int64)
    _, hp = bitcoin_paths(np, inst.plan.seed, scen, inputs.horizon, inputs.bitcoin)
    margin = mining_margin(np, inputs, scen, hp)         # zero-vol: checked above by hand
    npv = to_host(value_actions(inst, [act], backend="numpy", chunk=128).npv)[0]
    return inst, act, margin, npv


def test_convert_npv_per_scenario_with_events():
    """Overrun, delay, default with a partial backstop, re-let at market rent, renewal,
    lost mining, residual: the engine's NPV equals the month-by-month hand schedule in
    every scenario, contract cash counted past the horizon."""
    inst, act, margin, npv = _convert_case(backstop=3e6, tv_hpc=10.0)
    expected, default_month, sev = hand_convert_npv(inst, act, margin)
    rent_start = act.start - inst.plan.start + 6 + sev["delay"][0]
    failed = np.maximum(default_month, rent_start) < rent_start + 36
    assert failed.sum() > 30 and (~failed).sum() > 30
    np.testing.assert_allclose(npv, expected, rtol=1e-9, atol=1e-3)


def test_convert_without_backstop_matches_hand_schedule():
    inst, act, margin, npv = _convert_case(backstop=0.0, tv_hpc=10.0)
    expected, _, _ = hand_convert_npv(inst, act, margin)
    np.testing.assert_allclose(npv, expected, rtol=1e-9, atol=1e-3)


def test_convert_with_full_backstop_matches_hand_schedule():
    inst, act, margin, npv = _convert_case(backstop=30e6, tv_hpc=0.0)
    expected, _, _ = hand_convert_npv(inst, act, margin)
    np.testing.assert_allclose(npv, expected, rtol=1e-9, atol=1e-3)
