"""The report's generated sentences: the recommendation paragraph, the cash caption,
and decisions written out as text.

Every sentence is a function of a `ReportContext` (or of a plan.json row) and says only
what the context holds; HTML is returned where user text is escaped here (marked in
each docstring), plain text elsewhere.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..instance.types import Instance, Instrument, Site, month_str
from ..planning.cash_fan import CashFan
from ..planning.schedule import DecisionFacts, facts_by_site
from .context import FundingRow, ReportContext
from .markup import esc, mw, num, pct, usd


def list_sentence(parts: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def site_story(instance: Instance, site: Site, ds: Sequence[DecisionFacts]) -> str:
    """One sentence on what the plan does with one site (HTML).

    Parameters
    ----------
    instance : Instance
        For the leases' tenants.
    site : Site
        The site.
    ds : sequence of DecisionFacts
        The plan's decisions at this site, in start order.

    Returns
    -------
    str
    """
    name = f"<b>{esc(site.id)}</b>"
    mines = site.mining is not None and site.status == "operating"
    if not ds:
        if mines:
            return f"Keep mining at {name} on all {mw(site.capacity_mw)}."
        if site.status == "candidate":
            return f"Do not buy {name}."
        return f"Hold {name} as it is."
    parts = []
    for d in ds:
        if d.action == "sell" and site.sale is not None:
            parts.append(f"sell it from {month_str(d.start)} (about {usd(d.expected_proceeds_usd)} expected, "
                         f"{d.close_probability:.0%} likely to close within {site.sale.months_to_close} months)")
        elif d.action == "acquire":
            parts.append(f"buy it in {month_str(d.start)} for {usd(d.capex_usd)} "
                         f"(energised by {month_str(d.ready)})")
    converts = [d for d in ds if d.action == "convert"]
    if converts:
        total = sum(d.mw for d in converts)
        steps = [f"{mw(d.mw)} for {esc(instance.lease(d.lease).tenant)} from {month_str(d.start)}"
                 for d in converts]
        if len(steps) == 1:
            text = f"convert {mw(total)} to AI/HPC for {steps[0].split(' for ', 1)[1]}"
        else:
            text = f"convert {mw(total)} to AI/HPC in {len(steps)} steps ({list_sentence(steps)})"
        if mines and site.hpc is not None:
            left = site.capacity_mw - sum(d.grid_mw for d in converts)
            if left > 1e-6:
                text += f", and keep mining on the other {mw(left)}"
        parts.append(text)
    return f"At {name}, {list_sentence(parts)}."


def draw_groups(funding: Sequence[FundingRow]) -> list[str]:
    """'$1.12B of <b>secured-2030</b> (2026-10)', one per instrument, months as a range (HTML)."""
    groups: dict[str, list[FundingRow]] = {}
    for f in funding:
        groups.setdefault(f.instrument, []).append(f)
    out = []
    for inst, fs in groups.items():
        total = sum(f.amount_usd for f in fs)
        first, last = min(f.start for f in fs), max(f.start for f in fs)
        when = first if first == last else f"{first} to {last}"
        out.append(f"{usd(total)} of <b>{esc(inst)}</b> ({when})")
    return out


def summary_paragraph(ctx: ReportContext) -> str:
    """The recommendation in plain language, from the plan's numbers (HTML).

    Parameters
    ----------
    ctx : ReportContext

    Returns
    -------
    str
        What to do at each site, how it is funded, the headline risk numbers, the cash
        low point, the out-of-sample value and the optimality gap when they were
        assessed, and a caution when the solver did not prove optimality.
    """
    inst, doc, stats = ctx.instance, ctx.document, ctx.stats
    by_site = facts_by_site(ctx.decisions)
    stories = [site_story(inst, s, by_site.get(s.id, [])) for s in inst.sites]
    if any(by_site.get(s.id) for s in inst.sites):
        text = "<b>Recommendation.</b> " + " ".join(stories)
    else:
        text = ("<b>Recommendation.</b> Take no action: no conversion, sale or purchase beats the "
                "baseline within the board's risk limits. " + " ".join(stories))
    acting = bool(ctx.decisions)
    draws = draw_groups(ctx.funding)
    cash0 = usd(inst.finance.cash_usd)
    if draws:
        text += f" Fund it with {list_sentence(draws)}, on top of {cash0} of cash on hand."
    elif acting:
        text += f" No new financing is needed: the {cash0} on hand covers it."
    alpha = ctx.alpha
    text += (f" Across {num(ctx.scenarios)} scenarios the plan's expected NPV is "
             f"<b>{usd(stats.get('expected_npv_usd'))}</b>; the worst {1 - alpha:.0%} of scenarios average "
             f"<b>{usd(stats.get('cvar_usd'))}</b> (CVaR {alpha:.0%}), and the chance of a negative NPV "
             f"is <b>{pct(stats.get('prob_loss'))}</b>.")
    if ctx.cash is not None:
        month, low = ctx.cash.lowest(50)
        text += (f" Cash is lowest around {month} at {usd(low)} in the median {_scenario_kind(ctx.cash)}scenario; "
                 f"it falls below the {usd(ctx.cash.min_cash_usd)} minimum at some point in "
                 f"{pct(ctx.cash.prob_below_min)} of scenarios, and below zero in "
                 f"{pct(ctx.cash.prob_below_zero)}.")
        text += " " + liquidity_sentence(inst)
    oos, upper = ctx.oos_expected_npv_usd, ctx.gap_upper95_usd
    if oos is not None:
        text += f" On fresh scenarios the plan's expected NPV is {usd(oos)}."
    if upper is not None:
        text += (f" With 95% confidence no plan does better by more than {usd(max(upper, 0.0))} "
                 f"(optimality gap).")
    status = doc.get("solver", {}).get("status")
    if status and status != "optimal":
        text += (f" <b>Caution:</b> the solver stopped at status {esc(status)} with gap "
                 f"{pct(doc['solver'].get('gap'), 2)}: this is the best plan found, not a proven optimum.")
    return text


def _scenario_kind(fan: CashFan) -> str:
    # the NPV numbers in the same paragraph are in-sample: say so when the cash is not
    return "out-of-sample " if fan.sample == "out-of-sample" else ""


def cash_scenarios(fan: CashFan) -> str:
    """Which scenarios a fan is drawn from, as a phrase: 'the plan's own 300 in-sample
    scenarios (seed 1)' or '3,000 fresh out-of-sample scenarios (seed 1000004)'."""
    if fan.sample == "in-sample":
        return f"the plan's own {fan.scenarios:,} in-sample scenarios (seed {fan.seed})"
    if fan.sample == "out-of-sample":
        return (f"{fan.scenarios:,} fresh out-of-sample scenarios (seed {fan.seed}), not the ones "
                f"the plan was chosen on")
    return f"{fan.scenarios:,} {esc(fan.sample)} scenarios (seed {fan.seed})"


