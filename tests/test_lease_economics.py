"""Lease economics against closed forms and hand schedules: contracts valued to their end
whatever the horizon, rents as disclosed, backstops that pay as rent falls due, tenants
that default together, an AI-market stress, and defaults that never add value.

References are computed here from the terms (geometric series, per-scenario schedules
over the engine's own random draws); the engine is used only for those draws.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from wattfolio.gpu.backend import to_host
from wattfolio.gpu.factors import NEVER, lease_events, rent_path, stress_onset
from wattfolio.planning.catalog import Action
from wattfolio.planning.valuation import engine_inputs, value_actions
from wattfolio.instance.types import (
    AiStress,
    Bitcoin,
    Hpc,
    HpcMarket,
    Instance,
    Lease,
    Market,
    Plan,
    Risk,
    Site,
    TerminalMultiple,
    escalated_months,
    parse_month,
)
from wattfolio.instance.load import load_instance, parse_instance, tomllib

ROOT = Path(__file__).resolve().parents[1]
START = parse_month("2026-01")


def shell(**kw) -> Site:
    """A powered shell that does not mine: its converts have no lost margin."""
    base = dict(id="shell", market="hub", status="development", use="land", capacity_mw=30.0,
                ownership=0.51,
                hpc=Hpc(max_mw=20.0, capex_usd_per_mw=9e6, capex_overrun_volatility=0.0,
                        build_months=12, delay_months_mean=0.0, pue=1.3))
    base.update(kw)
    return Site(**base)


def lease(**kw) -> Lease:
    base = dict(id="L", tenant="T", sites=("shell",), max_mw=20.0, escalator=0.03,
                tenor_years=10, noi_margin=0.85, sign_by=START + 12, default_rate=0.0,
                renewal_probability=1.0, rate_kw_month=140.0, backstop_usd=0.0, relet_months=6)
    base.update(kw)
    return Lease(**base)


def instance(sites, leases, *, years=12, scenarios=64, tv_hpc=12.0, rent_vol=0.0,
             rent_drift=-0.02, stress=None, rate=0.10, seed=11) -> Instance:
    plan = Plan(name="t", start=START, horizon_years=years, decision_step_months=3,
                discount_rate=rate, scenarios=scenarios, seed=seed, hours_per_month=4,
                terminal_multiple=TerminalMultiple(hpc=tv_hpc, mining=3.0))
    hub = Market(id="hub", mean_price=40.0, volatility=0.0, mean_reversion=2.0,
                 seasonal_amplitude=0.0, seasonal_peak_month=1, hourly_volatility=0.0,
                 spike_probability=0.0, spike_price=100.0, price_cap=1000.0)
    btc = Bitcoin(price_usd=90000.0, drift=0.0, volatility=0.0, network_hashrate_ehs=1000.0,
                  hashrate_growth=0.0, fees_btc_per_block=0.0, subsidy_btc=3.125)
    return Instance(plan=plan, risk=Risk(), bitcoin=btc, markets=(hub,),
                    hpc_market=HpcMarket(rate_kw_month=150.0, volatility=rent_vol, drift=rent_drift),
                    sites=tuple(sites), leases=tuple(leases), ai_stress=stress or AiStress())


def convert(start=START + 6, mw=20.0, lease_id="L", site="shell", index=0) -> Action:
    return Action(index=index, site=site, kind="convert", start=start, lease=lease_id, max_units=mw)


def npv_per_mw(inst: Instance, actions) -> np.ndarray:
    return to_host(value_actions(inst, actions, backend="numpy", chunk=16).npv)


# ---------------------------------------------------------------------------------------
# a contract's value does not depend on the horizon


@pytest.mark.parametrize("years", [5, 8, 12])
def test_lease_value_does_not_depend_on_the_horizon(years):
    """Zero volatility, no default: the full-term escalating annuity less capex plus the
    market residual discounted from the contract's end, whatever horizon_years is."""
    site, le = shell(), lease()
    inst = instance([site], [le], years=years)
    npv = npv_per_mw(inst, [convert()])[0]

    r, own, t0, B, Y = 0.10, site.ownership, 6, 12, 10
    v = (1.0 + r) ** (-1.0 / 12.0)
    capex_pv = -site.hpc.capex_usd_per_mw * own / B * v ** (t0 + 0.5) * (1.0 - v ** B) / (1.0 - v)
    R, E = t0 + B, t0 + B + 12 * Y
    noi = own * 1000.0 * le.noi_margin
    q = (1.0 + le.escalator) * v ** 12
    rent_pv = (noi * le.rate_kw_month * v ** (R + 0.5) * (1.0 - v ** 12) / (1.0 - v)
               * (1.0 - q ** Y) / (1.0 - q))
    market_at_end = 150.0 * math.exp(-0.02 * E / 12.0)
    residual = 12.0 * 12.0 * noi * market_at_end * (1.0 + r) ** (-E / 12.0)
    np.testing.assert_allclose(npv, capex_pv + rent_pv + residual, rtol=1e-9, atol=0)


