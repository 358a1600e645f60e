"""Dollars as people read them, one way everywhere: terminal tables and the report."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

MINUS = "\u2212"
DASH = "\u2014"


def usd(v: Any, precise: bool = False) -> str:
    """Dollars for people: $3.06B, $1,121.0M, $450k, −$12.3M; '—' when missing.
    `precise` keeps millions ($3,002.4M) where $3.00B would hide a difference, as in the
    two ends of a confidence interval."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
        return DASH
    v = float(v)
    if not math.isfinite(v):
        return DASH
    a, sign = abs(v), MINUS if v < 0 else ""
    if round(a, -7) >= 1e9 and not precise:
        text = f"{a / 1e9:,.2f}B"
    elif round(a, -4) >= 1e6:
        text = f"{a / 1e6:,.1f}M"
    elif a >= 1e3:
        text = f"{a / 1e3:,.0f}k"
    else:
        text = f"{a:,.0f}"
    if text.strip("0.,BMk") == "":        # rounds to zero: no "−$0.0M"
        sign = ""
    return f"{sign}${text}"
