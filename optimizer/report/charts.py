"""The report's figures, drawn with matplotlib and returned as inline SVG text.

Every chart is a plain function of arrays and small records (no Instance, no plan.json),
so it can be tested and reused on its own. Figures are built with the object API
(`matplotlib.figure.Figure`), never pyplot: no global figure state, no GUI backend, safe
to call from a CLI or a test run in parallel.

The SVG is made fit for embedding in one self-contained HTML page: glyphs are drawn as
paths (no font files), the XML prologue, DOCTYPE, metadata and namespace URLs are
removed (an inline <svg> in HTML needs none of them, and they would be the only
"http://" strings in the page), and every id is prefixed with the chart's name so that
two charts' clip paths and glyph definitions cannot collide.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter, MultipleLocator

# One palette for the page and its charts (report.py uses the same names in its CSS).
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#e4e7eb"
NAVY = "#1d3557"
BLUE = "#457b9d"
SKY = "#a8c5da"
PALE = "#dbe7f0"
AMBER = "#e09f3e"
SAND = "#f3d9a4"
SLATE = "#8d99ae"
RED = "#b83b3b"
ROSE = "#f1b5b5"
TEAL = "#2a9d8f"
PLUM = "#7b4b94"

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

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": SLATE,
    "axes.labelcolor": INK,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "svg.fonttype": "path",     # glyphs as paths: the page needs no font files
}
WIDTH_IN = 10.0                 # all charts share a width so their text sizes match


# ---------------------------------------------------------------- SVG output


def _svg_text(fig: Figure, name: str, label: str) -> str:
    """Render `fig` to an SVG fragment ready to inline in HTML (see module doc)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name}):   # deterministic ids
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight", pad_inches=0.08)
    svg = buf.getvalue()
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if ids:
        pattern = re.compile(r'(\bid="|#)(' + "|".join(map(re.escape, sorted(ids, key=len, reverse=True)))
                             + r')(?=["\)])')
        svg = pattern.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", svg)
    # scale to the column: width from CSS, height from the viewBox's aspect ratio
    svg = re.sub(r'<svg\b[^>]*?\bwidth="[^"]*"\s+height="[^"]*"',
                 lambda m: re.sub(r'\s(width|height)="[^"]*"', "", m.group(0)), svg, count=1)
    safe_label = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    svg = svg.replace("<svg", f'<svg role="img" aria-label="{safe_label}" class="chart"', 1)
    return svg.strip()


def standalone(svg: str) -> str:
    """A chart fragment as an .svg file of its own (the namespaces inlining drops)."""
    return svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg" '
                               'xmlns:xlink="http://www.w3.org/1999/xlink"', 1) + "\n"


def _figure(height_in: float) -> Figure:
    return Figure(figsize=(WIDTH_IN, height_in), dpi=100)


def money_axis(values: np.ndarray | Sequence[float]) -> tuple[float, str]:
    """(divisor, unit) for an axis of dollar values: billions when they reach $1B."""
    peak = float(np.nanmax(np.abs(np.asarray(values, dtype=float)))) if len(values) else 0.0
    return (1e9, "B") if peak >= 1e9 else (1e6, "M")


def money_label(v: float) -> str:
    """$50M / $1.25B for a legend entry (more precision than an axis tick)."""
    sign = "\u2212" if v < 0 else ""
    a = abs(v)
    return f"{sign}${a / 1e9:,.2f}B" if a >= 1e9 else f"{sign}${a / 1e6:,.1f}M".replace(".0M", "M")


class _MoneyFormatter(Formatter):
    """Axis ticks in $M or $B with as many decimals as the tick spacing needs
    ($40M, $42.5M, ...), and "$0" at zero."""

    def __init__(self, divisor: float, unit: str):
        self.divisor, self.unit = divisor, unit
        self.decimals = 1 if unit == "B" else 0

    def set_locs(self, locs):
        super().set_locs(locs)
        steps = np.diff(np.sort(np.asarray(locs, dtype=float))) / self.divisor
        steps = steps[steps > 0]
        if steps.size:
            self.decimals = int(min(3, max(0, -math.floor(math.log10(steps.min()) + 1e-9))))

    def __call__(self, v, pos=None):
        if abs(v) < 1e-9 * self.divisor:
            return "$0"
        sign = "\u2212" if v < 0 else ""
        return f"{sign}${abs(v) / self.divisor:,.{self.decimals}f}{self.unit}"