def liquidity_sentence(inst) -> str:
    """How liquidity holds, in words: a floor per scenario with the revolver, or only
    expected cash."""
    p = inst.risk.liquidity_probability
    line = next((k for k in inst.finance.instruments if k.kind == "revolver"), None)
    backstop = (f" with the committed {usd(line.max_usd)} revolver drawn when cash would dip below it "
                f"and repaid from surplus first" if line is not None else "")
    if p is None:
        return ("The plan keeps the minimum only on expected cash flows: the band shows how far a bad "
                "path can stray from it.")
    return (f"Liquidity holds scenario by scenario: the plan keeps cash plus the undrawn revolver at or "
            f"above the minimum in every month in at least {pct(p)} of scenarios{backstop}.")


def cash_caption(fan: CashFan) -> str:
    """The fan chart's caption: its low points, its breach frequencies, its scenarios (HTML)."""
    month, low = fan.lowest(50)
    month5, low5 = fan.lowest(5)
    return (f"Median cash is lowest in {month} ({usd(low)}); "
            f"the 5th percentile reaches {usd(low5)} in {month5}. "
            f"Cash falls below the {usd(fan.min_cash_usd)} minimum in "
            f"{pct(fan.prob_below_min)} of scenarios and below zero in "
            f"{pct(fan.prob_below_zero)}. "
            f"Drawn from {cash_scenarios(fan)}.")


# ---------------------------------------------------------------- decisions as text


def decision_text(d: dict) -> str:
    """'convert lake-mariner 200 MW for fluidstack-lm from 2026-10' (plain text)."""
    text = f"{d.get('action', '?')} {d.get('site', '?')}"
    if d.get("mw") is not None:
        text += f" {mw(float(d['mw']))}"
    if d.get("lease"):
        text += f" for {d['lease']}"
    if d.get("start"):
        text += f" from {d['start']}"
    return text


def change_text(d: dict) -> str:
    """One entry of a decision diff (change = added | removed | resized), plain text."""
    change = d.get("change")
    if change == "resized" and d.get("mw_before") is not None:
        return f"resize {decision_text(d)} (was {mw(float(d['mw_before']))})"
    return {"added": "+ ", "removed": "\u2212 "}.get(change, "") + decision_text(d)


def is_decision(v: Any) -> bool:
    """Whether `v` is a plan.json decision row (or a diff entry of one)."""
    return isinstance(v, dict) and "site" in v and "action" in v


def items_text(items: Sequence[Any]) -> str:
    """Decisions, decision changes or plain items, as one escaped line (HTML)."""
    if not items:
        return "none"
    if all(is_decision(d) for d in items):
        return esc("; ".join(change_text(d) for d in items))
    return esc("; ".join(map(str, items)))


def instrument_terms(k: Instrument) -> str:
    """An instrument's terms in a line: '4.00% coupon, due 2030-01, 1.5% fee'."""
    bits = []
    if k.kind != "equity":
        bits.append(f"{k.rate:.2%} coupon")
        if k.maturity is not None:
            bits.append(f"due {month_str(k.maturity)}")
    if k.kind == "convertible":
        bits.append(f"{k.conversion_premium:.1%} premium")
    if k.kind == "secured_notes":
        bits.append(f"≤ {k.loan_to_cost:.0%} of capex")
    if k.kind == "revolver":
        bits[0] = f"{k.rate:.2%} on drawn"
        bits.append(f"{k.commitment_fee:.2%} on undrawn, drawn by rule")
    else:
        bits.append(f"{k.fee:.1%} fee")
    if k.refinance is not None:
        bits.append(f"refinanced at {k.refinance.rate:.2%} for {k.refinance.term_years} y where the "
                    f"market is open")
    return ", ".join(bits)
