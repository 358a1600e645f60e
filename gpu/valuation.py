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

Data movement: `simulate_value_table` moves the inputs into the backend's memory once
(`gpu.device.device_inputs`); inside the chunk loop nothing is copied between host and
device and nothing waits for the device; the aggregates come back once at the end.
Margins are computed for mining sites only, in an (n_mining, c, M) layout.
"""
from __future__ import annotations

from types import ModuleType
from typing import Callable

import numpy as np

from .backend import Backend, is_cupy, to_host
from .chunks import WORKERS_ENV, default_workers, map_chunks  # noqa: F401 - re-exported
from .device import DeviceInputs, device_inputs
from .draws import (DEFAULT_CHUNK, ScenarioState, mining_margin, scenario_draws, scenario_state,  # noqa: F401
                    state_bytes, valuation_months)
from .inputs import ACQUIRE, CONVERT, SELL, EngineInputs
from .recursions import mothball, mothball_rows  # noqa: F401 - mothball: part of this module's API
from .value_table import ValueTable

# Elements of a float64 (actions x scenarios x months) block: ~16 MB is cache-friendly
# on a CPU; a GPU wants few, large launches (~256 MB a temporary, a dozen live at once).
BLOCK_ELEMENTS = {"numpy": 1 << 21, "cupy": 1 << 25}


def _kind(xp: ModuleType) -> str:
    return "cupy" if is_cupy(xp) else "numpy"


def default_chunk(xp: ModuleType) -> int:
    return DEFAULT_CHUNK[_kind(xp)]


def discount_factors(xp: ModuleType, months: int, rate: float):
    """Mid-month factors (M,) and the horizon-end factor for terminal values."""
    m = xp.arange(months, dtype=xp.float64)
    return (1.0 + rate) ** (-(m + 0.5) / 12.0), (1.0 + rate) ** (-months / 12.0)


def _last_year(values, months: int):
    """Sum of the last 12 months (or all, for a shorter horizon) along the last axis."""
    return values[..., max(0, months - 12):].sum(axis=-1)


def _lost_rows(xp: ModuleType, col: dict, mines: np.ndarray, margin):
    """The block's rows of the mining margin (a, c, M), zero where a site does not mine;
    None when no site of the block mines (then nothing is lost)."""
    if not mines.any():
        return None
    rows = margin[col["margin_row"]]
    if mines.all():
        return rows
    return xp.where(col["mines"][:, None, None] > 0, rows, 0.0)


def convert_flows(xp: ModuleType, h, col: dict, mines: np.ndarray, margin, rent, site_ev, lease_ev,
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

    `col` holds the block's columns (`gpu.device`) in xp's memory, `mines` (host bool)
    whether each action's site has a mining baseline: the lost margin is that row of
    `margin` (n_mining, c, M), nothing where the site does not mine.
    """
    i, le = col["site"], col["lease"]
    n_months, window = h.months, rent.shape[1]
    m = xp.arange(window, dtype=xp.int64)[None, None, :]
    t0 = col["start"][:, None, None]

    own = col["own"][:, None, None]
    build = col["build"][:, None, None]
    capex = -own * col["capex"][:, None, None] * site_ev["overrun"][i][:, :, None] / build
    cash = xp.where((m >= t0) & (m < t0 + build), capex, 0.0)

    rent_start = t0 + build + site_ev["delay"][i][:, :, None]
    end = rent_start + col["tenor"][:, None, None]
    failed = xp.maximum(lease_ev["default_month"][le][:, :, None], rent_start)
    defaulted = failed < end
    relet = col["relet"][:, None, None]
    residual_from = xp.where(lease_ev["renews"][le][:, :, None], end, end + relet)
    residual_from = xp.where(defaulted, xp.maximum(residual_from, failed + relet), residual_from)

    noi = own * 1000.0 * col["noi_margin"][:, None, None]  # $ per MW-month per $/kW-month of rent
    # whole contract years since rent start, without an int64 division: k / 12.0 is exact
    # at multiples of 12 and at least 1/12 away from an integer elsewhere, so its floor is k // 12
    years = xp.floor(xp.maximum(m - rent_start, 0) / 12.0)
    contracted = noi * col["rate"][:, None, None] * (1.0 + col["escalator"][:, None, None]) ** years
    market = noi * rent[None, :, :]
    in_term = (m >= rent_start) & (m < end)
    after_default = in_term & (m >= failed)
    relet_income = xp.where(after_default & (m >= failed + relet), xp.minimum(market, contracted), 0.0)
    shortfall = xp.where(after_default, contracted - relet_income, 0.0)
    cap = own * col["backstop"][:, None, None]
    paid_before = xp.cumsum(shortfall, axis=-1) - shortfall
    guarantor = xp.minimum(shortfall, xp.maximum(cap - paid_before, 0.0))
    cash += xp.where(in_term & (m < failed), contracted, 0.0) + relet_income + guarantor

    pue = col["pue"][:, None]
    margin_rows = _lost_rows(xp, col, mines, margin)
    lost_tv = 0.0
    if margin_rows is not None:
        lost = own * pue[:, :, None] * margin_rows
        cash[:, :, :n_months] -= xp.where(m[:, :, :n_months] >= t0, lost, 0.0)
        lost_tv = h.tv_mining * own[..., 0] * pue * xp.maximum(_last_year(margin_rows, n_months), 0.0)

    rate = h.discount_rate
    at = residual_from[..., 0]
    rent_then = rent[xp.arange(rent.shape[0])[None, :], at]
    residual = h.tv_hpc * 12.0 * noi[..., 0] * rent_then * (1.0 + rate) ** (-at / 12.0)
    signing = col["backstop_cost"][:, None] * (1.0 + rate) ** (-(t0[..., 0] + 0.5) / 12.0)
    npv = (cash * disc).sum(axis=-1) + residual - lost_tv * disc_end - signing

    liquid = cash[:, :, :n_months] + xp.where(m[:, :, :n_months] >= residual_from, market[:, :, :n_months], 0.0)
    return npv, liquid