def test_starting_later_does_not_raise_a_contract_value_by_moving_it_past_the_horizon():
    """Before, a 9-month later start moved lease years into the terminal multiple and
    raised the value; now a later start only discounts the same contract further."""
    inst = instance([shell()], [lease(sign_by=START + 24)], years=12, rent_drift=0.0)
    early, late = npv_per_mw(inst, [convert(START + 6), convert(START + 15, index=1)])[:, 0]
    assert late < early
    np.testing.assert_allclose(late, early * (1.0 + 0.10) ** (-9 / 12), rtol=1e-9)


# ---------------------------------------------------------------------------------------
# rents as disclosed


def test_contract_value_gives_the_starting_rent_that_reproduces_it():
    le = lease(rate_kw_month=None, contract_value_usd=3.7e9, max_mw=200.0, escalator=0.03)
    assert le.contract_total_usd == pytest.approx(3.7e9, rel=1e-12)
    hand = 3.7e9 / (200e3 * 12.0 * sum(1.03 ** y for y in range(10)))
    assert le.rate_kw_month == pytest.approx(hand, rel=1e-12)
    assert escalated_months(1, 0.5) == 12.0


def test_seed_leases_total_their_disclosed_contract_values():
    """TeraWulf's releases: Lake Mariner ~$3.7B over 10 years, Abernathy ~$9.5B over 25
    years (the whole JV; TeraWulf's share is the site's ownership)."""
    inst = load_instance(ROOT / "instances" / "terawulf.toml")
    lm, ab = inst.lease("fluidstack-lm"), inst.lease("fluidstack-abernathy")
    assert lm.contract_total_usd == pytest.approx(3.7e9, rel=1e-9)
    assert ab.contract_total_usd == pytest.approx(9.5e9, rel=1e-9)
    assert inst.site("abernathy").ownership * ab.contract_total_usd == pytest.approx(0.51 * 9.5e9, rel=1e-9)
    # the same tenant, one default time
    assert lm.tenant == ab.tenant


def _raw(**lease_keys) -> dict:
    text = (ROOT / "instances" / "tiny.toml").read_text()
    data = tomllib.loads(text)
    data["leases"][0].pop("rate_kw_month", None)
    data["leases"][0].pop("contract_value_usd", None)
    data["leases"][0].update(lease_keys)
    return data


def test_rent_given_twice_or_not_at_all_is_an_error_naming_the_path():
    from wattfolio.errors import InstanceError
    with pytest.raises(InstanceError, match=r"leases\[0\]\.contract_value_usd: give rate_kw_month or"):
        parse_instance(_raw(rate_kw_month=150.0, contract_value_usd=1e9))
    with pytest.raises(InstanceError, match=r"leases\[0\]\.rate_kw_month: required \(or contract_value_usd\)"):
        parse_instance(_raw())
    assert parse_instance(_raw(contract_value_usd=1e9)).leases[0].contract_total_usd == pytest.approx(1e9)


# ---------------------------------------------------------------------------------------
# defaults and backstops


def test_full_backstop_without_reletting_changes_nothing_but_who_pays():
    """Guarantee covering the whole remaining contract, no re-letting within the term, no
    residual: the guarantor pays the rent as it falls due, so a default leaves the NPV as
    it was, scenario by scenario."""
    remaining = 0.51 * 1000 * 0.85 * 140 * escalated_months(10, 0.03) * 20
    sure = instance([shell()], [lease(default_rate=0.0, relet_months=1000, backstop_usd=remaining)],
                    tv_hpc=0.0)
    risky = instance([shell()], [lease(default_rate=0.9, relet_months=1000, backstop_usd=1.001 * remaining / 0.51)],
                     tv_hpc=0.0)
    np.testing.assert_allclose(npv_per_mw(risky, [convert()]), npv_per_mw(sure, [convert()]), rtol=1e-12)


