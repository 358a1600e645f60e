"""A concrete plan against every rule: `violations` (decisions, draws, loan-to-cost and,
given the expected cash rows, min cash) and `draw_violations` (the draws alone)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...instance.types import Instance, month_str
from .groups import CashRows, finance_groups, rule_groups
from .statements import (MW_TOLERANCE, RULES, USD_TOLERANCE, ActionLike, convert_block_mw,
                         convert_max_mw, decision_months, eligible, issuable, min_units,
                         whole_blocks, why_ineligible)


def draw_violations(instance: Instance, financing: Sequence[tuple[str, float, int]],
                    paths: Sequence[str] | None = None, *, grid: bool = False) -> list[str]:
    """Every rule the (instrument id, amount_usd, absolute month) draws break: a known
    instrument, amount >= 0, inside the horizon, on the decision grid (with `grid`),
    `issue_by` and `max_usd`. `paths` name each draw in messages (default financing[i])."""
    plan = instance.plan
    on_grid = set(decision_months(instance)) if grid else None
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
        elif on_grid is not None and month not in on_grid:
            errors.append(f"{where}.start: draws fall on the decision grid (every "
                          f"{plan.decision_step_months} months from {month_str(plan.start)}) "
                          f"no later than issue_by {month_str(k.issue_by)}, got {month_str(month)!r}")
        elif k.kind == "revolver":
            errors.append(f"{where}.instrument: {inst_id} is a revolver, drawn by the liquidity "
                          f"rule in each scenario, not by a plan, got a draw of {amount:,.0f}")
        elif not issuable(k, month):
            errors.append(f"{where}.start: {inst_id} cannot be drawn then "
                          f"(issue_by {month_str(k.issue_by)}), got {month_str(month)!r}")
        else:
            totals[inst_id] = totals.get(inst_id, 0.0) + amount
    for inst_id, total in totals.items():
        cap = instance.instrument(inst_id).max_usd
        if total > cap * (1 + 1e-9) + USD_TOLERANCE:
            errors.append(f"financing: instrument {inst_id!r} draws {total:,.0f} in all, more than "
                          f"max_usd {cap:,.0f} ({total - cap:,.0f} over max_usd)")
    return errors


def _action_errors(instance: Instance, a: ActionLike, q: float, where: str) -> list[str]:
    if not eligible(instance, a.site, a.kind, a.start, a.lease):
        why = why_ineligible(instance, a.site, a.kind, a.start, a.lease)
        return [f"{where}: {a.label} is not a possible action ({why})"]
    if a.kind != "convert":
        ok = abs(q - 1.0) <= MW_TOLERANCE
        return [] if ok else [f"{where}: a {a.kind} is taken whole (quantity 1), got {q!r}"]
    site = instance.site(a.site)
    top, block = convert_max_mw(site, instance.lease(a.lease)), convert_block_mw(site)
    if not 0 < q <= top + MW_TOLERANCE:
        return [f"{where}.mw: must be in (0, {top:g}], got {q!r}"]
    if q < min_units(top, block) - MW_TOLERANCE:
        return [f"{where}.mw: {RULES['tranche']}, got {q!r}"]
    if not whole_blocks(q, block):
        return [f"{where}.mw: {RULES['blocks']} (hpc.block_mw = {block:g} at {a.site!r}: "
                f"{q:g} MW is {q / block:.4g} blocks), got {q!r}"]
    return []


def violations(instance: Instance, actions: Sequence[ActionLike], quantities: Sequence[float],
               draws: Sequence[tuple[str, float, int]] = (), *,
               paths: Sequence[str] | None = None, draw_paths: Sequence[str] | None = None,
               cash: CashRows | None = None) -> list[str]:
    """Every rule a concrete plan breaks, each message naming the rule and where.

    Parameters
    ----------
    instance : Instance
    actions, quantities : sequences of Action and float
        The actions the plan takes and their quantities (MW for a convert, 1 otherwise).
    draws : sequence of (instrument id, amount_usd, absolute month)
        The plan's financing.
    paths, draw_paths : sequences of str, optional
        How messages name each action / draw (a plan file's ``decisions[3]``).
    cash : CashRows, optional
        With the expected cash rows of the catalog's ValueTable
        (`finance.expected_cash_rows`), `min_cash` is checked too; actions are then
        catalog actions (their `index` is their row).

    Returns
    -------
    list of str
        Empty when the plan keeps every rule. An action that breaks a rule of its own
        (eligible, tranche, blocks, taken twice) is left out of the rules over several
        actions.
    """
    q = [float(v) for v in quantities]
    where = list(paths) if paths is not None else [f"decisions[{a.label}]" for a in actions]
    errors: list[str] = []
    ok: list[int] = []
    seen: set[tuple] = set()
    for i, a in enumerate(actions):
        key = (a.site, a.kind, a.start, a.lease)
        if key in seen:
            errors.append(f"{where[i]}: the same action appears twice ({a.label})")
            continue
        seen.add(key)
        own = _action_errors(instance, a, q[i], where[i])
        errors += own
        if not own:
            ok.append(i)
    taken = [actions[i] for i in ok]
    qty = np.array([q[i] for i in ok])
    g = rule_groups(instance, taken)
    errors += [f"decisions: site {s!r} is sold more than once"
               for s, idx in g.one_sale.items() if len(idx) > 1]
    errors += [f"decisions: site {s!r} is sold, so it can take no other action"
               for s in dict.fromkeys(s for s, _ in g.sold_idle)]
    errors += [f"decisions: site {s!r} is acquired more than once"
               for s, idx in g.one_acquire.items() if len(idx) > 1]
    for i, ready in g.acquired:
        if not ready:
            site = instance.site(taken[i].site)
            lag = site.acquire.energize_months if site.acquire else 0
            errors.append(f"decisions: {taken[i].label} needs site {site.id!r} acquired at least "
                          f"{lag} months before")
    for s, idx, cap in g.site_mw:
        if (mw := float(qty[idx].sum())) > cap + MW_TOLERANCE:
            errors.append(f"decisions: site {s!r} converts {mw:g} MW, more than hpc.max_mw {cap:g}")
    for le, idx, cap in g.lease_mw:
        if (mw := float(qty[idx].sum())) > cap + MW_TOLERANCE:
            errors.append(f"decisions: lease {le!r} takes {mw:g} MW, more than its max_mw {cap:g}")

    draw_errors = draw_violations(instance, draws, draw_paths, grid=True)
    errors += draw_errors
    known = {k.id: k for k in instance.finance.instruments}
    need = sum(amt / known[k].loan_to_cost for k, amt, _ in draws
               if k in known and known[k].kind == "secured_notes")
    funded = float(finance_groups(instance, taken, []).funded_usd @ qty) if taken else 0.0
    if need > funded * (1 + 1e-9) + USD_TOLERANCE:
        errors.append(f"financing: secured notes need {need:,.0f} of funded capex at their "
                      f"loan_to_cost, the plan's converts fund {funded:,.0f} ({RULES['loan_to_cost']})")
    if cash is not None and not draw_errors:
        qa = np.zeros(cash.actions.shape[0])
        for a, v in zip(taken, qty):
            qa[a.index] += v
        col = {key: j for j, key in enumerate(cash.keys)}
        d = np.zeros(len(cash.keys))
        for k, amt, t in draws:
            d[col[(k, t)]] += amt
        short = cash.shortfall(qa, d)
        if (bad := np.flatnonzero(short > USD_TOLERANCE)).size:
            j = int(bad[0])
            errors.append(f"cash: expected cash falls below finance.min_cash_usd = "
                          f"{instance.finance.min_cash_usd:,.0f} in "
                          f"{month_str(instance.plan.start + j)}, short by {short[j]:,.0f} "
                          f"({RULES['min_cash']})")
    return errors
