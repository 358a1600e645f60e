"""Everything the report shows, gathered from what a planning run produced.

`ReportContext` holds the run's outputs (the instance, the plan.json document, the
in-sample NPV samples, the cash fan, the analyses that ran) and, derived on creation
from the plan and the instance alone, the facts the sections read: each decision's
milestones and up-front cost (`planning.schedule`) and each draw's cost per dollar
(`planning.finance.cost_breakdown`). Nothing is sampled or valued here: numbers that
need scenarios come from the run (`build_context` takes them from a `PlanResult` and
the cash fan the run computed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..instance.types import Instance, Instrument, parse_month
from ..planning.cash_fan import CashFan
from ..planning.finance import CostBreakdown, cost_breakdown
from ..planning.schedule import DecisionFacts, decision_facts

if TYPE_CHECKING:  # pragma: no cover
    from ..run import PlanResult


@dataclass(frozen=True)
class FundingRow:
    """One financing draw of the plan, with its instrument and value cost per dollar.

    Attributes
    ----------
    instrument : str
        The instrument's id, as plan.json names it.
    amount_usd : float
        Dollars drawn.
    start : str
        The draw month, 'YYYY-MM'.
    month : int or None
        The same, absolute (None for a month that does not parse).
    terms : Instrument or None
        The instrument (None when the instance lacks it: a hand-written plan).
    cost : CostBreakdown or None
        Fee, conversion option and coupon gain per $ drawn at the draw month (None when
        they cannot be priced).
    """

    instrument: str
    amount_usd: float
    start: str
    month: int | None
    terms: Instrument | None
    cost: CostBreakdown | None


def funding_row(instance: Instance, draw: dict) -> FundingRow:
    """A plan.json financing row with its instrument and cost per dollar.

    Parameters
    ----------
    instance : Instance
        Supplies the instrument and the rates that price it.
    draw : dict
        ``{"instrument", "amount_usd", "start"}``.

    Returns
    -------
    FundingRow
    """
    terms = cost = month = None
    try:
        month = parse_month(draw["start"])
        terms = instance.instrument(draw["instrument"])
        cost = cost_breakdown(instance, terms, month)
    except (KeyError, ValueError):   # a hand-written plan or instance may lack them
        pass
    return FundingRow(instrument=draw["instrument"], amount_usd=float(draw["amount_usd"]),
                      start=draw["start"], month=month, terms=terms, cost=cost)


@dataclass
class ReportContext:
    """What the report shows.

    Attributes
    ----------
    instance : Instance
        The instance planned.
    document : dict
        plan.json's content: decisions, financing, stats, solver, scenarios, seed, ...
    samples : ndarray
        (S,) in-sample plan NPV per scenario, USD (the histogram).
    cash : CashFan or None
        Month-end cash percentiles across scenarios, from the run (the fan chart); None
        when the run computed none.
    var_usd : float or None
        The run's VaR at the instance's alpha (marked on the histogram).
    quality : dict or None
        plan.json's ``quality``.
    frontier : list of dict or None
        Rows {floor_usd, expected_npv_usd, cvar_usd, decisions, changed}.
    sensitivity : list of dict or None
        Rows {input, low, high, npv_low_usd, npv_high_usd, base_npv_usd, ...}.
    comparison : dict or None
        A what-if against the free plan.
    decisions : list of DecisionFacts
        Derived: each plan.json decision's milestones and up-front cost, in plan order.
    funding : list of FundingRow
        Derived: each financing draw with its cost per dollar, in plan order.
    """

    instance: Instance
    document: dict
    samples: np.ndarray
    cash: CashFan | None = None
    var_usd: float | None = None
    quality: dict | None = None
    frontier: list[dict] | None = None
    sensitivity: list[dict] | None = None
    comparison: dict | None = None
    decisions: list[DecisionFacts] = field(init=False)
    funding: list[FundingRow] = field(init=False)

    def __post_init__(self) -> None:
        # derived from (instance, document) only, so `dataclasses.replace` keeps them right
        self.decisions = [decision_facts(self.instance, d) for d in self.document.get("decisions", [])]
        self.funding = [funding_row(self.instance, f) for f in self.document.get("financing", [])]

    @property
    def stats(self) -> dict[str, Any]:
        """plan.json's in-sample statistics."""
        return self.document.get("stats", {})

    @property
    def alpha(self) -> float:
        """The CVaR level the statistics were computed at."""
        return float(self.stats.get("alpha", self.instance.risk.alpha))

    @property
    def scenarios(self) -> int:
        """In-sample scenario count."""
        return self.document.get("scenarios", len(self.samples))

    @property
    def capital_committed_usd(self) -> float:
        """Up-front cost of every build and purchase, company share, before overruns."""
        return sum(d.capex_usd for d in self.decisions)

    @property
    def new_financing_usd(self) -> float:
        """Dollars raised by every draw."""
        return sum(f.amount_usd for f in self.funding)

    @property
    def oos_expected_npv_usd(self) -> float | None:
        """Expected NPV on fresh scenarios, when the quality checks ran (either shape)."""
        return _finite(dig(self.quality or {}, "out_of_sample.expected_npv_usd",
                           "out_of_sample.out_of_sample.expected_npv.estimate_usd"))

    @property
    def gap_upper95_usd(self) -> float | None:
        """The optimality gap's 95% upper bound, when it was estimated (either shape)."""
        return _finite(dig(self.quality or {}, "mmw.gap_upper95_usd", "optimality_gap.upper95_usd"))


def dig(d: Any, *paths: str) -> Any:
    """The first of the dotted `paths` present in nested dict `d` (None if none is).

    Parameters
    ----------
    d : Any
        Nested dicts (anything else holds nothing).
    *paths : str
        Dotted key paths, tried in order: 'mmw.gap_upper95_usd'.

    Returns
    -------
    Any
    """
    for path in paths:
        v = d
        for seg in path.split("."):
            v = v.get(seg) if isinstance(v, dict) else None
        if v is not None:
            return v
    return None


def _finite(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def build_context(result: "PlanResult", *, cash: CashFan | None = None, quality: dict | None = None,
                  frontier: list[dict] | None = None, sensitivity: list[dict] | None = None,
                  comparison: dict | None = None) -> ReportContext:
    """A report context from a planning run and the analyses run on it.

    Parameters
    ----------
    result : PlanResult
        The planning run: instance, plan.json document, in-sample samples, VaR.
    cash : CashFan, optional
        The month-end cash fan the run computed: ``CashFan.from_dict`` of the
        out-of-sample quality's ``cash_balance_usd``, or `run.in_sample_cash_fan`. Without
        it the page says the cash paths were not computed.
    quality, frontier, sensitivity, comparison : optional
        The analyses' outputs, in plan.json's shapes; a section each when given.

    Returns
    -------
    ReportContext
    """
    return ReportContext(instance=result.instance, document=result.document, samples=result.samples,
                         cash=cash, var_usd=result.var_usd, quality=quality, frontier=frontier,
                         sensitivity=sensitivity, comparison=comparison)
