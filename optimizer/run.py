"""A planning run end to end, and its result: what `wattfolio plan` writes and what the
Python API returns.

Catalog -> ValueTable (engine) -> MIP with CVaR cuts (solve) -> a clean plan (tiny MW
and draws dropped, MW rounded to 1e-6, dollars to cents) whose in-sample stats are then
computed from those clean numbers exactly as `evaluate` would, so that
`wattfolio evaluate --seed <plan seed> --scenarios <plan count>` reproduces them.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .gpu.risk import summary, var
from .gpu.value_table import ValueTable

from .planning.catalog import Action, build_catalog
from .planning.valuation import value_actions
from .evaluation import evaluate_spec, plan_samples
from .planning.cash_fan import CashFan
from .planning.finance import financing_cost_and_cash
from .instance.types import Instance
from .instance.warnings import instance_warnings
from .outputs import to_json, write_outputs
from .planning.plan_file import PlanSpec, decisions_csv, plan_document

MW_DIGITS = 6        # round converted MW to a micro-MW
MIN_DRAW_USD = 1.0   # a solver's 1e-7 dollar draw is not a decision


@dataclass
class PlanResult:
    instance: Instance
    actions: list[Action]                # the decisions taken, catalog order
    quantities: list[float]
    financing: list[tuple[str, float, int]]
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

    @property
    def document(self) -> dict:
        """plan.json's content."""
        doc = plan_document(self.instance, self.actions, self.quantities, self.financing)
        doc.update({
            "name": self.instance.plan.name,
            "stats": self.stats,
            "solver": self.solver,
            "scenarios": self.scenarios,
            "seed": self.seed,
            "hours_per_month": self.instance.plan.hours_per_month,
            "backend": self.backend,
            "versions": versions(),
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
        """The plan's decisions and financing, as `evaluate_spec` takes them."""
        return PlanSpec(actions=list(self.actions), quantities=list(self.quantities),
                        financing=list(self.financing))

    @property
    def decisions(self):
        """The decisions as a pandas DataFrame (one row per action taken)."""
        import pandas as pd

        rows = self.document["decisions"]
        return pd.DataFrame(rows, columns=["site", "action", "start", "mw", "lease"])


def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("wattfolio", "numpy", "pyomo", "highspy", "cupy-cuda13x", "cupy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def clean_plan(actions: Sequence[Action], quantities: np.ndarray,
               draws: Sequence[tuple[str, float, int]]):
    """Drop what the solver left at (numerically) zero and round the rest."""
    taken, qty = [], []
    for a, q in zip(actions, quantities):
        q = round(float(q), MW_DIGITS) if a.kind == "convert" else float(round(q))
        if q > 0:
            taken.append(a)
            qty.append(q)
    financing = [(k, round(float(v), 2), int(t)) for k, v, t in draws if v >= MIN_DRAW_USD]
    return taken, qty, financing


def plan_instance(instance: Instance, *, scenarios: int | None = None, seed: int | None = None,
                  backend: str = "auto", chunk: int | None = None, time_limit: float | None = None,
                  gap: float = 1e-4, fixes: Any = None,
                  valuation_progress: Callable[[int, int], None] | None = None,
                  solver_progress: Callable[[str], None] | None = None,
                  value_table: ValueTable | None = None) -> PlanResult:
    """Value the catalog, solve the MIP with CVaR cuts, and return the clean plan.

    Raises wattfolio.mip.solve.PlanInfeasible when no plan meets the constraints.
    """
    from .mip.solve import solve

    scenarios = instance.plan.scenarios if scenarios is None else scenarios
    seed = instance.plan.seed if seed is None else seed
    instance = instance.with_plan(scenarios=scenarios, seed=seed)
    catalog = build_catalog(instance)
    vt = value_table or value_actions(instance, catalog, backend=backend, chunk=chunk,
                                      progress=valuation_progress)
    sol = solve(instance, catalog, vt, time_limit=time_limit, gap=gap, progress=solver_progress,
                fixes=fixes)
    taken, qty, financing = clean_plan(catalog, sol.quantities, sol.draws)
    cost, _ = financing_cost_and_cash(instance, financing)
    samples = plan_samples(vt, [a.index for a in taken], qty, cost)
    solver = {
        "status": sol.status,
        "gap": float(sol.gap),
        "seconds": float(sol.seconds),
        "cuts": int(sol.cuts),
        "rounds": len(sol.rounds),
        "method": sol.method,
        "objective_usd": float(sol.objective),
        "round_log": sol.rounds,
    }
    return PlanResult(instance=instance, actions=taken, quantities=qty, financing=financing,
                      samples=samples, stats=summary(samples, instance.risk.alpha), solver=solver,
                      seed=seed, scenarios=scenarios, backend=vt.backend, value_table=vt,
                      catalog=catalog)


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
        As for `evaluate_spec`.

    Returns
    -------
    CashFan
        Percentiles of month-end cash over the ``result.scenarios`` in-sample scenarios.
    """
    ev = evaluate_spec(result.instance, result.spec, scenarios=result.scenarios, seed=result.seed,
                       backend=backend, chunk=chunk, progress=progress, cash_balance=True)
    return CashFan.from_paths(ev.cash_balance, start_month=result.instance.plan.start,
                              min_cash_usd=result.instance.finance.min_cash_usd, sample="in-sample",
                              seed=result.seed)


def write_plan_outputs(result: PlanResult, out_dir: str, extra: dict | None = None) -> None:
    """plan.json, decisions.csv, npv_samples.npy (and any `extra` files), atomically."""

    def samples(path):
        with open(path, "wb") as f:
            np.save(f, result.samples)

    files: dict[str, Any] = {
        "plan.json": to_json(result.document),
        "decisions.csv": decisions_csv(result.instance, result.actions, result.quantities),
        "npv_samples.npy": samples,
    }
    files.update(extra or {})
    write_outputs(out_dir, files)
