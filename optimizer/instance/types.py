"""The instance: what a company owns, the markets it faces, the offers on the table.

Plain frozen data classes, filled by `wattfolio.instance.load` from a `schema = 1` TOML file.
Dates are held as absolute month numbers (`year * 12 + month - 1`) so that month
arithmetic is integer arithmetic; `month_str` turns one back into "YYYY-MM".
Units follow the key names: `_usd`, `_mw`, `_kw_month` ($/kW-month), `_months`,
power prices in $/MWh, rates as annual decimals.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

HOURS_PER_MONTH = 730  # the convention: a month is 730 hours (8760 / 12)


def parse_month(text: str) -> int:
    """'YYYY-MM' -> absolute month number. Raises ValueError on anything else."""
    if not isinstance(text, str) or len(text) != 7 or text[4] != "-":
        raise ValueError(f"expected 'YYYY-MM', got {text!r}")
    year, month = text[:4], text[5:]
    if not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        raise ValueError(f"expected 'YYYY-MM', got {text!r}")
    return int(year) * 12 + int(month) - 1


def month_str(month: int) -> str:
    """Absolute month number -> 'YYYY-MM'."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


@dataclass(frozen=True)
class TerminalMultiple:
    hpc: float = 0.0      # x last-12-month HPC NOI at the horizon end
    mining: float = 0.0   # x last-12-month mining margin at the horizon end


@dataclass(frozen=True)
class Plan:
    name: str
    start: int                      # absolute month
    horizon_years: int
    decision_step_months: int
    discount_rate: float
    scenarios: int
    seed: int
    hours_per_month: int = HOURS_PER_MONTH
    terminal_multiple: TerminalMultiple = field(default_factory=TerminalMultiple)

    @property
    def months(self) -> int:
        return self.horizon_years * 12

    @property
    def end(self) -> int:
        """First absolute month after the horizon."""
        return self.start + self.months


@dataclass(frozen=True)
class Risk:
    alpha: float = 0.95
    cvar_floor_usd: float | None = None
    weight: float = 0.0
    # in at least this share of scenarios cash plus undrawn committed revolver stays at or
    # above finance.min_cash_usd in every month (None: expected cash only)
    liquidity_probability: float | None = None


@dataclass(frozen=True)
class Bitcoin:
    price_usd: float
    drift: float
    volatility: float
    network_hashrate_ehs: float
    fees_btc_per_block: float
    subsidy_btc: float
    halvings: tuple[int, ...] = ()          # absolute months
    # log-hashrate moves this much per unit of log-price surprise: miners add machines
    # when bitcoin rallies and switch them off when it falls
    hashrate_price_elasticity: float = 0.5
    # The network is either exogenous (grows at hashrate_growth a year whatever mining
    # earns) or economic (the three marginal-fleet fields: hashprice reverts to the
    # breakeven of the least efficient fleet still running). Validation asks for exactly one.
    hashrate_growth: float | None = None
    marginal_efficiency_j_per_th: float | None = None
    marginal_power_usd_per_mwh: float | None = None
    hashrate_adjustment_speed: float | None = None    # per year

    @property
    def economic(self) -> bool:
        """True when hashrate answers to mining economics (the marginal-fleet fields)."""
        return self.marginal_efficiency_j_per_th is not None

    @property
    def breakeven_hashprice(self) -> float:
        """$ per TH/s per day at which the marginal fleet just pays its power (economic
        network only): a TH/s at eff J/TH draws eff W, eff x 24e-6 MWh a day."""
        return self.marginal_efficiency_j_per_th * self.marginal_power_usd_per_mwh * 24e-6


@dataclass(frozen=True)
class Market:
    id: str
    mean_price: float
    volatility: float
    mean_reversion: float
    seasonal_amplitude: float
    seasonal_peak_month: int
    hourly_volatility: float
    spike_probability: float
    spike_price: float
    price_cap: float


@dataclass(frozen=True)
class HpcMarket:
    rate_kw_month: float
    volatility: float
    drift: float
    mean_reversion: float = 0.3


@dataclass(frozen=True)
class Mining:
    efficiency_j_per_th: float
    opex_usd_per_mw_month: float
    # An operator mothballs a fleet that keeps losing money: mining stops for good after
    # this many consecutive months of negative margin (0: never stops). Without it a
    # curtailed fleet would pay opex to the horizon and flatter every exit.
    shutdown_after_loss_months: int = 3
    # A mothballed fleet comes back after this many consecutive months in which running
    # would have paid (0: never), paying restart_cost_usd_per_mw per grid MW that month:
    # with an economic network, hashprice recovers after a halving, and so do fleets.
    restart_after_profit_months: int = 3
    restart_cost_usd_per_mw: float = 0.0


@dataclass(frozen=True)
class Hpc:
    max_mw: float                   # critical IT MW
    capex_usd_per_mw: float
    capex_overrun_volatility: float
    build_months: int
    delay_months_mean: float
    pue: float = 1.3
    # data halls are built and leased in blocks: with block_mw > 0 every convert at the
    # site builds a whole number of them (0: any MW)
    block_mw: float = 0.0


@dataclass(frozen=True)
class Sale:
    low_usd: float
    mode_usd: float
    high_usd: float
    close_probability: float
    months_to_close: int


@dataclass(frozen=True)
class Acquire:
    cost_usd: float
    energize_months: int


