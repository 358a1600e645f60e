"""A planning run end to end, and its result: what `wattfolio plan` writes and what the
Python API returns.

Catalog -> ValueTable (engine) -> MIP with CVaR cuts (solve) -> a clean plan (tiny MW
and draws dropped, MW rounded to 1e-6, dollars to cents) whose in-sample stats are then
computed from those clean numbers exactly as `evaluate` would, so that
`wattfolio evaluate --seed <plan seed> --scenarios <plan count>` reproduces them.
"""
from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .gpu.risk import summary, var
from .gpu.value_table import ValueTable

from .planning.catalog import Action, build_catalog
from .planning.valuation import in_sample_state, value_actions
from .plan_value import needs_cash_paths, plan_samples, value_plan
from .planning.cash_fan import CashFan
from .planning.finance import financing_cost_and_cash
from .instance.types import Instance
from .instance.warnings import instance_warnings
from .outputs import to_json, write_outputs
from .planning.plan_file import PlanSpec, decisions_csv, plan_document
from .planning.rules import whole_blocks

MW_DIGITS = 6        # round converted MW to a micro-MW
MIN_DRAW_USD = 1.0   # a solver's 1e-7 dollar draw is not a decision


@dataclass
class PlanResult:
    instance: Instance
    actions: list[Action]                # the decisions taken, catalog order
    quantities: list[float]
    draws: list[tuple[str, float, int]]  # (instrument, usd, absolute month); `financing` is the table
    samples: np.ndarray                  # plan NPV per in-sample scenario, net of financing
    stats: dict
    solver: dict
    seed: int
    scenarios: int
    backend: str
    value_table: ValueTable | None = None
    catalog: list[Action] = field(default_factory=list)
    seconds_total: float = 0.0
    quality: dict | None = None          # plan.json's `quality` section, when assessed
    whatif: dict | None = None           # the constrained plan against the free one
    arguments: list[str] | None = None   # the command line that made it (plan.json), when a CLI run
    cash_fan: CashFan | None = None      # month-end cash percentiles on the in-sample scenarios
    timings: dict = field(default_factory=dict)  # wall seconds by stage (draws, valuation, solve, plan_value)

    # ---- labelled views for analysts (wattfolio.api) ------------------------------------
    @property
    def financing(self):
        """The financing draws as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per draw: ``instrument`` (string), ``amount_usd`` (float64) and
            ``start`` (``pd.Period``, monthly).
        """
        from .planning.labels import financing_frame
        return financing_frame(self.draws)

    @property
    def decisions(self):
        """The decisions as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per action taken: ``site``, ``action``, ``lease`` (strings; lease
            missing for sell/acquire), ``start`` (``pd.Period``, monthly) and ``mw``
            (float64; NaN for sell/acquire).
        """
        from .planning.labels import decisions_frame
        return decisions_frame(self.actions, self.quantities)

    @property
    def npv(self):
        """Plan NPV per in-sample scenario as an xarray DataArray over ``scenario``."""
        from .planning.labels import npv_array
        return npv_array(self.samples, seed=self.seed)

    @property
    def action_values(self):
        """Per-unit NPV of every catalog action in every scenario (the ValueTable):
        an ``action`` x ``scenario`` DataArray with site, kind, start and lease coordinates."""
        from .planning.labels import action_values_array
        if self.value_table is None:
            raise ValueError("action_values: this result carries no ValueTable")
        return action_values_array(self.value_table, self.catalog or build_catalog(self.instance),
                                   seed=self.seed)

    def cash_balance(self, *, backend: str | None = None, chunk: int | None = None):
        """Month-end cash in every in-sample scenario, valued on demand.

        Parameters
        ----------
        backend : str, optional
            ``auto``, ``numpy`` or ``cupy`` (default: the run's backend).
        chunk : int, optional
            Scenarios per chunk (results do not depend on it).

        Returns
        -------
        xarray.DataArray
            ``scenario`` x ``month`` (``pd.Period`` months), USD.
        """
        from .planning.labels import cash_array
        ev = value_plan(self.instance, self.spec, scenarios=self.scenarios, seed=self.seed,
                        backend=backend or self.backend, chunk=chunk, cash_balance=True)
        return cash_array(ev.cash_balance, self.instance.plan.start, seed=self.seed)

    def statistics(self):
        """One tidy table by site and action kind (see `wattfolio.analysis.statistics`)."""
        from .analysis.statistics import statistics
        return statistics(self)

    def __repr__(self) -> str:
        from .analysis.statistics import result_repr
        return result_repr(self)

    def _repr_html_(self) -> str:
        from .analysis.statistics import result_html
        return result_html(self)

    @property
    def document(self) -> dict:
        """plan.json's content."""
        doc = plan_document(self.instance, self.actions, self.quantities, self.draws)
        doc.update({
            "name": self.instance.plan.name,
            "stats": self.stats,
            "solver": self.solver,
            "scenarios": self.scenarios,
            "seed": self.seed,
            "hours_per_month": self.instance.plan.hours_per_month,
            "backend": self.backend,
            "versions": versions(),
            "arguments": self.arguments,
            "revision": source_revision(),
            # what looked unintended in the instance (instance/warnings.py): shown, not fatal
            "warnings": instance_warnings(self.instance),
        })
        if self.quality is not None:
            doc["quality"] = self.quality
        if self.whatif is not None:
            doc["whatif"] = self.whatif
        return doc

    @property
    def var_usd(self) -> float:
        """VaR at the instance's alpha of the in-sample plan NPV: where the tail CVaR
        averages begins (kept out of plan.json's stats, which `evaluate` reproduces)."""
        return var(self.samples, self.instance.risk.alpha)

    @property
    def spec(self) -> PlanSpec:
        """The plan's decisions and financing, as `value_plan` takes them."""
        return PlanSpec(actions=list(self.actions), quantities=list(self.quantities),
                        financing=list(self.draws))


