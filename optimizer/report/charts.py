"""The report's figures other than the timeline, drawn with matplotlib as inline SVG.

Every chart is a plain function of arrays and small records (no Instance, no plan.json,
no valuation): it draws what it is given, so it can be tested and reused on its own
(`wattfolio frontier` and `wattfolio sensitivity` write two of them as .svg files with
`standalone`). The timeline (Gantt) is in `report.gantt`; the shared plumbing (style,
money axes, SVG clean-up, `plain` labels) in `report.svg`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.patches import Patch

from .gantt import DrawMarker, Lane, Segment, timeline_svg
from .styles import AMBER, BLUE, GRID, INK, MUTED, NAVY, PALE, RED, ROSE, SKY, SLATE
from .svg import STYLE, MoneyFormatter, money_axis, money_label, new_figure, plain, standalone, svg_text, year_axis

__all__ = ["DrawMarker", "Lane", "Segment", "cash_fan_svg", "frontier_svg", "npv_histogram_svg",
           "standalone", "timeline_svg", "tornado_svg"]


def _finite(v: float | None) -> bool:
    return v is not None and bool(np.isfinite(v))


# ---------------------------------------------------------------- cash fan


def cash_fan_svg(quantiles: Mapping[int, Sequence[float]], start_month: int, min_cash_usd: float,
                 draw_months: Sequence[float] = (), name: str = "cash-fan") -> str:
    """Month-end cash across scenarios: 5th-95th and 25th-75th bands, median, the floor.

    Parameters
    ----------
    quantiles : mapping
        Percentile (5, 25, 50, 75, 95) to the (M,) cash at each month's end, USD, as the
        run computed it (`CashFan.quantiles`).
    start_month : int
        Absolute month of the plan's start.
    min_cash_usd : float
        The minimum cash line.
    draw_months : sequence of float
        Plan months (month ends) of financing draws, drawn as dotted rules.
    name : str
        Prefix of the SVG's ids.

    Returns
    -------
    str
        An inline SVG fragment.
    """
    p5, p25, p50, p75, p95 = (np.asarray(quantiles[p], dtype=float) for p in (5, 25, 50, 75, 95))
    months = p50.shape[0]
    x = np.arange(1, months + 1)            # column m is the cash at the end of month m
    divisor, unit = money_axis(np.concatenate([p5, p95, [min_cash_usd]]))
    with matplotlib.rc_context(STYLE):
        fig = new_figure(3.6)
        ax = fig.add_subplot()
        ax.fill_between(x, p5, p95, color=PALE, linewidth=0, label="5th–95th percentile")
        ax.fill_between(x, p25, p75, color=SKY, linewidth=0, label="25th–75th percentile")
        ax.plot(x, p50, color=NAVY, linewidth=1.8, label="median")
        ax.axhline(min_cash_usd, color=RED, linestyle="--", linewidth=1.2,
                   label=plain(f"minimum cash {money_label(min_cash_usd)}"))
        if np.nanmin(p5) < 0 < np.nanmax(p95):
            ax.axhline(0, color=SLATE, linewidth=0.8)
        for m in draw_months:
            ax.axvline(m, color=SLATE, linewidth=0.6, linestyle=":")
        if len(draw_months):
            ax.plot([], [], color=SLATE, linewidth=0.6, linestyle=":", label="financing draw")
        ax.yaxis.set_major_formatter(MoneyFormatter(divisor, unit))
        year_axis(ax, start_month, months)
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_ylabel("cash at month end")
        ax.legend(loc="upper left", ncol=3)
        return svg_text(fig, name, "Monthly cash balance across scenarios")


# ---------------------------------------------------------------- NPV histogram


def npv_histogram_svg(samples: np.ndarray, alpha: float, mean: float | None, var: float | None,
                      cvar: float | None, name: str = "npv-histogram") -> str:
    """Histogram of plan NPV; the worst (1 - alpha) share shaded, mean / VaR / CVaR marked.

    The tail is the same set of scenarios CVaR averages (the ceil((1-alpha) S) worst), so
    the shaded mass is the tail the risk number speaks about. A long right tail is clipped
    at the 99.5th percentile so that the left tail, the part the board cares about, keeps
    its resolution; the x label states how many scenarios lie beyond.

    Parameters
    ----------
    samples : ndarray
        (S,) plan NPV per scenario, USD.
    alpha : float
        The CVaR level.
    mean, var, cvar : float or None
        The run's expected NPV, VaR and CVaR; a line each (none for a missing value).
    name : str
        Prefix of the SVG's ids.

    Returns
    -------
    str
        An inline SVG fragment.
    """
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
    divisor, unit = money_axis([x for x in (lo, hi, mean, cvar) if _finite(x)])
    with matplotlib.rc_context(STYLE):
        fig = new_figure(3.4)
        ax = fig.add_subplot()
        # values beyond the clipped axis fall outside the bins and are left out (the
        # x label says how many), rather than piled into the last bar
        ax.hist([v[:n_tail], v[n_tail:]], bins=bins, stacked=True, color=[ROSE, SKY],
                edgecolor="white", linewidth=0.4,
                label=[f"worst {1 - alpha:.0%} of scenarios", "other scenarios"])
        if _finite(mean):
            ax.axvline(mean, color=NAVY, linewidth=1.6, label=plain(f"mean {money_label(mean)}"))
        if _finite(var):
            ax.axvline(var, color=RED, linewidth=1.2, linestyle="--",
                       label=plain(f"VaR {alpha:.0%} {money_label(var)}"))
        if _finite(cvar):
            ax.axvline(cvar, color=RED, linewidth=1.6, linestyle=":",
                       label=plain(f"CVaR {alpha:.0%} {money_label(cvar)}"))
        if lo < 0 < hi:
            ax.axvline(0, color=INK, linewidth=0.8)
        ax.xaxis.set_major_formatter(MoneyFormatter(divisor, unit))
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("plan NPV" + (f"  (axis clipped at the 99.5th percentile: "
                                     f"{clipped:,} scenarios lie further right)" if clipped else ""))
        # above the plot, in one row: inside it would cover the tail or the marker lines
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5)
        return svg_text(fig, name, "Distribution of plan NPV across scenarios")


# ---------------------------------------------------------------- frontier


def frontier_svg(cvar: Sequence[float], expected: Sequence[float], changed: Sequence[bool],
                 chosen: tuple[float, float] | None = None, name: str = "frontier") -> str:
    """E[NPV] against CVaR for plans solved at a range of CVaR floors.

    Parameters
    ----------
    cvar, expected : sequence of float
        Each plan's CVaR and expected NPV, USD.
    changed : sequence of bool
        Whether the plan's decisions differ from the previous floor's (drawn orange).
    chosen : tuple, optional
        (CVaR, expected NPV) of the recommended plan, starred.
    name : str
        Prefix of the SVG's ids.

    Returns
    -------
    str
        An inline SVG fragment.
    """
    cvar, expected = np.asarray(cvar, dtype=float), np.asarray(expected, dtype=float)
    changed = np.asarray(changed, dtype=bool)
    order = np.argsort(cvar)
    divisor, unit = money_axis(np.concatenate([cvar, expected]))
    with matplotlib.rc_context(STYLE):
        fig = new_figure(3.4)
        ax = fig.add_subplot()
        ax.plot(cvar[order], expected[order], color=BLUE, linewidth=1.4, zorder=1)
        ax.scatter(cvar[~changed], expected[~changed], s=26, color=BLUE, zorder=2,
                   label="same decisions as the previous floor")
        ax.scatter(cvar[changed], expected[changed], s=46, color=AMBER, edgecolors=NAVY,
                   linewidths=0.8, zorder=3, label="decisions change")
        if chosen is not None:
            ax.scatter([chosen[0]], [chosen[1]], s=120, marker="*", color=RED, zorder=4,
                       label="recommended plan")
        ax.xaxis.set_major_formatter(MoneyFormatter(divisor, unit))
        ax.yaxis.set_major_formatter(MoneyFormatter(divisor, unit))
        ax.set_xlabel("CVaR (mean NPV of the bad tail) \u2192 safer")
        ax.set_ylabel("expected NPV")
        ax.grid(color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="best")
        return svg_text(fig, name, "Risk-return frontier")


# ---------------------------------------------------------------- tornado


def tornado_svg(labels: Sequence[str], low: Sequence[float], high: Sequence[float], base: float,
                low_text: Sequence[str] = (), high_text: Sequence[str] = (),
                name: str = "tornado") -> str:
    """Horizontal bars of the plan's NPV when one input moves to its low / high value,
    widest swing on top, around the base NPV.

    Parameters
    ----------
    labels : sequence of str
        The inputs' names (plain text).
    low, high : sequence of float
        Expected NPV with the input at its low / high value, USD.
    base : float
        Expected NPV with every input at its base value.
    low_text, high_text : sequence of str
        The low / high settings as plain text, written at the bars' ends.
    name : str
        Prefix of the SVG's ids.

    Returns
    -------
    str
        An inline SVG fragment.
    """
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    order = np.argsort(-np.abs(high - low), kind="stable")
    divisor, unit = money_axis(np.concatenate([low, high, [base]]))
    n = len(labels)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(0.9 + 0.36 * max(n, 1))
        ax = fig.add_subplot()
        for row, i in enumerate(order):
            for value, colour, texts in ((low[i], SKY, low_text), (high[i], NAVY, high_text)):
                ax.barh(row, value - base, left=base, color=colour, height=0.6)
                if len(texts):
                    ax.text(value, row, plain(f" {texts[i]} "), va="center", fontsize=7.5, color=MUTED,
                            ha="left" if value >= base else "right")
        ax.axvline(base, color=INK, linewidth=1.0)
        ax.set_yticks(range(n))
        ax.set_yticklabels([plain(labels[i]) for i in order], color=INK)
        ax.set_ylim(n - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_major_formatter(MoneyFormatter(divisor, unit))
        span = float(np.max(np.abs(np.concatenate([low, high]) - base))) if n else 1.0
        ax.set_xlim(base - 1.35 * span, base + 1.35 * span)
        ax.set_xlabel(plain(f"plan NPV (base {money_label(base)})"))
        ax.legend(handles=[Patch(color=SKY, label="input at its low value"),
                           Patch(color=NAVY, label="input at its high value")],
                  loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        return svg_text(fig, name, "Sensitivity of plan NPV to each input")
