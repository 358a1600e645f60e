"""Every decision an instance allows: (site, kind, start month, lease).

A convert action's quantity is critical MW (0..max_units); sell and acquire are
yes/no (max_units = 1). The ValueTable values each action per unit of quantity,
so a plan's NPV in a scenario is linear in the quantities.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..instance.types import Instance, month_str

KINDS = ("convert", "sell", "acquire")


@dataclass(frozen=True)
class Action:
    index: int
    site: str
    kind: str            # convert | sell | acquire
    start: int           # absolute month
    lease: str | None = None
    max_units: float = 1.0   # MW for convert, 1 for sell / acquire

    @property
    def label(self) -> str:
        tail = f"/{self.lease}" if self.lease else ""
        return f"{self.kind}:{self.site}{tail}@{month_str(self.start)}"


def decision_months(instance: Instance) -> list[int]:
    """The decision grid: every `decision_step_months` from the plan's start."""
    p = instance.plan
    return list(range(p.start, p.end, p.decision_step_months))


def build_catalog(instance: Instance) -> list[Action]:
    """All candidate actions, in a stable order (sites, then kind, lease, start)."""
    grid = decision_months(instance)
    out: list[Action] = []

    def add(**kw) -> None:
        out.append(Action(index=len(out), **kw))

    for site in instance.sites:
        if site.status == "candidate" and site.acquire is not None:
            # land is bought to be converted: only starts from which a lease can still be
            # signed once the site is energised
            last = max((le.sign_by for le in instance.leases if site.id in le.sites), default=None)
            for t in grid:
                if site.hpc is not None and last is not None and t + site.acquire.energize_months <= last:
                    add(site=site.id, kind="acquire", start=t)
        if site.sale is not None and site.status != "candidate":
            for t in grid:
                if t + site.sale.months_to_close < instance.plan.end:
                    add(site=site.id, kind="sell", start=t)
        if site.hpc is not None:
            earliest = instance.plan.start
            if site.status == "candidate":
                if site.acquire is None:
                    continue
                earliest += site.acquire.energize_months
            for lease in instance.leases:
                if site.id not in lease.sites:
                    continue
                max_mw = min(site.hpc.max_mw, lease.max_mw)
                for t in grid:
                    if earliest <= t <= lease.sign_by:
                        add(site=site.id, kind="convert", start=t, lease=lease.id, max_units=max_mw)
    return out
