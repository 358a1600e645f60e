"""Matplotlib plumbing shared by the report's charts: style, axes, SVG output.

Figures are built with the object API (`matplotlib.figure.Figure`), never pyplot: no
global figure state, no GUI backend, safe to call from a CLI or a test run in parallel.

The SVG is made fit for embedding in one self-contained HTML page: glyphs are drawn as
paths (no font files), the XML prologue, DOCTYPE, metadata and namespace URLs are
removed (an inline <svg> in HTML needs none of them, and they would be the only
"http://" strings in the page), and every id is prefixed with the chart's name so that
two charts' clip paths and glyph definitions cannot collide.

Every string that reaches matplotlib goes through `plain`: site ids, tenant names and
instrument ids are the user's, and a pair of ``$`` in one of them would otherwise be
typeset as mathtext (or fail to parse).
"""
from __future__ import annotations

import io
import math
import re
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MultipleLocator

from .styles import INK, MUTED, SLATE

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
    "text.usetex": False,       # a caller's rcParams must not route labels through LaTeX
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "svg.fonttype": "path",     # glyphs as paths: the page needs no font files
}
WIDTH_IN = 10.0                 # all charts share a width so their text sizes match


def plain(text: object) -> str:
    """`text` as matplotlib must show it: literally, never as mathtext.

    Parameters
    ----------
    text : object
        A label; converted with ``str``.

    Returns
    -------
    str
        The text with every ``$`` escaped (matplotlib draws an escaped ``\\$`` as a
        dollar sign and starts mathtext only at an unescaped pair).
    """
    return str(text).replace("$", r"\$")


def svg_text(fig: Figure, name: str, label: str) -> str:
    """Render `fig` to an SVG fragment ready to inline in HTML (see the module doc).

    Parameters
    ----------
    fig : Figure
        The chart.
    name : str
        The chart's name: prefixes its ids and salts its hashes (deterministic output).
    label : str
        Accessible description (``aria-label``).

    Returns
    -------
    str
        One ``<svg ...>`` element, no prologue, no namespaces.
    """
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
    """A chart fragment as an .svg file of its own (adds the namespaces inlining drops).

    Parameters
    ----------
    svg : str
        A fragment from `svg_text`.

    Returns
    -------
    str
        A complete SVG document.
    """
    return svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg" '
                               'xmlns:xlink="http://www.w3.org/1999/xlink"', 1) + "\n"


def new_figure(height_in: float) -> Figure:
    """A figure of the shared width and the given height (inches)."""
    return Figure(figsize=(WIDTH_IN, height_in), dpi=100)


def money_axis(values: np.ndarray | Sequence[float]) -> tuple[float, str]:
    """(divisor, unit) for an axis of dollar values: billions when they reach $1B.

    Parameters
    ----------
    values : array_like
        The values the axis must show (NaN ignored).

    Returns
    -------
    tuple
        ``(1e9, "B")`` or ``(1e6, "M")``.
    """
    peak = float(np.nanmax(np.abs(np.asarray(values, dtype=float)))) if len(values) else 0.0
    return (1e9, "B") if peak >= 1e9 else (1e6, "M")


def money_label(v: float) -> str:
    """$50M / $1.25B for a legend entry (more precision than an axis tick)."""
    sign = "\u2212" if v < 0 else ""
    a = abs(v)
    return f"{sign}${a / 1e9:,.2f}B" if a >= 1e9 else f"{sign}${a / 1e6:,.1f}M".replace(".0M", "M")


class MoneyFormatter(Formatter):
    """Axis ticks in $M or $B with as many decimals as the tick spacing needs
    ($40M, $42.5M, ...), and "$0" at zero. It keeps state (the decimals): one per axis."""

    def __init__(self, divisor: float, unit: str):
        self.divisor, self.unit = divisor, unit
        self.decimals = 1 if unit == "B" else 0

    def set_locs(self, locs):
        super().set_locs(locs)
        steps = np.diff(np.sort(np.asarray(locs, dtype=float))) / self.divisor
        steps = steps[steps > 0]
        if steps.size:
            # as many as the spacing needs: a narrow range never repeats a label
            self.decimals = int(min(9, max(0, -math.floor(math.log10(steps.min()) + 1e-9))))

    def __call__(self, v, pos=None):
        if abs(v) < 1e-9 * self.divisor:
            return plain("$0")
        sign = "\u2212" if v < 0 else ""
        return plain(f"{sign}${abs(v) / self.divisor:,.{self.decimals}f}{self.unit}")


def year_axis(ax: Axes, start_month: int, months: int) -> None:
    """x in plan months from 0; a labelled tick every January, minor ticks per quarter.

    Parameters
    ----------
    ax : Axes
        The axes to label.
    start_month : int
        Absolute month of x = 0.
    months : int
        Months on the axis.
    """
    first_jan = (12 - start_month % 12) % 12
    step = 1 if months <= 60 else 2          # every other year on long horizons
    ticks = list(range(first_jan, months + 1, 12))
    ax.set_xticks(ticks[::step])
    ax.set_xticklabels([str((start_month + t) // 12) for t in ticks[::step]])
    ax.xaxis.set_minor_locator(MultipleLocator(3))
    ax.set_xlim(0, months)
