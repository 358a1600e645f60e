"""The compiled CPU kernels (`gpu.compiled`) against the NumPy path and closed forms; the
threaded chunk loop and the kept scenario draws against the plain loop, bit for bit."""
from __future__ import annotations

import math

import numpy as np
import pytest

from wattfolio.gpu import compiled
from wattfolio.gpu.backend import get_backend
from wattfolio.gpu.device import device_inputs
from wattfolio.gpu.factors import POWER_HOURS, hourly_margin_sums
from wattfolio.gpu.inputs import CONVERT, SELL, PowerParams
from wattfolio.gpu.philox import seed_key
from wattfolio.gpu.valuation import (scenario_draws, convert_flows, discount_factors, scenario_state,
                                     sell_flows, simulate_value_table, valuation_months)
from wattfolio.instance.load import load_instance
from wattfolio.planning.catalog import build_catalog
from wattfolio.planning.valuation import engine_inputs

pytestmark = pytest.mark.skipif(not compiled.available(), reason="Numba is not installed")


def _power(sig=0.5, spike_p=0.02, spike_price=900.0, cap=2000.0) -> PowerParams:
    one = lambda v, t=float: np.array([v], dtype=t)  # noqa: E731
    return PowerParams(mean_price=one(40.0), volatility=one(0.3), mean_reversion=one(1.0),
                       seasonal_amplitude=one(0.0), seasonal_peak_month=one(1, np.int64),
                       hourly_volatility=one(sig), spike_probability=one(spike_p),
                       spike_price=one(spike_price), price_cap=one(cap))


@pytest.mark.parametrize("hours", [1, 2, 23, 24, 731])
def test_hourly_kernel_matches_numpy_whatever_the_block(hours, monkeypatch):
    """The compiled Philox feeds the NumPy path's own price code, so prices are the same
    bits; the sums over hours run compiled (sequential where NumPy is pairwise): equal to
    float64 rounding of the order. Blocks of any size (one hour pair, a few, many months)
    give the same bits."""
    rng = np.random.default_rng(hours)
    c, mb, n = 64, 7, 3
    level = rng.uniform(20.0, 80.0, (c, mb))
    revenue = rng.uniform(30.0, 90.0, (n, c, mb))
    scen = np.arange(5000, 5000 + c)
    for spike_p in (0.02, 0.0):
        pw = _power(spike_p=spike_p)
        ref = hourly_margin_sums(np, 11, scen, 3, level, revenue, pw, 0, hours)
        runs = []
        for block in (1, 37, 1 << 15):
            monkeypatch.setattr(compiled, "HOUR_BLOCK", block)
            runs.append(compiled.hourly_margin_sums(scen, 3, level, revenue, hours, POWER_HOURS,
                                                    seed_key(11), 0.5, spike_p, 900.0, 2000.0))
        assert all(np.array_equal(r, runs[0]) for r in runs[1:])
        np.testing.assert_allclose(runs[0], ref, rtol=1e-13, atol=0)
        assert (ref > 0).mean() > 0.5           # the hours do pay: not a trivial zero


def test_hourly_kernel_without_sites_or_months():
    out = compiled.hourly_margin_sums(np.arange(4), 0, np.ones((4, 0)), np.ones((2, 4, 0)), 24,
                                      POWER_HOURS, seed_key(1), 0.5, 0.0, 0.0, 1e4)
    assert out.shape == (2, 4, 0)


def test_hourly_kernel_black76_put():
    """Without spikes and cap, E[max(R - P, 0)] over lognormal hours with mean F is the
    Black-76 put on F at strike R: R N(-d2) - F N(-d1)."""
    c, mb, hours, sig = 4000, 2, 24, 0.5
    F, R = 50.0, 55.0
    level = np.full((c, mb), F)
    revenue = np.full((1, c, mb), R)
    got = compiled.hourly_margin_sums(np.arange(c), 0, level, revenue, hours, POWER_HOURS,
                                      seed_key(3), sig, 0.0, 0.0, 1e9)
    per_hour = got / hours
    d1 = (math.log(F / R) + 0.5 * sig * sig) / sig
    d2 = d1 - sig
    N = lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0))  # noqa: E731
    put = R * N(-d2) - F * N(-d1)
    se = per_hour.std(ddof=1) / math.sqrt(per_hour.size)
    assert abs(per_hour.mean() - put) < 4.0 * se, (per_hour.mean(), put, se)


