"""Valuation kernels: per-action cash flows per scenario, reduced to NPVs inside a chunk.

Scenarios are processed in chunks; within a chunk hours are drawn month-block by
month-block and summed at once, so scenarios x months x hours x sites is never held.
Cash flows are float64 (a lease's annuity must match its closed form to 1e-9); hourly
prices are float32. Conventions:
- a month is 730 hours; cash in plan month m is discounted by (1+r)^-((m+0.5)/12);
- terminal values are discounted from the horizon's end, (1+r)^-(M/12);
- rent escalates at each anniversary of the rent start; HPC capex is spent evenly over
  build_months from the action's start; rent starts after build plus delay.
"""
from __future__ import annotations

from types import ModuleType
from typing import Callable

import numpy as np

from .backend import to_host
from .factors import (
    HOURS_PER_MONTH,
    bitcoin_paths,
    hourly_margin_sums,
    lease_events,
    power_levels,
    rent_path,
    site_events,
)
from .inputs import ACQUIRE, CONVERT, SELL, EngineInputs
from .value_table import ValueTable

# Elements of a float64 (actions x scenarios x months) block: ~16 MB is cache-friendly
# on a CPU; a GPU wants few, large launches (~256 MB a temporary, a dozen live at once).
BLOCK_ELEMENTS = {"numpy": 1 << 21, "cupy": 1 << 25}
# float32 elements of an hourly (scenarios x months x hour-pairs) block (array path).
HOUR_ELEMENTS = 1 << 21
# Scenarios per chunk when the caller does not say: results never depend on it.
DEFAULT_CHUNK = {"numpy": 2048, "cupy": 32768}


def default_chunk(xp: ModuleType) -> int:
    return DEFAULT_CHUNK.get(xp.__name__, 2048)


def discount_factors(xp: ModuleType, months: int, rate: float):
    """Mid-month factors (M,) and the horizon-end factor for terminal values."""
    m = xp.arange(months, dtype=xp.float64)
    return (1.0 + rate) ** (-(m + 0.5) / 12.0), (1.0 + rate) ** (-months / 12.0)