def _money_formatter(divisor: float, unit: str) -> _MoneyFormatter:
    return _MoneyFormatter(divisor, unit)


def _year_axis(ax, start_month: int, months: int) -> None:
    """x in plan months from 0; a labelled tick every January, minor ticks per quarter."""
    first_jan = (12 - start_month % 12) % 12
    step = 1 if months <= 60 else 2          # every other year on long horizons
    ticks = list(range(first_jan, months + 1, 12))
    ax.set_xticks(ticks[::step])
    ax.set_xticklabels([str((start_month + t) // 12) for t in ticks[::step]])
    ax.xaxis.set_minor_locator(MultipleLocator(3))
    ax.set_xlim(0, months)


# ---------------------------------------------------------------- timeline (Gantt)


LABEL_CHARS = 40   # longer lane labels would squeeze the plot (the figure width is fixed)


def _shorten(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def _text_months(text: str, months: int) -> float:
    """How many months of bar a label of 8-pt text needs: the axis spans about 72% of
    the figure's width, and a DejaVu Sans character is about 0.6 em wide."""
    inches_per_month = 0.72 * WIDTH_IN / months
    return (len(text) * 0.6 * 8 / 72 + 0.15) / inches_per_month


@dataclass
class Segment:
    kind: str           # a key of SEGMENT_STYLE
    start: float        # plan months from the plan start
    end: float
    text: str = ""


@dataclass
class Lane:
    group: str          # the site (lanes of one site are drawn together)
    label: str
    segments: list[Segment] = field(default_factory=list)
    note: str = ""      # written after the last segment (e.g. "lease runs to 2037-10")


@dataclass
class DrawMarker:
    month: float        # plan months from the plan start
    amount_usd: float
    instrument: str


def timeline_svg(lanes: Sequence[Lane], start_month: int, months: int,
                 draws: Sequence[DrawMarker] = (), name: str = "timeline") -> str:
    """Gantt chart of the plan: one or more lanes per site, and a funding lane of draws."""
    rows = len(lanes) + (1 if draws else 0)
    with matplotlib.rc_context(STYLE):
        fig = _figure(0.9 + 0.34 * max(rows, 1))
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
                    ax.text((seg.start + seg.end) / 2, y, seg.text, ha="center", va="center",
                            fontsize=8, color="white" if seg.kind in ("lease", "build", "acquire") else INK)
            if lane.note:
                # inside the bar's right end when the bar is long (the text would otherwise
                # run past the axis and shrink the whole chart), after it otherwise
                end = max((s.end for s in lane.segments), default=0)
                start = min((s.start for s in lane.segments), default=0)
                inside = end >= 0.85 * months and end - start >= 2 * _text_months(lane.note, months)
                ax.text(end - 0.6 if inside else end + 0.6, y, lane.note, va="center", fontsize=7.5,
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
            colours = [NAVY, PLUM, TEAL, AMBER, RED, SLATE]
            for d in draws:
                c = colours[instruments.index(d.instrument) % len(colours)]
                ax.scatter([d.month], [y], s=30 + 220 * d.amount_usd / biggest, color=c,
                           alpha=0.85, edgecolors="white", linewidths=0.8, zorder=3, clip_on=False)
            for k, inst in enumerate(instruments):
                ax.scatter([], [], s=40, color=colours[k % len(colours)], label=f"draw: {inst}")
            yticks.append(y)
            ylabels.append("funding draws")
            y += 1
        for edge in group_edges:
            ax.axhline(edge, color=GRID, linewidth=0.8)
        ax.set_yticks(yticks)
        ax.set_yticklabels(ylabels, fontsize=8.5, color=INK)
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(y - 0.5, -0.5)
        _year_axis(ax, start_month, months)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.spines["left"].set_visible(False)
        used = list(dict.fromkeys(s.kind for lane in lanes for s in lane.segments))
        handles = [Patch(facecolor=SEGMENT_STYLE[k][0], edgecolor=SEGMENT_STYLE[k][1],
                         hatch=SEGMENT_STYLE[k][2], label=SEGMENT_STYLE[k][3]) for k in used]
        handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.9 / (rows + 3)),
                  ncol=len(handles) if len(handles) <= 7 else math.ceil(len(handles) / 2))
        return _svg_text(fig, name, "Timeline of the recommended actions by site")


# ---------------------------------------------------------------- cash fan


def cash_fan_svg(balance: np.ndarray, start_month: int, min_cash_usd: float,
                 draw_months: Sequence[float] = (), name: str = "cash-fan") -> str:
    """Month-end cash across scenarios: P5-P95 and P25-P75 bands, median, the floor."""
    balance = np.asarray(balance, dtype=float)
    months = balance.shape[1]
    p5, p25, p50, p75, p95 = np.percentile(balance, [5, 25, 50, 75, 95], axis=0)
    x = np.arange(1, months + 1)            # balance m is the cash at the end of month m
    divisor, unit = money_axis(np.concatenate([p5, p95, [min_cash_usd]]))
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.6)
        ax = fig.add_subplot()
        ax.fill_between(x, p5, p95, color=PALE, linewidth=0, label="5th–95th percentile")
        ax.fill_between(x, p25, p75, color=SKY, linewidth=0, label="25th–75th percentile")
        ax.plot(x, p50, color=NAVY, linewidth=1.8, label="median")
        ax.axhline(min_cash_usd, color=RED, linestyle="--", linewidth=1.2,
                   label=f"minimum cash {money_label(min_cash_usd)}")
        if np.nanmin(p5) < 0 < np.nanmax(p95):
            ax.axhline(0, color=SLATE, linewidth=0.8)
        for m in draw_months:
            ax.axvline(m, color=SLATE, linewidth=0.6, linestyle=":")
        if len(draw_months):
            ax.plot([], [], color=SLATE, linewidth=0.6, linestyle=":", label="financing draw")
        ax.yaxis.set_major_formatter(_money_formatter(divisor, unit))
        _year_axis(ax, start_month, months)
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_ylabel("cash at month end")
        ax.legend(loc="upper left", ncol=3)
        return _svg_text(fig, name, "Monthly cash balance across scenarios")


# ---------------------------------------------------------------- NPV histogram


def npv_histogram_svg(samples: np.ndarray, alpha: float, mean: float, var: float, cvar: float,
                      name: str = "npv-histogram") -> str:
    """Histogram of plan NPV; the worst (1 - alpha) share shaded, mean / VaR / CVaR marked.

    The tail is the same set of scenarios CVaR averages (the ceil((1-alpha) S) worst), so
    the shaded mass is the tail the risk number speaks about. A long right tail is clipped
    at the 99.5th percentile so that the left tail, the part the board cares about, keeps
    its resolution; the caption states how many scenarios lie beyond."""
    v = np.sort(np.asarray(samples, dtype=float))
    n_tail = max(1, int(np.ceil(round((1 - alpha) * v.size, 9))))
    hi = float(np.percentile(v, 99.5))
    lo = float(v[0])
    clipped = int((v > hi).sum()) if v.size >= 400 else 0
    if not clipped:
        hi = float(v[-1])
    if hi <= lo:                              # a degenerate (constant) distribution
        hi = lo + max(abs(lo) * 1e-3, 1.0)
    bins = np.linspace(lo, hi, 61)
    divisor, unit = money_axis([lo, hi, mean, cvar])
    fmt = _money_formatter(divisor, unit)
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.4)
        ax = fig.add_subplot()
        # values beyond the clipped axis fall outside the bins and are left out (the
        # x label says how many), rather than piled into the last bar
        ax.hist([v[:n_tail], v[n_tail:]], bins=bins, stacked=True, color=[ROSE, SKY],
                edgecolor="white", linewidth=0.4,
                label=[f"worst {1 - alpha:.0%} of scenarios", "other scenarios"])
        ax.axvline(mean, color=NAVY, linewidth=1.6, label=f"mean {money_label(mean)}")
        ax.axvline(var, color=RED, linewidth=1.2, linestyle="--",
                   label=f"VaR {alpha:.0%} {money_label(var)}")
        ax.axvline(cvar, color=RED, linewidth=1.6, linestyle=":",
                   label=f"CVaR {alpha:.0%} {money_label(cvar)}")
        if lo < 0 < hi:
            ax.axvline(0, color=INK, linewidth=0.8)
        ax.xaxis.set_major_formatter(fmt)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("plan NPV" + (f"  (axis clipped at the 99.5th percentile: "
                                     f"{clipped:,} scenarios lie further right)" if clipped else ""))
        # above the plot, in one row: inside it would cover the tail or the marker lines
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5)
        return _svg_text(fig, name, "Distribution of plan NPV across scenarios")