def sell_flows(xp: ModuleType, h, col: dict, mines: np.ndarray, margin, site_ev, disc, disc_end):
    """NPV (a, c) and cash (a, c, M) of sell actions: proceeds at closing if the sale
    closes, and the site's baseline mining gone from then on (`col`, `mines`: as for
    `convert_flows`)."""
    i = col["site"]
    m = xp.arange(h.months, dtype=xp.int64)[None, None, :]
    close = col["close"][:, None, None]
    own, gross = col["own"], col["gross"]
    closes = site_ev["sale_closes"][i]
    proceeds = xp.where(closes, own[:, None] * site_ev["sale_price"][i], 0.0)
    cash = xp.where(m == close, proceeds[:, :, None], 0.0)
    npv = (cash * disc[:h.months]).sum(axis=-1)
    margin_rows = _lost_rows(xp, col, mines, margin)
    if margin_rows is None:  # nothing mined there: nothing lost (old: minus zeros, the same bits)
        return npv, cash
    lost = gross[:, None, None] * margin_rows
    cash -= xp.where((m >= close) & closes[:, :, None], lost, 0.0)
    tv_lost = h.tv_mining * gross[:, None] * xp.maximum(_last_year(margin_rows, h.months), 0.0)
    tv = -xp.where(closes, tv_lost, 0.0)
    return (cash * disc[:h.months]).sum(axis=-1) + tv * disc_end, cash


def acquire_flows(xp: ModuleType, h, col: dict, c: int, disc):
    """NPV (a, c) and cash (a, c, M): the purchase price at the action's start."""
    m = xp.arange(h.months, dtype=xp.int64)[None, None, :]
    t0 = col["start"][:, None, None]
    cash = xp.where(m == t0, -col["cost"][:, None, None], 0.0) + xp.zeros((1, c, 1))
    return (cash * disc[:h.months]).sum(axis=-1), cash


