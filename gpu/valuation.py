"""Valuation kernels: per-action cash flows per scenario, reduced to NPVs inside a chunk.

Scenarios are processed in chunks; within a chunk hours are drawn month-block by
month-block and summed at once, so scenarios x months x hours x sites is never held.
Cash flows are float64 (a lease's annuity must match its closed form to 1e-9); hourly
prices are float32. Conventions:
- a month is 730 hours; cash in plan month m is discounted by (1+r)^-((m+0.5)/12);
- mining's terminal value (a multiple of the trailing year's margin) is discounted from
  the horizon's end, (1+r)^-(M/12);
- a lease is valued to the end of its contract, also past the horizon (the valuation
  window is as long as the longest contract can run); the space's residual after it is a
  multiple of the market NOI then, discounted from that month, (1+r)^-(m/12). The
  horizon bounds decisions and the reporting window, not a contract's life;
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
    poisson_bound,
    power_levels,
    rent_path,
    site_events,
    stress_onset,
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
        margin[rows] = mothball(xp, margin[rows], patience,
                                s.restart_after_profit_months[mining_sites],
                                s.restart_cost_usd_per_mw[mining_sites])
    return margin


def mothball(xp: ModuleType, margin, patience: np.ndarray, restart: np.ndarray | None = None,
             restart_cost=None):
    """Mothball and restart fleets along each margin path (sites, scenarios, months).

    Parameters
    ----------
    xp : module
        Array namespace of `margin`.
    margin : array (I, c, M) float64
        Margin per grid MW a fleet would earn running, month by month.
    patience : ndarray (I,) int
        A running fleet stops from the month after this many consecutive losing months
        (0: never stops).
    restart : ndarray (I,) int, optional
        A stopped fleet mines again from the month after this many consecutive months in
        which running would have paid (margin > 0); 0 or None: never restarts.
    restart_cost : ndarray (I,) float, optional
        $ per grid MW taken from the restart month's margin (default 0).

    Returns
    -------
    array (I, c, M) float64
        The margin earned: 0 while stopped. Both rules look only backwards along the
        path, so together they are a policy an operator could follow, not hindsight.
        A restarted fleet starts a fresh run of losing months; the restart cost is a
        one-off and does not count as a loss.
    """
    never = np.iinfo(np.int64).max
    n_sites, _, n_months = margin.shape
    restart = np.zeros(n_sites, np.int64) if restart is None else restart
    cost = np.zeros(n_sites) if restart_cost is None else restart_cost
    stop_limit = xp.asarray(np.where(patience > 0, patience, never), dtype=xp.int64)[:, None]
    start_limit = xp.asarray(np.where(restart > 0, restart, never), dtype=xp.int64)[:, None]
    cost = xp.asarray(cost, dtype=xp.float64)[:, None]
    losses = xp.zeros(margin.shape[:2], dtype=xp.int64)
    profits = xp.zeros(margin.shape[:2], dtype=xp.int64)
    stopped = xp.zeros(margin.shape[:2], dtype=bool)
    restarting = xp.zeros(margin.shape[:2], dtype=bool)
    out = xp.empty_like(margin)
    for m in range(n_months):  # a recursion in time, vectorised over sites and scenarios
        here = margin[:, :, m]
        out[:, :, m] = xp.where(stopped, 0.0, xp.where(restarting, here - cost, here))
        # each run counts only in its own state, so a switch starts the other afresh
        losses = xp.where(~stopped & (here < 0), losses + 1, 0)
        profits = xp.where(stopped & (here > 0), profits + 1, 0)
        restarting = stopped & (profits >= start_limit)
        stopped = (stopped & ~restarting) | (~stopped & (losses >= stop_limit))
    return out


def _last_year(values, months: int):
    """Sum of the last 12 months (or all, for a shorter horizon) along the last axis."""
    return values[..., max(0, months - 12):].sum(axis=-1)


def valuation_months(inputs: EngineInputs) -> int:
    """Months the valuation spans: the horizon, or longer where a convert's contract (with
    the longest possible build delay and the re-let after it) runs past it, so that a
    contract is valued to its end whatever the horizon."""
    h, s, ls, a = inputs.horizon, inputs.sites, inputs.leases, inputs.actions
    conv = np.flatnonzero(a.kind == CONVERT)
    if conv.size == 0:
        return h.months
    i, le = a.site[conv], a.lease[conv]
    delay_max = poisson_bound(float(s.delay_months_mean.max()) if s.n else 0.0)
    ends = a.start[conv] + s.build_months[i] + delay_max + ls.tenor_months[le] + ls.relet_months[le]
    return max(h.months, int(ends.max()) + 1)


def convert_flows(xp: ModuleType, inputs: EngineInputs, acts, margin, rent, site_ev, lease_ev,
                  disc, disc_end):
    """NPV (a, c) and cash inside the horizon (a, c, M) of convert actions, per critical MW.

    The contract is valued to its end, also past the horizon: capex over the build, rent
    from the build plus its delay for the tenor, escalating at each anniversary. If the
    tenant defaults (in `lease_ev["default_month"]`, or before rent starts, in which case
    the lease fails at rent start), the space stands empty for `relet_months` and is then
    re-let at market rent; the guarantor pays the contracted NOI less that re-let income as
    it falls due, until its cap is used up or the term ends. Re-letting is for the
    defaulted tenant's account, so the space never earns more than its contract during
    the term: a default cannot add value. Where the contract ends (or, without renewal,
    `relet_months` later) the space's residual is `tv_hpc` x the annual market NOI then,
    discounted from that month. Lost mining counts inside the horizon plus `tv_mining` x
    its trailing year, as for the baseline. The backstop's cost (`backstop_cost_usd_per_mw`)
    is a value cost at the action's start. Inside the horizon the cash also shows the
    market rent earned after the contract, which the residual stands for in the NPV.
    """
    h, s, ls = inputs.horizon, inputs.sites, inputs.leases
    a = inputs.actions
    i = xp.asarray(a.site[acts])
    le = xp.asarray(a.lease[acts])
    n_months, window = h.months, rent.shape[1]
    m = xp.arange(window, dtype=xp.int64)[None, None, :]
    t0 = xp.asarray(a.start[acts], dtype=xp.int64)[:, None, None]

    def site_col(arr, dtype=xp.float64):
        return xp.asarray(arr, dtype=dtype)[i][:, None, None]

    def lease_col(arr, dtype=xp.float64):
        return xp.asarray(arr, dtype=dtype)[le][:, None, None]

    own = site_col(s.ownership)
    build = site_col(s.build_months, xp.int64)
    capex = -own * site_col(s.capex_usd_per_mw) * site_ev["overrun"][i][:, :, None] / build
    cash = xp.where((m >= t0) & (m < t0 + build), capex, 0.0)

    rent_start = t0 + build + site_ev["delay"][i][:, :, None]
    end = rent_start + lease_col(ls.tenor_months, xp.int64)
    failed = xp.maximum(lease_ev["default_month"][le][:, :, None], rent_start)
    defaulted = failed < end
    relet = lease_col(ls.relet_months, xp.int64)
    residual_from = xp.where(lease_ev["renews"][le][:, :, None], end, end + relet)
    residual_from = xp.where(defaulted, xp.maximum(residual_from, failed + relet), residual_from)

    noi = own * 1000.0 * lease_col(ls.noi_margin)  # $ per MW-month per $/kW-month of rent
    years = xp.maximum(m - rent_start, 0) // 12
    contracted = noi * lease_col(ls.rate_kw_month) * (1.0 + lease_col(ls.escalator)) ** years
    market = noi * rent[None, :, :]
    in_term = (m >= rent_start) & (m < end)
    after_default = in_term & (m >= failed)
    relet_income = xp.where(after_default & (m >= failed + relet), xp.minimum(market, contracted), 0.0)
    shortfall = xp.where(after_default, contracted - relet_income, 0.0)
    cap = own * lease_col(ls.backstop_usd_per_mw)
    paid_before = xp.cumsum(shortfall, axis=-1) - shortfall
    guarantor = xp.minimum(shortfall, xp.maximum(cap - paid_before, 0.0))
    cash += xp.where(in_term & (m < failed), contracted, 0.0) + relet_income + guarantor

    lost = own * site_col(s.pue) * margin[i]
    cash[:, :, :n_months] -= xp.where(m[:, :, :n_months] >= t0, lost, 0.0)

    rate = h.discount_rate
    at = residual_from[..., 0]
    rent_then = rent[xp.arange(rent.shape[0])[None, :], at]
    residual = h.tv_hpc * 12.0 * noi[..., 0] * rent_then * (1.0 + rate) ** (-at / 12.0)
    lost_tv = h.tv_mining * own[..., 0] * site_col(s.pue)[..., 0] * xp.maximum(_last_year(margin[i], n_months), 0.0)
    signing = lease_col(ls.backstop_cost_usd_per_mw)[..., 0] * (1.0 + rate) ** (-(t0[..., 0] + 0.5) / 12.0)
    npv = (cash * disc).sum(axis=-1) + residual - lost_tv * disc_end - signing

    liquid = cash[:, :, :n_months] + xp.where(m[:, :, :n_months] >= residual_from, market[:, :, :n_months], 0.0)
    return npv, liquid


def sell_flows(xp: ModuleType, inputs: EngineInputs, acts, margin, site_ev, disc, disc_end):
    """NPV (a, c) and cash (a, c, M) of sell actions: proceeds at closing if the sale
    closes, and the site's baseline mining gone from then on."""
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
    tv = -xp.where(closes, tv_lost, 0.0)
    return (cash * disc[:h.months]).sum(axis=-1) + tv * disc_end, cash


