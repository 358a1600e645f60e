"""Financing terms: what each dollar drawn from an instrument costs and pays, month by month.

Per $1 drawn of instrument k at absolute month t (t on the decision grid, t <= issue_by):

* **Cash** per plan month m (an array of length M = 12 x horizon_years):
  ``+(1 - fee)`` in month t; for debt (``secured_notes``, ``convertible``) ``-rate/12``
  in every month after t through maturity (within the horizon) and ``-1`` principal at
  maturity if maturity falls before the plan's end. A convertible is assumed repaid in
  cash: conservative for the cash constraint, since conversion would spare the cash.
  Equity pays nothing after t.
* **Value cost** to existing shareholders per $ drawn (positive = cost), adjusted present
  value (APV) at the company's market rate for secured borrowing, ``finance.cost_of_debt``
  (c, annual; j = c / 12 monthly). Debt at a market coupon is NPV-neutral apart from its
  issuance fee; a coupon below market is a gain and one above it a cost; a conversion
  option handed to noteholders is a cost. At the draw month t::

      equity         fee
      secured_notes  fee - gain
      convertible    fee + option - gain

  ``gain = sum_{k=1..n} (c - rate) / 12 * (1 + j)^-k = 1 - PV_c(note's coupons and
  principal)``, n = maturity - t months, counted to maturity even when it lies past the
  plan's horizon (a contract's value must not depend on the horizon); the coupon rate/12
  is the cash convention above. Per $ of principal noteholders may take shares worth
  ``S_T / (S_0 (1 + p))`` (p = conversion_premium) and convert when that exceeds 1, so
  the option is worth ``(1 / (1 + p)) * max(S_T / S_0 - (1 + p), 0)``: a Black-Scholes
  call with S = 1, K = 1 + p, scaled by 1 / (1 + p), with sigma = equity_volatility,
  T = (maturity - t) / 12 years and r = ``finance.risk_free_rate`` (continuously
  compounded): the option is valued risk-neutrally, not at the plan's discount rate.
  Instances put an equity issue discount into ``fee``. `cost_breakdown` returns these
  parts. The net cost is then discounted from the draw's plan month m to the plan start
  with the plan's factor ``(1 + r)^-((m + 0.5) / 12)``, r = plan.discount_rate.

The cost is deterministic, the same in every scenario, so a plan's NPV in a scenario is
its actions' NPV minus the financing cost.
"""
from __future__ import annotations

from collections.abc import Sequence

import math
from dataclasses import dataclass

import numpy as np

from ..gpu.value_table import ValueTable
from ..errors import InstanceError, PlanError
from ..instance.types import Instance, Instrument
from .rules import DEBT_KINDS, CashRows, cash_rows, decision_months, draw_violations, issuable


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
    """Value handed to convertible noteholders per $ of principal issued in `month`,
    priced risk-neutrally: `rate` is the risk-free rate (``finance.risk_free_rate``)."""
    if instrument.maturity is None:
        return 0.0
    years = (instrument.maturity - month) / 12.0
    strike = 1.0 + instrument.conversion_premium
    return black_scholes_call(1.0, strike, instrument.equity_volatility, years, rate) / strike


def coupon_gain_per_usd(instrument: Instrument, month: int, cost_of_debt: float) -> float:
    """Value to the company of a debt coupon below its market rate, per $ drawn.

    Parameters
    ----------
    instrument : Instrument
        A ``secured_notes`` or ``convertible`` instrument (anything else gains 0).
    month : int
        Absolute month of the draw.
    cost_of_debt : float
        The company's annual market rate for secured borrowing.

    Returns
    -------
    float
        ``sum_{k=1..n} (cost_of_debt - rate) / 12 * (1 + cost_of_debt / 12)^-k`` with
        n = maturity - month, counted to maturity whatever the plan horizon; negative for a
        coupon above market.
    """
    if instrument.kind not in DEBT_KINDS or instrument.maturity is None:
        return 0.0
    n = instrument.maturity - month
    j = cost_of_debt / 12.0
    spread = (cost_of_debt - instrument.rate) / 12.0
    annuity = n if j == 0.0 else (1.0 - (1.0 + j) ** -n) / j
    return spread * annuity


