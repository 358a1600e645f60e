"""The analysts' API: the same runs as the CLI, returning objects instead of files.

    >>> import wattfolio as wf
    >>> result = wf.plan("instances/terawulf.toml", scenarios=2000)
    >>> result.decisions          # pandas DataFrame: site, action, start, mw, lease
    >>> result.stats["cvar_usd"]  # the same stats as plan.json
    >>> result.samples            # plan NPV per scenario (numpy)
    >>> wf.evaluate("instances/terawulf.toml", result, seed=99).stats
"""
from __future__ import annotations

import os
from typing import Any, Union

from .evaluation import Evaluation, evaluate_spec
from .instance.types import Instance
from .instance.load import load_instance
from .planning.plan_file import PlanSpec, parse_plan, read_plan
from .run import PlanResult, plan_instance

InstanceLike = Union[Instance, str, os.PathLike]


def _instance(instance: InstanceLike, hours_per_month: int | None) -> Instance:
    inst = instance if isinstance(instance, Instance) else load_instance(instance)
    if hours_per_month is not None:
        inst = inst.with_plan(hours_per_month=hours_per_month)
    return inst


def plan(instance: InstanceLike, *, scenarios: int | None = None, seed: int | None = None,
         backend: str = "auto", time_limit: float | None = None, gap: float = 1e-4,
         hours_per_month: int | None = None, fixes: Any = None) -> PlanResult:
    """Solve the planning problem; see `wattfolio.run.PlanResult`."""
    return plan_instance(_instance(instance, hours_per_month), scenarios=scenarios, seed=seed,
                         backend=backend, time_limit=time_limit, gap=gap, fixes=fixes)


def evaluate(instance: InstanceLike, plan: PlanResult | PlanSpec | dict | str | os.PathLike, *,
             scenarios: int | None = None, seed: int | None = None, backend: str = "auto",
             hours_per_month: int | None = None, cash_balance: bool = False) -> Evaluation:
    """Value a plan (a PlanResult, a plan.json path, or its parsed dict) on scenarios;
    the default seed is out-of-sample."""
    inst = _instance(instance, hours_per_month)
    if isinstance(plan, PlanResult):
        spec = PlanSpec(list(plan.actions), list(plan.quantities), list(plan.financing))
    elif isinstance(plan, PlanSpec):
        spec = plan
    elif isinstance(plan, dict):
        spec = parse_plan(plan, inst)
    else:
        spec = read_plan(plan, inst)
    return evaluate_spec(inst, spec, scenarios=scenarios, seed=seed, backend=backend,
                         cash_balance=cash_balance)