def acquire_flows(xp: ModuleType, inputs: EngineInputs, acts, c: int, disc):
    """NPV (a, c) and cash (a, c, M): the purchase price at the action's start."""
    h, s, a = inputs.horizon, inputs.sites, inputs.actions
    m = xp.arange(h.months, dtype=xp.int64)[None, None, :]
    t0 = xp.asarray(a.start[acts], dtype=xp.int64)[:, None, None]
    cost = xp.asarray(s.ownership * s.acquire_cost, dtype=xp.float64)[xp.asarray(a.site[acts])]
    cash = xp.where(m == t0, -cost[:, None, None], 0.0) + xp.zeros((1, c, 1))
    return (cash * disc[:h.months]).sum(axis=-1), cash


def _value_chunk(inputs: EngineInputs, xp: ModuleType, s0: int, s1: int, groups, disc, disc_end,
                 out: dict, weights=None):
    """Simulate scenarios s0..s1-1 and write their columns of the outputs; returns the
    chunk's sums of cash (A, M) and baseline cash (M,)."""
    h, s = inputs.horizon, inputs.sites
    n_months, window = h.months, disc.shape[0]
    scen = xp.arange(s0, s1, dtype=xp.int64)
    c = s1 - s0
    _, hashprice = bitcoin_paths(xp, h.seed, scen, h, inputs.bitcoin)
    margin = mining_margin(xp, inputs, scen, hashprice)
    onset = stress_onset(xp, h.seed, scen, inputs.stress)
    rent = rent_path(xp, h.seed, scen, h, inputs.rent, months=window, onset=onset,
                     rent_drop=inputs.stress.rent_drop)
    site_ev = site_events(xp, h.seed, scen, s)
    lease_ev = lease_events(xp, h.seed, scen, inputs.leases, onset, inputs.stress.default_multiplier)

    gross = xp.asarray(s.ownership * s.capacity_mw * s.mines, dtype=xp.float64)
    base = (gross[:, None, None] * margin).sum(axis=0)
    base_tv = h.tv_mining * (gross[:, None] * xp.maximum(_last_year(margin, n_months), 0.0)).sum(axis=0)
    out["baseline_npv"][s0:s1] = (base * disc[:n_months]).sum(axis=-1) + base_tv * disc_end
    cash_part = xp.zeros((inputs.actions.n, n_months), dtype=xp.float64)
    plan_cash = out.get("plan_cash")
    if plan_cash is not None:
        plan_cash[s0:s1] = base

    block = max(1, BLOCK_ELEMENTS.get(xp.__name__, BLOCK_ELEMENTS["numpy"]) // (c * window))
    for kind, idx in groups:
        for b0 in range(0, idx.size, block):
            acts = idx[b0:b0 + block]
            if kind == CONVERT:
                npv, cash = convert_flows(xp, inputs, acts, margin, rent, site_ev, lease_ev, disc, disc_end)
            elif kind == SELL:
                npv, cash = sell_flows(xp, inputs, acts, margin, site_ev, disc, disc_end)
            else:
                npv, cash = acquire_flows(xp, inputs, acts, c, disc)
            rows = xp.asarray(acts)
            out["npv"][rows, s0:s1] = npv
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
    disc, _ = discount_factors(xp, valuation_months(inputs), h.discount_rate)
    disc_end = (1.0 + h.discount_rate) ** (-n_months / 12.0)
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
