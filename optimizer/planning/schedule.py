"""What one decision of a plan means on the calendar and in up-front money.

A plan.json decision row (``{"site", "action", "start", "mw", "lease"}``) says *what* is
done and *when it starts*; the instance says how long a build, a sale or an energisation
takes and what it costs. `decision_facts` puts the two together once, so that every reader
(the report's text, its tables and its timeline) uses the same milestones instead of
re-deriving them. Nothing here samples or values anything: these are the instance's
expected (mean) figures, before overruns and delays are drawn.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..instance.types import Instance, Lease, Site, parse_month


@dataclass(frozen=True)
class DecisionFacts:
    """The milestones and up-front cost of one decision, all months absolute.

    Attributes
    ----------
    site, action : str
        The site and what is done to it (``convert``, ``sell`` or ``acquire``).
    start : int
        The month the decision takes effect.
    mw : float or None
        Critical MW converted (None when the row carries none, as for a sale).
    lease : str or None
        The lease a conversion signs.
    capex_usd : float
        The company's share of the up-front cost (build or purchase), before overruns.
    ready : int or None
        Build finished (conversion), sale closed (sale) or site energised (acquisition).
    rent_from : int or None
        Conversion: the expected first month of rent, after the build and the mean
        commissioning delay (rounded to whole months).
    delay_months : float
        Conversion: the mean commissioning delay between the build's end and first rent.
    lease_end : int or None
        Conversion: the first month after the lease's tenor, counted from the build's end.
    grid_mw : float
        Conversion: the grid MW it takes away from mining (critical MW times the PUE).
    backstop_cost_usd : float
        Value handed to the lease's guarantor for the MW this decision uses.
    close_probability : float or None
        Sale: the chance the sale closes.
    expected_proceeds_usd : float or None
        Sale: the company's share of the mean of the low / mode / high price.
    """

    site: str
    action: str
    start: int
    mw: float | None = None
    lease: str | None = None
    capex_usd: float = 0.0
    ready: int | None = None
    rent_from: int | None = None
    delay_months: float = 0.0
    lease_end: int | None = None
    grid_mw: float = 0.0
    backstop_cost_usd: float = 0.0
    close_probability: float | None = None
    expected_proceeds_usd: float | None = None


def capex_usd(site: Site, action: str, mw: float) -> float:
    """The company's share of a decision's up-front cost, before overruns.

    Parameters
    ----------
    site : Site
        The site acted on.
    action : str
        ``convert`` (build cost per critical MW) or ``acquire`` (purchase price); any
        other action costs nothing up front.
    mw : float
        Critical MW converted (ignored for other actions).

    Returns
    -------
    float
        Dollars, scaled by the company's ownership of the site.
    """
    if action == "convert" and site.hpc is not None:
        return site.ownership * mw * site.hpc.capex_usd_per_mw
    if action == "acquire" and site.acquire is not None:
        return site.ownership * site.acquire.cost_usd
    return 0.0


def backstop_cost_usd(lease: Lease, mw: float) -> float:
    """Value handed to `lease`'s guarantor for `mw` critical MW.

    The guarantee and its price scale with the MW leased; the cost is a value cost at
    signing, already inside the plan's NPV (shown, not added again).

    Parameters
    ----------
    lease : Lease
        The lease signed.
    mw : float
        Critical MW of this decision.

    Returns
    -------
    float
        Dollars (0 for a lease without a backstop or without MW).
    """
    return lease.backstop_cost_usd * mw / lease.max_mw if lease.max_mw > 0 else 0.0


def expected_sale_usd(site: Site) -> float | None:
    """The company's share of a sale's mean price (triangular low / mode / high).

    Parameters
    ----------
    site : Site
        The site sold.

    Returns
    -------
    float or None
        Dollars, or None when the site has no sale offer.
    """
    s = site.sale
    return None if s is None else (s.low_usd + s.mode_usd + s.high_usd) / 3 * site.ownership


def decision_facts(instance: Instance, decision: Mapping[str, Any]) -> DecisionFacts:
    """The milestones and up-front cost of one plan.json decision row.

    Parameters
    ----------
    instance : Instance
        The instance the plan is for.
    decision : mapping
        A row of plan.json's ``decisions``: ``site``, ``action``, ``start`` ('YYYY-MM')
        and, for a conversion, ``mw`` and ``lease``.

    Returns
    -------
    DecisionFacts

    Raises
    ------
    KeyError
        When the row names a site or lease the instance lacks.
    ValueError
        When ``start`` is not a 'YYYY-MM' month.
    """
    site = instance.site(decision["site"])
    action = decision["action"]
    start = parse_month(decision["start"])
    mw = float(decision["mw"]) if decision.get("mw") is not None else None
    lease_id = decision.get("lease") or None
    facts: dict[str, Any] = {"capex_usd": capex_usd(site, action, mw or 0.0)}
    if action == "convert":
        hpc = site.hpc
        built = start + (hpc.build_months if hpc else 0)
        delay = hpc.delay_months_mean if hpc else 0.0
        facts.update(ready=built, delay_months=delay, grid_mw=(mw or 0.0) * (hpc.pue if hpc else 1.0))
        if hpc is not None:
            facts["rent_from"] = built + round(delay)
        if lease_id is not None:
            lease = instance.lease(lease_id)
            facts.update(lease_end=built + 12 * lease.tenor_years,
                         backstop_cost_usd=backstop_cost_usd(lease, mw or 0.0))
    elif action == "sell":
        sale = site.sale
        facts.update(ready=start + (sale.months_to_close if sale else 0),
                     close_probability=sale.close_probability if sale else 1.0,
                     expected_proceeds_usd=expected_sale_usd(site))
    elif action == "acquire":
        facts["ready"] = start + (site.acquire.energize_months if site.acquire else 0)
    return DecisionFacts(site=site.id, action=action, start=start, mw=mw, lease=lease_id, **facts)


def facts_by_site(facts: Iterable[DecisionFacts]) -> dict[str, list[DecisionFacts]]:
    """Decisions grouped by site, each site's in start order (then by action name).

    Parameters
    ----------
    facts : iterable of DecisionFacts

    Returns
    -------
    dict
        Site id to its decisions; sites without decisions are absent.
    """
    out: dict[str, list[DecisionFacts]] = {}
    for f in facts:
        out.setdefault(f.site, []).append(f)
    for fs in out.values():
        fs.sort(key=lambda f: (f.start, f.action))
    return out
