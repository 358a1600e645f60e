"""report.html: the decision report a strategy team can take to its board.

One self-contained HTML page (CSS inline, charts as inline SVG, no script, no link, no
font or image fetched from anywhere) assembled from a `ReportContext`: the instance, the
plan.json document, the plan's NPV per scenario and its month-end cash per scenario, and,
when they were run, the quality checks, the risk-return frontier, the sensitivity
analysis and a what-if comparison.

Sections, in reading order: header (run facts), recommendation (plain-language summary,
headline numbers, decisions), timeline by site, funding and cash, value and risk, how
sure we are (quality), frontier, sensitivity, what-if, key assumptions. Every section
opens with one sentence on how to read it.

`render_report(ctx)` returns the page; `write_report(ctx, path)` writes it atomically;
`build_context(result, ...)` makes a context from a `PlanResult` (it re-values the plan
on the in-sample scenarios to get the cash balance paths).
"""
from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from . import charts
from ..instance.types import Bitcoin, Instance, Site, month_str, parse_month
from ..planning.finance import cost_breakdown
from ..formatting import DASH, MINUS, usd
from ..outputs import write_file

if TYPE_CHECKING:  # pragma: no cover
    from ..run import PlanResult



@dataclass
class ReportContext:
    instance: Instance
    document: dict                 # plan.json content: decisions, financing, stats, solver, ...
    samples: np.ndarray            # in-sample plan NPV per scenario (USD)
    cash_balance: np.ndarray | None  # (S, M) month-end cash balance per scenario (USD)
    quality: dict | None = None    # plan.json["quality"]
    frontier: list[dict] | None = None     # rows {floor_usd, expected_npv_usd, cvar_usd, decisions, changed}
    sensitivity: list[dict] | None = None  # rows {input, low, high, npv_low_usd, npv_high_usd, base_npv_usd, ...}
    comparison: dict | None = None  # what-if vs free plan


# ---------------------------------------------------------------- formatting


def pct(v: Any, digits: int = 1) -> str:
    return DASH if v is None else f"{float(v):.{digits}%}"


def num(v: Any) -> str:
    """A plain number, compact: 90,000 / 0.55 / 1.8e+09 / 12."""
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return DASH
        if v == int(v) and abs(v) < 1e12:
            return f"{int(v):,}"
        if abs(v) >= 1e4:
            return f"{v:,.0f}"
        return f"{v:.4g}"
    return str(v)


def mw(v: float) -> str:
    return f"{v:,.1f}".rstrip("0").rstrip(".") + " MW"


def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _rel(instance: Instance, text: str) -> int:
    """'YYYY-MM' -> plan months from the plan's start."""
    return parse_month(text) - instance.plan.start


# ---------------------------------------------------------------- plan facts


