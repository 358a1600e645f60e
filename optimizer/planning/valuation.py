"""From an Instance and its actions to the scenario engine's arrays, and back a ValueTable.

This is the one place where instance fields become the numbers `gpu/` computes with:
follow a figure from here into `gpu/factors.py` and `gpu/valuation.py`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..gpu.backend import get_backend
from ..gpu.inputs import (
    ActionParams,
    BitcoinParams,
    EngineInputs,
    Horizon,
    LeaseParams,
    PowerParams,
    RentParams,
    SiteParams,
    StressParams,
)
from ..gpu.valuation import ScenarioState, scenario_state, simulate_value_table, state_bytes
from ..gpu.value_table import ValueTable

from .catalog import KINDS, Action
from ..instance.types import Instance


def subsidy_by_month(instance: Instance) -> np.ndarray:
    """Block subsidy in each plan month: halved once for every halving on or before it."""
    p, b = instance.plan, instance.bitcoin
    months = p.start + np.arange(p.months)
    halvings = np.array(sorted(b.halvings), dtype=np.int64)
    count = np.searchsorted(halvings, months, side="right")
    return b.subsidy_btc * 0.5 ** count


def _site_params(instance: Instance) -> SiteParams:
    sites = instance.sites

    def col(get, dtype=np.float64):
        return np.array([get(s) for s in sites], dtype=dtype)

    return SiteParams(
        market=col(lambda s: instance.market_index(s.market), np.int64),
        capacity_mw=col(lambda s: s.capacity_mw),
        ownership=col(lambda s: s.ownership),
        mines=col(lambda s: s.mining is not None, bool),
        efficiency_j_per_th=col(lambda s: s.mining.efficiency_j_per_th if s.mining else 1.0),
        opex_usd_per_mw_month=col(lambda s: s.mining.opex_usd_per_mw_month if s.mining else 0.0),
        shutdown_after_loss_months=col(lambda s: s.mining.shutdown_after_loss_months if s.mining else 0,
                                       np.int64),
        restart_after_profit_months=col(lambda s: s.mining.restart_after_profit_months if s.mining else 0,
                                        np.int64),
        restart_cost_usd_per_mw=col(lambda s: s.mining.restart_cost_usd_per_mw if s.mining else 0.0),
        pue=col(lambda s: s.hpc.pue if s.hpc else 1.0),
        capex_usd_per_mw=col(lambda s: s.hpc.capex_usd_per_mw if s.hpc else 0.0),
        overrun_volatility=col(lambda s: s.hpc.capex_overrun_volatility if s.hpc else 0.0),
        build_months=col(lambda s: s.hpc.build_months if s.hpc else 1, np.int64),
        delay_months_mean=col(lambda s: s.hpc.delay_months_mean if s.hpc else 0.0),
        sale_low=col(lambda s: s.sale.low_usd if s.sale else 0.0),
        sale_mode=col(lambda s: s.sale.mode_usd if s.sale else 0.0),
        sale_high=col(lambda s: s.sale.high_usd if s.sale else 0.0),
        close_probability=col(lambda s: s.sale.close_probability if s.sale else 0.0),
        months_to_close=col(lambda s: s.sale.months_to_close if s.sale else 0, np.int64),
        acquire_cost=col(lambda s: s.acquire.cost_usd if s.acquire else 0.0),
    )


def _lease_params(instance: Instance) -> LeaseParams:
    leases = instance.leases
    tenants = list(dict.fromkeys(le.tenant for le in leases))

    def col(get, dtype=np.float64):
        return np.array([get(le) for le in leases], dtype=dtype)

    return LeaseParams(
        rate_kw_month=col(lambda le: le.rate_kw_month),
        escalator=col(lambda le: le.escalator),
        tenor_months=col(lambda le: 12 * le.tenor_years, np.int64),
        noi_margin=col(lambda le: le.noi_margin),
        default_rate=col(lambda le: le.default_rate),
        # the guarantee covers the whole lease; spread it over the MW it can hold
        backstop_usd_per_mw=col(lambda le: le.backstop_usd / le.max_mw if le.max_mw > 0 else 0.0),
        renewal_probability=col(lambda le: le.renewal_probability),
        relet_months=col(lambda le: le.relet_months, np.int64),
        tenant=col(lambda le: tenants.index(le.tenant), np.int64),
        # the guarantor's price scales with the share of the guarantee a plan uses
        backstop_cost_usd_per_mw=col(lambda le: le.backstop_cost_usd / le.max_mw if le.max_mw > 0 else 0.0),
    )


def engine_inputs(instance: Instance, actions: Sequence[Action]) -> EngineInputs:
    """The scenario engine's view of an instance and a list of actions."""
    p, b, h = instance.plan, instance.bitcoin, instance.hpc_market
    markets = instance.markets

    def mcol(name, dtype=np.float64):
        return np.array([getattr(m, name) for m in markets], dtype=dtype)

    site_index = {s.id: i for i, s in enumerate(instance.sites)}
    lease_index = {le.id: i for i, le in enumerate(instance.leases)}
    return EngineInputs(
        horizon=Horizon(
            months=p.months,
            first_calendar_month=p.start % 12,
            discount_rate=p.discount_rate,
            hours_per_month=p.hours_per_month,
            seed=p.seed,
            tv_hpc=p.terminal_multiple.hpc,
            tv_mining=p.terminal_multiple.mining,
        ),
        power=PowerParams(
            mean_price=mcol("mean_price"),
            volatility=mcol("volatility"),
            mean_reversion=mcol("mean_reversion"),
            seasonal_amplitude=mcol("seasonal_amplitude"),
            seasonal_peak_month=mcol("seasonal_peak_month", np.int64),
            hourly_volatility=mcol("hourly_volatility"),
            spike_probability=mcol("spike_probability"),
            spike_price=mcol("spike_price"),
            price_cap=mcol("price_cap"),
        ),
        bitcoin=BitcoinParams(
            price_usd=b.price_usd,
            drift=b.drift,
            volatility=b.volatility,
            hashrate_ehs=b.network_hashrate_ehs,
            hashrate_growth=b.hashrate_growth,
            fees_btc=b.fees_btc_per_block,
            hashrate_price_elasticity=b.hashrate_price_elasticity,
            subsidy_btc=subsidy_by_month(instance),
            marginal_efficiency_j_per_th=b.marginal_efficiency_j_per_th,
            marginal_power_usd_per_mwh=b.marginal_power_usd_per_mwh,
            hashrate_adjustment_speed=b.hashrate_adjustment_speed,
        ),
        rent=RentParams(rate_kw_month=h.rate_kw_month, volatility=h.volatility, drift=h.drift,
                        mean_reversion=h.mean_reversion),
        sites=_site_params(instance),
        leases=_lease_params(instance),
        stress=StressParams(annual_probability=instance.ai_stress.annual_probability,
                            rent_drop=instance.ai_stress.rent_drop,
                            default_multiplier=instance.ai_stress.default_multiplier),
        actions=ActionParams(
            kind=np.array([KINDS.index(a.kind) for a in actions], dtype=np.int64),
            site=np.array([site_index[a.site] for a in actions], dtype=np.int64),
            lease=np.array([lease_index[a.lease] if a.lease else -1 for a in actions], dtype=np.int64),
            start=np.array([a.start - p.start for a in actions], dtype=np.int64),
        ),
    )


