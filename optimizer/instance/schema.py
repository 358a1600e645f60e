"""The key table of a `schema = 1` instance: every key, its kind, whether it is required,
the rule its value must meet, what it means and its unit (`SCHEMA`). The named checks
(`instance/checks.py`), the loader (`instance/load.py`), the warnings and the generated
reference (`instance/reference.py`: docs/instance-reference.md, docs/instance.schema.json)
all read it, so a key is described in one place. Defaults are not written here: they are
the data classes' (`instance/types.py`), read by `default_of`.

The numeric ranges are where the scenario engine stays finite and sane: the exp, log and
power terms of gpu/factors.py and gpu/valuation.py (price and rent paths, hashprice,
lognormal overruns, discounting over the valuation window) stay inside float64 at every
bound, and a value typed in the wrong unit (55 for a 55% volatility, $/MW-month for
$/kW-month) lands outside the range rather than in a silent NaN.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field as dc_field
from typing import Any

from .rules import Rule, at_most, exactly, ge, gt, interval, non_empty, one_of
from .types import (
    Acquire, AiStress, Bitcoin, Finance, Hpc, HpcMarket, Instance, Instrument, Lease, Market,
    Mining, Plan, Refinance, Risk, Sale, Site, TerminalMultiple,
)

__all__ = ["SCHEMA", "Field", "Rule", "default_of", "NO_DEFAULT", "gt", "ge", "interval",
           "one_of", "non_empty"]

STATUSES = ("operating", "development", "candidate")
USES = ("mining", "solar", "land")
INSTRUMENT_KINDS = ("convertible", "secured_notes", "equity", "revolver")
DEBT_KINDS = ("convertible", "secured_notes")
NON_EMPTY = ("markets", "sites")        # check_not_empty: at least one entry each


@dataclass(frozen=True)
class Field:
    """One key of a table.

    kind: str | float | int | month | str_list | month_list (scalars and lists), or
    table | tables (array of tables) | map (table of tables keyed by id), which carry
    `fields` and the data class `cls` they build. `doc` is one line on what the key means,
    `unit` how its number is read ("-" where it has none).
    """

    kind: str
    required: bool = True
    rule: Rule | None = None
    fields: Mapping[str, Field] = dc_field(default_factory=dict)
    cls: type | None = None
    fill: bool = False      # an absent optional table is built from {} (all defaults)
    doc: str = ""
    unit: str = "-"


def _f(rule: Rule, unit: str, doc: str, *, required: bool = True) -> Field:
    return Field("float", required, rule, doc=doc, unit=unit)


def _i(rule: Rule, unit: str, doc: str, *, required: bool = True) -> Field:
    return Field("int", required, rule, doc=doc, unit=unit)


def _s(doc: str, rule: Rule | None = None) -> Field:
    return Field("str", True, rule, doc=doc)


def _month(doc: str, *, required: bool = True) -> Field:
    return Field("month", required, doc=doc, unit="YYYY-MM")


def _table(cls: type, doc: str, fields: dict[str, Field], *, required: bool = False,
           kind: str = "table", fill: bool = False) -> Field:
    return Field(kind, required, None, fields, cls, fill, doc=doc)


NO_DEFAULT = dataclasses.MISSING


def default_of(cls: type | None, key: str) -> Any:
    """A data-class field's default: the one source of defaults, so the reference, the
    starter and the warnings never restate them.

    Parameters
    ----------
    cls : type or None
        The data class a table builds (`Field.cls`).
    key : str
        The field's name.

    Returns
    -------
    object
        The default (a fresh one for a default_factory), or NO_DEFAULT when the field has
        none or `cls` has no such field.
    """
    for f in dataclasses.fields(cls) if cls is not None else ():
        if f.name == key:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            return NO_DEFAULT
    return NO_DEFAULT


# Bounds shared by many keys (the module docstring says why they are there).
USD = 1e13              # $: 10,000 bn, beyond any company's balance sheet
MW = 1e6                # MW: a terawatt
MONTHS = 600            # months: 50 years, the longest horizon
PRICE = 1e6             # $/MWh: 200x the highest scarcity cap in any market
VOL = 5.0               # annualised log volatility: 500%; sigma^2 t / 2 stays < 700 nats
_PROB = interval(0, 1)
_USD = ge(0, USD)
_MONTHS = ge(0, MONTHS)
_VOL = ge(0, VOL)
_DRIFT = interval(-1, 1)
_RATE = interval(0, 1, hi_open=True)
_KAPPA = ge(0, 100)     # per year: a half-life of 2.5 days is as fast as monthly steps see

SCHEMA: dict[str, Field] = {
    "schema": Field("int", rule=exactly(1, "the only schema this version reads"),
                    doc="Version of the instance format", unit="-"),
    "plan": _table(Plan, "The planning problem: window, decision grid, discounting, sampling", {
        "name": _s("Name shown in reports and plan.json"),
        "start": _month("First month of the plan (plan month 0)"),
        "horizon_years": _i(interval(1, 50), "years",
                            "Decision and reporting window; leases are still valued to their end"),
        "decision_step_months": _i(ge(1, MONTHS), "months",
                                   "Spacing of the decision grid from `start` (3 = quarterly)"),
        "discount_rate": _f(_RATE, "annual decimal",
                            "Discount rate: cash in plan month m is worth (1 + r)^-((m + 0.5)/12)"),
        "scenarios": _i(ge(1, 10**8), "count", "Scenarios drawn (the CLI's --scenarios overrides it)"),
        "hours_per_month": _i(interval(1, 730), "hours",
                              "Sampled hours per scenario-month of a mining site's power price "
                              "(730: every hour; fewer is unbiased, noisier and faster)",
                              required=False),
        # the seed keys a counter-based generator: it must fit an unsigned word
        "seed": _i(interval(0, 2**32 - 1), "-", "Random seed: the same seed draws the same scenarios"),
        "terminal_multiple": _table(TerminalMultiple, "Value past the horizon, as multiples of a "
                                    "trailing year (required where it matters: check_terminal_multiple)", {
            "hpc": _f(ge(0, 100), "x", "x the annual market NOI of a converted space where its "
                      "lease ends: the space's residual value", required=False),
            "mining": _f(ge(0, 100), "x", "x the last 12 months' mining margin at the horizon end: "
                         "a fleet's value past the horizon", required=False),
        }),
    }, required=True),
    "risk": _table(Risk, "The board's risk measure: CVaR of plan NPV", {
        "alpha": _f(interval(0.5, 0.999), "probability",
                    "CVaR level: the tail is the worst (1 - alpha) of scenarios", required=False),
        "cvar_floor_usd": _f(interval(-USD, USD), "USD",
                             "Floor on the plan's CVaR (default: no floor)", required=False),
        "weight": _f(_PROB, "-", "w in the objective (1 - w) E[NPV] + w CVaR", required=False),
        "liquidity_probability": _f(interval(0, 1, lo_open=True, hi_open=True), "probability",
                                    "Share of scenarios in which cash plus undrawn revolver stays "
                                    ">= finance.min_cash_usd every month (default: expected cash only)",
                                    required=False),
    }, fill=True),
    "bitcoin": _table(Bitcoin, "Bitcoin price (GBM) and the network's hashrate (drift, "
                      "volatility and elasticity are also bounded together: check_bitcoin_tail)", {
        "price_usd": _f(gt(0, 1e8), "USD/BTC", "Bitcoin price in plan month 0"),
        "drift": _f(_DRIFT, "annual decimal", "Expected log-price growth: E[P_t] = P_0 exp(drift t)"),
        "volatility": _f(_VOL, "annual decimal", "Annualised volatility of the log price (0.55 = 55%)"),
        # hashprice divides by hashrate: a floor of 1 PH/s keeps today's hashprice finite
        "network_hashrate_ehs": _f(ge(1e-3, 1e6), "EH/s", "Network hashrate in plan month 0"),
        "fees_btc_per_block": _f(ge(0, 100), "BTC", "Transaction fees per block"),
        "subsidy_btc": _f(ge(0, 50), "BTC", "Block subsidy in plan month 0 (halved at each halving)"),
        # 64 halvings take the subsidy to 3e-19 of itself: its log stays finite
        "halvings": Field("month_list", False, at_most(64, "halvings"),
                          doc="Months in which the subsidy halves", unit="YYYY-MM"),
        "hashrate_price_elasticity": _f(interval(-5, 5), "-", "Log-hashrate move per unit of "
                                        "log-price surprise", required=False),
        # exactly one network mode: hashrate_growth, or the three marginal-fleet keys
        # (check_network_mode)
        "hashrate_growth": _f(interval(-0.9, 10), "annual decimal", "Exogenous network: hashrate "
                              "growth a year (or the three marginal-fleet keys)", required=False),
        "marginal_efficiency_j_per_th": _f(ge(1, 1000), "J/TH", "Economic network: efficiency of "
                                           "the least efficient fleet still running", required=False),
        # the breakeven hashprice is logged: a floor keeps it away from zero
        "marginal_power_usd_per_mwh": _f(ge(0.01, PRICE), "$/MWh", "Economic network: that "
                                         "fleet's power price", required=False),
        "hashrate_adjustment_speed": _f(_KAPPA, "1/year", "Economic network: share of the gap to "
                                        "breakeven closed, 1 - exp(-speed) a year", required=False),
    }, required=True),
    "markets": _table(Market, "Power markets, keyed by id: monthly log-OU level, hourly noise, "
                      "spikes and a cap", {
        "mean_price": _f(gt(0, PRICE), "$/MWh", "Long-run mean of the monthly price level"),
        "volatility": _f(_VOL, "annual decimal", "Volatility of the monthly level's log-OU"),
        "mean_reversion": _f(_KAPPA, "1/year", "Speed at which the level reverts to its mean"),
        "seasonal_amplitude": _f(ge(0, 2), "-", "Log amplitude of the yearly cycle (level x "
                                 "exp(a cos(...)))"),
        "seasonal_peak_month": _i(interval(1, 12), "month of year", "Calendar month of the peak"),
        "hourly_volatility": _f(_VOL, "-", "Log standard deviation of an hour around its month's level"),
        "spike_probability": _f(_PROB, "probability", "Chance an hour is a price spike"),
        "spike_price": _f(ge(0, PRICE), "$/MWh", "Price in a spike hour"),
        "price_cap": _f(gt(0, PRICE), "$/MWh", "No hour is priced above this"),
    }, required=True, kind="map"),
    "hpc_market": _table(HpcMarket, "Market rent for HPC space renewed or re-let later (log-OU)", {
        "rate_kw_month": _f(gt(0, 1e4), "$/kW-month", "Market rent in plan month 0"),
        "volatility": _f(_VOL, "annual decimal", "Volatility of the rent's log-OU"),
        "drift": _f(_DRIFT, "annual decimal", "Expected log-rent growth a year"),
        "mean_reversion": _f(_KAPPA, "1/year", "Speed at which rent reverts to its drifting level",
                             required=False),
    }, required=True),
    "sites": _table(Site, "Sites owned, in development or on offer ([[sites]], one per site)", {
        "id": _s("Unique site id"),
        "market": _s("Power market the site sits in: a key of [markets]"),
        "status": _s("operating (may mine), development (owned land) or candidate (may be bought)",
                     one_of(*STATUSES)),
        "use": _s("What the site is today", one_of(*USES)),
        "capacity_mw": _f(gt(0, MW), "MW", "Grid capacity of the site"),
        "ownership": _f(interval(0, 1, lo_open=True), "fraction", "Share of the site's cash flows "
                        "the company owns", required=False),
        "mining": _table(Mining, "The site's mining baseline (operating sites only)", {
            "efficiency_j_per_th": _f(ge(1, 1000), "J/TH", "Fleet efficiency"),
            "opex_usd_per_mw_month": _f(_USD, "$/MW-month", "Opex besides power, per grid MW"),
            "shutdown_after_loss_months": _i(_MONTHS, "months", "Mothball after this many losing "
                                             "months in a row (0: never)", required=False),
            "restart_after_profit_months": _i(_MONTHS, "months", "Restart after this many months "
                                              "in which mining would have paid (0: never)", required=False),
            "restart_cost_usd_per_mw": _f(_USD, "$/MW", "Cost of a restart, per grid MW", required=False),
        }),
        "hpc": _table(Hpc, "The option to convert the site to AI/HPC colocation", {
            "max_mw": _f(gt(0, MW), "MW", "Critical IT MW that can be built (x pue <= capacity_mw)"),
            "capex_usd_per_mw": _f(gt(0, USD), "$/MW", "Build cost per critical MW"),
            "capex_overrun_volatility": _f(_VOL, "-", "Log standard deviation of the capex overrun "
                                           "(mean one)"),
            "build_months": _i(ge(1, MONTHS), "months", "Build time; capex is spent evenly over it"),
            "delay_months_mean": _f(_MONTHS, "months", "Mean of the Poisson delay before rent starts"),
            "pue": _f(ge(1, 3), "-", "Grid MW drawn per critical MW", required=False),
            # <= max_mw and at most MAX_BLOCKS blocks: check_hpc_blocks
            "block_mw": _f(ge(0, MW), "MW", "Critical MW per build block: a convert builds whole "
                           "blocks, at least one (0: any MW)", required=False),
        }),
        "sale": _table(Sale, "The option to sell the site (not a candidate)", {
            "low_usd": _f(_USD, "USD", "Lowest price (triangular distribution, 100% of the site)"),
            "mode_usd": _f(_USD, "USD", "Most likely price"),
            "high_usd": _f(_USD, "USD", "Highest price"),
            "close_probability": _f(_PROB, "probability", "Chance the sale closes"),
            "months_to_close": _i(_MONTHS, "months", "Months from the decision to the closing"),
        }),
        "acquire": _table(Acquire, "The option to buy a candidate site", {
            "cost_usd": _f(_USD, "USD", "Purchase price (100% of the site)"),
            "energize_months": _i(_MONTHS, "months", "Months from purchase until a build can start"),
        }),
    }, required=True, kind="tables"),
    "leases": _table(Lease, "Lease offers for critical MW ([[leases]], one per offer)", {
        "id": _s("Unique lease id"),
        "tenant": _s("Tenant: leases of one tenant share one default time"),
        "sites": Field("str_list", True, non_empty("site"), doc="Site ids the lease may be placed at"),
        "max_mw": _f(gt(0, MW), "MW", "Critical MW on offer, over all its sites"),
        # exactly one of the two (check_lease_rent): the starting rent, or the total
        # contract value a release quotes
        "rate_kw_month": _f(gt(0, 1e4), "$/kW-month", "Starting rent (or contract_value_usd)",
                            required=False),
        "contract_value_usd": _f(gt(0, USD), "USD", "Undiscounted rent over the tenor at max_mw "
                                 "(or rate_kw_month)", required=False),
        "escalator": _f(interval(-0.5, 0.5), "annual decimal", "Rent step at each anniversary"),
        "tenor_years": _i(interval(1, 50), "years", "Contract length from rent start"),
        "noi_margin": _f(interval(0, 1, lo_open=True), "fraction", "Share of rent kept as NOI"),
        "sign_by": _month("Last month the lease can be signed (a convert may start until then)"),
        "default_rate": _f(_PROB, "probability", "Tenant's annual default hazard"),
        "renewal_probability": _f(_PROB, "probability", "Chance the space is renewed at the "
                                  "contract's end"),
        "backstop_usd": _f(_USD, "USD", "Guarantor's cap on rent it pays after a default",
                           required=False),
        "backstop_cost_usd": _f(_USD, "USD", "Value handed to the guarantor at signing",
                                required=False),
        "relet_months": _i(_MONTHS, "months", "Vacancy before a re-let at market rent",
                           required=False),
    }, kind="tables"),
    "ai_stress": _table(AiStress, "An AI-market bust: lower rent and more defaults from a "
                        "random month (off by default)", {
        "annual_probability": _f(_RATE, "probability", "Chance a year that the bust begins",
                                 required=False),
        "rent_drop": _f(_RATE, "fraction", "Cut in market rent from the bust on", required=False),
        "default_multiplier": _f(ge(1, 100), "x", "Tenants' default hazard multiplier from "
                                 "the bust on", required=False),
    }, fill=True),
    "finance": _table(Finance, "Cash and the instruments that can fund the plan", {
        "cash_usd": _f(_USD, "USD", "Cash at the start"),
        "min_cash_usd": _f(_USD, "USD", "Cash never to fall below", required=False),
        # required only with debt / a convertible: `check_finance_rates`
        "cost_of_debt": _f(interval(0, 1, lo_open=True, hi_open=True), "annual decimal",
                           "Market rate of the company's secured debt (required with debt)",
                           required=False),
        "risk_free_rate": _f(_RATE, "annual decimal", "Prices a conversion option (required "
                             "with a convertible)", required=False),
        "instruments": _table(Instrument, "Funding instruments ([[finance.instruments]])", {
            "id": _s("Unique instrument id"),
            "kind": _s("What the instrument is", one_of(*INSTRUMENT_KINDS)),
            "max_usd": _f(gt(0, USD), "USD", "Most that can be raised"),
            "issue_by": _month("Last month it can be issued (not on a revolver, committed from "
                               "the start)", required=False),
            "fee": _f(_RATE, "fraction", "Fee per $ raised", required=False),
            "rate": _f(_RATE, "annual decimal", "Coupon (debt), or interest on the drawn "
                       "balance (revolver)", required=False),
            "maturity": _month("Month the principal is repaid (debt), or the facility closes "
                               "(revolver); required there", required=False),
            "commitment_fee": _f(_RATE, "annual decimal", "Fee on the undrawn part (revolver "
                                 "only)", required=False),
            "refinance": _table(Refinance, "Roll the principal over at maturity where the "
                                "market is open (secured_notes and convertible only)", {
                "rate": _f(_RATE, "annual decimal", "Coupon of the new notes"),
                "term_years": _i(interval(1, 50), "years", "Term of the new notes",
                                 required=False),
                "min_rent_index": _f(interval(0, 10), "x", "Refinancing is open where HPC market "
                                     "rent at maturity is at least this x today's (and no AI bust "
                                     "has begun)", required=False),
            }),
            "conversion_premium": _f(ge(0, 10), "fraction", "Conversion price over the share "
                                     "price at issue (convertible only)", required=False),
            "equity_volatility": _f(_VOL, "annual decimal", "Share volatility that prices the "
                                    "conversion option (convertible only)", required=False),
            "loan_to_cost": _f(interval(0, 1, lo_open=True), "fraction", "Draws <= this x funded "
                               "HPC capex (secured_notes only)", required=False),
        }, kind="tables"),
    }),
}

ROOT = Field("table", True, None, SCHEMA, Instance, doc="A schema = 1 instance")
_NESTED = ("table", "tables", "map")