def _value_chunk(xp: ModuleType, dev: DeviceInputs, s0: int, s1: int, disc, disc_end,
                 out: dict, weights=None, scen=None, cash_weights=None, compiled: bool = False,
                 state: ScenarioState | None = None):
    """Simulate scenarios s0..s1-1 and write their columns of the outputs; returns the
    chunk's sums (cash per action (A, M), baseline cash (M,), weighted cash per action
    (A,) or None, weighted baseline or None). It writes only its own columns and returns
    its sums, so chunks can run in threads and be added up in order. Reads only `dev`'s
    arrays: no host-to-device copy, no wait for the device."""
    inputs = dev.host
    h = inputs.horizon
    n_months, window = h.months, disc.shape[0]
    span = (s0, s1) if scen is None else None
    if scen is None:
        scen = xp.arange(s0, s1, dtype=xp.int64)
    c = s1 - s0
    if state is not None:
        margin, rent, site_ev, lease_ev = state.rows(xp, scen, window, span)
    else:
        margin, rent, site_ev, lease_ev = scenario_draws(xp, dev, scen, window, compiled)

    gross = dev.gross_mining
    base = (gross[:, None, None] * margin).sum(axis=0)
    base_tv = h.tv_mining * (gross[:, None] * xp.maximum(_last_year(margin, n_months), 0.0)).sum(axis=0)
    out["baseline_npv"][s0:s1] = (base * disc[:n_months]).sum(axis=-1) + base_tv * disc_end
    cash_part = xp.zeros((inputs.actions.n, n_months), dtype=xp.float64)
    plan_cash = out.get("plan_cash")
    if plan_cash is not None:
        plan_cash[s0:s1] = base
    weighted = weighted_base = None
    if cash_weights is not None:
        weighted = xp.zeros(inputs.actions.n, dtype=xp.float64)
        weighted_base = (base * cash_weights).sum()

    block = max(1, BLOCK_ELEMENTS[_kind(xp)] // (c * window))
    for g in dev.groups:
        if compiled and g.kind != ACQUIRE:
            _compiled_group(h, g, margin, rent, site_ev, lease_ev, disc, disc_end, out, s0, s1,
                            weights, cash_weights, cash_part, plan_cash, weighted)
            continue
        for b0 in range(0, g.index.size, block):
            b1 = min(g.index.size, b0 + block)
            col = {k: v[b0:b1] for k, v in g.col.items()}
            mines = g.mines[b0:b1]
            if g.kind == CONVERT:
                npv, cash = convert_flows(xp, h, col, mines, margin, rent, site_ev, lease_ev, disc, disc_end)
            elif g.kind == SELL:
                npv, cash = sell_flows(xp, h, col, mines, margin, site_ev, disc, disc_end)
            else:
                npv, cash = acquire_flows(xp, h, col, c, disc)
            rows = g.rows[b0:b1]
            out["npv"][rows, s0:s1] = npv
            cash_part[rows] = cash.sum(axis=1)
            if plan_cash is not None:
                plan_cash[s0:s1] += xp.tensordot(weights[rows], cash, axes=1)
            if cash_weights is not None:
                weighted[rows] += (cash * cash_weights[None, :, :]).sum(axis=(1, 2))
    return cash_part, base.sum(axis=0), weighted, weighted_base


def _compiled_group(h, g, margin, rent, site_ev, lease_ev, disc, disc_end, out, s0, s1,
                    weights, cash_weights, cash_part, plan_cash, weighted) -> None:
    """One kind's actions through `gpu.compiled`: the same outputs as the block loop,
    reduced inside the kernel (no (a, c, M) cash)."""
    from . import compiled as cpu  # noqa: PLC0415 - Numba is optional

    rows = g.rows
    w = None if weights is None else weights[rows]
    if g.kind == CONVERT:
        npv, cash_sum, plan, wsum = cpu.convert_reduced(h, g.col, margin, rent, site_ev, lease_ev,
                                                        disc, disc_end, w, cash_weights)
    else:
        npv, cash_sum, plan, wsum = cpu.sell_reduced(h, g.col, margin, site_ev, disc, disc_end,
                                                     w, cash_weights)
    out["npv"][rows, s0:s1] = npv
    cash_part[rows] = cash_sum
    if plan is not None:
        plan_cash[s0:s1] += plan
    if wsum is not None:
        weighted[rows] += wsum


def simulate_value_table(inputs: EngineInputs, scenarios: int, backend: Backend,
                         chunk: int | None = None, progress: Callable[[int, int], None] | None = None,
                         plan_quantities: np.ndarray | None = None,
                         scenario_ids: np.ndarray | None = None,
                         cash_weights: np.ndarray | None = None,
                         workers: int | None = None,
                         state: ScenarioState | None = None) -> ValueTable:
    """Value every action in `inputs.actions` on scenarios 0..scenarios-1 with `backend`
    (resolved once by the entry point, `gpu.backend.get_backend`).

    The inputs move into the backend's memory once (`gpu.device.device_inputs`); `chunk`
    scenarios are then simulated at a time, with no host-device traffic inside the loop,
    and the result does not depend on `chunk`. `progress(done, total)` is called after
    each chunk. On the CPU, chunks run in `workers` threads (default `default_workers`;
    NumPy and the compiled kernels release the GIL), with the same bits whatever the
    count. With `plan_quantities` (A,), the table also carries `plan_cash` (S, M):
    the operating cash of the baseline plus those quantities of each action, scenario by
    scenario (for the cash fan chart).

    `scenario_ids` (host ints) simulates those scenario numbers instead of
    0..scenarios-1 (the counter-based generator recomputes any scenario on its own); with
    `cash_weights` (len(ids), M) the table also carries, per action, the weighted sum of
    its monthly cash over those scenarios (`weighted_cash`, and `weighted_baseline`): the
    liquidity cuts' coefficients, without actions x scenarios x months ever held.

    `state` (`scenario_state` of the same inputs' seed) supplies the draws instead of
    drawing them again: the same numbers, only the action flows are computed.
    """
    xp = backend.xp
    if state is not None and state.seed != inputs.horizon.seed:
        raise ValueError(f"state: drawn for seed {state.seed}, valuation seed {inputs.horizon.seed}")
    if scenario_ids is not None:
        scenario_ids = np.asarray(scenario_ids, dtype=np.int64)
        scenarios = int(scenario_ids.size)
    h = inputs.horizon
    chunk = chunk or default_chunk(xp)
    n_act, n_months = inputs.actions.n, h.months
    dev = device_inputs(xp, inputs)
    disc, _ = discount_factors(xp, valuation_months(inputs), h.discount_rate)
    disc_end = (1.0 + h.discount_rate) ** (-n_months / 12.0)
    out = {"npv": xp.zeros((n_act, scenarios), dtype=xp.float64),
           "baseline_npv": xp.zeros(scenarios, dtype=xp.float64)}
    weights = None
    if plan_quantities is not None:
        weights = xp.asarray(plan_quantities, dtype=xp.float64)
        out["plan_cash"] = xp.zeros((scenarios, n_months), dtype=xp.float64)
    ids = None if scenario_ids is None else xp.asarray(scenario_ids)
    cw = None
    if cash_weights is not None:
        cw = xp.asarray(cash_weights, dtype=xp.float64)
        out["weighted_cash"] = xp.zeros(n_act, dtype=xp.float64)
        out["weighted_baseline"] = xp.zeros((), dtype=xp.float64)
    cash_sum = xp.zeros((n_act, n_months), dtype=xp.float64)
    baseline_cash_sum = xp.zeros(n_months, dtype=xp.float64)
    compiled = backend.compiled
    if compiled:
        from .compiled import warm_up  # noqa: PLC0415

        warm_up()   # compile before the threads start

    def job(s0: int):
        s1 = min(scenarios, s0 + chunk)
        return s1, _value_chunk(xp, dev, s0, s1, disc, disc_end, out, weights,
                                scen=None if ids is None else ids[s0:s1],
                                cash_weights=None if cw is None else cw[s0:s1], compiled=compiled,
                                state=state)

    # chunks write disjoint columns; their sums are added here in chunk order, so the
    # result is the same bits whatever the number of workers
    for s1, (cash_part, base_part, w_part, wb_part) in map_chunks(xp, job, range(0, scenarios, chunk), workers):
        cash_sum += cash_part
        baseline_cash_sum += base_part
        if w_part is not None:
            out["weighted_cash"] += w_part
            out["weighted_baseline"] += wb_part
        if progress is not None:
            progress(s1, scenarios)

    plan_cash = out.get("plan_cash")
    return ValueTable(
        npv=out["npv"],
        baseline_npv=out["baseline_npv"],
        cash=to_host(cash_sum) / scenarios,
        baseline_cash=to_host(baseline_cash_sum) / scenarios,
        xp=xp,
        backend=backend.name,
        plan_cash=None if plan_cash is None else to_host(plan_cash),
        weighted_cash=to_host(out["weighted_cash"]) if cw is not None else None,
        weighted_baseline=float(to_host(out["weighted_baseline"])) if cw is not None else 0.0,
    )
