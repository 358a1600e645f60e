"""The rows of the "How sure are we" section, from whatever plan.json's ``quality`` holds.

Two shapes are read: the contract's flat keys (``in_sample.expected_npv_usd``,
``mmw.*``) and `wattfolio.analysis.quality`'s nested ones
(``out_of_sample.in_sample.expected_npv.estimate_usd``, ``optimality_gap.*``). Known
checks get friendly labels; anything else is shown too, flattened, so that a new check
is never silently dropped from the page.
"""
from __future__ import annotations

from typing import Any

from .context import dig
from .markup import DASH, esc, num, pct, usd
from .text import is_decision, items_text

QUALITY_GROUPS = {
    "in_sample": "In-sample (scenarios the plan was chosen on)",
    "out_of_sample": "Out-of-sample (fresh scenarios)",
    "mmw": "Optimality gap (Mak–Morton–Wood)",
    "optimality_gap": "Optimality gap (Mak–Morton–Wood)",
    "vss": "Value of the stochastic solution",
    "evpi": "Expected value of perfect information",
}
# labels for the path segments of a quality entry; a segment mapped to "" is dropped
# (out_of_sample.expected_npv.estimate_usd reads "out-of-sample · E[NPV]")
QUALITY_KEYS = {
    "in_sample": "in-sample", "out_of_sample": "out-of-sample",
    "expected_npv": "E[NPV]", "expected_npv_usd": "E[NPV]", "expected_ci95": "E[NPV] 95% interval",
    "cvar": "CVaR", "cvar_usd": "CVaR", "cvar_ci95": "CVaR 95% interval",
    "estimate_usd": "", "se_usd": "standard error", "ci95_usd": "95% interval", "ci95": "95% interval",
    "scenarios": "scenarios", "seed": "seed", "alpha": "CVaR level α", "sample": "scenario set",
    "optimism_usd": "in-sample optimism (in − out)", "optimism_se_usd": "optimism standard error",
    "cash_balance_usd": "cash", "prob_below_min_any_month": "P(below minimum cash in some month)",
    "prob_below_zero_any_month": "P(below zero cash in some month)",
    "min_cash_usd": "minimum cash",
    "gap_mean_usd": "gap estimate", "gap_se_usd": "gap standard error",
    "gap_upper95_usd": "gap, 95% upper bound", "mean_usd": "gap estimate",
    "upper95_usd": "gap, 95% upper bound", "relative_upper95": "gap upper bound / objective",
    "batches": "batches", "batch_scenarios": "scenarios per batch",
    "floor_missed_batches": "batches where the plan misses the floor",
    "floor_unreachable_batches": "batches where no plan meets the floor",
    "value_usd": "value", "vss_usd": "VSS", "vss_se_usd": "VSS standard error",
    "evpi_usd": "EVPI", "evpi_se_usd": "EVPI standard error", "relative": "relative to the objective",
    "here_and_now_usd": "here-and-now value", "wait_and_see_usd": "wait-and-see value",
    "objective_usd": "plan objective", "mean_value_problem_value_usd": "mean-value problem's value",
    "mean_value_objective_usd": "mean-value plan's objective",
    "mean_value_expected_npv_usd": "mean-value plan's E[NPV]", "mean_value_cvar_usd": "mean-value plan's CVaR",
    "mean_value_decisions": "mean-value plan", "same_plan": "same plan as recommended",
}
LONG_LIST = 6   # longer lists (per-month paths, per-batch rows) stay in plan.json


