"""What the quality checks share: a plan's in-sample table, its spec, sliced and
re-based ValueTables for sub-problems, and the floor test.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..gpu.backend import to_host
from ..gpu.risk import cvar
from ..gpu.value_table import ValueTable

from ..planning.catalog import Action, build_catalog
from ..planning.valuation import value_actions
from ..instance.types import Instance
from ..mip.model import PlanModel
from ..planning.plan_file import PlanSpec
from ..run import PlanResult


from .intervals import FLOOR_TOL


# ---- helpers -----------------------------------------------------------------------------

def objective_of(samples: Any, alpha: float, weight: float) -> float:
    """The plan objective on these scenarios: (1 - w) E[NPV] + w CVaR_alpha."""
    v = np.asarray(to_host(samples), dtype=np.float64)
    e = float(v.mean())
    return e if weight <= 0 else (1.0 - weight) * e + weight * cvar(v, alpha)


def _meets(c: float, floor: float | None) -> bool:
    return floor is None or c >= floor - FLOOR_TOL * max(abs(floor), 1.0)


def _with(instance: Instance, scenarios: int, seed: int) -> Instance:
    return instance.with_plan(scenarios=scenarios, seed=seed)


def _in_sample_table(instance: Instance, result: PlanResult, backend: str) -> tuple[list[Action], ValueTable]:
    catalog = result.catalog or build_catalog(result.instance)
    vt = result.value_table
    if vt is None:
        vt = value_actions(_with(instance, result.scenarios, result.seed), catalog, backend=backend)
    return catalog, vt


def _spec(result: PlanResult) -> PlanSpec:
    return PlanSpec(list(result.actions), list(result.quantities), list(result.draws))


def _expected_cash_from(vt: ValueTable, ref: ValueTable) -> ValueTable:
    """`vt`'s scenarios with `ref`'s expected cash: the cash constraints (in expectation)
    then read the same numbers in every sub-problem, so every sub-problem has the
    candidate plan's feasible set and only the objective is sampled."""
    return replace(vt, cash=ref.cash, baseline_cash=ref.baseline_cash)


def _scenario_slice(vt: ValueTable, s0: int, s1: int) -> ValueTable:
    return replace(vt, npv=vt.npv[:, s0:s1], baseline_npv=vt.baseline_npv[s0:s1], plan_cash=None)


def _draw_list(pm: PlanModel, amounts: np.ndarray) -> list[tuple[str, float, int]]:
    return [(d.instrument, float(v), d.month) for d, v in zip(pm.draws, amounts) if v > 0.5]
