"""The rules stated: their names and sentences (`RULES`), the decision grid, and which
actions and draws exist at all (the catalog and the draw options are built from these)."""
from __future__ import annotations

import math
from typing import Protocol

from ...instance.types import Instance, Instrument, Lease, Site, month_str

MIN_CONVERT_MW = 1.0   # smallest tranche a convert decision builds
MW_TOLERANCE = 1e-6
USD_TOLERANCE = 1.0    # a dollar: solver rows hold to ~1e-7 $M
DEBT_KINDS = ("secured_notes", "convertible")



class ActionLike(Protocol):
    """What the rules read of an action (`planning.catalog.Action`, which builds on
    this module, so the rules name it only by shape)."""

    index: int
    site: str
    kind: str
    start: int
    lease: str | None

    @property
    def label(self) -> str: ...


RULES = {
    "grid": "actions and draws start on the decision grid, inside the horizon",
    "eligible": "only catalog actions can be taken",
    "tranche": f"a taken convert builds at least {MIN_CONVERT_MW:g} MW (or its whole maximum), "
               "or one block at a site with hpc.block_mw",
    "blocks": "at a site with hpc.block_mw, a convert builds a whole number of blocks",
    "one_sale": "a site is sold at most once",
    "sold_idle": "a sold site takes no other action",
    "one_acquire": "a site is acquired at most once",
    "acquired": "a convert at a candidate site needs an acquisition energised by its start",
    "site_mw": "MW converted at a site stay within its hpc.max_mw",
    "lease_mw": "MW placed under a lease stay within its max_mw",
    "issue_by": "an instrument is drawn no later than issue_by (debt: before its maturity)",
    "max_usd": "an instrument's draws stay within its max_usd",
    "loan_to_cost": "secured notes stay within loan_to_cost x the capex the plan funds",
    "min_cash": "expected cash stays at or above finance.min_cash_usd in every month",
}


def decision_months(instance: Instance) -> list[int]:
    """The decision grid: every `decision_step_months` from the plan's start."""
    p = instance.plan
    return list(range(p.start, p.end, p.decision_step_months))


def acquire_starts(instance: Instance, site: Site) -> list[int]:
    """Months a candidate site may be bought: land is bought to be converted, so only
    while a lease listing it can still be signed once it is energised."""
    if site.status != "candidate" or site.acquire is None or site.hpc is None:
        return []
    last = max((le.sign_by for le in instance.leases if site.id in le.sites), default=None)
    if last is None:
        return []
    return [t for t in decision_months(instance) if t + site.acquire.energize_months <= last]


def sale_starts(instance: Instance, site: Site) -> list[int]:
    """Months an owned site with a sale option may be put up for sale (it closes inside
    the horizon)."""
    if site.sale is None or site.status == "candidate":
        return []
    return [t for t in decision_months(instance)
            if t + site.sale.months_to_close < instance.plan.end]


def convert_starts(instance: Instance, site: Site, lease: Lease) -> list[int]:
    """Months `site` may start converting under `lease`: the lease lists the site and is
    signed by its `sign_by`; a candidate site is acquired and energised first."""
    if site.hpc is None or site.id not in lease.sites or convert_max_mw(site, lease) <= 0:
        return []
    earliest = instance.plan.start
    if site.status == "candidate":
        if site.acquire is None:
            return []
        earliest += site.acquire.energize_months
    return [t for t in decision_months(instance) if earliest <= t <= lease.sign_by]


def convert_block_mw(site: Site) -> float:
    """Critical MW per build block at `site` (`blocks`); 0 where any MW can be built."""
    return site.hpc.block_mw if site.hpc is not None else 0.0


def convert_max_mw(site: Site, lease: Lease) -> float:
    """The most critical MW one convert of `site` under `lease` can build: the smaller
    cap, down to a whole number of blocks where the site builds in blocks (0 when not
    even one block fits the lease)."""
    top = min(site.hpc.max_mw, lease.max_mw)
    block = convert_block_mw(site)
    return block * max_blocks(top, block) if block > 0 else top