@pytest.fixture(scope="module")
def terawulf():
    inst = load_instance("instances/terawulf.toml").with_plan(scenarios=300)
    return inst, build_catalog(inst)


def _chunk_inputs(inst, acts, c=96):
    inputs = engine_inputs(inst, acts)
    dev = device_inputs(np, inputs)
    window = valuation_months(inputs)
    scen = np.arange(c, dtype=np.int64)
    margin, rent, site_ev, lease_ev = scenario_draws(np, dev, scen, window)
    disc, _ = discount_factors(np, window, inputs.horizon.discount_rate)
    disc_end = (1.0 + inputs.horizon.discount_rate) ** (-inputs.horizon.months / 12.0)
    return inputs, dev, margin, rent, site_ev, lease_ev, disc, disc_end


def test_contract_kernels_match_numpy_flows(terawulf):
    """Given the same draws, the compiled flows equal the NumPy flows to float64 rounding:
    NPVs, expected-cash sums, the plan's cash and the cut weights."""
    inst, acts = terawulf
    inputs, dev, margin, rent, site_ev, lease_ev, disc, disc_end = _chunk_inputs(inst, acts)
    h = inputs.horizon
    rng = np.random.default_rng(0)
    for g in dev.groups:
        mines = g.mines
        w = rng.uniform(0.0, 2.0, g.index.size)
        cw = rng.uniform(-1.0, 1.0, (rent.shape[0], h.months))
        if g.kind == CONVERT:
            npv, cash = convert_flows(np, h, g.col, mines, margin, rent, site_ev, lease_ev, disc, disc_end)
            got = compiled.convert_reduced(h, g.col, margin, rent, site_ev, lease_ev, disc, disc_end, w, cw)
        elif g.kind == SELL:
            npv, cash = sell_flows(np, h, g.col, mines, margin, site_ev, disc, disc_end)
            got = compiled.sell_reduced(h, g.col, margin, site_ev, disc, disc_end, w, cw)
        else:
            continue
        g_npv, g_sum, g_plan, g_w = got
        np.testing.assert_allclose(g_npv, npv, rtol=1e-11, atol=1e-3)
        np.testing.assert_allclose(g_sum, cash.sum(axis=1), rtol=1e-11, atol=1e-3)
        np.testing.assert_allclose(g_plan, np.tensordot(w, cash, axes=1), rtol=1e-11, atol=1e-3)
        np.testing.assert_allclose(g_w, (cash * cw[None]).sum(axis=(1, 2)), rtol=1e-10, atol=1e-2)