def test_a_capped_backstop_loses_exactly_the_rent_past_its_cap():
    """Per scenario, closed form: the loss is the PV of the contracted NOI from the month
    the guarantee runs out to the contract's end (no re-letting, no residual)."""
    cap_usd = 40e6
    le = lease(default_rate=0.5, relet_months=1000, backstop_usd=cap_usd)
    sure = instance([shell()], [lease(relet_months=1000)], tv_hpc=0.0)
    risky = instance([shell()], [le], tv_hpc=0.0)
    loss = npv_per_mw(sure, [convert()])[0] - npv_per_mw(risky, [convert()])[0]

    inputs = engine_inputs(risky, [convert()])
    scen = np.arange(risky.plan.scenarios, dtype=np.int64)
    default = lease_events(np, risky.plan.seed, scen, inputs.leases)["default_month"][0]
    own, v, R, E = 0.51, 1.1 ** (-1 / 12), 18, 18 + 120
    noi = own * 1000 * 0.85 * 140.0
    cap = own * cap_usd / 20.0
    expected = np.zeros_like(loss)
    for s, d in enumerate(default):
        d = max(int(d), R)
        left = cap
        for m in range(d, E):
            due = noi * 1.03 ** ((m - R) // 12)
            pay = min(due, left)
            left -= pay
            expected[s] += (due - pay) * v ** (m + 0.5)
    assert (expected > 0).sum() > 10
    np.testing.assert_allclose(loss, expected, rtol=1e-9, atol=1e-4)


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 1.0])
def test_a_default_never_adds_value(share):
    """E[NPV | default_rate 0.5] <= E[NPV | default_rate 0] within 3 standard errors, for
    any backstop up to the remaining contract, with market rent volatile (so re-letting
    sometimes pays more than the contract) and re-letting allowed."""
    full = 1000 * 0.85 * 140 * escalated_months(10, 0.03) * 20
    kw = dict(backstop_usd=share * full, relet_months=6, renewal_probability=0.5)
    sure = instance([shell()], [lease(default_rate=0.0, **kw)], rent_vol=0.3, scenarios=4000)
    risky = instance([shell()], [lease(default_rate=0.5, **kw)], rent_vol=0.3, scenarios=4000)
    base = npv_per_mw(sure, [convert()])[0]
    diff = npv_per_mw(risky, [convert()])[0] - base
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    # (a full guarantee leaves the values equal up to float rounding)
    assert diff.mean() <= 3 * se + 1e-12 * abs(base.mean())
    if share < 1.0:
        assert diff.mean() < -3 * se
    # scenario by scenario the term's income cannot exceed the contract either
    no_residual = [instance([shell()], [lease(default_rate=d, **kw)], rent_vol=0.3, scenarios=500,
                            tv_hpc=0.0) for d in (0.0, 0.5)]
    a, b = (npv_per_mw(x, [convert()])[0] for x in no_residual)
    assert np.all(b <= a + 1e-6)


def test_leases_of_one_tenant_default_together():
    inst = instance([shell()], [lease(id="A", tenant="Fluidstack", default_rate=0.2),
                                lease(id="B", tenant="Fluidstack", default_rate=0.2),
                                lease(id="C", tenant="Other", default_rate=0.2)], scenarios=4000)
    inputs = engine_inputs(inst, [])
    ev = lease_events(np, inst.plan.seed, np.arange(4000, dtype=np.int64), inputs.leases)["default_month"]
    assert np.array_equal(ev[0], ev[1])
    within = lambda row: (row < 60).astype(float)   # noqa: E731
    assert abs(np.corrcoef(within(ev[0]), within(ev[2]))[0, 1]) < 0.05
    # the annual rate, compounded: P(default within 5 years) = 1 - 0.8^5
    assert within(ev[0]).mean() == pytest.approx(1 - 0.8 ** 5, abs=0.025)


def test_different_rates_for_one_tenant_are_an_error():
    from wattfolio.errors import InstanceError
    data = _raw(rate_kw_month=150.0)
    second = dict(data["leases"][0], id="second", default_rate=0.3)
    data["leases"].append(second)
    with pytest.raises(InstanceError, match=r"leases\[1\]\.default_rate: leases of tenant"):
        parse_instance(data)


def test_ai_stress_cuts_rent_and_brings_defaults_forward():
    stress = AiStress(annual_probability=0.1, rent_drop=0.3, default_multiplier=4.0)
    inst = instance([shell()], [lease(default_rate=0.05)], stress=stress, rent_vol=0.2, scenarios=3000)
    inputs = engine_inputs(inst, [])
    scen = np.arange(3000, dtype=np.int64)
    onset = stress_onset(np, inst.plan.seed, scen, inputs.stress)
    calm = rent_path(np, inst.plan.seed, scen, inputs.horizon, inputs.rent, months=200)
    hit = rent_path(np, inst.plan.seed, scen, inputs.horizon, inputs.rent, months=200, onset=onset,
                    rent_drop=0.3)
    m = np.arange(200)[None, :]
    np.testing.assert_allclose(hit, np.where(m >= onset[:, None], 0.7 * calm, calm), rtol=1e-15)
    # onset: exponential at the intensity of 10% a year
    assert (onset < 120).mean() == pytest.approx(1 - 0.9 ** 10, abs=0.03)
    base = lease_events(np, inst.plan.seed, scen, inputs.leases)["default_month"][0]
    stressed = lease_events(np, inst.plan.seed, scen, inputs.leases, onset, 4.0)["default_month"][0]
    assert np.all(stressed <= base)
    assert np.array_equal(stressed[base < onset], base[base < onset])
    assert (stressed < base).mean() > 0.1
    off = instance([shell()], [lease(default_rate=0.05)], rent_vol=0.2, scenarios=3000)
    assert npv_per_mw(inst, [convert()]).mean() < npv_per_mw(off, [convert()]).mean()
    assert np.all(stress_onset(np, 1, scen, engine_inputs(off, []).stress) == NEVER)


def test_backstop_cost_is_a_value_cost_at_signing():
    plain = instance([shell()], [lease()])
    priced = instance([shell()], [lease(backstop_cost_usd=100e6)])
    diff = npv_per_mw(plain, [convert()])[0] - npv_per_mw(priced, [convert()])[0]
    np.testing.assert_allclose(diff, 100e6 / 20.0 * 1.1 ** (-(6 + 0.5) / 12), rtol=1e-12)