def max_blocks(mw: float, block_mw: float) -> int:
    """Whole blocks of `block_mw` that fit in `mw` (`block_mw` > 0)."""
    # 0.3 / 0.1 is 2.9999999999999996 in floating point: three blocks fit
    return int(math.floor(mw / block_mw + 1e-9))


def whole_blocks(mw: float, block_mw: float) -> bool:
    """Whether `mw` is a whole number of blocks (always, where `block_mw` is 0)."""
    return block_mw <= 0 or abs(mw - block_mw * round(mw / block_mw)) <= MW_TOLERANCE


def min_units(max_units: float, block_mw: float = 0.0) -> float:
    """Smallest quantity of a taken convert (`tranche`): a decision that builds 0 MW
    decides nothing; at a site built in blocks the smallest is one block."""
    return block_mw if block_mw > 0 else min(MIN_CONVERT_MW, max_units)


def issuable(instrument: Instrument, month: int) -> bool:
    """Whether `instrument` can be drawn in absolute `month` (`issue_by`). A revolver is
    never drawn by the plan: the liquidity rule draws it, scenario by scenario."""
    if instrument.kind == "revolver" or month > instrument.issue_by:
        return False
    # debt drawn at or after its maturity would be repaid before it is received
    return not (instrument.kind in DEBT_KINDS and instrument.maturity is not None
                and month >= instrument.maturity)


def eligible(instance: Instance, site_id: str, kind: str, start: int,
             lease_id: str | None = None) -> bool:
    """Whether (site, kind, start, lease) is an action of the instance's catalog."""
    try:
        site = instance.site(site_id)
        if kind == "acquire":
            return start in acquire_starts(instance, site)
        if kind == "sell":
            return start in sale_starts(instance, site)
        if kind == "convert" and lease_id is not None:
            return start in convert_starts(instance, site, instance.lease(lease_id))
    except KeyError:
        pass
    return False


def why_ineligible(instance: Instance, site_id: str, kind: str, start: int | None = None,
                   lease_id: str | None = None) -> str:
    """Why no catalog action is (site, kind[, start][, lease]): the rule it breaks, in
    words. `start` None means any start, `lease_id` None any lease (a what-if fix)."""
    site = instance.site(site_id)
    if start is not None and start not in decision_months(instance):
        step = instance.plan.decision_step_months
        return f"starts are every {step} months from {month_str(instance.plan.start)} within the horizon"
    if kind == "sell":
        return "the site has no sale option" if site.sale is None or site.status == "candidate" \
            else "a sale starting then would close after the horizon"
    if kind == "acquire":
        return "only candidate sites with an acquire option can be acquired" \
            if site.status != "candidate" or site.acquire is None \
            else "land is bought only while a lease listing the site can still be signed"
    if site.hpc is None:
        return "the site has no hpc option"
    if lease_id is not None:
        lease = instance.lease(lease_id)
        if site_id not in lease.sites:
            return f"lease {lease_id!r} does not list this site"
        if convert_max_mw(site, lease) <= 0:
            return (f"lease {lease_id!r} offers {lease.max_mw:g} MW, less than one "
                    f"hpc.block_mw block of {convert_block_mw(site):g} MW")
        if start is not None and start > lease.sign_by:
            return f"lease {lease_id!r} must be signed by {month_str(lease.sign_by)}"
        return "a candidate site can be converted only after it is acquired and energised"
    leases = [le for le in instance.leases if site_id in le.sites]
    if not leases:
        return "no lease lists this site"
    if all(convert_max_mw(site, le) <= 0 for le in leases):
        return (f"no lease listing it offers one hpc.block_mw block of "
                f"{convert_block_mw(site):g} MW")
    last = max(le.sign_by for le in leases)
    return (f"every lease listing it must be signed by {month_str(last)}"
            + (", and a candidate site must be acquired and energised first"
               if site.status == "candidate" else ""))
