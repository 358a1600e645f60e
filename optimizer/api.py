"""The analysts' API: the same runs as the CLI, returning labelled objects instead of files.

    >>> import wattfolio as wf
    >>> result = wf.plan("instances/terawulf.toml", scenarios=2000, fixes=["lake-mariner=convert"])
    >>> result.decisions          # DataFrame: site, action, start (pd.Period), mw, lease
    >>> result.financing          # DataFrame: instrument, amount_usd, start (pd.Period)
    >>> result.npv                # xarray DataArray over scenario
    >>> result.cash_balance()     # DataArray scenario x month, valued on demand
    >>> result.action_values      # DataArray action x scenario (site, kind, start, lease coords)
    >>> result.statistics()       # tidy DataFrame by site and action kind
    >>> wf.evaluate("instances/terawulf.toml", result, seed=99).stats
    >>> wf.frontier(result, points=5); wf.sensitivity(result); wf.quality(result)
    >>> wf.write_report(result, "report.html")

pandas and xarray are imported on first use of a labelled view.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Union

from .errors import DEFAULT_TIME_LIMIT_S
from .plan_value import PlanValue, value_plan
from .instance.types import Instance, month_str
from .instance.load import load_instance
from .planning.cash_fan import CashFan
from .planning.fixes import Fix
from .planning.plan_file import PlanSpec, parse_plan, read_plan
from .run import PlanResult, in_sample_cash_fan, plan_instance

__all__ = ["plan", "evaluate", "frontier", "sensitivity", "quality", "write_report",
           "load_instance", "Fix", "PlanResult"]

InstanceLike = Union[Instance, str, os.PathLike]
FixLike = Union[Fix, str]


# ---- runs ------------------------------------------------------------------------------

def _instance(instance: InstanceLike, hours_per_month: int | None = None) -> Instance:
    if isinstance(instance, PlanResult):
        inst = instance.instance
    else:
        inst = instance if isinstance(instance, Instance) else load_instance(instance)
    if hours_per_month is not None:
        inst = inst.with_plan(hours_per_month=hours_per_month)
    return inst


def parse_what_ifs(fixes: Sequence[FixLike] | FixLike | None, forbid: Sequence[FixLike] | FixLike | None,
                   instance: Instance) -> list[Fix]:
    """What-ifs given as ``"SITE=ACTION[@YYYY-MM]"`` strings or `Fix` objects.

    Parameters
    ----------
    fixes, forbid : str, Fix or a sequence of them, optional
        Actions to take, and actions never to take (strings in `forbid` become forbids;
        a `Fix` keeps its own ``forbid`` flag).
    instance : Instance

    Returns
    -------
    list of Fix
        Checked as the CLI checks ``--fix``/``--forbid``; raises `wattfolio.errors.PlanError`
        listing every problem.
    """
    from .analysis.whatif import parse_fixes

    def seq(x):
        return [] if x is None else [x] if isinstance(x, (str, Fix)) else list(x)

    fixes, forbid = seq(fixes), seq(forbid)
    for x in fixes + forbid:
        if not isinstance(x, (str, Fix)):
            raise TypeError(f"fixes: expected 'SITE=ACTION[@YYYY-MM]' strings or Fix objects, got {x!r}")
    text_fix = [x for x in fixes if isinstance(x, str)]
    text_forbid = [x for x in forbid if isinstance(x, str)]
    objects = [x for x in fixes + forbid if isinstance(x, Fix)]
    as_text = [f"{f.site}={f.kind}" + (f"@{month_str(f.start)}" if f.start is not None else "")
               for f in objects]
    parsed = parse_fixes(text_fix + [t for t, f in zip(as_text, objects) if not f.forbid],
                         text_forbid + [t for t, f in zip(as_text, objects) if f.forbid], instance)
    return parsed


def plan(instance: InstanceLike, *, scenarios: int | None = None, seed: int | None = None,
         backend: str = "auto", time_limit: float | None = DEFAULT_TIME_LIMIT_S, gap: float = 1e-4,
         hours_per_month: int | None = None, fixes: Sequence[FixLike] | FixLike | None = None,
         forbid: Sequence[FixLike] | FixLike | None = None, chunk: int | None = None) -> PlanResult:
    """Solve the planning problem: value the catalog, then the MIP with CVaR cuts.

    Parameters
    ----------
    instance : Instance, str or PathLike
        An instance, or the path of its TOML file.
    scenarios, seed : int, optional
        In-sample scenario count and seed (default: the instance's).
    backend : {"auto", "numpy", "numba", "cupy"}
    time_limit : float or None
        Solver time limit, seconds (default `DEFAULT_TIME_LIMIT_S`, 600, as the CLI's):
        past it the best plan found is returned, ``solver["status"] == "time_limit"``
        with its certified gap. None: no limit.
    gap : float
        Relative MIP gap.
    hours_per_month : int, optional
        Sampled hours per scenario-month (default: the instance's).
    fixes, forbid : str, Fix or sequence, optional
        What-ifs: ``"mine=sell"``, ``"lake-mariner=convert@2026-07"`` or `Fix` objects.
    chunk : int, optional
        Scenarios per chunk (results do not depend on it).

    Returns
    -------
    PlanResult
        The plan: ``decisions``, ``financing`` (DataFrames), ``npv``, ``cash_balance()``,
        ``action_values`` (xarray), ``statistics()``, ``stats`` and ``document`` (plan.json).
        Raises `wattfolio.mip.solve.PlanInfeasible` when no plan meets the constraints.
    """
    inst = _instance(instance, hours_per_month)
    parsed = parse_what_ifs(fixes, forbid, inst)
    return plan_instance(inst, scenarios=scenarios, seed=seed, backend=backend, chunk=chunk,
                         time_limit=time_limit, gap=gap, fixes=parsed or None)


def _spec(plan_: Any, inst: Instance) -> PlanSpec:
    if isinstance(plan_, PlanResult):
        return plan_.spec
    if isinstance(plan_, PlanSpec):
        return plan_
    if isinstance(plan_, dict):
        return parse_plan(plan_, inst)
    return read_plan(plan_, inst)


def evaluate(instance: InstanceLike, plan: PlanResult | PlanSpec | dict | str | os.PathLike, *,
             scenarios: int | None = None, seed: int | None = None, backend: str = "auto",
             hours_per_month: int | None = None, cash_balance: bool = False,
             chunk: int | None = None) -> PlanValue:
    """Value a plan on scenarios (by default an out-of-sample seed).

    Parameters
    ----------
    instance : Instance, str or PathLike
    plan : PlanResult, PlanSpec, dict or path
        A planning run, a plan.json path, or its parsed content.
    scenarios, seed : int, optional
        Default: the instance's count, and a seed the in-sample run did not use.
    backend : {"auto", "numpy", "numba", "cupy"}
    hours_per_month : int, optional
    cash_balance : bool
        Also return month-end cash per scenario (``.cash_balance``, (S, M) numpy).
    chunk : int, optional

    Returns
    -------
    PlanValue
        ``samples`` (per-scenario NPV), ``stats`` (as plan.json), ``cash_balance``.
    """
    inst = _instance(instance, hours_per_month)
    return value_plan(inst, _spec(plan, inst), scenarios=scenarios, seed=seed, backend=backend,
                      chunk=chunk, cash_balance=cash_balance)


def frontier(result: PlanResult | InstanceLike, *, points: int = 8, scenarios: int | None = None,
             seed: int | None = None, backend: str = "auto", gap: float = 1e-4,
             fixes: Sequence[FixLike] | FixLike | None = None,
             forbid: Sequence[FixLike] | FixLike | None = None, out: str | os.PathLike | None = None):
    """The efficient frontier: the best E[NPV] at each CVaR floor.

    Parameters
    ----------
    result : PlanResult, Instance, str or PathLike
        A planning run (its ValueTable is reused: no new valuation) or an instance.
    points : int
        Floors from the risk-neutral plan's CVaR to the best reachable (>= 2).
    scenarios, seed : int, optional
        Ignored when `result` is a PlanResult (its scenarios are used).
    backend : {"auto", "numpy", "numba", "cupy"}
    gap : float
    fixes, forbid : optional
        What-ifs, as for `plan`.
    out : path, optional
        Also write frontier.json, frontier.csv and frontier.svg into this folder.

    Returns
    -------
    pandas.DataFrame
        One row per floor: ``floor_usd``, ``expected_npv_usd``, ``expected_npv_se_usd``,
        ``cvar_usd``, ``prob_loss``, ``changes`` (text against the previous row); the
        full rows (decisions, financing) in ``.attrs["rows"]`` and the one-sentence
        verdict (whether the floor binds, and by how much) in ``.attrs["summary"]``.
    """
    import pandas as pd

    from .analysis.frontier import _changes_text, _decisions_text, frontier as run_frontier
    from .analysis.frontier import frontier_files, frontier_summary

    if isinstance(result, PlanResult):
        inst, vt = result.instance, result.value_table
        scenarios, seed = result.scenarios, result.seed
    else:
        inst, vt = _instance(result), None
    parsed = parse_what_ifs(fixes, forbid, inst)
    rows = run_frontier(inst, points=points, scenarios=scenarios, seed=seed, backend=backend,
                        value_table=vt, fixes=parsed, gap=gap)
    n = scenarios or inst.plan.scenarios
    s = inst.plan.seed if seed is None else seed
    if out is not None:
        from .outputs import write_outputs
        write_outputs(out, frontier_files(inst, rows, scenarios=n, seed=s,
                                          backend=vt.backend if vt is not None else backend,
                                          fixes=parsed))
    df = pd.DataFrame({
        "floor_usd": [r["floor_usd"] for r in rows],
        "expected_npv_usd": [r["expected_npv_usd"] for r in rows],
        "expected_npv_se_usd": [r["expected_npv_se_usd"] for r in rows],
        "cvar_usd": [r["cvar_usd"] for r in rows],
        "prob_loss": [r["prob_loss"] for r in rows],
        "changes": [_decisions_text(r["decisions"]) if i == 0 else (_changes_text(r["changed"]) or "(same plan)")
                    for i, r in enumerate(rows)],
    }).astype({"floor_usd": "float64", "expected_npv_usd": "float64", "cvar_usd": "float64"})
    df.attrs["rows"] = rows
    df.attrs["summary"] = frontier_summary(rows)
    return df


def sensitivity(result: PlanResult, *, scenarios: int | None = None, backend: str = "auto",
                replan: bool = True, inputs: Sequence[str] | None = None,
                fixes: Sequence[FixLike] | FixLike | None = None,
                forbid: Sequence[FixLike] | FixLike | None = None):
    """Low/high settings of the key inputs: the plan's E[NPV] and where the plan flips.

    Parameters
    ----------
    result : PlanResult
        The plan to test (its seed is used).
    scenarios : int, optional
        Scenarios per setting (default: the plan's own count; never lowered silently).
    backend : {"auto", "numpy", "numba", "cupy"}
    replan : bool
        Re-solve at each setting to find where the decisions flip.
    inputs : sequence of str, optional
        Input names (default: every one that applies).
    fixes, forbid : optional
        What-ifs the plan was made under.

    Returns
    -------
    pandas.DataFrame
        One row per input, sorted by swing: ``input``, ``label``, ``low``, ``high``,
        ``npv_low_usd``, ``npv_high_usd`` with their standard errors, ``swing_usd``,
        ``threshold`` (where the plan flips) and the rest of `analysis.sensitivity`'s
        row; ``.attrs["scenarios"]`` says how many scenarios were used.
    """
    import pandas as pd

    from .analysis.sensitivity import sensitivity as run_sensitivity

    n = result.scenarios if scenarios is None else scenarios
    parsed = parse_what_ifs(fixes, forbid, result.instance)
    rows = run_sensitivity(result.instance, result, scenarios=n, backend=backend, replan=replan,
                           fixes=parsed or None, inputs=inputs)
    df = pd.DataFrame(rows)
    df.attrs["scenarios"] = n
    df.attrs["rows"] = rows
    return df


def quality(result: PlanResult, *, level: str = "oos", oos_scenarios: int | None = None,
            batches: int = 10, evpi_scenarios: int = 200, backend: str = "auto") -> dict:
    """How far to trust the plan: out-of-sample E[NPV] and CVaR with 95% intervals, and
    with ``level="full"`` the Mak-Morton-Wood gap, VSS and EVPI.

    Parameters
    ----------
    result : PlanResult
    level : {"oos", "full"}
    oos_scenarios : int, optional
        Fresh scenarios (default: as many as the plan's).
    batches, evpi_scenarios : int
        For ``level="full"``.
    backend : {"auto", "numpy", "numba", "cupy"}

    Returns
    -------
    dict
        plan.json's ``quality`` section; also stored on ``result.quality`` so that
        `write_report` and ``result.document`` carry it.
    """
    from .analysis import quality as q

    if level == "oos":
        out = {"out_of_sample": q.out_of_sample(result.instance, result, scenarios=oos_scenarios,
                                                backend=backend)}
    elif level == "full":
        out = q.assess(result.instance, result, oos_scenarios=oos_scenarios, batches=batches,
                       evpi_scenarios=evpi_scenarios, backend=backend)
    else:
        raise ValueError(f"level: must be 'oos' or 'full', got {level!r}")
    result.quality = out
    return out


def write_report(result: PlanResult, path: str | os.PathLike, *, frontier: Any = None,
                 sensitivity: Any = None, backend: str = "auto") -> str:
    """Write report.html for a planning run (and the analyses run on it).

    Parameters
    ----------
    result : PlanResult
        Its ``quality`` (from `quality`) gives the report's cash fan when present; else
        the plan is valued once more on its in-sample scenarios.
    path : str or PathLike
        The .html file.
    frontier, sensitivity : DataFrame or list of dict, optional
        The outputs of `frontier` and `sensitivity`.
    backend : {"auto", "numpy", "numba", "cupy"}

    Returns
    -------
    str
        The path written.
    """
    from .report import build_context, render_report
    from .outputs import write_file

    def rows(x):
        if x is None:
            return None
        return x.attrs.get("rows") if hasattr(x, "attrs") else list(x)

    fan = ((result.quality or {}).get("out_of_sample") or {}).get("cash_balance_usd")
    cash = CashFan.from_dict(fan) if fan is not None else in_sample_cash_fan(result, backend=backend)
    ctx = build_context(result, cash=cash, quality=result.quality, frontier=rows(frontier),
                        sensitivity=rows(sensitivity), comparison=result.whatif)
    write_file(path, render_report(ctx))
    return os.fspath(path)