def quality_value(key: str, v: Any) -> str:
    """One quality entry's value as HTML, formatted by what its key says it is.

    Parameters
    ----------
    key : str
        The entry's last key segment (``_usd``: dollars; ``prob``, ``relative``...: a
        share; ``ci95``: an interval).
    v : Any
        The value.

    Returns
    -------
    str
    """
    if isinstance(v, (list, tuple)):
        if len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) \
                and ("ci95" in key or key.endswith("_usd")):
            return f"{usd(v[0], precise=True)} to {usd(v[1], precise=True)}"
        if all(is_decision(d) for d in v) and v:
            return items_text(v)
        if len(v) > LONG_LIST or any(isinstance(x, (dict, list, tuple)) for x in v):
            return f'<span class="muted">{len(v):,} entries (in plan.json)</span>'
        return ", ".join(quality_value(key, x) for x in v)
    if key.endswith("_usd"):
        return usd(v)
    if key == "seed":
        return esc(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and (
            "prob" in key or key.startswith("relative") or key.endswith(("_share", "_pct", "_fraction"))):
        return pct(v)
    return esc(num(v))


def flatten(d: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted path, leaf value) pairs, in order."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def measure_label(path: str) -> str:
    """A dotted quality path as words: 'out-of-sample · E[NPV] · 95% interval'."""
    parts = []
    for seg in path.split("."):
        label = QUALITY_KEYS.get(seg, seg.removesuffix("_usd").replace("_", " "))
        if label:
            parts.append(label)
    return " · ".join(parts) or path


def quality_rows(quality: dict) -> list[tuple[str, str, str]]:
    """Every quality measure as a table row.

    Parameters
    ----------
    quality : dict
        plan.json's ``quality``.

    Returns
    -------
    list of tuple
        (check, measure, value HTML): known checks first with friendly labels, then
        anything else, nested tables flattened; top-level scalars last, with no check.
    """
    rows: list[tuple[str, str, str]] = []
    ordered = [k for k in QUALITY_GROUPS if k in quality] + [k for k in quality if k not in QUALITY_GROUPS]
    loose = []
    for group in ordered:
        body = quality[group]
        if not isinstance(body, dict):
            loose.append((group, body))
            continue
        label = QUALITY_GROUPS.get(group, group.replace("_", " "))
        for key, v in flatten(body):
            rows.append((label, measure_label(key), quality_value(key.rsplit(".", 1)[-1], v)))
    for key, v in loose:
        rows.append(("", measure_label(key), quality_value(key, v)))
    return rows


def _range(v: Any) -> str:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"{usd(v[0], precise=True)} to {usd(v[1], precise=True)}"
    return DASH


def _plus_minus(value: Any, se: Any) -> str:
    return usd(value) + (f' <span class="muted">± {usd(se)}</span>' if se is not None else "")


def quality_headline(quality: dict, alpha: float) -> list[list[str]]:
    """The main quality numbers, one row per check.

    Parameters
    ----------
    quality : dict
        plan.json's ``quality``, in either shape (see the module doc).
    alpha : float
        The CVaR level, for the row labels.

    Returns
    -------
    list of list
        [check, estimate, interval or bound, sample] (HTML); empty when none of the
        known checks is present.
    """
    rows = []
    for side, label in (("in_sample", "in-sample"), ("out_of_sample", "out-of-sample")):
        nested = f"out_of_sample.{side}"
        n, seed = dig(quality, f"{side}.scenarios", f"{nested}.scenarios"), dig(quality, f"{side}.seed", f"{nested}.seed")
        sample = (f"{num(n)} scenarios" if n is not None else "") + (f", seed {esc(seed)}" if seed is not None else "")
        e = dig(quality, f"{side}.expected_npv_usd", f"{nested}.expected_npv.estimate_usd")
        if e is not None:
            rows.append([f"E[NPV], {label}", _plus_minus(e, dig(quality, f"{side}.expected_npv_se_usd",
                                                                f"{nested}.expected_npv.se_usd")),
                         _range(dig(quality, f"{side}.expected_ci95", f"{nested}.expected_npv.ci95_usd")), sample])
        c = dig(quality, f"{side}.cvar_usd", f"{nested}.cvar.estimate_usd")
        if c is not None:
            rows.append([f"CVaR {alpha:.0%}, {label}", _plus_minus(c, dig(quality, f"{nested}.cvar.se_usd")),
                         _range(dig(quality, f"{side}.cvar_ci95", f"{nested}.cvar.ci95_usd")), sample])
    gap = dig(quality, "mmw.gap_mean_usd", "optimality_gap.mean_usd")
    if gap is not None:
        upper = dig(quality, "mmw.gap_upper95_usd", "optimality_gap.upper95_usd")
        batches = dig(quality, "mmw.batches", "optimality_gap.batches")
        per = dig(quality, "mmw.batch_scenarios", "optimality_gap.batch_scenarios")
        rows.append(["Optimality gap (MMW)", _plus_minus(gap, dig(quality, "mmw.gap_se_usd", "optimality_gap.se_usd")),
                     f"at most {usd(upper)}" if upper is not None else DASH,
                     f"{num(batches)} batches × {num(per)} scenarios" if batches is not None else ""])
    for key, label, value_paths, se_paths in (
            ("vss", "Value of the stochastic solution", ("vss.value_usd", "vss.vss_usd"), ("vss.se_usd", "vss.vss_se_usd")),
            ("evpi", "Expected value of perfect information", ("evpi.value_usd", "evpi.evpi_usd"),
             ("evpi.se_usd", "evpi.evpi_se_usd"))):
        v = dig(quality, *value_paths)
        if v is not None:
            n = dig(quality, f"{key}.scenarios")
            rows.append([label, _plus_minus(v, dig(quality, *se_paths)), DASH,
                         f"{num(n)} scenarios" if n is not None else ""])
    return rows

