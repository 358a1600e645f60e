"""The HTML of the plan's own sections: header, recommendation, timeline, funding and
cash, value and risk, and how sure we are.

Each function takes the `ReportContext` and returns one section's HTML; every section
opens with one sentence on how to read it. The numbers are the context's, formatted:
nothing here values, samples or re-derives a domain fact.
"""
from __future__ import annotations

import numpy as np

from ..instance.types import month_str
from . import charts
from .context import ReportContext
from .markup import DASH, esc, figure, mw, num, pct, per_usd, section, table, usd
from .quality_table import quality_headline, quality_rows
from .text import cash_caption, instrument_terms, summary_paragraph
from .timeline import lanes_of


def header(ctx: ReportContext) -> str:
    """The masthead: the plan's name and the run's facts (scenarios, seed, solver...)."""
    doc, inst = ctx.document, ctx.instance
    solver = doc.get("solver", {})
    facts = [
        ("Scenarios", num(ctx.scenarios)),
        ("Seed", esc(doc.get("seed", inst.plan.seed))),
        ("Backend", esc(doc.get("backend", DASH))),
        ("Hours sampled", f"{num(doc.get('hours_per_month', inst.plan.hours_per_month))} / month"),
        ("Solver", f"{esc(solver.get('status', DASH))}, gap {pct(solver.get('gap'), 2)}, "
                   f"{num(solver.get('cuts', 0))} CVaR cuts"),
        ("Horizon", f"{month_str(inst.plan.start)} to {month_str(inst.plan.end - 1)}"),
        ("Instance", f"<code>{esc((doc.get('instance_sha256') or inst.sha256 or DASH)[:12])}</code>"),
    ]
    dl = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return (f'<header class="masthead"><div class="eyebrow">wattfolio · decision report</div>'
            f"<h1>{esc(doc.get('name') or inst.plan.name)}</h1><dl class=\"facts\">{dl}</dl></header>")


def _kpis(ctx: ReportContext) -> str:
    stats, inst, alpha = ctx.stats, ctx.instance, ctx.alpha
    se = stats.get("expected_npv_se_usd")
    cards = [
        ("kpi-enpv", "Expected NPV", usd(stats.get("expected_npv_usd")),
         f"± {usd(se)} standard error" if se is not None else "mean over scenarios"),
        ("kpi-cvar", f"CVaR {alpha:.0%}", usd(stats.get("cvar_usd")),
         f"mean of the worst {1 - alpha:.0%}" + (f"; floor {usd(inst.risk.cvar_floor_usd)}"
                                                  if inst.risk.cvar_floor_usd is not None else "")),
        ("kpi-ploss", "P(NPV < 0)", pct(stats.get("prob_loss")), "chance the plan loses value"),
        ("kpi-capex", "Capital committed", usd(ctx.capital_committed_usd),
         "builds and purchases, company share, before overruns"),
        ("kpi-raised", "New financing", usd(ctx.new_financing_usd), f"{len(ctx.funding)} draws"),
    ]
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><div class="label">{label}</div><div class="value" id="{ident}">{value}</div>'
        f'<div class="sub">{sub}</div></div>' for ident, label, value, sub in cards) + "</div>"


def _decisions_table(ctx: ReportContext) -> str:
    inst = ctx.instance
    rows = []
    for d in ctx.decisions:
        lease = inst.lease(d.lease) if d.lease else None
        rows.append([esc(d.site), esc(d.action), month_str(d.start),
                     mw(d.mw) if d.mw is not None else DASH,
                     f'{esc(lease.tenant)} <span class="muted">({esc(lease.id)})</span>' if lease else DASH,
                     month_str(d.rent_from) if d.rent_from is not None else DASH,
                     usd(d.capex_usd) if d.capex_usd else DASH,
                     usd(d.backstop_cost_usd) if lease and d.backstop_cost_usd else DASH])
    if not rows:
        return '<p class="note">No decisions: every site stays as it is.</p>'
    return table(["Site", "Action", "Start", "Critical MW", "Lease", "Rent from (expected)",
                  "Up-front cost", "Backstop cost"], rows, cls="decisions", numeric=(3, 6, 7))


def summary_section(ctx: ReportContext) -> str:
    """The recommendation: the paragraph, the headline numbers, the decisions."""
    return (f'<section id="summary"><h2>Recommendation</h2>'
            f'<p class="lede">{summary_paragraph(ctx)}</p>{_kpis(ctx)}{_decisions_table(ctx)}</section>')


def timeline_section(ctx: ReportContext) -> str:
    """The plan by site over the horizon, with the financing draws."""
    inst = ctx.instance
    draws = [charts.DrawMarker(f.month - inst.plan.start, f.amount_usd, f.instrument)
             for f in ctx.funding if f.month is not None]
    svg = charts.timeline_svg(lanes_of(inst, ctx.decisions), inst.plan.start, inst.plan.months, draws)
    return section(
        "sec-timeline", "Timeline by site",
        "Each row is one site's activity over the horizon: mining continues on the grid MW not "
        "converted, a conversion is a build followed by its lease (hatched: the expected "
        "commissioning delay before rent starts), and the bottom row shows when money is raised "
        "(circle area in proportion to the amount).",
        figure("timeline", svg))