# The in-sample draws are kept between valuations up to this size, and up to this share
# of the memory available when the run starts (TeraWulf: 42 MB at 10^4 scenarios, 3.9 GiB
# at 10^6); past it every valuation draws them again (slower, the same numbers).
STATE_BUDGET_BYTES = 4 << 30
STATE_MEMORY_SHARE = 0.25


def in_sample_state(instance: Instance, actions: Sequence[Action], backend: str = "auto",
                    chunk: int | None = None) -> ScenarioState | None:
    """The instance's scenarios' draws for `actions`' window, kept for re-use by every
    valuation on the same scenarios (`gpu.valuation.ScenarioState`), or None when they
    would take more than `STATE_BUDGET_BYTES` or `STATE_MEMORY_SHARE` of the memory
    available now.

    Parameters
    ----------
    instance : Instance
        Its plan's seed and scenario count.
    actions : sequence of Action
        The widest set of actions later valuations ask for (their window).
    backend, chunk
        As for `value_actions`.

    Returns
    -------
    ScenarioState or None
    """
    from .limits import available_bytes

    inputs = engine_inputs(instance, actions)
    budget = min(STATE_BUDGET_BYTES, STATE_MEMORY_SHARE * available_bytes())
    if state_bytes(inputs, instance.plan.scenarios) > budget:
        return None
    return scenario_state(inputs, instance.plan.scenarios, get_backend(backend), chunk=chunk)


def value_actions(instance: Instance, actions: Sequence[Action], scenarios: int | None = None,
                  seed: int | None = None, backend: str = "auto", chunk: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  plan_quantities: Sequence[float] | None = None,
                  scenario_ids: Sequence[int] | None = None,
                  cash_weights: np.ndarray | None = None, state=None) -> ValueTable:
    """Value `actions` on the instance's scenarios (or `scenarios`, `seed` when given);
    with `plan_quantities`, also the per-scenario monthly cash of that plan; with
    `scenario_ids` and `cash_weights` (len(ids), M), per action the weighted sum of its
    monthly cash over those scenarios (`gpu.valuation.simulate_value_table`). `state`
    (`gpu.valuation.scenario_state` of this instance) reuses the scenarios' draws."""
    if seed is not None or scenarios is not None:
        instance = instance.with_plan(
            seed=instance.plan.seed if seed is None else seed,
            scenarios=instance.plan.scenarios if scenarios is None else scenarios)
    from .limits import check_memory, check_value_table

    n = instance.plan.scenarios if scenario_ids is None else len(scenario_ids)
    check_memory(instance, len(actions), n, cash_paths=plan_quantities is not None)  # before allocating
    be = get_backend(backend)
    inputs = engine_inputs(instance, actions)
    vt = simulate_value_table(inputs, instance.plan.scenarios, be, chunk=chunk, progress=progress,
                              plan_quantities=None if plan_quantities is None else np.asarray(plan_quantities),
                              scenario_ids=None if scenario_ids is None else np.asarray(scenario_ids),
                              cash_weights=cash_weights, state=state)
    check_value_table(instance, actions, vt)   # the MIP's coefficients: finite, solver-sized
    return vt
