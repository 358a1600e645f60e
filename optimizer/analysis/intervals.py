"""Confidence intervals for Monte Carlo estimates: Student's t for means, sectioning for
CVaR, and the plan objective on a set of samples.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..gpu.backend import to_host
from ..gpu.risk import cvar



SECTIONS = 20                       # sections for CVaR intervals
MMW_SEED_OFFSET = 2_000_003         # batch j uses seed + MMW_SEED_OFFSET + j: never in- or out-of-sample
LEVEL = 0.95
FLOOR_TOL = 1e-9                    # relative, as the cut loop's


# ---- Student's t, intervals --------------------------------------------------------------

def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (p in (0, 1))."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p: must be in (0, 1), got {p}")
    if df < 1 or int(df) != df:
        raise ValueError(f"df: must be a positive integer, got {df}")
    # imported here: scipy.stats takes seconds to import, and most runs never need it
    from scipy.stats import t as student_t

    return float(student_t.ppf(p, int(df)))


def mean_ci(samples: Any, level: float = LEVEL) -> dict:
    """Mean of i.i.d. samples with its standard error and two-sided t interval."""
    v = np.asarray(to_host(samples), dtype=np.float64)
    n = v.size
    m = float(v.mean())
    if n < 2:
        return {"estimate_usd": m, "se_usd": math.nan, "ci95_usd": [math.nan, math.nan],
                "method": "t interval"}
    se = float(v.std(ddof=1)) / math.sqrt(n)
    h = t_quantile(0.5 + level / 2.0, n - 1) * se
    return {"estimate_usd": m, "se_usd": se, "ci95_usd": [m - h, m + h], "method": "t interval"}


def cvar_ci(samples: Any, alpha: float, sections: int = SECTIONS, level: float = LEVEL) -> dict:
    """CVaR_alpha of the samples with a sectioning interval (see the module docstring).

    Sections are consecutive blocks of scenario numbers; scenarios are i.i.d. by
    construction (counter-based RNG), so blocks are independent."""
    v = np.asarray(to_host(samples), dtype=np.float64)
    est = cvar(v, alpha)
    per = v.size // sections
    if sections < 2 or per * (1.0 - alpha) < 1.0:
        return {"estimate_usd": est, "se_usd": math.nan, "ci95_usd": [math.nan, math.nan],
                "method": f"sectioning: too few scenarios for {sections} sections"}
    sec = np.array([cvar(v[i * per:(i + 1) * per], alpha) for i in range(sections)])
    se = float(sec.std(ddof=1)) / math.sqrt(sections)
    h = t_quantile(0.5 + level / 2.0, sections - 1) * se
    return {"estimate_usd": est, "se_usd": se, "ci95_usd": [est - h, est + h],
            "method": f"sectioning, {sections} sections of {per} scenarios"}
