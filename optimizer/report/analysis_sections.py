"""The HTML of the optional sections, one per analysis that ran: the risk-return
frontier, the sensitivity tornado and the what-if comparison.

Each shows the rows its analysis produced (in plan.json's shapes) as they are; a section
is only rendered when its analysis ran.
"""
from __future__ import annotations

import html
from typing import Any

from . import charts
from .context import ReportContext
from .markup import DASH, MINUS, esc, figure, num, section, table, usd
from .quality_table import flatten, measure_label, quality_value
from .text import change_text, is_decision, items_text


def _decisions_cell(v: Any) -> str:
    """A frontier row's decisions, whatever shape they come in."""
    if isinstance(v, (list, tuple)):
        return items_text(v) if v else "no action"
    return esc(num(v))


def _changed_cell(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return items_text(v) if v else ""
    return "yes" if v else ""


def frontier_section(ctx: ReportContext) -> str:
    """The best plan at each CVaR floor: chart and table."""
    rows = ctx.frontier or []
    stats = ctx.stats
    chosen = (stats["cvar_usd"], stats["expected_npv_usd"]) if "cvar_usd" in stats else None
    good = [r for r in rows if r.get("cvar_usd") is not None and r.get("expected_npv_usd") is not None]
    # the first row's "change" is against nothing: colour only the floors where the plan moves
    svg = charts.frontier_svg([r["cvar_usd"] for r in good], [r["expected_npv_usd"] for r in good],
                              [bool(r.get("changed")) and i > 0 for i, r in enumerate(good)],
                              chosen) if good else ""
    body = table(["CVaR floor", "Expected NPV", "CVaR", "Decisions", "Change from the previous floor"],
                 [[usd(r.get("floor_usd")) if r.get("floor_usd") is not None else "none",
                   usd(r.get("expected_npv_usd")), usd(r.get("cvar_usd")),
                   _decisions_cell(r.get("decisions")), _changed_cell(r.get("changed")) if i else ""]
                  for i, r in enumerate(rows)], cls="frontier-table", numeric=(0, 1, 2))
    return section(
        "sec-frontier", "Risk-return frontier",
        "Each point is the best plan when the board requires the bad-tail average (CVaR) to stay "
        "above a floor: moving right buys safety, and the vertical drop is the expected value it "
        "costs; orange points are floors at which the decisions change.",
        figure("frontier", svg) + body)


def _setting(r: dict, v: Any) -> str:
    """An input setting as HTML: ×0.8 for a multiplier, +0.02 for a shift, $ for dollars."""
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
        return items_text(flips)
    if flips:
        return "changes: " + items_text(changes) if changes else "changes"
    return "same" if flips is not None else ""


def tornado_section(ctx: ReportContext) -> str:
    """Expected NPV with one input at its low or high value: chart and table."""
    rows = ctx.sensitivity or []
    base = next((r.get("base_npv_usd") for r in rows if r.get("base_npv_usd") is not None),
                ctx.stats.get("expected_npv_usd", 0.0))
    good = [r for r in rows if r.get("npv_low_usd") is not None and r.get("npv_high_usd") is not None]

    def name(r: dict) -> str:
        return str(r.get("label") or r.get("input"))
    # the chart takes plain text: the settings' HTML entities are undone
    svg = charts.tornado_svg(
        [name(r) for r in good], [r["npv_low_usd"] for r in good], [r["npv_high_usd"] for r in good],
        float(base), [html.unescape(_setting(r, r.get("low"))) for r in good],
        [html.unescape(_setting(r, r.get("high"))) for r in good]) if good else ""
    body = table(
        ["Input", "Low", "High", "NPV at low", "NPV at high", "Decisions at low", "Decisions at high",
         "Threshold"],
        [[esc(name(r)), _setting(r, r.get("low")), _setting(r, r.get("high")), usd(r.get("npv_low_usd")),
          usd(r.get("npv_high_usd")), _flip_cell(r, "low"), _flip_cell(r, "high"),
          _setting(r, r.get("threshold")) if not isinstance(r.get("threshold"), (dict, list))
          else esc(r.get("threshold"))] for r in rows],
        cls="tornado-table", numeric=(1, 2, 3, 4, 7))
    return section(
        "sec-tornado", "Sensitivity",
        "Each bar shows the plan's expected NPV when one input is moved to a low or high value "
        "with the others held, widest swing on top; the table says whether the best decisions "
        "change there and the input value at which they would (the threshold).",
        figure("tornado", svg) + body)


def comparison_section(ctx: ReportContext) -> str:
    """A what-if: what imposing some decisions costs against the free plan."""
    c = ctx.comparison or {}
    se = c.get("expected_npv_given_up_se_usd")
    cards = (f'<div class="kpis"><div class="kpi"><div class="label">Expected NPV given up</div>'
             f'<div class="value" id="whatif-enpv">{usd(c.get("expected_npv_given_up_usd"))}</div>'
             + (f'<div class="sub">± {usd(se)} standard error (same scenarios)</div>' if se is not None else "")
             + '</div><div class="kpi"><div class="label">CVaR given up</div>'
             f'<div class="value" id="whatif-cvar">{usd(c.get("cvar_given_up_usd"))}</div></div></div>')

    def bullets(title: str, items: Any) -> str:
        if not items:
            return ""
        lines = [change_text(i) if is_decision(i) else str(i) for i in items]
        return f"<h3>{title}</h3><ul>" + "".join(f"<li>{esc(x)}</li>" for x in lines) + "</ul>"
    plans = ""
    if isinstance(c.get("free"), dict) and isinstance(c.get("constrained"), dict):
        plans = table(["", "Free plan", "With the what-if"],
                      [["Expected NPV", usd(c["free"].get("expected_npv_usd")),
                        usd(c["constrained"].get("expected_npv_usd"))],
                       ["CVaR", usd(c["free"].get("cvar_usd")), usd(c["constrained"].get("cvar_usd"))]],
                      numeric=(1, 2))
    shown = {"expected_npv_given_up_usd", "expected_npv_given_up_se_usd", "cvar_given_up_usd", "fixes",
             "differences", "decisions_changed", "free", "constrained"}
    extra = {k: v for k, v in c.items() if k not in shown}
    more = table(["Measure", "Value"], [[esc(measure_label(k)), quality_value(k.rsplit(".", 1)[-1], v)]
                                        for k, v in flatten(extra)], numeric=(1,)) if extra else ""
    return section(
        "comparison", "What-if: the fixed plan against the free plan",
        "This plan was solved with some decisions imposed; the numbers are what imposing them "
        "costs against the plan the optimizer would choose freely (positive: value given up).",
        cards + bullets("Imposed", c.get("fixes"))
        + bullets("What changes", c.get("differences") or c.get("decisions_changed")) + plans + more)