@dataclass(frozen=True)
class Site:
    id: str
    market: str
    status: str                     # operating | development | candidate
    use: str                        # mining | solar | land
    capacity_mw: float              # grid MW
    ownership: float = 1.0
    mining: Mining | None = None
    hpc: Hpc | None = None
    sale: Sale | None = None
    acquire: Acquire | None = None


def escalated_months(tenor_years: int, escalator: float) -> float:
    """Months of rent over a tenor in units of the starting rent: rent steps up by the
    escalator at each anniversary, so this is 12 x sum_{y < tenor} (1 + escalator)^y."""
    return 12.0 * sum((1.0 + escalator) ** y for y in range(tenor_years))


@dataclass(frozen=True)
class Lease:
    """An offer to lease critical MW. `rate_kw_month` is the *starting* rent; where a
    filing quotes a total contract value instead, `contract_value_usd` gives it and the
    starting rent is derived so that the undiscounted rent over the tenor at `max_mw`,
    with the escalator, equals it (exactly one of the two is given in a file)."""

    id: str
    tenant: str
    sites: tuple[str, ...]
    max_mw: float
    escalator: float
    tenor_years: int
    noi_margin: float
    sign_by: int                    # absolute month
    default_rate: float
    renewal_probability: float
    rate_kw_month: float | None = None
    contract_value_usd: float | None = None
    backstop_usd: float = 0.0
    backstop_cost_usd: float = 0.0  # value handed to the guarantor (e.g. warrants), at signing
    relet_months: int = 6           # vacancy before a re-let at market rent

    def __post_init__(self) -> None:
        if self.rate_kw_month is None and self.contract_value_usd is not None:
            months = escalated_months(self.tenor_years, self.escalator)
            object.__setattr__(self, "rate_kw_month",
                               self.contract_value_usd / (1000.0 * self.max_mw * months))

    @property
    def contract_total_usd(self) -> float:
        """Undiscounted contracted rent over the tenor at max_mw (gross, 100% of the site)."""
        return 1000.0 * self.max_mw * self.rate_kw_month * escalated_months(self.tenor_years, self.escalator)


@dataclass(frozen=True)
class AiStress:
    """An AI-market bust (the renewal and GPU-depreciation risk): it starts in a random
    month at `annual_probability` a year; from then on market rent is `rent_drop` lower and
    every tenant's default intensity is `default_multiplier` times higher. Off by default."""

    annual_probability: float = 0.0
    rent_drop: float = 0.0
    default_multiplier: float = 1.0


@dataclass(frozen=True)
class Refinance:
    """Notes that roll over at maturity into new notes at `rate` for `term_years`, in the
    scenarios where the market is open: no AI-market bust has begun and HPC market rent
    is at least `min_rent_index` x today's. Elsewhere the principal is due in cash."""

    rate: float
    term_years: int = 5
    min_rent_index: float = 0.8


@dataclass(frozen=True)
class Instrument:
    id: str
    kind: str                       # convertible | secured_notes | equity | revolver
    max_usd: float
    issue_by: int | None = None     # absolute month; required except on a revolver
    fee: float = 0.0
    rate: float = 0.0
    maturity: int | None = None     # absolute month; debt and revolver
    commitment_fee: float = 0.0     # revolver only: on the undrawn part, annual
    refinance: Refinance | None = None  # secured notes and convertibles
    conversion_premium: float = 0.0  # convertible only
    equity_volatility: float = 0.7  # convertible only: prices the conversion option
    loan_to_cost: float = 0.8       # secured_notes only: draws <= this x funded HPC capex


@dataclass(frozen=True)
class Finance:
    cash_usd: float
    min_cash_usd: float = 0.0
    instruments: tuple[Instrument, ...] = ()
    # market rate for the company's secured borrowing: a debt coupon is valued against it
    # (required with debt)
    cost_of_debt: float | None = None
    # prices the conversion option risk-neutrally (required with a convertible)
    risk_free_rate: float | None = None


@dataclass(frozen=True)
class Instance:
    plan: Plan
    risk: Risk
    bitcoin: Bitcoin
    markets: tuple[Market, ...]
    hpc_market: HpcMarket
    sites: tuple[Site, ...]
    leases: tuple[Lease, ...] = ()
    finance: Finance = field(default_factory=lambda: Finance(cash_usd=0.0))
    ai_stress: AiStress = field(default_factory=AiStress)
    sha256: str = ""                # of the source file's bytes
    # paths of the optional keys the source file left to their defaults (instance/raw.py,
    # `defaulted_paths`), None when built in code: lets warnings tell a default from a
    # value written on purpose
    defaulted: frozenset[str] | None = None

    def with_plan(self, **changes) -> "Instance":
        """This instance with some plan settings changed (scenarios, seed, hours, ...)."""
        return replace(self, plan=replace(self.plan, **changes))

    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        raise KeyError(site_id)

    def lease(self, lease_id: str) -> Lease:
        for lease in self.leases:
            if lease.id == lease_id:
                return lease
        raise KeyError(lease_id)

    def market_index(self, market_id: str) -> int:
        return [m.id for m in self.markets].index(market_id)

    def instrument(self, instrument_id: str) -> Instrument:
        for k in self.finance.instruments:
            if k.id == instrument_id:
                return k
        raise KeyError(instrument_id)