def funding_section(ctx: ReportContext) -> str:
    """The draws with their cost per dollar, and the fan of month-end cash."""
    inst, fan = ctx.instance, ctx.cash
    rows = []
    for f in ctx.funding:
        kind = esc(f.terms.kind.replace("_", " ")) if f.terms else DASH
        terms = instrument_terms(f.terms) if f.terms else ""
        b = f.cost
        parts = [per_usd(b.fee), per_usd(b.option), per_usd(b.coupon_gain), per_usd(b.net)] if b else [DASH] * 4
        rows.append([esc(f.instrument), kind, usd(f.amount_usd), f.start, terms, *parts])
    if rows:
        draws = table(["Instrument", "Kind", "Amount", "Month", "Terms", "Fee", "Conversion option",
                       "Coupon gain", "Net cost per $"], rows, cls="draws", numeric=(2, 5, 6, 7, 8),
                      foot=["Total", "", usd(ctx.new_financing_usd), "", "", "", "", "", ""])
    else:
        draws = '<p class="note">No financing draws: the plan is funded from cash on hand.</p>'
    if fan is not None:
        # a draw in month m shows in the cash at the end of month m: x = m + 1
        svg = charts.cash_fan_svg(fan.quantiles, fan.start_month, fan.min_cash_usd,
                                  [f.month - fan.start_month + 1 for f in ctx.funding if f.month is not None])
        fan_html = figure("cash-fan", svg, cash_caption(fan))
    else:
        fan_html = '<p class="note" id="cash-fan">Cash paths were not computed for this report.</p>'
    return section(
        "funding", "Funding and cash",
        f"The table lists each draw of new money with its value cost per dollar drawn, valued at "
        f"the draw month: the fee, plus the conversion option handed to noteholders, less the "
        f"coupon gain (the present value, at the company's cost of debt, of paying a coupon "
        f"below it; negative when the coupon is above market). The chart shows the company's cash at every "
        f"month end across scenarios, starting from {usd(inst.finance.cash_usd)} on hand (dark line: "
        f"median; bands: the middle 50% and 90% of scenarios; dashed red: the minimum cash the "
        f"board requires).",
        draws + fan_html)


def npv_section(ctx: ReportContext) -> str:
    """The distribution of plan NPV with its mean, VaR and CVaR, and its quantiles."""
    stats, alpha = ctx.stats, ctx.alpha
    svg = charts.npv_histogram_svg(np.asarray(ctx.samples, dtype=float), alpha, stats.get("expected_npv_usd"),
                                   ctx.var_usd, stats.get("cvar_usd"))
    q = stats.get("npv_quantiles_usd", {})
    qtable = table([esc(k) for k in q] + ["P(NPV < 0)"],
                   [[usd(v) for v in q.values()] + [pct(stats.get("prob_loss"))]],
                   cls="quantiles", numeric=tuple(range(len(q) + 1))) if q else ""
    return section(
        "sec-npv", "Value and risk",
        f"Each bar counts scenarios by the plan's NPV (baseline operations plus the actions, less "
        f"the cost of financing); the red bars are the worst {1 - alpha:.0%} of scenarios, whose "
        f"average is the CVaR, and VaR marks where that tail begins.",
        figure("npv-histogram", svg) + qtable)


def quality_section(ctx: ReportContext) -> str:
    """The quality checks: a headline table, and every measure in a fold."""
    how = ("These checks say how far to trust the numbers: in- and out-of-sample values close "
           "together mean the plan was not fitted to the noise of its own scenarios, the "
           "optimality gap bounds how much better the best plan could be, VSS is what planning "
           "for uncertainty earns over planning for the average scenario, and EVPI is what "
           "perfect foresight would add (± one standard error; intervals at 95%).")
    if not ctx.quality:
        body = ('<p class="note" id="quality">Quality checks were not run for this report '
                "(run the plan with the quality option to add out-of-sample, gap, VSS and EVPI "
                "estimates).</p>")
        return section("sec-quality", "How sure are we", how, body)
    rows, html_rows, previous = quality_rows(ctx.quality), [], None
    for group, measure, value in rows:
        first = group != previous
        previous = group
        html_rows.append(f'<tr class="{"group-start" if first else ""}">'
                         f'<th scope="row">{esc(group) if first else ""}</th>'
                         f'<td>{esc(measure)}</td><td class="num">{value}</td></tr>')
    headline = quality_headline(ctx.quality, ctx.alpha)
    every = ('<table {ident}class="quality"><thead><tr><th>Check</th><th>Measure</th>'
             f'<th class="num">Value</th></tr></thead><tbody>{"".join(html_rows)}</tbody></table>')
    if headline:
        body = (table(["Check", "Estimate", "95% interval", "Sample"], headline, ident="quality",
                      cls="quality-headline", numeric=(1, 2))
                + f'<details><summary>Every quality measure ({len(rows)})</summary>'
                + every.format(ident="") + "</details>")
    else:   # a shape this report does not know: show it all, plainly
        body = every.format(ident='id="quality" ')
    return section("sec-quality", "How sure are we", how, body)
