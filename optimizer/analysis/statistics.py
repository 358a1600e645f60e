"""The plan's tidy statistics by site and action kind (`PlanResult.statistics`), and its
short text and HTML views. Duck-typed on a `PlanResult` (instance, actions, quantities,
draws, samples, value_table, stats, solver): this module does not import `run`.
"""
from __future__ import annotations

import html
from typing import Any

import numpy as np

from ..instance.types import month_str
from ..planning.catalog import Action
from ..planning.labels import _host, decisions_frame, financing_frame


def statistics(result: Any):
    """One tidy table of the plan by site and action kind, in the spirit of PyPSA's
    ``n.statistics()``.

    Parameters
    ----------
    result : PlanResult
        A planning run.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``site``, ``kind``): ``mw`` (critical MW converted), ``capex_usd``
        (nominal build cost, owned share, before overruns), ``rent_usd`` (contracted NOI
        over the lease tenor, owned share, undiscounted), ``lost_mining_usd`` (mining
        margin given up inside the horizon at expected prices, undiscounted; 0 where the
        site does not mine), ``npv_mean_usd`` (the actions' mean NPV contribution over the
        in-sample scenarios), ``npv_tail_usd`` (their mean over the plan's CVaR tail) and
        ``cvar_share`` (that tail contribution as a share of the plan's CVaR, the
        baseline and financing taking the rest). Sums over rows of ``npv_mean_usd``
        plus the baseline and less the financing cost give the plan's E[NPV].
    """
    import pandas as pd

    from ..gpu.risk import var
    from .audit import hand_mining_margin

    inst = result.instance
    vt = result.value_table
    alpha = inst.risk.alpha
    samples = np.asarray(result.samples, dtype=np.float64)
    tail_n = max(1, int(np.ceil((1.0 - alpha) * samples.size)))
    tail = np.argsort(samples, kind="stable")[:tail_n]
    cvar = float(samples[tail].mean())
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for a, q in zip(result.actions, result.quantities):
        site = inst.site(a.site)
        r = rows.setdefault((a.site, a.kind), dict(mw=0.0, capex_usd=0.0, rent_usd=0.0,
                                                    lost_mining_usd=0.0, npv_mean_usd=0.0,
                                                    npv_tail_usd=0.0))
        if a.kind == "convert":
            le = inst.lease(a.lease)
            r["mw"] += q
            r["capex_usd"] += q * site.ownership * site.hpc.capex_usd_per_mw
            r["rent_usd"] += (q / le.max_mw) * site.ownership * le.noi_margin * le.contract_total_usd
            if site.mining is not None:
                margin = hand_mining_margin(inst, site.id)
                r["lost_mining_usd"] += (q * site.hpc.pue * site.ownership
                                         * sum(margin[a.start - inst.plan.start:]))
        elif a.kind == "acquire" and site.acquire is not None:
            r["capex_usd"] += site.acquire.cost_usd
        if vt is not None:
            v = _host(vt.npv[a.index]) * float(q)
            r["npv_mean_usd"] += float(v.mean())
            r["npv_tail_usd"] += float(v[tail].mean())
    index = pd.MultiIndex.from_tuples(list(rows), names=["site", "kind"])
    df = pd.DataFrame(list(rows.values()), index=index,
                      columns=["mw", "capex_usd", "rent_usd", "lost_mining_usd", "npv_mean_usd",
                               "npv_tail_usd"], dtype="float64")
    df["cvar_share"] = df["npv_tail_usd"] / cvar if cvar else np.nan
    df.attrs.update({"alpha": alpha, "cvar_usd": cvar, "var_usd": var(samples, alpha),
                     "expected_npv_usd": float(samples.mean())})
    return df


def _headline(result: Any) -> list[str]:
    from ..formatting import usd

    st = result.stats
    lines = [f"PlanResult {result.instance.plan.name!r}: {result.scenarios:,} scenarios, seed "
             f"{result.seed}, backend {result.backend}, solver {result.solver.get('status')}",
             f"  E[NPV] {usd(st.get('expected_npv_usd'))} (s.e. {usd(st.get('expected_npv_se_usd'))}), "
             f"CVaR {st.get('alpha', result.instance.risk.alpha):.0%} {usd(st.get('cvar_usd'))}, "
             f"P(loss) {st.get('prob_loss', float('nan')):.1%}"]
    return lines


def _decision_text(a: Action, q: float) -> str:
    if a.kind == "convert":
        return f"convert {a.site} {q:g} MW from {month_str(a.start)} ({a.lease})"
    return f"{a.kind} {a.site} in {month_str(a.start)}"


def result_repr(result: Any) -> str:
    """A few lines: the headline numbers and the decisions (at most five)."""
    from ..formatting import usd

    lines = _headline(result)
    shown = list(zip(result.actions, result.quantities))
    if not shown:
        lines.append("  decisions: none (keep every site as it is)")
    for a, q in shown[:5]:
        lines.append(f"  - {_decision_text(a, q)}")
    if len(shown) > 5:
        lines.append(f"  ... and {len(shown) - 5} more (see .decisions)")
    if result.draws:
        total = sum(v for _, v, _ in result.draws)
        lines.append(f"  financing: {len(result.draws)} draws, {usd(total)} (see .financing)")
    return "\n".join(lines)


def result_html(result: Any) -> str:
    """The notebook view: the headline and the decisions and financing tables."""
    head = "<br>".join(html.escape(x.strip()) for x in _headline(result))
    dec = decisions_frame(result.actions, result.quantities).to_html(index=False, na_rep="")
    fin = financing_frame(result.draws).to_html(index=False) if result.draws else "<p>no financing</p>"
    return f"<div><p>{head}</p><b>Decisions</b>{dec}<b>Financing</b>{fin}</div>"
