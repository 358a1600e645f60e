"""Risk statistics of per-scenario NPV, computed where the values live (NumPy or CuPy).

Conventions: scenarios are equally likely; risk is the *lower* tail of NPV. For S values
and level alpha, the tail holds ``n = (1 - alpha) * S`` scenarios (a real number). With
the values sorted ascending, ``v_(1) <= v_(2) <= ...``::

    CVaR_alpha = ( v_(1) + ... + v_(k) + (n - k) * v_(k+1) ) / n,    k = floor(n)

which is Rockafellar & Uryasev's CVaR for a discrete distribution (the mean of the worst
``1 - alpha`` probability mass, splitting the boundary scenario). When n is an integer it
is the mean of the n worst values. VaR is where that tail starts: the ceil(n)-th smallest
value, i.e. the lower (1 - alpha)-quantile ``inf{v : F(v) >= 1 - alpha}``.

Only aggregates are moved to the host; python floats come out. Each function reads its
values' namespace from the values themselves (`array_namespace`, as scikit-learn's
``get_namespace``): the figures are computed where the values live. :func:`summary`
computes every plan figure there and brings them to the host in one transfer, and
:func:`path_figures` does the same for month-by-month paths (a cash fan).
"""
from __future__ import annotations

import math
import numbers
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from .backend import array_namespace, is_cupy, to_host

DEFAULT_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _values(values: Any, xp: ModuleType | None = None) -> tuple[ModuleType, Any]:
    """Validate a 1-D, non-empty, finite float array and return (xp, float64 array)."""
    xp = xp or array_namespace(values)
    v = xp.asarray(values, dtype=xp.float64)
    if v.ndim != 1:
        raise ValueError(f"values: must be a 1-D array of per-scenario values, got shape {v.shape}")
    if v.shape[0] == 0:
        raise ValueError("values: must hold at least one scenario, got 0")
    if not bool(xp.isfinite(v).all()):
        bad = int(to_host(xp.argmax(~xp.isfinite(v))))
        raise ValueError(f"values[{bad}]: must be finite, got {float(to_host(v[bad]))}")
    return xp, v


def _tail_mass(alpha: float, n_scenarios: int) -> tuple[float, int, float]:
    """(n, k, frac): tail mass in scenarios, its whole part and the boundary weight."""
    if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
            or not 0.0 <= float(alpha) < 1.0):
        raise ValueError(f"alpha: must be in [0, 1), got {alpha!r}")
    # Rounding first makes 0.05 * 1000 exactly 50, not 50.00000000000001 or 49.999...
    n = round((1.0 - float(alpha)) * n_scenarios, 9)
    k = math.floor(n)
    frac = n - k
    if frac < 1e-9:
        frac = 0.0
    return n, k, frac


def tail_weights(values: Any, alpha: float, xp: ModuleType | None = None) -> Any:
    """Scenario weights w (S,) with w >= 0, sum(w) = 1 and ``w @ values == cvar(values, alpha)``.

    1/n on the floor(n) worst scenarios, (n - floor(n))/n on the next one, 0 elsewhere.
    Ties are broken by scenario index (stable sort). For a plan with quantities q, the
    CVaR cutting plane is ``(w @ npv.T) @ q >= floor``.
    """
    xp, v = _values(values, xp)
    n, k, frac = _tail_mass(alpha, v.shape[0])
    # NumPy needs "stable" spelled out; CuPy's argsort is always stable and takes no kind.
    order = xp.argsort(v) if is_cupy(xp) else xp.argsort(v, kind="stable")
    w = xp.zeros(v.shape[0], dtype=xp.float64)
    w[order[:k]] = 1.0 / n
    if frac > 0.0:
        w[order[k]] = frac / n
    return w


def cvar(values: Any, alpha: float) -> float:
    """CVaR_alpha of the lower tail: mean of the worst (1 - alpha) share of scenarios."""
    xp, v = _values(values)
    n, k, frac = _tail_mass(alpha, v.shape[0])
    s = xp.sort(v)
    total = s[:k].sum()
    if frac > 0.0:
        total = total + frac * s[k]
    return float(to_host(total)) / n


def var(values: Any, alpha: float) -> float:
    """VaR_alpha: the value where the lower tail starts (the ceil(n)-th smallest value)."""
    xp, v = _values(values)
    n, k, frac = _tail_mass(alpha, v.shape[0])
    idx = k - 1 if frac == 0.0 else k
    return float(to_host(xp.sort(v)[idx]))


def _quantile_key(q: float) -> str:
    """"p05" for 0.05, "p50" for 0.5, "p99.5" for 0.995."""
    return f"p{round(100.0 * q, 6):02g}"