# ---------------------------------------------------------------- frontier


def frontier_svg(cvar: Sequence[float], expected: Sequence[float], changed: Sequence[bool],
                 chosen: tuple[float, float] | None = None, name: str = "frontier") -> str:
    """E[NPV] against CVaR for plans solved at a range of CVaR floors."""
    cvar, expected = np.asarray(cvar, dtype=float), np.asarray(expected, dtype=float)
    changed = np.asarray(changed, dtype=bool)
    order = np.argsort(cvar)
    divisor, unit = money_axis(np.concatenate([cvar, expected]))
    fmt = _money_formatter(divisor, unit)
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.4)
        ax = fig.add_subplot()
        ax.plot(cvar[order], expected[order], color=BLUE, linewidth=1.4, zorder=1)
        ax.scatter(cvar[~changed], expected[~changed], s=26, color=BLUE, zorder=2,
                   label="same decisions as the previous floor")
        ax.scatter(cvar[changed], expected[changed], s=46, color=AMBER, edgecolors=NAVY,
                   linewidths=0.8, zorder=3, label="decisions change")
        if chosen is not None:
            ax.scatter([chosen[0]], [chosen[1]], s=120, marker="*", color=RED, zorder=4,
                       label="recommended plan")
        ax.xaxis.set_major_formatter(fmt)
        ax.yaxis.set_major_formatter(_money_formatter(divisor, unit))   # one per axis: it keeps state
        ax.set_xlabel("CVaR (mean NPV of the bad tail) \u2192 safer")
        ax.set_ylabel("expected NPV")
        ax.grid(color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="best")
        return _svg_text(fig, name, "Risk-return frontier")


