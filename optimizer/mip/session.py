"""The persistent HiGHS session a plan model is solved in (Pyomo's `pyomo.contrib.solver`
HiGHS interface).

The model goes to HiGHS once; after that every change is handed over explicitly (new cut
or fix rows, changed bounds or domains), so a cut round re-solves without Pyomo walking
the model again. Solving (`solve`) and reading the solution back into the Pyomo variables
(`load_solution`, PyPSA's ``assign_solution``) are separate steps: a loop may look at the
outcome before deciding to read anything.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

# `wattfolio -vv` sets this logger to DEBUG (cli.progress): HiGHS then logs to the terminal
HIGHS_LOGGER = "wattfolio.highs"

# every change goes through add_constraints / update_variables explicitly: the automatic
# scan walks all constraints on every re-solve
_AUTO_UPDATES = ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                 "check_for_new_or_removed_params", "check_for_new_objective",
                 "update_constraints", "update_vars", "update_parameters",
                 "update_named_expressions", "update_objective")


@dataclass(frozen=True)
class SolveOutcome:
    """One HiGHS run. Money in USD; `gap` is the relative MIP gap (`relative_gap`)."""

    status: str            # optimal | time_limit | infeasible | no_solution | other
    objective: float       # incumbent objective (nan without a solution)
    bound: float           # dual bound (nan when unknown)
    gap: float
    seconds: float

    @property
    def has_solution(self) -> bool:
        return not math.isnan(self.objective)


def relative_gap(objective: float, bound: float) -> float:
    """(bound - objective) / max(|objective|, 1) for a maximisation; nan when unknown."""
    if math.isnan(objective) or math.isnan(bound):
        return math.nan
    return max(bound - objective, 0.0) / max(abs(objective), 1.0)


def _status(tc: TerminationCondition, has_solution: bool) -> str:
    if tc == TerminationCondition.convergenceCriteriaSatisfied:
        return "optimal"
    if tc == TerminationCondition.maxTimeLimit:
        return "time_limit"
    if tc in (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded):
        return "infeasible"
    return "other" if has_solution else "no_solution"


class HighsSession:
    """A Pyomo model held in one persistent HiGHS instance.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        The model; handed to HiGHS on first use (`solver`).
    scale : float
        USD per objective unit (the model's $M), for `SolveOutcome`.
    """

    def __init__(self, model: pyo.ConcreteModel, scale: float = 1.0) -> None:
        self.model = model
        self.scale = float(scale)
        self.transfer_seconds = 0.0
        self.results = None
        self._opt: Highs | None = None

    @property
    def started(self) -> bool:
        """Whether the model has been handed to HiGHS yet."""
        return self._opt is not None

    @property
    def solver(self) -> Highs:
        """The persistent solver, created (and the model transferred) on first use."""
        if self._opt is None:
            t0 = time.perf_counter()
            opt = Highs()
            for flag in _AUTO_UPDATES:
                setattr(opt.config.auto_updates, flag, False)
            opt.config.load_solutions = False
            opt.config.raise_exception_on_nonoptimal_result = False
            opt.set_instance(self.model)
            self._opt = opt
            self.transfer_seconds = time.perf_counter() - t0
        return self._opt

    # ---- changes ------------------------------------------------------------------------
    # Before the first transfer there is nothing to update: set_instance reads the model
    # as it is then.

    def add_constraints(self, cons: Sequence) -> None:
        """Hand new constraints (and the new variables in them) to HiGHS."""
        if self._opt is not None and cons:
            self._opt.add_constraints(list(cons))

    def remove_constraints(self, cons: Sequence) -> None:
        """Take constraints out of HiGHS (the caller deactivates them in the model)."""
        if self._opt is not None and cons:
            self._opt.remove_constraints(list(cons))

    def update_variables(self, variables: Sequence) -> None:
        """Hand changed bounds or domains of these variables to HiGHS."""
        if self._opt is not None and variables:
            self._opt.update_variables(list(variables))

    # ---- solving and reading back -------------------------------------------------------

    def solve(self, time_limit: float | None = None, gap: float = 1e-4,
              options: dict | None = None) -> SolveOutcome:
        """Run HiGHS to relative MIP gap `gap` within `time_limit` seconds. The solution
        stays in HiGHS until `load_solution`."""
        opt = self.solver
        t0 = time.perf_counter()
        kw = {"rel_gap": gap, "solver_options": dict(options or {})}
        if logging.getLogger(HIGHS_LOGGER).isEnabledFor(logging.DEBUG):
            kw["tee"] = True   # wattfolio -vv: HiGHS's own log on the terminal
        if time_limit is not None:
            kw["time_limit"] = max(float(time_limit), 0.01)
        res = opt.solve(self.model, **kw)
        secs = time.perf_counter() - t0
        self.results = res
        obj = res.incumbent_objective
        has = obj is not None
        bound = res.objective_bound
        objective = obj * self.scale if has else math.nan
        bound = bound * self.scale if bound is not None and math.isfinite(bound) else math.nan
        return SolveOutcome(_status(res.termination_condition, has), objective, bound,
                            relative_gap(objective, bound), secs)

    def load_solution(self) -> bool:
        """Write the last run's incumbent into the model's variables; False without one."""
        if self.results is None or self.results.incumbent_objective is None:
            return False
        self.results.solution_loader.load_vars()
        return True

    # Pyomo's interface exposes neither MIP starts nor HiGHS's pool of improving
    # solutions; both live on the highspy object it wraps. These are the only places
    # that reach into it.
    def columns(self, variables: Sequence) -> np.ndarray:
        """HiGHS column index of each variable."""
        vmap = self.solver._pyomo_var_to_solver_var_map
        return np.array([vmap[id(v)] for v in variables], dtype=np.int32)

    def set_start(self, variables: Sequence, values: np.ndarray) -> None:
        """A MIP start giving these variables these values (HiGHS completes the rest)."""
        cols = self.columns(variables)
        self.solver._solver_model.setSolution(len(cols), cols,
                                              np.asarray(values, dtype=np.float64))

    def keep_improving_solutions(self, on: bool = True) -> None:
        """Have HiGHS save every improving solution of the next runs."""
        self.solver._solver_model.setOptionValue("mip_improving_solution_save", on)

    def saved_solutions(self) -> list[np.ndarray]:
        """Column values of each improving solution HiGHS saved in the last run."""
        return [np.asarray(sol.col_value) for sol in self.solver._solver_model.getSavedMipSolutions()]
