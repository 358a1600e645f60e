"""The groups the rules imply over a set of actions and draw options: the MIP builds its
rows from them, `violations` checks a plan against them, the what-if fixes read
`exclusive_rule` and `RuleGroups.acquired`.

Groups index actions by their position in the sequence they are built from (for a
catalog, `Action.index`). `cash_rows` takes the arrays of a ValueTable (cash per unit of
every catalog action) and of the draw options, so nothing here reaches above the instance.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ...instance.types import Instance
from .statements import ActionLike

@dataclass(frozen=True)
class RuleGroups:
    """The logic and capacity rules over a sequence of actions (positions into it).

    Attributes
    ----------
    one_sale, one_acquire : dict[str, list[int]]
        Per site, its sells (acquires): at most one is taken.
    sold_idle : list[tuple[str, int]]
        (site, b): action b is taken only if no sale of the site is (x_b + sum sells <= 1).
    acquired : list[tuple[int, list[int]]]
        (convert at a candidate site, the acquisitions energised by its start): taking
        the convert takes one of them.
    site_mw, lease_mw : list[tuple[str, list[int], float]]
        (site or lease, its converts, the MW cap their sum stays within).
    """

    one_sale: dict[str, list[int]]
    one_acquire: dict[str, list[int]]
    sold_idle: list[tuple[str, int]]
    acquired: list[tuple[int, list[int]]]
    site_mw: list[tuple[str, list[int], float]]
    lease_mw: list[tuple[str, list[int], float]]

    @cached_property
    def lookup(self) -> tuple[dict[int, str], dict[int, str], dict[int, set[str]]]:
        """(sell -> site, acquire -> site, action -> sites whose sale leaves it idle)."""
        idle: dict[int, set[str]] = defaultdict(set)
        for site, b in self.sold_idle:
            idle[b].add(site)
        return ({i: s for s, idx in self.one_sale.items() for i in idx},
                {i: s for s, idx in self.one_acquire.items() for i in idx}, dict(idle))


def rule_groups(instance: Instance, actions: Sequence[ActionLike]) -> RuleGroups:
    """The `RuleGroups` of `actions` (a catalog, or the actions one plan takes)."""
    sells: dict[str, list[int]] = defaultdict(list)
    acqs: dict[str, list[int]] = defaultdict(list)
    others: dict[str, list[int]] = defaultdict(list)      # what a sale leaves idle
    by_site: dict[str, list[int]] = defaultdict(list)
    by_lease: dict[str, list[int]] = defaultdict(list)
    for i, a in enumerate(actions):
        if a.kind == "sell":
            sells[a.site].append(i)
        else:
            others[a.site].append(i)
        if a.kind == "acquire":
            acqs[a.site].append(i)
        if a.kind == "convert":
            by_site[a.site].append(i)
            by_lease[a.lease].append(i)
    acquired = []
    for i, a in enumerate(actions):
        site = instance.site(a.site)
        if a.kind == "convert" and site.status == "candidate":
            lag = site.acquire.energize_months if site.acquire else 0
            acquired.append((i, [b for b in acqs.get(a.site, [])
                                 if actions[b].start + lag <= a.start]))

    def hpc_cap(site_id: str) -> float:
        hpc = instance.site(site_id).hpc
        return hpc.max_mw if hpc is not None else 0.0

    return RuleGroups(
        one_sale=dict(sells), one_acquire=dict(acqs),
        sold_idle=[(s, b) for s in sells for b in others.get(s, [])],
        acquired=acquired,
        site_mw=[(s, idx, hpc_cap(s)) for s, idx in by_site.items()],
        lease_mw=[(le, idx, instance.lease(le).max_mw) for le, idx in by_lease.items()])


def exclusive_rule(groups: RuleGroups, a: int, b: int) -> str | None:
    """The rule (a `RULES` key) that forbids taking actions a and b together, or None."""
    sale, acq, idle = groups.lookup
    if a == b:
        return None
    if a in sale and sale.get(b) == sale[a]:
        return "one_sale"
    if a in acq and acq.get(b) == acq[a]:
        return "one_acquire"
    if (a in sale and sale[a] in idle.get(b, ())) or (b in sale and sale[b] in idle.get(a, ())):
        return "sold_idle"
    return None


@dataclass(frozen=True)
class FinanceGroups:
    """The financing rules over the draw options (positions into them).

    Attributes
    ----------
    draw_max_usd : ndarray (K,)
        Each option's bound: its instrument's max_usd.
    instrument_max : list[tuple[str, list[int], float]]
        (instrument, its options, max_usd): the sum of its draws stays within it.
    secured : list[int]
        Options of secured notes, with `loan_to_cost` (same length) their ratios.
    funded_usd : ndarray (A,)
        Capex the company funds per unit of each action (ownership x capex per MW for a
        convert, 0 otherwise): secured notes / loan_to_cost <= funded_usd . q.
    """

    draw_max_usd: np.ndarray
    instrument_max: list[tuple[str, list[int], float]]
    secured: list[int]
    loan_to_cost: np.ndarray
    funded_usd: np.ndarray


def finance_groups(instance: Instance, actions: Sequence[ActionLike],
                   draws: Sequence[Any]) -> FinanceGroups:
    """The `FinanceGroups` of `actions` and draw options `draws` (objects with
    ``instrument``, ``kind`` and ``month``, as `finance.draw_options` returns)."""
    caps = {k.id: k.max_usd for k in instance.finance.instruments}
    by_inst: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(draws):
        by_inst[d.instrument].append(i)
    secured = [i for i, d in enumerate(draws) if d.kind == "secured_notes"]
    funded = np.zeros(len(actions))
    for i, a in enumerate(actions):
        if a.kind == "convert":
            site = instance.site(a.site)
            funded[i] = site.ownership * site.hpc.capex_usd_per_mw
    return FinanceGroups(
        draw_max_usd=np.array([caps[d.instrument] for d in draws], dtype=float),
        instrument_max=[(k, idx, caps[k]) for k, idx in by_inst.items()],
        secured=secured,
        loan_to_cost=np.array([instance.instrument(draws[i].instrument).loan_to_cost
                               for i in secured], dtype=float),
        funded_usd=funded)


@dataclass(frozen=True)
class CashRows:
    """`min_cash` as rows: ``actions.T @ q + draws.T @ d >= rhs`` month by month.

    Attributes
    ----------
    actions : ndarray (A, M)
        Cumulative expected cash per unit of each catalog action, USD.
    draws : ndarray (K, M)
        Cumulative cash per $ drawn from each draw option.
    rhs : ndarray (M,)
        min_cash_usd - cash_usd - cumulative baseline cash, USD.
    keys : list[tuple[str, int]]
        (instrument, month) of each draw option.
    """

    actions: np.ndarray
    draws: np.ndarray
    rhs: np.ndarray
    keys: list[tuple[str, int]]

    def shortfall(self, q: np.ndarray, d: np.ndarray) -> np.ndarray:
        """USD by which each month's expected cash falls short (<= 0: funded) for
        quantities q (A,) and draws d (K,) in USD."""
        return self.rhs - (self.actions.T @ q + self.draws.T @ d)


def cash_rows(instance: Instance, action_cash: np.ndarray, baseline_cash: np.ndarray,
              draws: Sequence[Any], draw_cash: np.ndarray) -> CashRows:
    """The `CashRows` of a ValueTable's expected cash (``vt.cash`` (A, M), per unit, and
    ``vt.baseline_cash`` (M,)) and the draw options' cash per $ drawn (K, M)."""
    fin = instance.finance
    M = instance.plan.months
    acts = np.cumsum(action_cash, axis=1) if len(action_cash) else np.zeros((0, M))
    return CashRows(actions=acts, draws=np.cumsum(draw_cash, axis=1),
                    rhs=fin.min_cash_usd - fin.cash_usd - np.cumsum(baseline_cash),
                    keys=[(d.instrument, d.month) for d in draws])