# ---------------------------------------------------------------- tornado


def tornado_svg(labels: Sequence[str], low: Sequence[float], high: Sequence[float], base: float,
                low_text: Sequence[str] = (), high_text: Sequence[str] = (),
                name: str = "tornado") -> str:
    """Horizontal bars of the plan's NPV when one input moves to its low / high value,
    widest swing on top, around the base NPV."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    order = np.argsort(-np.abs(high - low), kind="stable")
    divisor, unit = money_axis(np.concatenate([low, high, [base]]))
    fmt = _money_formatter(divisor, unit)
    n = len(labels)
    with matplotlib.rc_context(STYLE):
        fig = _figure(0.9 + 0.36 * max(n, 1))
        ax = fig.add_subplot()
        for row, i in enumerate(order):
            for value, colour, texts in ((low[i], SKY, low_text), (high[i], NAVY, high_text)):
                ax.barh(row, value - base, left=base, color=colour, height=0.6)
                if len(texts):
                    ax.text(value, row, f" {texts[i]} ", va="center", fontsize=7.5, color=MUTED,
                            ha="left" if value >= base else "right")
        ax.axvline(base, color=INK, linewidth=1.0)
        ax.set_yticks(range(n))
        ax.set_yticklabels([labels[i] for i in order], color=INK)
        ax.set_ylim(n - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_major_formatter(fmt)
        span = float(np.max(np.abs(np.concatenate([low, high]) - base))) if n else 1.0
        ax.set_xlim(base - 1.35 * span, base + 1.35 * span)
        ax.set_xlabel(f"plan NPV (base {money_label(base)})")
        ax.legend(handles=[Patch(color=SKY, label="input at its low value"),
                           Patch(color=NAVY, label="input at its high value")],
                  loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        return _svg_text(fig, name, "Sensitivity of plan NPV to each input")