@dataclass(frozen=True)
class CostBreakdown:
    """Value cost per $ drawn at the draw month, before discounting to the plan start."""

    fee: float
    option: float        # conversion option handed to noteholders (convertibles)
    coupon_gain: float   # PV at the cost of debt of the coupon below market (debt)

    @property
    def net(self) -> float:
        """Net cost per $ drawn (positive = cost): fee + option - coupon gain."""
        return self.fee + self.option - self.coupon_gain


def _finance_rate(instance: Instance, key: str, why: str, instrument_id: str) -> float:
    # instances built in code skip validation; fail with the message a file would get
    value = getattr(instance.finance, key)
    if value is None:
        raise InstanceError([f"finance.{key}: required when finance.instruments has {why} "
                             f"({instrument_id}), got none"])
    return value


def cost_breakdown(instance: Instance, instrument: str | Instrument, month: int) -> CostBreakdown:
    """Per-$ value cost of drawing `instrument` in absolute `month`, by part.

    Parameters
    ----------
    instance : Instance
        Supplies ``finance.cost_of_debt`` (debt) and ``finance.risk_free_rate``
        (convertibles).
    instrument : str or Instrument
        The instrument or its id.
    month : int
        Absolute month of the draw.

    Returns
    -------
    CostBreakdown
        fee, conversion option, coupon gain and (``.net``) their net, all per $ drawn and
        valued at `month` (see the module docstring for the convention).

    Raises
    ------
    InstanceError
        When a rate the instrument needs is missing from ``instance.finance``.
    """
    k = instance.instrument(instrument) if isinstance(instrument, str) else instrument
    option = gain = 0.0
    if k.kind in DEBT_KINDS:
        cod = _finance_rate(instance, "cost_of_debt", "debt", k.id)
        gain = coupon_gain_per_usd(k, month, cod)
    if k.kind == "convertible":
        rf = _finance_rate(instance, "risk_free_rate", "a convertible", k.id)
        option = conversion_option_per_usd(k, month, rf)
    return CostBreakdown(fee=k.fee, option=option, coupon_gain=gain)


def draw_options(instance: Instance) -> list[Draw]:
    """Every (instrument, decision month) a plan may draw from, in a stable order."""
    out: list[Draw] = []
    for k in instance.finance.instruments:
        for t in decision_months(instance):
            if issuable(k, t):
                out.append(Draw(instrument=k.id, kind=k.kind, month=t))
    return out


DRAWN_MIN_USD = 0.5   # a draw option the MIP leaves below half a dollar is not drawn


def drawn_financing(draws: Sequence[Draw], amounts_usd) -> list[tuple[str, float, int]]:
    """The financing a solution reports, (instrument id, USD, absolute month) per draw
    option it draws; every consumer of a solved plan (its file, its cash) reads this."""
    return [(d.instrument, float(a), d.month) for d, a in zip(draws, amounts_usd) if a > DRAWN_MIN_USD]


def draw_terms(instance: Instance, draw: Draw | tuple[str, int]) -> tuple[float, np.ndarray]:
    """(PV cost per $ drawn, cash per $ drawn in each plan month (M,)) for one draw: the
    net of `cost_breakdown` discounted from the draw month to the plan start."""
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
    discount = (1.0 + plan.discount_rate) ** (-(m0 + 0.5) / 12.0)
    return cost_breakdown(instance, k, month).net * discount, cash


def draw_errors(instance: Instance, financing: Sequence[tuple[str, float, int]],
                paths: Sequence[str] | None = None) -> list[str]:
    """Every reason the instance does not allow these (instrument id, amount_usd, absolute
    month) draws: unknown instrument, negative amount, outside the horizon, after issue_by
    (or at or after a debt's maturity), more than max_usd in all. `paths` name each draw
    in messages (default financing[i]). The rules are `planning.rules`' (`draw_violations`)."""
    return draw_violations(instance, financing, paths)


def expected_cash_rows(instance: Instance, vt: ValueTable) -> CashRows:
    """The `min_cash` rule's rows for the catalog valued in `vt` and every draw option
    (`draw_options`), for `planning.rules.violations(..., cash=...)`."""
    draws = draw_options(instance)
    M = instance.plan.months
    flows = np.array([draw_terms(instance, d)[1] for d in draws]).reshape(len(draws), M)
    return cash_rows(instance, vt.cash, vt.baseline_cash, draws, flows)


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
