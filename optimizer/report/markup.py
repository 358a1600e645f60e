"""Small HTML and number-formatting pieces the report's sections are built from.

Cells and bodies passed to these helpers are HTML already: a caller escapes user text
(`esc`) before, so that a value is escaped exactly once.
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Sequence

import numpy as np

from ..formatting import DASH, MINUS, usd

__all__ = ["DASH", "MINUS", "esc", "figure", "kv_table", "mw", "num", "pct", "per_usd", "section",
           "table", "usd"]


def pct(v: Any, digits: int = 1) -> str:
    """A share as a percentage (4.1%); '—' when missing."""
    return DASH if v is None else f"{float(v):.{digits}%}"


def num(v: Any) -> str:
    """A plain number, compact: 90,000 / 0.55 / 1.8e+09 / 12; yes/no for a bool."""
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
    """Megawatts without trailing zeros: 20 MW, 8.7 MW."""
    return f"{v:,.1f}".rstrip("0").rstrip(".") + " MW"


def per_usd(v: float) -> str:
    """A value per $ drawn: $0.025, −$0.301."""
    return f"{MINUS if v < -5e-4 else ''}${abs(v):.3f}"


def esc(v: Any) -> str:
    """`v` as HTML text (quotes escaped too: safe in an attribute)."""
    return html.escape(str(v), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "",
          ident: str = "", numeric: Sequence[int] = (), foot: Sequence[Any] | None = None) -> str:
    """An HTML table in a horizontally scrolling wrapper.

    Parameters
    ----------
    headers : sequence of str
        Header cells (HTML).
    rows : iterable of sequences
        Body rows; cells are HTML already.
    cls, ident : str
        The table's class and id (none when empty).
    numeric : sequence of int
        Column indices aligned right (numbers).
    foot : sequence, optional
        A footer row (totals).

    Returns
    -------
    str
        HTML.
    """
    attrs = (f' id="{ident}"' if ident else "") + (f' class="{cls}"' if cls else "")

    def cells(row: Sequence[Any], tag: str) -> str:
        num_attr = ' class="num"'
        return "".join(f"<{tag}{num_attr if i in numeric else ''}>{c}</{tag}>"
                       for i, c in enumerate(row))
    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    tfoot = f"<tfoot><tr>{cells(foot, 'td')}</tr></tfoot>" if foot else ""
    return (f'<div class="table-wrap"><table{attrs}><thead><tr>{cells(headers, "th")}</tr></thead>'
            f"<tbody>{body}</tbody>{tfoot}</table></div>")


def kv_table(title: str, pairs: Sequence[tuple[str, str]]) -> str:
    """A titled two-column table of (label, HTML value) pairs."""
    rows = "".join(f"<tr><th scope=\"row\">{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<div class="kv"><h3>{esc(title)}</h3><table class="compact">{rows}</table></div>'


def section(ident: str, title: str, how: str, body: str) -> str:
    """A page section: its title, one sentence on how to read it (HTML), its body."""
    return (f'<section id="{ident}"><h2>{esc(title)}</h2>'
            f'<p class="how">{how}</p>{body}</section>')


def figure(ident: str, svg: str, caption: str = "") -> str:
    """A chart with an optional caption (HTML)."""
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure id="{ident}">{svg}{cap}</figure>'
