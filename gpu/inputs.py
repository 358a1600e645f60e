"""Plain array inputs of the scenario engine.

`wattfolio.planning.valuation` fills these from an Instance; `gpu/` sees only numbers, never the
instance classes, so the kernels stay importable without Pyomo or the optimizer.
Months are plan months 0..M-1 (month 0 is the plan's start).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Action kinds as integer codes, in the order of wattfolio.planning.catalog.KINDS.
CONVERT, SELL, ACQUIRE = 0, 1, 2


@dataclass(frozen=True)
class Horizon:
    months: int
    first_calendar_month: int      # 0..11: calendar month of plan month 0
    discount_rate: float
    hours_per_month: int           # sampled hours per scenario-month (730 = every hour)
    seed: int
    tv_hpc: float                  # x annual market NOI where a lease's contract ends
    tv_mining: float               # x last-12-month mining margin at the horizon end


@dataclass(frozen=True)
class PowerParams:
    """One entry per market (K,)."""
    mean_price: np.ndarray
    volatility: np.ndarray
    mean_reversion: np.ndarray
    seasonal_amplitude: np.ndarray
    seasonal_peak_month: np.ndarray    # 1..12
    hourly_volatility: np.ndarray
    spike_probability: np.ndarray
    spike_price: np.ndarray
    price_cap: np.ndarray


@dataclass(frozen=True)
class BitcoinParams:
    price_usd: float
    drift: float
    volatility: float
    hashrate_ehs: float
    hashrate_growth: float | None      # exogenous network: growth a year (None: economic)
    fees_btc: float
    hashrate_price_elasticity: float
    subsidy_btc: np.ndarray            # (M,): halvings already applied per month
    # economic network (all three or none): the marginal fleet's J/TH and $/MWh set the
    # breakeven hashprice that log hashprice reverts to at the speed (per year)
    marginal_efficiency_j_per_th: float | None = None
    marginal_power_usd_per_mwh: float | None = None
    hashrate_adjustment_speed: float | None = None

    @property
    def economic(self) -> bool:
        return self.marginal_efficiency_j_per_th is not None

    @property
    def breakeven_hashprice(self) -> float:
        """$ per TH/s per day at which the marginal fleet covers its power: a TH/s at
        eff J/TH draws eff W, i.e. eff x 24e-6 MWh a day."""
        return self.marginal_efficiency_j_per_th * self.marginal_power_usd_per_mwh * 24e-6


@dataclass(frozen=True)
class RentParams:
    rate_kw_month: float
    volatility: float
    drift: float
    mean_reversion: float


@dataclass(frozen=True)
class StressParams:
    """An AI-market bust: from a random onset month, market rent is cut by `rent_drop`
    and every tenant's default intensity is multiplied by `default_multiplier`.
    `annual_probability` 0 switches it off."""
    annual_probability: float = 0.0
    rent_drop: float = 0.0
    default_multiplier: float = 1.0


@dataclass(frozen=True)
class SiteParams:
    """One entry per site (I,). Absent tables are zeros with the flags below."""
    market: np.ndarray                 # int market index
    capacity_mw: np.ndarray
    ownership: np.ndarray
    mines: np.ndarray                  # bool: has a mining baseline
    efficiency_j_per_th: np.ndarray
    opex_usd_per_mw_month: np.ndarray
    shutdown_after_loss_months: np.ndarray  # int: 0 = mines to the horizon whatever it earns
    restart_after_profit_months: np.ndarray  # int: 0 = a mothballed fleet never restarts
    restart_cost_usd_per_mw: np.ndarray     # $ per grid MW, paid in the restart month
    pue: np.ndarray
    capex_usd_per_mw: np.ndarray
    overrun_volatility: np.ndarray
    build_months: np.ndarray           # int
    delay_months_mean: np.ndarray
    sale_low: np.ndarray
    sale_mode: np.ndarray
    sale_high: np.ndarray
    close_probability: np.ndarray
    months_to_close: np.ndarray        # int
    acquire_cost: np.ndarray

    @property
    def n(self) -> int:
        return int(self.market.shape[0])


@dataclass(frozen=True)
class LeaseParams:
    """One entry per lease (L,)."""
    rate_kw_month: np.ndarray
    escalator: np.ndarray
    tenor_months: np.ndarray           # int
    noi_margin: np.ndarray
    default_rate: np.ndarray           # annual hazard
    backstop_usd_per_mw: np.ndarray
    renewal_probability: np.ndarray
    relet_months: np.ndarray           # int
    tenant: np.ndarray                 # int: leases with one tenant share one default time
    backstop_cost_usd_per_mw: np.ndarray  # value handed to the guarantor, per critical MW

    @property
    def n(self) -> int:
        return int(self.rate_kw_month.shape[0])


@dataclass(frozen=True)
class ActionParams:
    """One entry per action (A,)."""
    kind: np.ndarray                   # CONVERT | SELL | ACQUIRE
    site: np.ndarray                   # int site index
    lease: np.ndarray                  # int lease index, -1 when none
    start: np.ndarray                  # int plan month

    @property
    def n(self) -> int:
        return int(self.kind.shape[0])


@dataclass(frozen=True)
class EngineInputs:
    horizon: Horizon
    power: PowerParams
    bitcoin: BitcoinParams
    rent: RentParams
    sites: SiteParams
    leases: LeaseParams
    actions: ActionParams
    stress: StressParams = StressParams()
