"""Financing terms: what each dollar drawn from an instrument costs and pays, month by month.

Per $1 drawn of instrument k at absolute month t (t on the decision grid, t <= issue_by):

* **Cash** per plan month m (an array of length M = 12 x horizon_years):
  ``+(1 - fee)`` in month t; for debt (``secured_notes``, ``convertible``) ``-rate/12``
  in every month after t through maturity (within the horizon) and ``-1`` principal at
  maturity if maturity falls before the plan's end. A convertible is assumed repaid in
  cash: conservative for the cash constraint, since conversion would spare the cash.
  Equity pays nothing after t.
* **Value cost** to existing shareholders (positive = cost), discounted to the plan start
  with the plan's factor ``(1 + r)^-((m + 0.5) / 12)`` at the draw's plan month m. This is
  an adjusted-present-value view: debt at a market coupon is NPV-neutral apart from its
  issuance fee, so secured notes cost ``fee``; equity costs ``fee`` (instances put the
  issue discount into ``fee``); a convertible costs ``fee`` plus the conversion option
  handed to noteholders. Per $ of principal noteholders may take shares worth
  ``S_T / (S_0 (1 + p))`` (p = conversion_premium) and convert when that exceeds 1, so
  the option is worth ``(1 / (1 + p)) * max(S_T / S_0 - (1 + p), 0)``: a Black-Scholes
  call with S = 1, K = 1 + p, scaled by 1 / (1 + p), with sigma = equity_volatility,
  T = (maturity - t) / 12 years and the plan's discount_rate used as the continuously
  compounded rate r (a simplification: the plan has one rate).

The cost is deterministic, the same in every scenario, so a plan's NPV in a scenario is
its actions' NPV minus the financing cost.
"""
from __future__ import annotations

from collections.abc import Sequence

import math
from dataclasses import dataclass

import numpy as np

from .catalog import decision_months
from .errors import PlanError
from .instance import Instance, Instrument, month_str

DEBT_KINDS = ("secured_notes", "convertible")


@dataclass(frozen=True)
class Draw:
    """One financing option: draw from `instrument` (of `kind`) in absolute `month`."""

    instrument: str
    kind: str
    month: int


def normal_cdf(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def black_scholes_call(spot: float, strike: float, vol: float, years: float, rate: float) -> float:
    """European call value under Black-Scholes (continuous rate, no dividends)."""
    if years <= 0.0 or vol <= 0.0:
        return max(spot - strike * math.exp(-rate * max(years, 0.0)), 0.0)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / sd
    d2 = d1 - sd
    return spot * normal_cdf(d1) - strike * math.exp(-rate * years) * normal_cdf(d2)


def conversion_option_per_usd(instrument: Instrument, month: int, rate: float) -> float:
    """Value handed to convertible noteholders per $ of principal issued in `month`."""
    if instrument.maturity is None:
        return 0.0
    years = (instrument.maturity - month) / 12.0
    strike = 1.0 + instrument.conversion_premium
    return black_scholes_call(1.0, strike, instrument.equity_volatility, years, rate) / strike


def _issuable(instrument: Instrument, month: int) -> bool:
    if month > instrument.issue_by:
        return False
    # debt drawn at or after its maturity would be repaid before it is received
    return not (instrument.kind in DEBT_KINDS and instrument.maturity is not None
                and month >= instrument.maturity)


def draw_options(instance: Instance) -> list[Draw]:
    """Every (instrument, decision month) a plan may draw from, in a stable order."""
    out: list[Draw] = []
    for k in instance.finance.instruments:
        for t in decision_months(instance):
            if _issuable(k, t):
                out.append(Draw(instrument=k.id, kind=k.kind, month=t))
    return out


def draw_terms(instance: Instance, draw: Draw | tuple[str, int]) -> tuple[float, np.ndarray]:
    """(PV cost per $ drawn, cash per $ drawn in each plan month (M,)) for one draw."""
    plan = instance.plan
    inst_id, month = (draw.instrument, draw.month) if isinstance(draw, Draw) else draw
    k = instance.instrument(inst_id)
    m0 = month - plan.start
    cash = np.zeros(plan.months)
    cash[m0] = 1.0 - k.fee
    if k.kind in DEBT_KINDS:
        last = plan.end - 1 if k.maturity is None else min(k.maturity, plan.end - 1)
        cash[m0 + 1:last - plan.start + 1] -= k.rate / 12.0
        if k.maturity is not None and k.maturity < plan.end:
            cash[k.maturity - plan.start] -= 1.0
    cost = k.fee
    if k.kind == "convertible":
        cost += conversion_option_per_usd(k, month, plan.discount_rate)
    discount = (1.0 + plan.discount_rate) ** (-(m0 + 0.5) / 12.0)
    return cost * discount, cash


def draw_errors(instance: Instance, financing: Sequence[tuple[str, float, int]],
                paths: Sequence[str] | None = None) -> list[str]:
    """Every reason the instance does not allow these (instrument id, amount_usd, absolute
    month) draws: unknown instrument, negative amount, outside the horizon, after issue_by
    (or at or after a debt's maturity), more than max_usd in all. `paths` name each draw
    in messages (default financing[i])."""
    plan = instance.plan
    errors: list[str] = []
    totals: dict[str, float] = {}
    for i, (inst_id, amount, month) in enumerate(financing):
        where = paths[i] if paths is not None else f"financing[{i}]"
        try:
            k = instance.instrument(inst_id)
        except KeyError:
            errors.append(f"{where}.instrument: unknown instrument {inst_id!r}")
            continue
        if amount < 0:
            errors.append(f"{where}.amount_usd: must be >= 0, got {amount}")
        elif not plan.start <= month < plan.end:
            errors.append(f"{where}.start: outside the plan horizon, got {month_str(month)!r}")
        elif not _issuable(k, month):
            errors.append(f"{where}.start: {inst_id} cannot be drawn then "
                          f"(issue_by {month_str(k.issue_by)}), got {month_str(month)!r}")
        else:
            totals[inst_id] = totals.get(inst_id, 0.0) + amount
    for inst_id, total in totals.items():
        cap = instance.instrument(inst_id).max_usd
        if total > cap * (1 + 1e-9) + 1.0:
            errors.append(f"financing: instrument {inst_id!r} draws {total:,.0f} in all, more than "
                          f"max_usd {cap:,.0f} ({total - cap:,.0f} over max_usd)")
    return errors


def financing_cost_and_cash(
    instance: Instance, financing: list[tuple[str, float, int]]
) -> tuple[float, np.ndarray]:
    """Total PV cost (USD) and cash per plan month (M,) of a list of
    (instrument id, amount_usd, absolute month) draws. Raises PlanError on a draw the
    instance does not allow (see `draw_errors`)."""
    errors = draw_errors(instance, financing)
    if errors:
        raise PlanError(errors)
    cost = 0.0
    cash = np.zeros(instance.plan.months)
    for inst_id, amount, month in financing:
        c, flows = draw_terms(instance, (inst_id, month))
        cost += c * amount
        cash += flows * amount
    return cost, cash