# every package whose version can shape the numbers (cupy under any of its wheel names)
VERSIONED = ("wattfolio", "numpy", "scipy", "pandas", "pyomo", "highspy", "cupy", "cupy-cuda13x",
             "cupy-cuda12x", "xarray", "pyarrow")


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    """The Python and package versions that shaped the numbers (absent packages left out).

    Returns
    -------
    dict
        ``{"python": ..., "numpy": ..., ...}``.
    """
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return dict(out)


@functools.lru_cache(maxsize=1)
def source_revision() -> str | None:
    """The git commit of the source tree this package runs from, or None when it is not
    a git checkout (or git is missing); never raises.

    Returns
    -------
    str or None
    """
    import subprocess

    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        rev = out.stdout.strip()
        return rev if out.returncode == 0 and rev else None
    except Exception:
        return None


def clean_plan(actions: Sequence[Action], quantities: np.ndarray,
               draws: Sequence[tuple[str, float, int]]):
    """Drop what the solver left at (numerically) zero and round the rest: MW to
    MW_DIGITS, and a convert built in blocks to its exact whole number of blocks (20.0,
    not 19.9999999; MW that are no whole number are left for the rules to report)."""
    taken, qty = [], []
    for a, q in zip(actions, quantities):
        if a.kind == "convert" and a.block_mw > 0 and whole_blocks(float(q), a.block_mw):
            q = a.block_mw * round(float(q) / a.block_mw)
        q = round(float(q), MW_DIGITS) if a.kind == "convert" else float(round(q))
        if q > 0:
            taken.append(a)
            qty.append(q)
    financing = [(k, round(float(v), 2), int(t)) for k, v, t in draws if v >= MIN_DRAW_USD]
    return taken, qty, financing


def _check_rules(instance: Instance, taken, qty, financing) -> None:
    """The solved, cleaned plan against the plan rules `evaluate` applies; a violation
    (the solver's numerics, or rounding) is no plan that meets the constraints: exit 3."""
    from .errors import PlanInfeasible
    from .planning.rules import violations

    broken = violations(instance, taken, qty, financing)
    if broken:
        raise PlanInfeasible("the solver's plan breaks the plan rules, so it is not written: "
                             + "; ".join(broken[:5]) + ("; ..." if len(broken) > 5 else ""),
                             reason="rules")


