"""The plan as timeline lanes: which bars the Gantt chart (`report.gantt`) draws.

Milestones (build end, first rent, lease end, sale close, energisation) come from
`planning.schedule.DecisionFacts`; this module only lays them out, in plan months from
the plan start and capped at the horizon.
"""
from __future__ import annotations

from typing import Sequence

from ..instance.types import Instance, Site, month_str
from ..planning.schedule import DecisionFacts, decision_facts, facts_by_site
from .gantt import Lane, Segment
from .markup import mw


def timeline_lanes(instance: Instance, document: dict) -> list[Lane]:
    """The lanes of a plan.json document's decisions.

    Parameters
    ----------
    instance : Instance
        The instance planned.
    document : dict
        plan.json content (its ``decisions``).

    Returns
    -------
    list of Lane
        See `lanes_of`.
    """
    return lanes_of(instance, [decision_facts(instance, d) for d in document.get("decisions", [])])


def lanes_of(instance: Instance, decisions: Sequence[DecisionFacts]) -> list[Lane]:
    """The plan as Gantt lanes, site by site in instance order.

    For each site: its acquisition (energisation), its mining baseline (until converted
    or sold), one lane per conversion (build, then the lease to its end or the horizon),
    its sale (closing period); a site without any of these gets one "held" lane.

    Parameters
    ----------
    instance : Instance
        The instance planned.
    decisions : sequence of DecisionFacts
        The plan's decisions.

    Returns
    -------
    list of Lane
    """
    months, start = instance.plan.months, instance.plan.start
    by_site = facts_by_site(decisions)
    lanes: list[Lane] = []
    for site in instance.sites:
        ds = by_site.get(site.id, [])
        converts = [d for d in ds if d.action == "convert"]
        sells = [d for d in ds if d.action == "sell"]
        site_lanes: list[Lane] = []
        for d in (d for d in ds if d.action == "acquire"):
            site_lanes.append(Lane(site.id, "acquisition", [
                Segment("acquire", d.start - start, min(d.ready - start, months), "energise")],
                note=f"energised {month_str(d.ready)}"))
        if site.mining is not None and site.status == "operating":
            site_lanes.append(_mining_lane(instance, site, converts, sells))
        for d in converts:
            site_lanes.append(_convert_lane(instance, d))
        for d in sells:
            site_lanes.append(Lane(site.id, "sale", [
                Segment("sell", d.start - start, min(d.ready - start, months), "closing")],
                note=f"closes {month_str(d.ready)} ({d.close_probability:.0%} likely)"))
        if not site_lanes:
            what = "candidate, not bought" if site.status == "candidate" else "held, no action"
            site_lanes.append(Lane(site.id, what, [Segment("hold", 0, months)]))
        lanes += site_lanes
    return lanes


def _mining_lane(instance: Instance, site: Site, converts: Sequence[DecisionFacts],
                 sells: Sequence[DecisionFacts]) -> Lane:
    """Mining on the grid MW not yet converted, until a sale closes or the horizon ends."""
    months, start = instance.plan.months, instance.plan.start
    end = min([months] + [d.ready - start for d in sells])
    steps: dict[int, float] = {}
    for d in converts:
        t = d.start - start
        steps[t] = steps.get(t, 0.0) + d.grid_mw
    segments, mining_mw, t = [], site.capacity_mw, 0
    for change in sorted(steps):
        if change >= end:
            break
        if change > t and mining_mw > 1e-6:
            segments.append(Segment("mine", t, change, mw(mining_mw)))
        mining_mw -= steps[change]
        t = max(t, change)
    if end > t and mining_mw > 1e-6:
        segments.append(Segment("mine", t, end, mw(mining_mw)))
    return Lane(site.id, "mining", segments)


def _convert_lane(instance: Instance, d: DecisionFacts) -> Lane:
    """A conversion: its build, then its lease (the first months hatched: the expected
    delay before rent), to the lease's end or the horizon."""
    months, start = instance.plan.months, instance.plan.start
    lease = instance.lease(d.lease)
    t, built, lease_end = d.start - start, d.ready - start, d.lease_end - start
    segments = [Segment("build", t, min(built, months), "build")]
    if built < months:
        segments.append(Segment("lease", built, min(lease_end, months),
                                f"{lease.tenant} · ${lease.rate_kw_month:,.0f}/kW-month"))
        if d.delay_months > 0:
            segments.append(Segment("delay", built, min(built + d.delay_months, months)))
    end_text = month_str(d.lease_end)
    note = f"runs to {end_text} \u25b8" if lease_end > months else f"ends {end_text}"
    return Lane(d.site, f"{mw(d.mw)} \u2192 {lease.tenant}", segments, note=note)
