"""The timeline chart: a Gantt of lanes and segments, with a lane of financing draws.

A plain function of small records (`Lane`, `Segment`, `DrawMarker`): what the lanes are
for a given plan is decided in `report.timeline`, not here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import matplotlib
from matplotlib.patches import Patch

from .styles import AMBER, BLUE, GRID, INK, MUTED, NAVY, PLUM, RED, ROSE, SLATE, TEAL
from .svg import STYLE, WIDTH_IN, new_figure, plain, svg_text, year_axis

# Gantt segment kinds -> (face colour, edge colour, hatch, legend label)
SEGMENT_STYLE: dict[str, tuple[str, str, str, str]] = {
    "mine": (AMBER, AMBER, "", "mining (baseline)"),
    "build": (SLATE, SLATE, "", "build"),
    "delay": ("none", NAVY, "////", "expected delay"),
    "lease": (BLUE, BLUE, "", "lease (rent)"),
    "sell": (ROSE, RED, "", "sale closing"),
    "acquire": (TEAL, TEAL, "", "acquire + energise"),
    "hold": (GRID, GRID, "", "held, no action"),
}
DRAW_COLOURS = [NAVY, PLUM, TEAL, AMBER, RED, SLATE]
LABEL_CHARS = 40   # longer lane labels would squeeze the plot (the figure width is fixed)


@dataclass
class Segment:
    """One bar of a lane, in plan months from the plan start."""

    kind: str           # a key of SEGMENT_STYLE
    start: float
    end: float
    text: str = ""      # written inside the bar when it fits


@dataclass
class Lane:
    """One row of the chart; a site's lanes are drawn together under its name."""

    group: str          # the site
    label: str
    segments: list[Segment] = field(default_factory=list)
    note: str = ""      # written after the last segment (e.g. "runs to 2037-10")


@dataclass
class DrawMarker:
    """A financing draw on the funding lane."""

    month: float        # plan months from the plan start
    amount_usd: float
    instrument: str


def _shorten(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def _text_months(text: str, months: int) -> float:
    """How many months of bar a label of 8-pt text needs: the axis spans about 72% of
    the figure's width, and a DejaVu Sans character is about 0.6 em wide."""
    inches_per_month = 0.72 * WIDTH_IN / months
    return (len(text) * 0.6 * 8 / 72 + 0.15) / inches_per_month


def timeline_svg(lanes: Sequence[Lane], start_month: int, months: int,
                 draws: Sequence[DrawMarker] = (), name: str = "timeline") -> str:
    """Gantt chart of the plan: one or more lanes per site, and a funding lane of draws.

    Parameters
    ----------
    lanes : sequence of Lane
        In drawing order, top to bottom; consecutive lanes of one group share a rule.
    start_month : int
        Absolute month of the plan's start (x = 0).
    months : int
        The horizon in months.
    draws : sequence of DrawMarker
        Financing draws; a circle each, area in proportion to the amount.
    name : str
        Prefix of the SVG's ids.

    Returns
    -------
    str
        An inline SVG fragment.
    """
    rows = len(lanes) + (1 if draws else 0)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(0.9 + 0.34 * max(rows, 1))
        ax = fig.add_subplot()
        y = 0
        yticks, ylabels, group_edges = [], [], []
        ylabels_group: list[str] = []
        previous = None
        for lane in lanes:
            if previous is not None and lane.group != previous:
                group_edges.append(y - 0.5)
            previous = lane.group
            for seg in lane.segments:
                face, edge, hatch, _ = SEGMENT_STYLE[seg.kind]
                height = 0.36 if seg.kind == "hold" else 0.62
                ax.broken_barh([(seg.start, seg.end - seg.start)], (y - height / 2, height),
                               facecolors=face, edgecolors=edge, hatch=hatch, linewidth=0.6)
                if seg.text and seg.end - seg.start >= _text_months(seg.text, months):
                    ax.text((seg.start + seg.end) / 2, y, plain(seg.text), ha="center", va="center",
                            fontsize=8, color="white" if seg.kind in ("lease", "build", "acquire") else INK)
            if lane.note:
                # inside the bar's right end when the bar is long (the text would otherwise
                # run past the axis and shrink the whole chart), after it otherwise
                end = max((s.end for s in lane.segments), default=0)
                start = min((s.start for s in lane.segments), default=0)
                inside = end >= 0.85 * months and end - start >= 2 * _text_months(lane.note, months)
                ax.text(end - 0.6 if inside else end + 0.6, y, plain(lane.note), va="center", fontsize=7.5,
                        ha="right" if inside else "left", color="white" if inside else MUTED,
                        style="italic")
            yticks.append(y)
            # the site's name on its first lane only: the rule between sites groups the rest
            first = lane.group != (ylabels_group[-1] if ylabels_group else None)
            ylabels_group.append(lane.group)
            ylabels.append(_shorten(f"{lane.group}  ·  {lane.label}" if first else lane.label))
            y += 1
        if draws:
            group_edges.append(y - 0.5)
            biggest = max(d.amount_usd for d in draws)
            instruments = list(dict.fromkeys(d.instrument for d in draws))
            for d in draws:
                c = DRAW_COLOURS[instruments.index(d.instrument) % len(DRAW_COLOURS)]
                ax.scatter([d.month], [y], s=30 + 220 * d.amount_usd / biggest, color=c,
                           alpha=0.85, edgecolors="white", linewidths=0.8, zorder=3, clip_on=False)
            for k, inst in enumerate(instruments):
                ax.scatter([], [], s=40, color=DRAW_COLOURS[k % len(DRAW_COLOURS)], label=plain(f"draw: {inst}"))
            yticks.append(y)
            ylabels.append("funding draws")
            y += 1
        for edge in group_edges:
            ax.axhline(edge, color=GRID, linewidth=0.8)
        ax.set_yticks(yticks)
        # escaped after shortening: a cut must not split "\$" from its backslash
        ax.set_yticklabels([plain(s) for s in ylabels], fontsize=8.5, color=INK)
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(y - 0.5, -0.5)
        year_axis(ax, start_month, months)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.spines["left"].set_visible(False)
        used = list(dict.fromkeys(s.kind for lane in lanes for s in lane.segments))
        handles = [Patch(facecolor=SEGMENT_STYLE[k][0], edgecolor=SEGMENT_STYLE[k][1],
                         hatch=SEGMENT_STYLE[k][2], label=SEGMENT_STYLE[k][3]) for k in used]
        handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.9 / (rows + 3)),
                  ncol=len(handles) if len(handles) <= 7 else math.ceil(len(handles) / 2))
        return svg_text(fig, name, "Timeline of the recommended actions by site")
