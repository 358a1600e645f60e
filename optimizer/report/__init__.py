"""report.html: the decision report a strategy team can take to its board.

A pure renderer: `build_context` gathers what a planning run produced (the plan.json
document, the in-sample NPV samples, the cash fan the run computed, the analyses that
ran) into a `ReportContext`, and `render_report` turns that into one self-contained HTML
page. Nothing in this package values or samples anything.

Modules, from data to page: ``context`` (the context) -> ``text`` (generated sentences),
``quality_table`` (quality rows), ``timeline`` (Gantt lanes) -> ``sections``,
``analysis_sections``, ``assumptions`` (each section's HTML, from ``markup`` pieces) ->
``page`` (the page). Charts: ``gantt`` (timeline) and ``charts`` (the others) on
``svg`` (matplotlib plumbing); ``styles`` holds the palette and the CSS.
"""
from .context import ReportContext, build_context
from .page import render_report, write_report

__all__ = ["ReportContext", "build_context", "render_report", "write_report"]