def _decisions_by_site(document: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for d in document.get("decisions", []):
        out.setdefault(d["site"], []).append(d)
    for ds in out.values():
        ds.sort(key=lambda d: (d["start"], d["action"]))
    return out


def _capex(instance: Instance, d: dict) -> float:
    """The company's share of a decision's up-front cost, before overruns."""
    site = instance.site(d["site"])
    if d["action"] == "convert" and site.hpc is not None:
        return site.ownership * d["mw"] * site.hpc.capex_usd_per_mw
    if d["action"] == "acquire" and site.acquire is not None:
        return site.ownership * site.acquire.cost_usd
    return 0.0


def _online(instance: Instance, d: dict) -> int | None:
    """Expected first month of rent of a conversion (absolute month)."""
    site = instance.site(d["site"])
    if d["action"] != "convert" or site.hpc is None:
        return None
    return parse_month(d["start"]) + site.hpc.build_months + round(site.hpc.delay_months_mean)


def timeline_lanes(instance: Instance, document: dict) -> list[charts.Lane]:
    """The plan as Gantt lanes: for each site its mining baseline (until converted or
    sold), one lane per conversion (build, then the lease to its end or the horizon),
    its sale (closing period) and its acquisition (energisation)."""
    months = instance.plan.months
    by_site = _decisions_by_site(document)
    lanes: list[charts.Lane] = []
    for site in instance.sites:
        ds = by_site.get(site.id, [])
        converts = [d for d in ds if d["action"] == "convert"]
        sells = [d for d in ds if d["action"] == "sell"]
        site_lanes: list[charts.Lane] = []
        for d in (d for d in ds if d["action"] == "acquire"):
            t = _rel(instance, d["start"])
            ready = t + (site.acquire.energize_months if site.acquire else 0)
            site_lanes.append(charts.Lane(site.id, "acquisition", [
                charts.Segment("acquire", t, min(ready, months), "energise")],
                note=f"energised {month_str(instance.plan.start + ready)}"))
        if site.mining is not None and site.status == "operating":
            site_lanes.append(_mining_lane(instance, site, converts, sells))
        for d in converts:
            site_lanes.append(_convert_lane(instance, site, d))
        for d in sells:
            t = _rel(instance, d["start"])
            close = t + (site.sale.months_to_close if site.sale else 0)
            p = site.sale.close_probability if site.sale else 1.0
            site_lanes.append(charts.Lane(site.id, "sale", [
                charts.Segment("sell", t, min(close, months), "closing")],
                note=f"closes {month_str(instance.plan.start + close)} ({p:.0%} likely)"))
        if not site_lanes:
            what = "candidate, not bought" if site.status == "candidate" else "held, no action"
            site_lanes.append(charts.Lane(site.id, what, [charts.Segment("hold", 0, months)]))
        lanes += site_lanes
    return lanes


def _mining_lane(instance: Instance, site: Site, converts: list[dict], sells: list[dict]) -> charts.Lane:
    """Mining on the grid MW not yet converted, until a sale closes or the horizon ends."""
    months = instance.plan.months
    end = months
    for d in sells:
        end = min(end, _rel(instance, d["start"]) + (site.sale.months_to_close if site.sale else 0))
    pue = site.hpc.pue if site.hpc else 1.0
    steps: dict[int, float] = {}
    for d in converts:
        t = _rel(instance, d["start"])
        steps[t] = steps.get(t, 0.0) + d["mw"] * pue
    segments, mining_mw, t = [], site.capacity_mw, 0
    for change in sorted(steps):
        if change >= end:
            break
        if change > t and mining_mw > 1e-6:
            segments.append(charts.Segment("mine", t, change, mw(mining_mw)))
        mining_mw -= steps[change]
        t = max(t, change)
    if end > t and mining_mw > 1e-6:
        segments.append(charts.Segment("mine", t, end, mw(mining_mw)))
    return charts.Lane(site.id, "mining", segments)


def _convert_lane(instance: Instance, site: Site, d: dict) -> charts.Lane:
    months = instance.plan.months
    lease = instance.lease(d["lease"])
    t = _rel(instance, d["start"])
    built = t + (site.hpc.build_months if site.hpc else 0)
    lease_end = built + 12 * lease.tenor_years
    delay = site.hpc.delay_months_mean if site.hpc else 0.0
    segments = [charts.Segment("build", t, min(built, months), "build")]
    if built < months:
        segments.append(charts.Segment("lease", built, min(lease_end, months),
                                       f"{lease.tenant} · ${lease.rate_kw_month:,.0f}/kW-month"))
        if delay > 0:
            segments.append(charts.Segment("delay", built, min(built + delay, months)))
    end_text = month_str(instance.plan.start + lease_end)
    note = f"runs to {end_text} \u25b8" if lease_end > months else f"ends {end_text}"
    return charts.Lane(site.id, f"{mw(d['mw'])} \u2192 {lease.tenant}", segments, note=note)


# ---------------------------------------------------------------- summary text


def _list_sentence(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _site_story(instance: Instance, site: Site, ds: list[dict]) -> str:
    """One sentence on what the plan does with one site (HTML)."""
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
        if d["action"] == "sell" and site.sale is not None:
            s = site.sale
            expected = (s.low_usd + s.mode_usd + s.high_usd) / 3 * site.ownership
            parts.append(f"sell it from {d['start']} (about {usd(expected)} expected, "
                         f"{s.close_probability:.0%} likely to close within {s.months_to_close} months)")
        elif d["action"] == "acquire":
            ready = parse_month(d["start"]) + (site.acquire.energize_months if site.acquire else 0)
            parts.append(f"buy it in {d['start']} for {usd(_capex(instance, d))} (energised by {month_str(ready)})")
    converts = [d for d in ds if d["action"] == "convert"]
    if converts:
        total = sum(d["mw"] for d in converts)
        steps = [f"{mw(d['mw'])} for {esc(instance.lease(d['lease']).tenant)} from {d['start']}"
                 for d in converts]
        if len(steps) == 1:
            text = f"convert {mw(total)} to AI/HPC for {steps[0].split(' for ', 1)[1]}"
        else:
            text = f"convert {mw(total)} to AI/HPC in {len(steps)} steps ({_list_sentence(steps)})"
        if mines and site.hpc is not None:
            left = site.capacity_mw - total * site.hpc.pue
            if left > 1e-6:
                text += f", and keep mining on the other {mw(left)}"
        parts.append(text)
    return f"At {name}, {_list_sentence(parts)}."


def _draw_groups(document: dict) -> list[str]:
    """'$1.12B of secured-2030 (2026-10)', one per instrument, months as a range."""
    groups: dict[str, list[dict]] = {}
    for f in document.get("financing", []):
        groups.setdefault(f["instrument"], []).append(f)
    out = []
    for inst, fs in groups.items():
        total = sum(f["amount_usd"] for f in fs)
        first, last = min(f["start"] for f in fs), max(f["start"] for f in fs)
        when = first if first == last else f"{first} to {last}"
        out.append(f"{usd(total)} of <b>{esc(inst)}</b> ({when})")
    return out


def cash_facts(ctx: ReportContext) -> dict | None:
    """Headline facts of the cash paths: the lowest median month, how often the minimum
    cash is breached at some month, the worst 5th-percentile month."""
    cash = ctx.cash_balance
    if cash is None or np.size(cash) == 0:
        return None
    cash = np.asarray(cash, dtype=float)
    median = np.median(cash, axis=0)
    p5 = np.percentile(cash, 5, axis=0)
    floor = ctx.instance.finance.min_cash_usd
    m, m5 = int(np.argmin(median)), int(np.argmin(p5))
    start = ctx.instance.plan.start
    return {
        "median_low_usd": float(median[m]), "median_low_month": month_str(start + m),
        "p5_low_usd": float(p5[m5]), "p5_low_month": month_str(start + m5),
        "prob_below_min": float(np.mean((cash < floor).any(axis=1))),
        "prob_below_zero": float(np.mean((cash < 0).any(axis=1))),
        "min_cash_usd": floor,
    }


def summary_paragraph(ctx: ReportContext) -> str:
    """The recommendation in plain language, generated from the plan's numbers (HTML)."""
    inst, doc = ctx.instance, ctx.document
    stats = doc.get("stats", {})
    by_site = _decisions_by_site(doc)
    stories = [_site_story(inst, s, by_site.get(s.id, [])) for s in inst.sites]
    if any(by_site.get(s.id) for s in inst.sites):
        text = "<b>Recommendation.</b> " + " ".join(stories)
    else:
        text = ("<b>Recommendation.</b> Take no action: no conversion, sale or purchase beats the "
                "baseline within the board's risk limits. " + " ".join(stories))
    acting = bool(doc.get("decisions"))   # a hand-written plan may name sites the instance lacks
    draws = _draw_groups(doc)
    cash0 = usd(inst.finance.cash_usd)
    if draws:
        text += f" Fund it with {_list_sentence(draws)}, on top of {cash0} of cash on hand."
    elif acting:
        text += f" No new financing is needed: the {cash0} on hand covers it."
    alpha = stats.get("alpha", inst.risk.alpha)
    text += (f" Across {num(doc.get('scenarios', len(ctx.samples)))} scenarios the plan's expected NPV is "
             f"<b>{usd(stats.get('expected_npv_usd'))}</b>; the worst {1 - alpha:.0%} of scenarios average "
             f"<b>{usd(stats.get('cvar_usd'))}</b> (CVaR {alpha:.0%}), and the chance of a negative NPV "
             f"is <b>{pct(stats.get('prob_loss'))}</b>.")
    facts = cash_facts(ctx)
    if facts:
        text += (f" Cash is lowest around {facts['median_low_month']} at {usd(facts['median_low_usd'])} "
                 f"in the median scenario; it falls below the {usd(facts['min_cash_usd'])} minimum at some "
                 f"point in {pct(facts['prob_below_min'])} of scenarios, and below zero in "
                 f"{pct(facts['prob_below_zero'])}.")
    q = ctx.quality or {}
    oos = _dig(q, "out_of_sample.expected_npv_usd", "out_of_sample.out_of_sample.expected_npv.estimate_usd")
    if isinstance(oos, (int, float)) and math.isfinite(oos):
        text += f" On fresh scenarios the plan's expected NPV is {usd(oos)}."
    upper = _dig(q, "mmw.gap_upper95_usd", "optimality_gap.upper95_usd")
    if isinstance(upper, (int, float)) and math.isfinite(upper):
        text += (f" With 95% confidence no plan does better by more than {usd(max(upper, 0.0))} "
                 f"(optimality gap).")
    status = doc.get("solver", {}).get("status")
    if status and status != "optimal":
        text += (f" <b>Caution:</b> the solver stopped at status {esc(status)} with gap "
                 f"{pct(doc['solver'].get('gap'), 2)}: this is the best plan found, not a proven optimum.")
    return text


# ---------------------------------------------------------------- HTML pieces


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "",
           ident: str = "", numeric: Sequence[int] = (), foot: Sequence[Any] | None = None) -> str:
    """An HTML table; cells are HTML already (escape before); `numeric` columns align right."""
    attrs = (f' id="{ident}"' if ident else "") + (f' class="{cls}"' if cls else "")

    def cells(row, tag):
        num_attr = ' class="num"'
        return "".join(f"<{tag}{num_attr if i in numeric else ''}>{c}</{tag}>"
                       for i, c in enumerate(row))
    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    tfoot = f"<tfoot><tr>{cells(foot, 'td')}</tr></tfoot>" if foot else ""
    return (f'<div class="table-wrap"><table{attrs}><thead><tr>{cells(headers, "th")}</tr></thead>'
            f"<tbody>{body}</tbody>{tfoot}</table></div>")


def _section(ident: str, title: str, how: str, body: str) -> str:
    return (f'<section id="{ident}"><h2>{esc(title)}</h2>'
            f'<p class="how">{how}</p>{body}</section>')


def _figure(ident: str, svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure id="{ident}">{svg}{cap}</figure>'


def _header(ctx: ReportContext) -> str:
    doc, inst = ctx.document, ctx.instance
    solver = doc.get("solver", {})
    facts = [
        ("Scenarios", num(doc.get("scenarios", len(ctx.samples)))),
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
    stats, inst = ctx.document.get("stats", {}), ctx.instance
    alpha = stats.get("alpha", inst.risk.alpha)
    capex = sum(_capex(inst, d) for d in ctx.document.get("decisions", []))
    raised = sum(f["amount_usd"] for f in ctx.document.get("financing", []))
    se = stats.get("expected_npv_se_usd")
    cards = [
        ("kpi-enpv", "Expected NPV", usd(stats.get("expected_npv_usd")),
         f"± {usd(se)} standard error" if se is not None else "mean over scenarios"),
        ("kpi-cvar", f"CVaR {alpha:.0%}", usd(stats.get("cvar_usd")),
         f"mean of the worst {1 - alpha:.0%}" + (f"; floor {usd(inst.risk.cvar_floor_usd)}"
                                                  if inst.risk.cvar_floor_usd is not None else "")),
        ("kpi-ploss", "P(NPV < 0)", pct(stats.get("prob_loss")), "chance the plan loses value"),
        ("kpi-capex", "Capital committed", usd(capex), "builds and purchases, company share, before overruns"),
        ("kpi-raised", "New financing", usd(raised), f"{len(ctx.document.get('financing', []))} draws"),
    ]
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><div class="label">{label}</div><div class="value" id="{ident}">{value}</div>'
        f'<div class="sub">{sub}</div></div>' for ident, label, value, sub in cards) + "</div>"


def _decisions_table(ctx: ReportContext) -> str:
    inst = ctx.instance
    rows = []
    for d in ctx.document.get("decisions", []):
        lease = inst.lease(d["lease"]) if d.get("lease") else None
        online = _online(inst, d)
        rows.append([esc(d["site"]), esc(d["action"]), d["start"],
                     mw(d["mw"]) if "mw" in d else DASH,
                     f'{esc(lease.tenant)} <span class="muted">({esc(lease.id)})</span>' if lease else DASH,
                     month_str(online) if online is not None else DASH,
                     usd(_capex(inst, d)) if _capex(inst, d) else DASH,
                     usd(_backstop_cost(lease, d)) if lease and _backstop_cost(lease, d) else DASH])
    if not rows:
        return '<p class="note">No decisions: every site stays as it is.</p>'
    return _table(["Site", "Action", "Start", "Critical MW", "Lease", "Rent from (expected)",
                   "Up-front cost", "Backstop cost"], rows, cls="decisions", numeric=(3, 6, 7))


def _backstop_cost(lease, d: dict) -> float:
    """Value handed to the lease's guarantor for the MW this decision uses (a value cost
    at signing, already inside the plan's NPV: the guarantee and its price scale by MW)."""
    return lease.backstop_cost_usd * d.get("mw", 0.0) / lease.max_mw if lease.max_mw > 0 else 0.0


def _summary_section(ctx: ReportContext) -> str:
    return (f'<section id="summary"><h2>Recommendation</h2>'
            f'<p class="lede">{summary_paragraph(ctx)}</p>{_kpis(ctx)}{_decisions_table(ctx)}</section>')


def _timeline_section(ctx: ReportContext) -> str:
    inst = ctx.instance
    draws = [charts.DrawMarker(_rel(inst, f["start"]), f["amount_usd"], f["instrument"])
             for f in ctx.document.get("financing", [])]
    svg = charts.timeline_svg(timeline_lanes(inst, ctx.document), inst.plan.start, inst.plan.months, draws)
    return _section(
        "sec-timeline", "Timeline by site",
        "Each row is one site's activity over the horizon: mining continues on the grid MW not "
        "converted, a conversion is a build followed by its lease (hatched: the expected "
        "commissioning delay before rent starts), and the bottom row shows when money is raised "
        "(circle area in proportion to the amount).",
        _figure("timeline", svg))


def _funding_section(ctx: ReportContext) -> str:
    inst, doc = ctx.instance, ctx.document
    rows, total = [], 0.0
    for f in doc.get("financing", []):
        try:
            k = inst.instrument(f["instrument"])
            kind, terms = k.kind.replace("_", " "), _instrument_terms(k)
            b = cost_breakdown(inst, k, parse_month(f["start"]))
            parts = [_per_usd(b.fee), _per_usd(b.option), _per_usd(b.coupon_gain), _per_usd(b.net)]
        except (KeyError, ValueError):   # a hand-written plan or instance may lack them
            kind, terms, parts = DASH, "", [DASH] * 4
        total += f["amount_usd"]
        rows.append([esc(f["instrument"]), esc(kind), usd(f["amount_usd"]), f["start"], terms, *parts])
    if rows:
        table = _table(["Instrument", "Kind", "Amount", "Month", "Terms", "Fee", "Conversion option",
                        "Coupon gain", "Net cost per $"], rows, cls="draws",
                       numeric=(2, 5, 6, 7, 8), foot=["Total", "", usd(total), "", "", "", "", "", ""])
    else:
        table = '<p class="note">No financing draws: the plan is funded from cash on hand.</p>'
    facts = cash_facts(ctx)
    if ctx.cash_balance is not None and facts:
        fan = charts.cash_fan_svg(ctx.cash_balance, inst.plan.start, inst.finance.min_cash_usd,
                                  [_rel(inst, f["start"]) + 1 for f in doc.get("financing", [])])
        caption = (f"Median cash is lowest in {facts['median_low_month']} ({usd(facts['median_low_usd'])}); "
                   f"the 5th percentile reaches {usd(facts['p5_low_usd'])} in {facts['p5_low_month']}. "
                   f"Cash falls below the {usd(facts['min_cash_usd'])} minimum in "
                   f"{pct(facts['prob_below_min'])} of scenarios and below zero in "
                   f"{pct(facts['prob_below_zero'])}. The plan keeps the minimum in expectation; "
                   f"the band shows how far a bad path can stray from it.")
        fan_html = _figure("cash-fan", fan, caption)
    else:
        fan_html = '<p class="note" id="cash-fan">Cash paths were not computed for this report.</p>'
    return _section(
        "funding", "Funding and cash",
        f"The table lists each draw of new money with its value cost per dollar drawn, valued at "
        f"the draw month: the fee, plus the conversion option handed to noteholders, less the "
        f"coupon gain (the present value, at the company's cost of debt, of paying a coupon "
        f"below it; negative when the coupon is above market). The chart shows the company's cash at every "
        f"month end across scenarios, starting from {usd(inst.finance.cash_usd)} on hand (dark line: "
        f"median; bands: the middle 50% and 90% of scenarios; dashed red: the minimum cash the "
        f"board requires).",
        table + fan_html)


def _npv_section(ctx: ReportContext) -> str:
    from ..gpu.risk import var as value_at_risk

    stats = ctx.document.get("stats", {})
    alpha = float(stats.get("alpha", ctx.instance.risk.alpha))
    samples = np.asarray(ctx.samples, dtype=float)
    mean = float(stats.get("expected_npv_usd", samples.mean()))
    cvar = float(stats.get("cvar_usd", np.nan))
    var = value_at_risk(samples, alpha)
    svg = charts.npv_histogram_svg(samples, alpha, mean, var, cvar)
    q = stats.get("npv_quantiles_usd", {})
    qtable = _table([esc(k) for k in q] + ["P(NPV < 0)"],
                    [[usd(v) for v in q.values()] + [pct(stats.get("prob_loss"))]],
                    cls="quantiles", numeric=tuple(range(len(q) + 1))) if q else ""
    return _section(
        "sec-npv", "Value and risk",
        f"Each bar counts scenarios by the plan's NPV (baseline operations plus the actions, less "
        f"the cost of financing); the red bars are the worst {1 - alpha:.0%} of scenarios, whose "
        f"average is the CVaR, and VaR marks where that tail begins.",
        _figure("npv-histogram", svg) + qtable)


# ---------------------------------------------------------------- quality


QUALITY_GROUPS = {
    "in_sample": "In-sample (scenarios the plan was chosen on)",
    "out_of_sample": "Out-of-sample (fresh scenarios)",
    "mmw": "Optimality gap (Mak–Morton–Wood)",
    "optimality_gap": "Optimality gap (Mak–Morton–Wood)",
    "vss": "Value of the stochastic solution",
    "evpi": "Expected value of perfect information",
}
# labels for the path segments of a quality entry; a segment mapped to "" is dropped
# (out_of_sample.expected_npv.estimate_usd reads "out-of-sample · E[NPV]")
QUALITY_KEYS = {
    "in_sample": "in-sample", "out_of_sample": "out-of-sample",
    "expected_npv": "E[NPV]", "expected_npv_usd": "E[NPV]", "expected_ci95": "E[NPV] 95% interval",
    "cvar": "CVaR", "cvar_usd": "CVaR", "cvar_ci95": "CVaR 95% interval",
    "estimate_usd": "", "se_usd": "standard error", "ci95_usd": "95% interval", "ci95": "95% interval",
    "scenarios": "scenarios", "seed": "seed", "alpha": "CVaR level α",
    "optimism_usd": "in-sample optimism (in − out)", "optimism_se_usd": "optimism standard error",
    "cash_balance_usd": "cash", "prob_below_min_any_month": "P(below minimum cash in some month)",
    "min_cash_usd": "minimum cash",
    "gap_mean_usd": "gap estimate", "gap_se_usd": "gap standard error",
    "gap_upper95_usd": "gap, 95% upper bound", "mean_usd": "gap estimate",
    "upper95_usd": "gap, 95% upper bound", "relative_upper95": "gap upper bound / objective",
    "batches": "batches", "batch_scenarios": "scenarios per batch",
    "floor_missed_batches": "batches where the plan misses the floor",
    "floor_unreachable_batches": "batches where no plan meets the floor",
    "value_usd": "value", "vss_usd": "VSS", "vss_se_usd": "VSS standard error",
    "evpi_usd": "EVPI", "evpi_se_usd": "EVPI standard error", "relative": "relative to the objective",
    "here_and_now_usd": "here-and-now value", "wait_and_see_usd": "wait-and-see value",
    "objective_usd": "plan objective", "mean_value_problem_value_usd": "mean-value problem's value",
    "mean_value_objective_usd": "mean-value plan's objective",
    "mean_value_expected_npv_usd": "mean-value plan's E[NPV]", "mean_value_cvar_usd": "mean-value plan's CVaR",
    "mean_value_decisions": "mean-value plan", "same_plan": "same plan as recommended",
}
LONG_LIST = 6   # longer lists (per-month paths, per-batch rows) stay in plan.json


def _decision_text(d: dict) -> str:
    """'convert lake-mariner 200 MW for fluidstack-lm from 2026-10' (plain text)."""
    text = f"{d.get('action', '?')} {d.get('site', '?')}"
    if d.get("mw") is not None:
        text += f" {mw(float(d['mw']))}"
    if d.get("lease"):
        text += f" for {d['lease']}"
    if d.get("start"):
        text += f" from {d['start']}"
    return text


def _change_text(d: dict) -> str:
    """One entry of a decision diff (change = added | removed | resized)."""
    change = d.get("change")
    if change == "resized" and d.get("mw_before") is not None:
        return f"resize {_decision_text(d)} (was {mw(float(d['mw_before']))})"
    return {"added": "+ ", "removed": "\u2212 "}.get(change, "") + _decision_text(d)


def _is_decision(v: Any) -> bool:
    return isinstance(v, dict) and "site" in v and "action" in v


def _items_text(items: Sequence[Any]) -> str:
    """Decisions, decision changes or plain items, as one escaped line."""
    if not items:
        return "none"
    if all(_is_decision(d) for d in items):
        return esc("; ".join(_change_text(d) for d in items))
    return esc("; ".join(map(str, items)))


def _quality_value(key: str, v: Any) -> str:
    if isinstance(v, (list, tuple)):
        if len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) \
                and ("ci95" in key or key.endswith("_usd")):
            return f"{usd(v[0], precise=True)} to {usd(v[1], precise=True)}"
        if all(_is_decision(d) for d in v) and v:
            return _items_text(v)
        if len(v) > LONG_LIST or any(isinstance(x, (dict, list, tuple)) for x in v):
            return f'<span class="muted">{len(v):,} entries (in plan.json)</span>'
        return ", ".join(_quality_value(key, x) for x in v)
    if key.endswith("_usd"):
        return usd(v)
    if key == "seed":
        return esc(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and (
            "prob" in key or key.startswith("relative") or key.endswith(("_share", "_pct", "_fraction"))):
        return pct(v)
    return esc(num(v))


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _measure_label(path: str) -> str:
    parts = []
    for seg in path.split("."):
        label = QUALITY_KEYS.get(seg, seg.removesuffix("_usd").replace("_", " "))
        if label:
            parts.append(label)
    return " · ".join(parts) or path


def quality_rows(quality: dict) -> list[tuple[str, str, str]]:
    """(check, measure, value HTML) rows for whatever the quality dict holds: known checks
    first with friendly labels, then anything else, nested tables flattened."""
    rows: list[tuple[str, str, str]] = []
    ordered = [k for k in QUALITY_GROUPS if k in quality] + [k for k in quality if k not in QUALITY_GROUPS]
    loose = []
    for group in ordered:
        body = quality[group]
        if not isinstance(body, dict):
            loose.append((group, body))
            continue
        label = QUALITY_GROUPS.get(group, group.replace("_", " "))
        for key, v in _flatten(body):
            rows.append((label, _measure_label(key), _quality_value(key.rsplit(".", 1)[-1], v)))
    for key, v in loose:
        rows.append(("", _measure_label(key), _quality_value(key, v)))
    return rows


def _dig(d: Any, *paths: str) -> Any:
    """The first of the dotted `paths` present in nested dict `d` (None if none is)."""
    for path in paths:
        v = d
        for seg in path.split("."):
            v = v.get(seg) if isinstance(v, dict) else None
        if v is not None:
            return v
    return None


def _range(v: Any) -> str:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"{usd(v[0], precise=True)} to {usd(v[1], precise=True)}"
    return DASH


def _plus_minus(value: Any, se: Any) -> str:
    return usd(value) + (f' <span class="muted">± {usd(se)}</span>' if se is not None else "")


def quality_headline(quality: dict, alpha: float) -> list[list[str]]:
    """The main quality numbers, one row per check: [check, estimate, interval or bound,
    sample]. Reads both the contract's flat keys (in_sample.expected_npv_usd, mmw.*) and
    wattfolio.analysis.quality's nested ones (out_of_sample.in_sample.expected_npv.estimate_usd,
    optimality_gap.*). Empty when none of them is present."""
    rows = []
    for side, label in (("in_sample", "in-sample"), ("out_of_sample", "out-of-sample")):
        nested = f"out_of_sample.{side}"
        n, seed = _dig(quality, f"{side}.scenarios", f"{nested}.scenarios"), _dig(quality, f"{side}.seed", f"{nested}.seed")
        sample = (f"{num(n)} scenarios" if n is not None else "") + (f", seed {esc(seed)}" if seed is not None else "")
        e = _dig(quality, f"{side}.expected_npv_usd", f"{nested}.expected_npv.estimate_usd")
        if e is not None:
            rows.append([f"E[NPV], {label}", _plus_minus(e, _dig(quality, f"{side}.expected_npv_se_usd",
                                                                 f"{nested}.expected_npv.se_usd")),
                         _range(_dig(quality, f"{side}.expected_ci95", f"{nested}.expected_npv.ci95_usd")), sample])
        c = _dig(quality, f"{side}.cvar_usd", f"{nested}.cvar.estimate_usd")
        if c is not None:
            rows.append([f"CVaR {alpha:.0%}, {label}", _plus_minus(c, _dig(quality, f"{nested}.cvar.se_usd")),
                         _range(_dig(quality, f"{side}.cvar_ci95", f"{nested}.cvar.ci95_usd")), sample])
    gap = _dig(quality, "mmw.gap_mean_usd", "optimality_gap.mean_usd")
    if gap is not None:
        upper = _dig(quality, "mmw.gap_upper95_usd", "optimality_gap.upper95_usd")
        batches = _dig(quality, "mmw.batches", "optimality_gap.batches")
        per = _dig(quality, "mmw.batch_scenarios", "optimality_gap.batch_scenarios")
        rows.append(["Optimality gap (MMW)", _plus_minus(gap, _dig(quality, "mmw.gap_se_usd", "optimality_gap.se_usd")),
                     f"at most {usd(upper)}" if upper is not None else DASH,
                     f"{num(batches)} batches × {num(per)} scenarios" if batches is not None else ""])
    for key, label, value_paths, se_paths in (
            ("vss", "Value of the stochastic solution", ("vss.value_usd", "vss.vss_usd"), ("vss.se_usd", "vss.vss_se_usd")),
            ("evpi", "Expected value of perfect information", ("evpi.value_usd", "evpi.evpi_usd"),
             ("evpi.se_usd", "evpi.evpi_se_usd"))):
        v = _dig(quality, *value_paths)
        if v is not None:
            n = _dig(quality, f"{key}.scenarios")
            rows.append([label, _plus_minus(v, _dig(quality, *se_paths)), DASH,
                         f"{num(n)} scenarios" if n is not None else ""])
    return rows


def _quality_section(ctx: ReportContext) -> str:
    how = ("These checks say how far to trust the numbers: in- and out-of-sample values close "
           "together mean the plan was not fitted to the noise of its own scenarios, the "
           "optimality gap bounds how much better the best plan could be, VSS is what planning "
           "for uncertainty earns over planning for the average scenario, and EVPI is what "
           "perfect foresight would add (± one standard error; intervals at 95%).")
    if not ctx.quality:
        body = ('<p class="note" id="quality">Quality checks were not run for this report '
                "(run the plan with the quality option to add out-of-sample, gap, VSS and EVPI "
                "estimates).</p>")
        return _section("sec-quality", "How sure are we", how, body)
    rows, html_rows, previous = quality_rows(ctx.quality), [], None
    for group, measure, value in rows:
        first = group != previous
        previous = group
        html_rows.append(f'<tr class="{"group-start" if first else ""}">'
                         f'<th scope="row">{esc(group) if first else ""}</th>'
                         f'<td>{esc(measure)}</td><td class="num">{value}</td></tr>')
    alpha = float(ctx.document.get("stats", {}).get("alpha", ctx.instance.risk.alpha))
    headline = quality_headline(ctx.quality, alpha)
    every = ('<table {ident}class="quality"><thead><tr><th>Check</th><th>Measure</th>'
             f'<th class="num">Value</th></tr></thead><tbody>{"".join(html_rows)}</tbody></table>')
    if headline:
        body = (_table(["Check", "Estimate", "95% interval", "Sample"], headline, ident="quality",
                       cls="quality-headline", numeric=(1, 2))
                + f'<details><summary>Every quality measure ({len(rows)})</summary>'
                + every.format(ident="") + "</details>")
    else:   # a shape this report does not know: show it all, plainly
        body = every.format(ident='id="quality" ')
    return _section("sec-quality", "How sure are we", how, body)


# ---------------------------------------------------------------- frontier, tornado, what-if


def _decisions_cell(v: Any) -> str:
    """A frontier row's decisions, whatever shape they come in."""
    if isinstance(v, (list, tuple)):
        return _items_text(v) if v else "no action"
    return esc(num(v))


def _changed_cell(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return _items_text(v) if v else ""
    return "yes" if v else ""


def _frontier_section(ctx: ReportContext) -> str:
    rows = ctx.frontier or []
    stats = ctx.document.get("stats", {})
    chosen = (stats["cvar_usd"], stats["expected_npv_usd"]) if "cvar_usd" in stats else None
    good = [r for r in rows if r.get("cvar_usd") is not None and r.get("expected_npv_usd") is not None]
    # the first row's "change" is against nothing: colour only the floors where the plan moves
    svg = charts.frontier_svg([r["cvar_usd"] for r in good], [r["expected_npv_usd"] for r in good],
                              [bool(r.get("changed")) and i > 0 for i, r in enumerate(good)],
                              chosen) if good else ""
    table = _table(["CVaR floor", "Expected NPV", "CVaR", "Decisions", "Change from the previous floor"],
                   [[usd(r.get("floor_usd")) if r.get("floor_usd") is not None else "none",
                     usd(r.get("expected_npv_usd")), usd(r.get("cvar_usd")),
                     _decisions_cell(r.get("decisions")), _changed_cell(r.get("changed")) if i else ""]
                    for i, r in enumerate(rows)], cls="frontier-table", numeric=(0, 1, 2))
    return _section(
        "sec-frontier", "Risk-return frontier",
        "Each point is the best plan when the board requires the bad-tail average (CVaR) to stay "
        "above a floor: moving right buys safety, and the vertical drop is the expected value it "
        "costs; orange points are floors at which the decisions change.",
        _figure("frontier", svg) + table)


def _setting(r: dict, v: Any) -> str:
    """An input setting as text: x0.8 for a multiplier, +0.02 for a shift, $ for dollars."""
    if v is None:
        return DASH
    unit = r.get("unit")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if unit == "x":
            return f"\u00d7{v:.3g}"
        if unit == "+":
            return f"{v:+.3g}".replace("-", MINUS)
        if str(r.get("input", "")).endswith("_usd"):
            return usd(v)
    return esc(num(v))


def _flip_cell(r: dict, side: str) -> str:
    if r.get(f"infeasible_{side}"):
        return f"no feasible plan ({esc(r[f'infeasible_{side}'])})"
    flips = r.get(f"flips_{side}")
    changes = r.get(f"changes_{side}")
    if isinstance(flips, (list, tuple)):
        return _items_text(flips)
    if flips:
        return "changes: " + _items_text(changes) if changes else "changes"
    return "same" if flips is not None else ""


def _tornado_section(ctx: ReportContext) -> str:
    rows = ctx.sensitivity or []
    base = next((r.get("base_npv_usd") for r in rows if r.get("base_npv_usd") is not None),
                ctx.document.get("stats", {}).get("expected_npv_usd", 0.0))
    good = [r for r in rows if r.get("npv_low_usd") is not None and r.get("npv_high_usd") is not None]

    def name(r):
        return str(r.get("label") or r.get("input"))
    svg = charts.tornado_svg(
        [name(r) for r in good], [r["npv_low_usd"] for r in good], [r["npv_high_usd"] for r in good],
        float(base), [html.unescape(_setting(r, r.get("low"))) for r in good],
        [html.unescape(_setting(r, r.get("high"))) for r in good]) if good else ""
    table = _table(
        ["Input", "Low", "High", "NPV at low", "NPV at high", "Decisions at low", "Decisions at high",
         "Threshold"],
        [[esc(name(r)), _setting(r, r.get("low")), _setting(r, r.get("high")), usd(r.get("npv_low_usd")),
          usd(r.get("npv_high_usd")), _flip_cell(r, "low"), _flip_cell(r, "high"),
          _setting(r, r.get("threshold")) if not isinstance(r.get("threshold"), (dict, list))
          else esc(r.get("threshold"))] for r in rows],
        cls="tornado-table", numeric=(1, 2, 3, 4, 7))
    return _section(
        "sec-tornado", "Sensitivity",
        "Each bar shows the plan's expected NPV when one input is moved to a low or high value "
        "with the others held, widest swing on top; the table says whether the best decisions "
        "change there and the input value at which they would (the threshold).",
        _figure("tornado", svg) + table)


def _comparison_section(ctx: ReportContext) -> str:
    c = ctx.comparison or {}
    se = c.get("expected_npv_given_up_se_usd")
    cards = (f'<div class="kpis"><div class="kpi"><div class="label">Expected NPV given up</div>'
             f'<div class="value" id="whatif-enpv">{usd(c.get("expected_npv_given_up_usd"))}</div>'
             + (f'<div class="sub">± {usd(se)} standard error (same scenarios)</div>' if se is not None else "")
             + '</div><div class="kpi"><div class="label">CVaR given up</div>'
             f'<div class="value" id="whatif-cvar">{usd(c.get("cvar_given_up_usd"))}</div></div></div>')

    def bullets(title, items):
        if not items:
            return ""
        lines = [_change_text(i) if _is_decision(i) else str(i) for i in items]
        return f"<h3>{title}</h3><ul>" + "".join(f"<li>{esc(x)}</li>" for x in lines) + "</ul>"
    plans = ""
    if isinstance(c.get("free"), dict) and isinstance(c.get("constrained"), dict):
        plans = _table(["", "Free plan", "With the what-if"],
                       [["Expected NPV", usd(c["free"].get("expected_npv_usd")),
                         usd(c["constrained"].get("expected_npv_usd"))],
                        ["CVaR", usd(c["free"].get("cvar_usd")), usd(c["constrained"].get("cvar_usd"))]],
                       numeric=(1, 2))
    shown = {"expected_npv_given_up_usd", "expected_npv_given_up_se_usd", "cvar_given_up_usd", "fixes",
             "differences", "decisions_changed", "free", "constrained"}
    extra = {k: v for k, v in c.items() if k not in shown}
    more = _table(["Measure", "Value"], [[esc(_measure_label(k)), _quality_value(k.rsplit(".", 1)[-1], v)]
                                         for k, v in _flatten(extra)], numeric=(1,)) if extra else ""
    return _section(
        "comparison", "What-if: the fixed plan against the free plan",
        "This plan was solved with some decisions imposed; the numbers are what imposing them "
        "costs against the plan the optimizer would choose freely (positive: value given up).",
        cards + bullets("Imposed", c.get("fixes"))
        + bullets("What changes", c.get("differences") or c.get("decisions_changed")) + plans + more)


# ---------------------------------------------------------------- assumptions


def _kv_table(title: str, pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th scope=\"row\">{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<div class="kv"><h3>{esc(title)}</h3><table class="compact">{rows}</table></div>'


def _per_usd(v: float) -> str:
    """A value per $ drawn: $0.025, −$0.301."""
    return f"{MINUS if v < -5e-4 else ''}${abs(v):.3f}"


def _instrument_terms(k) -> str:
    bits = []
    if k.kind != "equity":
        bits.append(f"{k.rate:.2%} coupon")
        if k.maturity is not None:
            bits.append(f"due {month_str(k.maturity)}")
    if k.kind == "convertible":
        bits.append(f"{k.conversion_premium:.1%} premium")
    if k.kind == "secured_notes":
        bits.append(f"≤ {k.loan_to_cost:.0%} of capex")
    bits.append(f"{k.fee:.1%} fee")
    return ", ".join(bits)


def _site_cells(site: Site) -> list[str]:
    m, h, s, a = site.mining, site.hpc, site.sale, site.acquire
    return [
        esc(site.id), esc(site.market), esc(f"{site.status} / {site.use}"), mw(site.capacity_mw),
        f"{site.ownership:.0%}",
        f"{m.efficiency_j_per_th:g} J/TH, ${m.opex_usd_per_mw_month:,.0f}/MW-month" if m else DASH,
        (f"≤ {mw(h.max_mw)}, ${h.capex_usd_per_mw / 1e6:,.2f}M/MW (±{h.capex_overrun_volatility:.0%}), "
         f"{h.build_months} mo + {h.delay_months_mean:g} delay, PUE {h.pue:g}") if h else DASH,
        (f"{usd(s.low_usd)} / {usd(s.mode_usd)} / {usd(s.high_usd)}, {s.close_probability:.0%} in "
         f"{s.months_to_close} mo") if s else DASH,
        f"{usd(a.cost_usd)}, energised in {a.energize_months} mo" if a else DASH,
    ]


def _network_rule(b: Bitcoin) -> str:
    """How the network's hashrate moves, in words: exogenous growth or economic reversion."""
    if not b.economic:
        return f"+{pct(b.hashrate_growth, 0)}/year"
    return (f"hashprice reverts to ${1000.0 * b.breakeven_hashprice:,.1f}/PH/s/day (marginal fleet "
            f"{b.marginal_efficiency_j_per_th:g} J/TH at ${b.marginal_power_usd_per_mwh:g}/MWh) "
            f"at {b.hashrate_adjustment_speed:g}/year")


def _assumptions_section(ctx: ReportContext) -> str:
    inst = ctx.instance
    p, r, b, h, f = inst.plan, inst.risk, inst.bitcoin, inst.hpc_market, inst.finance
    settings = _kv_table("Plan", [
        ("Start, horizon", f"{month_str(p.start)}, {p.horizon_years} years"),
        ("Decision step", f"every {p.decision_step_months} months"),
        ("Discount rate", pct(p.discount_rate)),
        ("Terminal multiples", f"HPC {p.terminal_multiple.hpc:g}×, mining {p.terminal_multiple.mining:g}× "
                               "last-year NOI"),
        ("Risk", f"CVaR at α = {r.alpha:g}" + (f", floor {usd(r.cvar_floor_usd)}" if r.cvar_floor_usd is not None
                                               else ", no floor") + (f", weight {r.weight:g}" if r.weight else "")),
        ("Scenarios, seed", f"{num(ctx.document.get('scenarios', p.scenarios))}, {esc(ctx.document.get('seed', p.seed))}"),
        ("Hours sampled", f"{p.hours_per_month} of 730 per month"),
    ])
    btc = _kv_table("Bitcoin", [
        ("Price", f"{usd(b.price_usd)}, drift {pct(b.drift)}, volatility {pct(b.volatility, 0)}"),
        ("Network hashrate", f"{b.network_hashrate_ehs:,.0f} EH/s, {_network_rule(b)}, "
                             f"price elasticity {b.hashrate_price_elasticity:g}"),
        ("Block reward", f"{b.subsidy_btc:g} BTC subsidy + {b.fees_btc_per_block:g} BTC fees"),
        ("Halvings", ", ".join(month_str(m) for m in b.halvings) or "none in the horizon"),
    ])
    hpc = _kv_table("HPC rent market", [
        ("Rent", f"${h.rate_kw_month:,.0f}/kW-month"),
        ("Drift, volatility", f"{pct(h.drift)}, {pct(h.volatility, 0)}"),
        ("Mean reversion", f"{h.mean_reversion:g}/year"),
    ])
    cash = _kv_table("Finance", [
        ("Cash on hand", usd(f.cash_usd)), ("Minimum cash", usd(f.min_cash_usd)),
        ("Instruments", str(len(f.instruments))),
        ("Cost of debt, risk-free rate", f"{pct(f.cost_of_debt, 2)}, {pct(f.risk_free_rate, 2)}"),
    ])
    markets = _table(
        ["Market", "Mean $/MWh", "Volatility", "Reversion /yr", "Seasonality", "Hourly vol.",
         "Spikes", "Cap $/MWh"],
        [[esc(m.id), f"{m.mean_price:,.1f}", pct(m.volatility, 0), f"{m.mean_reversion:g}",
          f"±{m.seasonal_amplitude:.0%}, peak month {m.seasonal_peak_month}", pct(m.hourly_volatility, 0),
          f"{m.spike_probability:.2%} of hours at ${m.spike_price:,.0f}", f"{m.price_cap:,.0f}"]
         for m in inst.markets], cls="compact", numeric=(1, 2, 3, 5, 7))
    sites = _table(["Site", "Market", "Status / use", "Grid", "Owned", "Mining", "HPC conversion",
                    "Sale (low / mode / high)", "Acquisition"],
                   [_site_cells(s) for s in inst.sites], cls="compact", numeric=(3, 4))
    leases = _table(
        ["Lease", "Tenant", "Sites", "Max", "Starting rent", "Contract total", "Escalator", "Tenor",
         "NOI margin", "Sign by", "Default /yr", "Backstop", "Backstop cost", "Renewal", "Re-let"],
        [[esc(le.id), esc(le.tenant), esc(", ".join(le.sites)), mw(le.max_mw),
          f"${le.rate_kw_month:,.1f}/kW-mo", usd(le.contract_total_usd), pct(le.escalator), f"{le.tenor_years} y",
          pct(le.noi_margin, 0), month_str(le.sign_by), pct(le.default_rate),
          usd(le.backstop_usd) if le.backstop_usd else DASH,
          usd(le.backstop_cost_usd) if le.backstop_cost_usd else DASH,
          pct(le.renewal_probability, 0), f"{le.relet_months} mo"] for le in inst.leases],
        cls="compact", numeric=(3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)) if inst.leases else ""
    instruments = _table(
        ["Instrument", "Kind", "Up to", "Issue by", "Terms"],
        [[esc(k.id), esc(k.kind.replace("_", " ")), usd(k.max_usd), month_str(k.issue_by), _instrument_terms(k)]
         for k in f.instruments], cls="compact", numeric=(2,)) if f.instruments else ""
    body = (f'<div class="kv-grid">{settings}{btc}{hpc}{cash}</div>'
            f"<h3>Power markets</h3>{markets}<h3>Sites</h3>{sites}"
            + (f"<h3>Lease offers</h3>{leases}" if leases else "")
            + (f"<h3>Financing instruments</h3>{instruments}" if instruments else ""))
    return _section(
        "assumptions", "Key assumptions",
        "The inputs behind every number above, as given in the instance file: change one and "
        "re-run the plan to see what it moves.", body)


# ---------------------------------------------------------------- page


CSS = """
:root{--ink:%(INK)s;--muted:%(MUTED)s;--grid:%(GRID)s;--navy:%(NAVY)s;--blue:%(BLUE)s;
--pale:%(PALE)s;--red:%(RED)s;--amber:%(AMBER)s}
*{box-sizing:border-box}
html{background:#f5f7fa}
body{margin:0;color:var(--ink);font:15px/1.55 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",
"Liberation Sans",Arial,sans-serif;-webkit-font-smoothing:antialiased}
main{max-width:1120px;margin:0 auto;padding:0 28px 48px}
.masthead{background:var(--navy);color:#fff;padding:28px 0 22px}
.masthead>*{max-width:1120px;margin-left:auto;margin-right:auto;padding:0 28px}
.eyebrow{text-transform:uppercase;letter-spacing:.12em;font-size:12px;opacity:.75}
h1{font-size:30px;margin:4px auto 14px;font-weight:650;letter-spacing:-.01em}
.facts{display:flex;flex-wrap:wrap;gap:8px 28px;margin:0 auto}
.facts div{min-width:0}.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.08em;opacity:.7}
.facts dd{margin:0;font-size:14px}
.facts code{font-size:13px;color:#fff}
section{background:#fff;border:1px solid var(--grid);border-radius:8px;padding:22px 26px;margin:22px 0}
h2{font-size:20px;margin:0 0 4px;color:var(--navy);font-weight:650}
h3{font-size:14px;margin:18px 0 6px;color:var(--navy);text-transform:uppercase;letter-spacing:.05em}
p.how{color:var(--muted);margin:0 0 14px;font-size:14px}
p.lede{font-size:16px;margin:6px 0 18px;line-height:1.6}
.note{color:var(--muted);font-style:italic}
.muted{color:var(--muted)}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:0 0 18px}
.kpi{border:1px solid var(--grid);border-left:4px solid var(--blue);border-radius:6px;padding:10px 14px}
.kpi .label{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.kpi .value{font-size:24px;font-weight:650;color:var(--navy);font-variant-numeric:tabular-nums}
.kpi .sub{font-size:12px;color:var(--muted)}
table{border-collapse:collapse;width:100%%;margin:6px 0 12px;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid var(--grid);text-align:left;vertical-align:top}
thead th{font-size:11.5px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);
border-bottom:2px solid var(--grid);font-weight:600}
td.num,th.num{text-align:right}td.num{white-space:nowrap}
.table-wrap{overflow-x:auto}
tfoot td{font-weight:650;border-top:2px solid var(--grid)}
tbody tr:hover{background:#f8fafc}
table.compact{font-size:12.5px}table.compact td,table.compact th{padding:4px 8px}
table.quality{table-layout:fixed}table.quality tbody th{font-weight:600;color:var(--navy)}
table.quality th:nth-child(1){width:28%%}table.quality th:nth-child(2){width:44%%}
details{margin:4px 0 8px}details summary{cursor:pointer;color:var(--blue);font-size:13.5px}
table.quality tr.group-start td,table.quality tr.group-start th{border-top:2px solid var(--grid)}
.kv-grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:0 32px}
@media (max-width:760px){.kv-grid{grid-template-columns:1fr}}
table.compact td:first-child{white-space:nowrap}
td.nowrap{white-space:nowrap}
.kv table th{font-weight:500;color:var(--muted);width:42%%}
figure{margin:8px 0 14px}
figcaption{font-size:13px;color:var(--muted);margin-top:4px}
svg.chart{width:100%%;height:auto;display:block}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:12px}
@media print{
 html,body{background:#fff;font-size:11pt}
 .masthead{background:#fff;color:var(--ink);border-bottom:2px solid var(--navy);padding:0 0 8px}
 .masthead>*{padding:0}.facts code{color:var(--ink)}
 main{max-width:none;padding:0}
 section{border:none;border-radius:0;padding:8px 0;margin:10px 0;break-inside:auto}
 figure,tr,.kpis,.kpi{break-inside:avoid}
 h2,h3,p.how{break-after:avoid}
 .table-wrap{overflow:visible}
 table{font-size:8.5pt}table.compact{font-size:7.5pt}
 th,td{padding:3px 5px}
 p.lede{font-size:11pt}
 tbody tr:hover{background:none}
 @page{size:A4;margin:14mm 12mm}
}
""" % {k: getattr(charts, k) for k in ("INK", "MUTED", "GRID", "NAVY", "BLUE", "PALE", "RED", "AMBER")}


def render_report(ctx: ReportContext) -> str:
    """The whole report as one self-contained HTML page."""
    doc = ctx.document
    sections = [_summary_section(ctx), _timeline_section(ctx), _funding_section(ctx),
                _npv_section(ctx), _quality_section(ctx)]
    if ctx.frontier:
        sections.append(_frontier_section(ctx))
    if ctx.sensitivity:
        sections.append(_tornado_section(ctx))
    if ctx.comparison:
        sections.append(_comparison_section(ctx))
    sections.append(_assumptions_section(ctx))
    versions = ", ".join(f"{esc(k)} {esc(v)}" for k, v in (doc.get("versions") or {}).items())
    title = esc(doc.get("name") or ctx.instance.plan.name)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title} — wattfolio decision report</title><style>{CSS}</style></head><body>"
            f"{_header(ctx)}<main>{''.join(sections)}"
            f"<footer>Generated by wattfolio{' (' + versions + ')' if versions else ''} from instance "
            f"<code>{esc(doc.get('instance_sha256') or ctx.instance.sha256)}</code>.</footer>"
            "</main></body></html>\n")


def write_report(ctx: ReportContext, path: str | os.PathLike) -> None:
    """Render and write the report atomically (temp file + rename)."""
    write_file(path, render_report(ctx))


def build_context(result: "PlanResult", *, backend: str = "auto", chunk: int | None = None,
                  cash: bool = True, quality: dict | None = None,
                  frontier: list[dict] | None = None, sensitivity: list[dict] | None = None,
                  comparison: dict | None = None) -> ReportContext:
    """A report context from a planning run. With `cash`, the plan is valued once more on
    its own in-sample scenarios (same seed and count: only its actions, so much cheaper
    than the planning run) to get every scenario's month-end cash balance."""
    from ..evaluation import evaluate_spec
    from ..planning.plan_file import PlanSpec

    balance = None
    if cash:
        spec = PlanSpec(actions=list(result.actions), quantities=list(result.quantities),
                        financing=list(result.financing))
        ev = evaluate_spec(result.instance, spec, scenarios=result.scenarios, seed=result.seed,
                           backend=backend, chunk=chunk, cash_balance=True)
        balance = ev.cash_balance
    return ReportContext(instance=result.instance, document=result.document, samples=result.samples,
                         cash_balance=balance, quality=quality, frontier=frontier,
                         sensitivity=sensitivity, comparison=comparison)
