"""Every decision an instance allows: (site, kind, start month, lease).

A convert action's quantity is critical MW (0..max_units), a whole number of blocks of
block_mw where its site builds in blocks; sell and acquire are yes/no (max_units = 1).
The ValueTable values each action per unit of quantity, so a plan's NPV in a scenario
is linear in the quantities.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..instance.types import Instance, month_str
# decision_months is the rules' (the grid); catalog.decision_months stays for its readers
from .rules import (acquire_starts, convert_block_mw, convert_max_mw, convert_starts,  # noqa: F401
                    decision_months, sale_starts)

KINDS = ("convert", "sell", "acquire")


@dataclass(frozen=True)
class Action:
    index: int
    site: str
    kind: str            # convert | sell | acquire
    start: int           # absolute month
    lease: str | None = None
    max_units: float = 1.0   # MW for convert, 1 for sell / acquire
    block_mw: float = 0.0    # convert at a site built in blocks: MW per block (0: any MW)

    @property
    def label(self) -> str:
        tail = f"/{self.lease}" if self.lease else ""
        return f"{self.kind}:{self.site}{tail}@{month_str(self.start)}"


def build_catalog(instance: Instance) -> list[Action]:
    """All candidate actions, in a stable order (sites, then kind, lease, start); which
    ones exist is the rules' to say (`planning.rules`: eligibility)."""
    out: list[Action] = []

    def add(**kw) -> None:
        out.append(Action(index=len(out), **kw))

    for site in instance.sites:
        for t in acquire_starts(instance, site):
            add(site=site.id, kind="acquire", start=t)
        for t in sale_starts(instance, site):
            add(site=site.id, kind="sell", start=t)
        for lease in instance.leases:
            for t in convert_starts(instance, site, lease):
                add(site=site.id, kind="convert", start=t, lease=lease.id,
                    max_units=convert_max_mw(site, lease), block_mw=convert_block_mw(site))
    return out