def quantiles(values: Any, qs: Sequence[float] = DEFAULT_QUANTILES) -> dict[str, float]:
    """Empirical quantiles keyed "p01", "p05", ...: linear interpolation between order
    statistics (NumPy's default ``method="linear"``, Hyndman & Fan type 7)."""
    xp, v = _values(values)
    qs = [float(q) for q in qs]
    for i, q in enumerate(qs):
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"qs[{i}]: must be in [0, 1], got {q}")
    if not qs:
        return {}
    out = to_host(xp.quantile(v, xp.asarray(qs, dtype=xp.float64)))
    return {_quantile_key(q): float(x) for q, x in zip(qs, out)}


def prob_loss(values: Any) -> float:
    """Share of scenarios with value < 0."""
    xp, v = _values(values)
    return int(to_host(xp.count_nonzero(v < 0.0))) / v.shape[0]


def mean_and_se(values: Any) -> tuple[float, float]:
    """Mean and its Monte Carlo standard error std(ddof=1)/sqrt(S); the error is NaN if S = 1."""
    xp, v = _values(values)
    mean = float(to_host(v.mean()))
    if v.shape[0] < 2:
        return mean, math.nan
    return mean, float(to_host(v.std(ddof=1))) / math.sqrt(v.shape[0])


def summary(values: Any, alpha: float,
            qs: Sequence[float] = DEFAULT_QUANTILES) -> dict[str, Any]:
    """The plan statistics reported in plan.json, as python floats.

    The same figures as `mean_and_se`, `cvar`, `prob_loss` and `quantiles`, bit for bit,
    computed where the values live and moved to the host in one transfer (on CuPy each
    of those functions waits for the device once per figure).
    """
    xp = array_namespace(values)
    v = xp.asarray(values, dtype=xp.float64)
    if v.ndim != 1 or v.shape[0] == 0:
        _values(v)  # raises, naming what is wrong
    size = v.shape[0]
    n, k, frac = _tail_mass(alpha, size)
    qs = [float(q) for q in qs]
    for i, q in enumerate(qs):
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"qs[{i}]: must be in [0, 1], got {q}")
    with np.errstate(all="ignore"):   # non-finite values are reported below, by name
        s = xp.sort(v)
        tail = s[:k].sum()
        if frac > 0.0:
            tail = tail + frac * s[k]
        spread = v.std(ddof=1) if size > 1 else xp.zeros((), dtype=xp.float64)
        head = [v.mean(), spread, tail, (v < 0.0).sum(dtype=xp.float64),
                xp.isfinite(v).all().astype(xp.float64)]
        parts = [xp.stack([xp.asarray(x, dtype=xp.float64) for x in head])]
        if qs:
            parts.append(xp.quantile(v, xp.asarray(qs, dtype=xp.float64)))
        figures = to_host(xp.concatenate(parts))          # the one transfer
    mean, spread, tail, losses, finite = (float(x) for x in figures[:5])
    if finite != 1.0:
        _values(v)  # raises, naming the first non-finite scenario
    return {
        "expected_npv_usd": mean,
        "expected_npv_se_usd": spread / math.sqrt(size) if size > 1 else math.nan,
        "cvar_usd": tail / n,
        "alpha": float(alpha),
        "prob_loss": int(losses) / size,
        "npv_quantiles_usd": {_quantile_key(q): float(x) for q, x in zip(qs, figures[5:])},
        "scenarios": int(size),
    }


def path_figures(paths: Any, percentiles: Sequence[float],
                 floors: Sequence[float] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Per-month percentiles of paths (S, M) and, for each floor, the share of paths
    below it in at least one month: computed where the paths live, one transfer back.

    Percentiles interpolate linearly (NumPy's default, as ``np.percentile(paths, p,
    axis=0)``). Returns host arrays (P, M) and (F,).
    """
    xp = array_namespace(paths)
    p = xp.asarray(paths, dtype=xp.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"paths: must be a (scenarios, months) array with a scenario, got shape {p.shape}")
    pct = [float(q) for q in percentiles]
    bands = xp.percentile(p, xp.asarray(pct, dtype=xp.float64), axis=0).reshape(len(pct), p.shape[1])
    lowest = p.min(axis=1)
    shares = xp.stack([(lowest < float(f)).mean(dtype=xp.float64) for f in floors]) if len(floors) \
        else xp.zeros(0, dtype=xp.float64)
    out = to_host(xp.concatenate([bands.reshape(-1), shares]))   # the one transfer
    return out[:bands.size].reshape(len(pct), p.shape[1]), out[bands.size:]