def mining_margin(xp: ModuleType, inputs: EngineInputs, scen, hashprice):
    """Mining margin per grid MW per month, $ (I, c, M) float64: hour-by-hour curtailed
    hash revenue less opex; zero for sites that do not mine."""
    h, p, s = inputs.horizon, inputs.power, inputs.sites
    c, n_months = scen.shape[0], h.months
    margin = xp.zeros((s.n, c, n_months), dtype=xp.float64)
    mining_sites = np.flatnonzero(s.mines)
    if mining_sites.size == 0:
        return margin
    hours = h.hours_per_month
    scale = HOURS_PER_MONTH / hours  # sampled hours stand for the whole month
    pairs = (hours + 1) // 2
    # the fused GPU kernel keeps hours in registers, so it takes every month at once;
    # the array path holds a (c, months, hour-pairs) block and needs it cache-sized
    fused = xp.__name__ == "cupy"
    mb = n_months if fused else max(1, min(n_months, HOUR_ELEMENTS // max(1, c * pairs)))
    for k in np.unique(s.market[mining_sites]):
        here_host = mining_sites[s.market[mining_sites] == k]
        here = xp.asarray(here_host)  # index the device array with a device array
        level = power_levels(xp, h.seed, scen, h, p, int(k))
        # $/MWh a site earns from hashing: TH/s per MW x $/TH/s/day / 24 h
        th_per_mw = xp.asarray(1e6 / s.efficiency_j_per_th[here_host], dtype=xp.float64)
        revenue = th_per_mw[:, None, None] * hashprice[None, :, :] / 24.0
        for m0 in range(0, n_months, mb):
            m1 = min(n_months, m0 + mb)
            sums = hourly_margin_sums(xp, h.seed, scen, m0, level[:, m0:m1], revenue[:, :, m0:m1],
                                      p, int(k), hours)
            margin[here, :, m0:m1] = sums * scale
        opex = xp.asarray(s.opex_usd_per_mw_month[here_host], dtype=xp.float64)
        margin[here] -= opex[:, None, None]
    patience = s.shutdown_after_loss_months[mining_sites]
    if (patience > 0).any():
        rows = xp.asarray(mining_sites)
        margin[rows] = mothball(xp, margin[rows], patience)
    return margin


def mothball(xp: ModuleType, margin, patience: np.ndarray):
    """Zero a fleet's margin from the month after `patience` consecutive losing months
    (per site; 0 = never). The rule looks only backwards along the path, so it is a
    policy an operator could follow, not hindsight."""
    n_sites, _, n_months = margin.shape
    limit = xp.asarray(np.where(patience > 0, patience, np.iinfo(np.int64).max), dtype=xp.int64)[:, None]
    run = xp.zeros(margin.shape[:2], dtype=xp.int64)
    stopped = xp.zeros(margin.shape[:2], dtype=bool)
    out = margin.copy()
    for m in range(n_months):  # a recursion in time, vectorised over sites and scenarios
        out[:, :, m] = xp.where(stopped, 0.0, margin[:, :, m])
        run = xp.where(margin[:, :, m] < 0, run + 1, 0)
        stopped |= run >= limit
    return out


def _last_year(values, months: int):
    """Sum of the last 12 months (or all, for a shorter horizon) along the last axis."""
    return values[..., max(0, months - 12):].sum(axis=-1)


def convert_flows(xp: ModuleType, inputs: EngineInputs, acts, margin, rent, site_ev, lease_ev):
    """Cash per critical MW (a, c, M) and terminal value (a, c) of convert actions."""
    h, s, ls = inputs.horizon, inputs.sites, inputs.leases
    a = inputs.actions
    i = xp.asarray(a.site[acts])
    le = xp.asarray(a.lease[acts])
    n_months = h.months
    m = xp.arange(n_months, dtype=xp.int64)[None, None, :]
    t0 = xp.asarray(a.start[acts], dtype=xp.int64)[:, None, None]

    def site_col(arr, dtype=xp.float64):
        return xp.asarray(arr, dtype=dtype)[i][:, None, None]

    def lease_col(arr, dtype=xp.float64):
        return xp.asarray(arr, dtype=dtype)[le][:, None, None]

    own = site_col(s.ownership)
    build = site_col(s.build_months, xp.int64)
    capex = -own * site_col(s.capex_usd_per_mw) * site_ev["overrun"][i][:, :, None] / build
    cash = xp.where((m >= t0) & (m < t0 + build), capex, 0.0)
    lost = own * site_col(s.pue) * margin[i]
    cash -= xp.where(m >= t0, lost, 0.0)

    rent_start = t0 + build + site_ev["delay"][i][:, :, None]
    tenor = lease_col(ls.tenor_months, xp.int64)
    k = lease_ev["default_after"][le][:, :, None]
    defaulted = k < tenor
    default_month = rent_start + k
    contract_end = xp.where(defaulted, default_month, rent_start + tenor)
    relet = lease_col(ls.relet_months, xp.int64)
    renews = lease_ev["renews"][le][:, :, None]
    market_start = xp.where(defaulted, default_month + relet,
                            xp.where(renews, rent_start + tenor, rent_start + tenor + relet))
    growth = 1.0 + lease_col(ls.escalator)
    noi = own * 1000.0 * lease_col(ls.noi_margin)  # $ per MW-month per $/kW-month of rent
    base = noi * lease_col(ls.rate_kw_month)
    years = xp.maximum(m - rent_start, 0) // 12
    contracted = base * growth ** years
    in_contract = (m >= rent_start) & (m < contract_end)
    rent_cash = xp.where(in_contract, contracted,
                         xp.where(m >= market_start, noi * rent[None, :, :], 0.0))

    # backstop: on default the guarantor pays the remaining contracted NOI, up to its cap
    def escalated_months(n):  # sum_{j<n} g^floor(j/12), closed form per element
        full, part = n // 12, n % 12
        g = growth[..., 0]
        geometric = xp.where(xp.abs(g - 1.0) > 1e-12, (g ** full - 1.0) / xp.where(
            xp.abs(g - 1.0) > 1e-12, g - 1.0, 1.0), full.astype(xp.float64))
        return 12.0 * geometric + part * g ** full

    tenor2 = tenor[..., 0]
    k2 = xp.minimum(k[..., 0], tenor2)
    remaining = base[..., 0] * (escalated_months(tenor2) - escalated_months(k2))
    cap = own[..., 0] * lease_col(ls.backstop_usd_per_mw)[..., 0]
    payout = xp.where(defaulted[..., 0], xp.minimum(cap, remaining), 0.0)
    # the terminal multiple applies to recurring NOI, not to a one-off guarantee payment
    tv = h.tv_hpc * _last_year(rent_cash, n_months)
    rent_cash += xp.where(m == default_month, payout[:, :, None], 0.0)
    cash += rent_cash

    tv -= h.tv_mining * own[..., 0] * site_col(s.pue)[..., 0] * xp.maximum(_last_year(margin[i], n_months), 0.0)
    return cash, tv


def sell_flows(xp: ModuleType, inputs: EngineInputs, acts, margin, site_ev):
    """Cash (a, c, M) and terminal value (a, c) of sell actions: proceeds at closing if
    the sale closes, and the site's baseline mining gone from then on."""
    h, s, a = inputs.horizon, inputs.sites, inputs.actions
    i = xp.asarray(a.site[acts])
    m = xp.arange(h.months, dtype=xp.int64)[None, None, :]
    close = xp.asarray(a.start[acts] + s.months_to_close[a.site[acts]], dtype=xp.int64)[:, None, None]
    own = xp.asarray(s.ownership, dtype=xp.float64)[i]
    gross = own * xp.asarray(s.capacity_mw, dtype=xp.float64)[i]
    closes = site_ev["sale_closes"][i]
    proceeds = xp.where(closes, own[:, None] * site_ev["sale_price"][i], 0.0)
    lost = gross[:, None, None] * margin[i]
    cash = xp.where(m == close, proceeds[:, :, None], 0.0)
    cash -= xp.where((m >= close) & closes[:, :, None], lost, 0.0)
    tv_lost = h.tv_mining * gross[:, None] * xp.maximum(_last_year(margin[i], h.months), 0.0)
    return cash, -xp.where(closes, tv_lost, 0.0)


def acquire_flows(xp: ModuleType, inputs: EngineInputs, acts, c: int):
    """Cash (a, c, M): the purchase price at the action's start; no terminal value."""
    h, s, a = inputs.horizon, inputs.sites, inputs.actions
    m = xp.arange(h.months, dtype=xp.int64)[None, None, :]
    t0 = xp.asarray(a.start[acts], dtype=xp.int64)[:, None, None]
    cost = xp.asarray(s.ownership * s.acquire_cost, dtype=xp.float64)[xp.asarray(a.site[acts])]
    cash = xp.where(m == t0, -cost[:, None, None], 0.0) + xp.zeros((1, c, 1))
    return cash, xp.zeros((len(acts), c), dtype=xp.float64)


def _value_chunk(inputs: EngineInputs, xp: ModuleType, s0: int, s1: int, groups, disc, disc_end,
                 out: dict, weights=None):
    """Simulate scenarios s0..s1-1 and write their columns of the outputs; returns the
    chunk's sums of cash (A, M) and baseline cash (M,)."""
    h, s = inputs.horizon, inputs.sites
    n_months = h.months
    scen = xp.arange(s0, s1, dtype=xp.int64)
    c = s1 - s0
    _, hashprice = bitcoin_paths(xp, h.seed, scen, h, inputs.bitcoin)
    margin = mining_margin(xp, inputs, scen, hashprice)
    rent = rent_path(xp, h.seed, scen, h, inputs.rent)
    site_ev = site_events(xp, h.seed, scen, s)
    lease_ev = lease_events(xp, h.seed, scen, inputs.leases)

    gross = xp.asarray(s.ownership * s.capacity_mw * s.mines, dtype=xp.float64)
    base = (gross[:, None, None] * margin).sum(axis=0)
    base_tv = h.tv_mining * (gross[:, None] * xp.maximum(_last_year(margin, n_months), 0.0)).sum(axis=0)
    out["baseline_npv"][s0:s1] = (base * disc).sum(axis=-1) + base_tv * disc_end
    cash_part = xp.zeros((inputs.actions.n, n_months), dtype=xp.float64)
    plan_cash = out.get("plan_cash")
    if plan_cash is not None:
        plan_cash[s0:s1] = base

    block = max(1, BLOCK_ELEMENTS.get(xp.__name__, BLOCK_ELEMENTS["numpy"]) // (c * n_months))
    for kind, idx in groups:
        for b0 in range(0, idx.size, block):
            acts = idx[b0:b0 + block]
            if kind == CONVERT:
                cash, tv = convert_flows(xp, inputs, acts, margin, rent, site_ev, lease_ev)
            elif kind == SELL:
                cash, tv = sell_flows(xp, inputs, acts, margin, site_ev)
            else:
                cash, tv = acquire_flows(xp, inputs, acts, c)
            rows = xp.asarray(acts)
            out["npv"][rows, s0:s1] = (cash * disc).sum(axis=-1) + tv * disc_end
            cash_part[rows] = cash.sum(axis=1)
            if plan_cash is not None:
                plan_cash[s0:s1] += xp.tensordot(weights[rows], cash, axes=1)
    return cash_part, base.sum(axis=0)


def value_actions(inputs: EngineInputs, scenarios: int, xp: ModuleType, backend: str,
                  chunk: int | None = None, progress: Callable[[int, int], None] | None = None,
                  plan_quantities: np.ndarray | None = None) -> ValueTable:
    """Value every action in `inputs.actions` on scenarios 0..scenarios-1.

    `chunk` scenarios are simulated at a time; the result does not depend on it. `progress(done, total)` is
    called after each chunk. With `plan_quantities` (A,), the table also carries
    `plan_cash` (S, M): the operating cash of the baseline plus those quantities of each
    action, scenario by scenario (for the cash fan chart).
    """
    h = inputs.horizon
    chunk = chunk or default_chunk(xp)
    n_act, n_months = inputs.actions.n, h.months
    disc, disc_end = discount_factors(xp, n_months, h.discount_rate)
    out = {"npv": xp.zeros((n_act, scenarios), dtype=xp.float64),
           "baseline_npv": xp.zeros(scenarios, dtype=xp.float64)}
    weights = None
    if plan_quantities is not None:
        weights = xp.asarray(plan_quantities, dtype=xp.float64)
        out["plan_cash"] = xp.zeros((scenarios, n_months), dtype=xp.float64)
    kinds = inputs.actions.kind
    groups = [(k, np.flatnonzero(kinds == k)) for k in (CONVERT, SELL, ACQUIRE)]
    cash_sum = xp.zeros((n_act, n_months), dtype=xp.float64)
    baseline_cash_sum = xp.zeros(n_months, dtype=xp.float64)
    for s0 in range(0, scenarios, chunk):
        s1 = min(scenarios, s0 + chunk)
        cash_part, base_part = _value_chunk(inputs, xp, s0, s1, groups, disc, disc_end, out, weights)
        cash_sum += cash_part
        baseline_cash_sum += base_part
        if progress is not None:
            progress(s1, scenarios)

    plan_cash = out.get("plan_cash")
    return ValueTable(
        npv=out["npv"],
        baseline_npv=out["baseline_npv"],
        cash=to_host(cash_sum) / scenarios,
        baseline_cash=to_host(baseline_cash_sum) / scenarios,
        xp=xp,
        backend=backend,
        plan_cash=None if plan_cash is None else to_host(plan_cash),
    )
