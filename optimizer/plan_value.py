"""Value a given plan on scenarios: per-scenario NPV and its risk statistics.

The plan's NPV in scenario s is the baseline plus each taken action's NPV times its
quantity, less the financing's value cost. The sum is formed in one fixed order
(catalog order) so that `plan` and `evaluate` on the same seed and scenario count give
bit-identical samples, hence identical stats.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .gpu.backend import to_host
from .gpu.risk import summary
from .gpu.value_table import ValueTable

from .planning.valuation import value_actions
from .planning.finance import financing_cost_and_cash
from .instance.types import Instance
from .planning.liquidity import (cash_paths, financing_cash, liquidity_stats, refinance_open,
                                 revolver_of)
from .planning.plan_file import PlanSpec

# Out-of-sample by default: a seed the in-sample run did not use.
OUT_OF_SAMPLE_SEED_OFFSET = 1_000_003


@dataclass
class PlanValue:
    samples: np.ndarray          # (S,) plan NPV per scenario, net of financing, host
    stats: dict
    seed: int
    scenarios: int
    backend: str
    financing_cost_usd: float
    cash_balance: np.ndarray | None = None  # (S, M) cash at each month's end, when asked
    revolver_drawn: np.ndarray | None = None  # (S, M) revolver balance at each month's end


def needs_cash_paths(instance: Instance) -> bool:
    """Whether a plan's value depends on its cash scenario by scenario: a priced revolver
    (its interest is a cost) or a liquidity floor (its figures are stats)."""
    rv = revolver_of(instance)
    return (instance.risk.liquidity_probability is not None
            or (rv.limit_usd > 0 and (rv.rate > 0 or rv.commitment_fee > 0)))


def plan_samples(vt: ValueTable, rows: Sequence[int], quantities: Sequence[float],
                 financing_cost_usd: float) -> np.ndarray:
    """baseline + sum_i npv[rows[i]] * q[i] - financing, in the given order, on the
    device; only the (S,) result comes to the host."""
    total = vt.baseline_npv.copy()
    for r, q in zip(rows, quantities):
        total += vt.npv[int(r)] * float(q)
    total -= financing_cost_usd
    return to_host(total)


def value_plan(instance: Instance, spec: PlanSpec, *, scenarios: int | None = None,
                  seed: int | None = None, backend: str = "auto", chunk: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  cash_balance: bool = False, state=None) -> PlanValue:
    """Value a plan's decisions and financing on `scenarios` scenarios of `seed`
    (defaults: the instance's count, and an out-of-sample seed). With `cash_balance`,
    also the company's cash at each month's end in every scenario: opening cash plus
    the plan's operating cash plus the financing's cash. `state`: the draws of these
    scenarios when the caller holds them (`planning.valuation.in_sample_state`)."""
    scenarios = instance.plan.scenarios if scenarios is None else scenarios
    seed = instance.plan.seed + OUT_OF_SAMPLE_SEED_OFFSET if seed is None else seed
    paths_needed = cash_balance or needs_cash_paths(instance)
    vt = value_actions(instance, spec.actions, scenarios=scenarios, seed=seed,
                       backend=backend, chunk=chunk, progress=progress,
                       plan_quantities=spec.quantities if paths_needed else None,
                       state=state if state is not None and state.seed == seed
                       and state.scenarios == scenarios else None)
    cost, _ = financing_cost_and_cash(instance, spec.financing)
    liquidity, paths = None, None
    if paths_needed:
        # cash scenario by scenario: refinancing where the market is open, the revolver rule
        seeded = instance.with_plan(scenarios=scenarios, seed=seed)
        flags = refinance_open(seeded, np.arange(scenarios), vt.backend)
        paths = cash_paths(seeded, vt.plan_cash, financing_cash(seeded, spec.financing, flags, scenarios))
        liquidity = liquidity_stats(seeded, paths)
        # the revolver's interest and fees are charged to every scenario at their mean, as
        # the financing's value cost is (`mip.liquidity` optimises the same quantity)
        cost += liquidity.expected_revolver_cost_usd
    samples = plan_samples(vt, range(len(spec.actions)), spec.quantities, cost)
    stats = summary(samples, instance.risk.alpha)
    if liquidity is not None:
        stats["liquidity"] = liquidity.as_dict(instance)
    return PlanValue(samples=samples, stats=stats, seed=seed,
                      scenarios=scenarios, backend=vt.backend, financing_cost_usd=cost,
                      cash_balance=paths.cash if cash_balance and paths is not None else None,
                      revolver_drawn=paths.drawn if cash_balance and paths is not None else None)