def plan_instance(instance: Instance, *, scenarios: int | None = None, seed: int | None = None,
                  backend: str = "auto", chunk: int | None = None, time_limit: float | None = None,
                  gap: float = 1e-4, fixes: Any = None,
                  valuation_progress: Callable[[int, int], None] | None = None,
                  solver_progress: Callable[[str], None] | None = None,
                  value_table: ValueTable | None = None, fan: bool | None = None) -> PlanResult:
    """Value the catalog, solve the MIP with CVaR cuts, and return the clean plan.

    `value_table` reuses a valuation of the same scenarios (frontier points, what-ifs).
    `fan` values the plan's month-end cash for its fan chart (`PlanResult.cash_fan`); by
    default only when the run values its own catalog (a caller that hands in a table
    wants the decisions). A plan whose value depends on its cash scenario by scenario (a
    priced revolver, a liquidity floor) is valued so either way.

    Raises wattfolio.mip.solve.PlanInfeasible when no plan meets the constraints.
    """
    from .mip.solve import solve

    import time

    clock, timings = time.perf_counter(), {}

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - clock
        clock = now

    scenarios = instance.plan.scenarios if scenarios is None else scenarios
    seed = instance.plan.seed if seed is None else seed
    instance = instance.with_plan(scenarios=scenarios, seed=seed)
    catalog = build_catalog(instance)
    # the scenarios are drawn once and every later valuation on them (the liquidity cuts'
    # rounds, the plan's cash) reuses the draws: the same numbers, a fraction of the time
    fan = value_table is None if fan is None else fan
    paths = fan or needs_cash_paths(instance)
    state = in_sample_state(instance, catalog, backend=backend, chunk=chunk) \
        if value_table is None or paths else None
    lap("draws")
    vt = value_table or value_actions(instance, catalog, backend=backend, chunk=chunk,
                                      progress=valuation_progress, state=state)
    lap("valuation")
    sol = solve(instance, catalog, vt, time_limit=time_limit, gap=gap, progress=solver_progress,
                fixes=fixes, state=state)
    lap("solve")
    taken, qty, financing = clean_plan(catalog, sol.quantities, sol.draws)
    _check_rules(instance, taken, qty, financing)   # a plan `evaluate` would reject is never written
    cost, _ = financing_cost_and_cash(instance, financing)
    samples = plan_samples(vt, [a.index for a in taken], qty, cost)
    stats = summary(samples, instance.risk.alpha)
    # the plan's cash scenario by scenario (revolver, refinancing), valued exactly as
    # `evaluate` would, so that it reproduces these stats; its fan is the report's when
    # no out-of-sample check runs
    cash_fan = None
    if paths:
        ev = value_plan(instance, PlanSpec(taken, qty, financing), scenarios=scenarios, seed=seed,
                        backend=backend, chunk=chunk, fan=fan, state=state)
        if needs_cash_paths(instance):
            samples, stats = ev.samples, ev.stats
        cash_fan = ev.cash_fan
    lap("plan_value")
    solver = {
        "status": sol.status,
        "gap": float(sol.gap),
        "seconds": float(sol.seconds),
        "cuts": int(sol.cuts),
        "rounds": len(sol.rounds),
        "method": sol.method,
        "objective_usd": float(sol.objective),
        "round_log": sol.rounds,
        "liquidity_rounds": sol.liquidity_rounds,
    }
    p = instance.risk.liquidity_probability
    if p is not None and "liquidity" in stats:
        # judged on the figure the stats print: the cuts can end short of it (their round
        # limit, the time limit, or the interest on drawn balances their linear bound omits)
        solver["liquidity_floor_met"] = bool(stats["liquidity"]["prob_below_min"] <= 1.0 - p + 1e-12)
    return PlanResult(instance=instance, actions=taken, quantities=qty, draws=financing,
                      samples=samples, stats=stats, solver=solver,
                      seed=seed, scenarios=scenarios, backend=vt.backend, value_table=vt,
                      catalog=catalog, cash_fan=cash_fan, timings=timings)


def in_sample_cash_fan(result: PlanResult, *, backend: str = "auto", chunk: int | None = None,
                       progress: Callable[[int, int], None] | None = None) -> CashFan:
    """The plan's month-end cash across its own in-sample scenarios.

    The planning run values every candidate action but not the chosen plan's cash path
    (the plan is known only after the solve), so the plan is valued once more on the same
    scenarios (same seed and count; only its actions, far cheaper than the run itself).
    Use it when no out-of-sample evaluation ran (``quality.out_of_sample`` carries the
    fresh scenarios' fan).

    Parameters
    ----------
    result : PlanResult
        The planning run.
    backend, chunk, progress
        As for `value_plan`.

    Returns
    -------
    CashFan
        Percentiles of month-end cash over the ``result.scenarios`` in-sample scenarios.
    """
    ev = value_plan(result.instance, result.spec, scenarios=result.scenarios, seed=result.seed,
                    backend=backend, chunk=chunk, progress=progress, fan=True)
    return ev.cash_fan


def write_plan_outputs(result: PlanResult, out_dir: str, extra: dict | None = None,
                       cash: CashFan | None = None) -> None:
    """plan.json, decisions.csv, npv_samples.npy and npv_samples.parquet (scenario,
    npv_usd), cash_quantiles.parquet (month, p05..p95) when `cash` is given, and any
    `extra` files, atomically."""
    from .planning.labels import cash_quantiles_frame, npv_frame

    def samples(path):
        with open(path, "wb") as f:
            np.save(f, result.samples)

    files: dict[str, Any] = {
        "plan.json": to_json(result.document),
        "decisions.csv": decisions_csv(result.instance, result.actions, result.quantities),
        "npv_samples.npy": samples,
        "npv_samples.parquet": lambda path: npv_frame(result.samples).to_parquet(path, index=False),
    }
    if cash is not None:
        files["cash_quantiles.parquet"] = (
            lambda path: cash_quantiles_frame(cash).to_parquet(path, index=False))
    files.update(extra or {})
    write_outputs(out_dir, files, kind="plan")