def test_numba_backend_close_to_numpy(terawulf):
    """End to end the backends differ only by the hourly float32 rounding (and where it
    tips a mothball decision): NPVs agree to 1e-4 relative of the action's scale."""
    inst, acts = terawulf
    inputs = engine_inputs(inst, acts)
    a = simulate_value_table(inputs, 120, get_backend("numpy"))
    b = simulate_value_table(inputs, 120, get_backend("numba"))
    scale = np.abs(a.npv).max(axis=1, keepdims=True) + 1.0
    assert np.all(np.abs(a.npv - b.npv) <= 1e-4 * scale)
    assert np.median(np.abs(a.npv - b.npv) / scale) < 1e-8
    np.testing.assert_allclose(b.baseline_npv, a.baseline_npv, rtol=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_same_bits_whatever_the_workers(terawulf, backend):
    inst, acts = terawulf
    inputs = engine_inputs(inst, acts)
    q = np.zeros(len(acts))
    q[[2, 40, 70]] = [1.0, 12.5, 3.0]
    be = get_backend(backend)
    ref = simulate_value_table(inputs, 200, be, chunk=64, plan_quantities=q, workers=1)
    for workers in (2, 3):
        got = simulate_value_table(inputs, 200, be, chunk=64, plan_quantities=q, workers=workers)
        assert np.array_equal(got.npv, ref.npv)
        assert np.array_equal(got.baseline_npv, ref.baseline_npv)
        assert np.array_equal(got.plan_cash, ref.plan_cash)
        assert np.array_equal(got.cash, ref.cash)
    # per-scenario results do not depend on the chunk either
    other = simulate_value_table(inputs, 200, be, chunk=37, plan_quantities=q, workers=2)
    assert np.array_equal(other.npv, ref.npv)
    assert np.array_equal(other.plan_cash, ref.plan_cash)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_kept_draws_give_the_same_bits(terawulf, backend):
    inst, acts = terawulf
    inputs = engine_inputs(inst, acts)
    be = get_backend(backend)
    state = scenario_state(inputs, 150, be, chunk=64)
    assert state.nbytes > 0
    q = np.linspace(0.0, 1.0, len(acts))
    plain = simulate_value_table(inputs, 150, be, plan_quantities=q)
    kept = simulate_value_table(inputs, 150, be, plan_quantities=q, state=state)
    assert np.array_equal(plain.npv, kept.npv) and np.array_equal(plain.plan_cash, kept.plan_cash)
    # a subset of scenarios with cut weights reads the same rows of the kept draws
    ids = np.array([149, 3, 77])
    W = np.random.default_rng(2).random((3, inputs.horizon.months))
    a = simulate_value_table(inputs, 0, be, scenario_ids=ids, cash_weights=W)
    b = simulate_value_table(inputs, 0, be, scenario_ids=ids, cash_weights=W, state=state)
    assert np.array_equal(a.weighted_cash, b.weighted_cash)
    assert a.weighted_baseline == b.weighted_baseline
    # a state of another seed is refused, not silently used
    with pytest.raises(ValueError, match="seed"):
        other = engine_inputs(inst.with_plan(seed=inst.plan.seed + 1), acts)
        simulate_value_table(other, 150, be, state=state)


def test_compiled_mothball_equals_the_numpy_recursion_bit_for_bit():
    from wattfolio.gpu.recursions import mothball, mothball_rows

    rng = np.random.default_rng(12)
    sites, scenarios, months = 4, 257, 144
    # slow swings around zero with noise: long losing and paying runs, exact zeros too
    trend = np.sin(np.arange(months) / rng.uniform(3, 9, size=(sites, scenarios, 1)))
    margin = np.round(trend * 50 + rng.normal(0, 20, size=(sites, scenarios, months)))
    patience, restart = np.array([3, 1, 0, 6]), np.array([2, 0, 3, 1])
    cost = np.array([100.0, 5.0, 0.0, 12.5])
    expected = mothball(np, margin, patience, restart, cost)
    never = np.iinfo(np.int64).max
    limits = (np.where(patience > 0, patience, never)[:, None], np.where(restart > 0, restart, never)[:, None],
              cost[:, None])
    got = compiled.mothball_rows(margin, *limits)
    assert (expected == 0).mean() > 0.1 and (expected != margin).any()   # it does stop and restart
    assert np.array_equal(got, expected)
    assert np.array_equal(got, mothball_rows(np, margin, *limits))


def test_hour_sums_site_by_site_and_across_sites_agree_bit_for_bit():
    """A market with a few mining sites sums site by site, one with many across sites per
    hour: both add each site's hours in the same order, so the sums are the same bits."""
    from wattfolio.gpu import _compiled_kernels as kernels

    rng = np.random.default_rng(3)
    price = rng.uniform(20, 80, (5, 7, 13)).astype(np.float32)
    many = kernels._FEW_SITES + 3
    rev = rng.uniform(30, 90, (many, 5, 7)).astype(np.float32)
    across = np.zeros((many, 5, 7))
    kernels.hour_sums(price, rev, across)
    one_by_one = np.zeros((many, 5, 7))
    for j in range(many):
        kernels.hour_sums(price, rev[j:j + 1].copy(), one_by_one[j:j + 1])
    assert np.array_equal(across, one_by_one)
    expected = np.maximum(rev[:, :, :, None] - price[None], 0).astype(np.float64).sum(axis=-1)
    np.testing.assert_allclose(across, expected, rtol=1e-12)
