"""Value a given plan on scenarios: per-scenario NPV and its risk statistics.

The plan's NPV in scenario s is the baseline plus each taken action's NPV times its
quantity, less the financing's value cost. The sum is formed in one fixed order
(catalog order) so that `plan` and `evaluate` on the same seed and scenario count give
bit-identical samples, hence identical stats.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .gpu.backend import to_host
from .gpu.risk import summary
from .gpu.value_table import ValueTable

from .planning.valuation import value_actions
from .planning.finance import financing_cost_and_cash
from .instance.types import Instance
from .planning.liquidity import cash_paths, financing_cash, refinance_open, revolver_of
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
    cash_fan: Any = None                      # CashFan, when asked (fan=True)


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
               cash_balance: bool = False, fan: bool = False, state=None) -> PlanValue:
    """Value a plan's decisions and financing on `scenarios` scenarios of `seed`.

    Scenarios are valued in blocks of `planning.blocks.BLOCK_SCENARIOS`; each block's
    cash paths are reduced (`CashReducer`) and let go, so memory does not grow with the
    scenario count (only the (S,) NPV samples are kept).

    Parameters
    ----------
    instance : Instance
    spec : PlanSpec
        The plan's decisions and financing.
    scenarios, seed : int, optional
        Defaults: the instance's count, and an out-of-sample seed.
    backend, chunk, progress
        As for `planning.valuation.value_actions`.
    cash_balance : bool
        Also return the company's cash at each month's end in every scenario (S, M): the
        whole cube, as asked (opening cash + the plan's operating cash + the financing's
        cash, after the revolver rule).
    fan : bool
        Also return the month-end cash fan (`CashFan`), reduced from the same pass.
    state : ScenarioState, optional
        The draws of these scenarios when the caller holds them
        (`planning.valuation.in_sample_state`).

    Returns
    -------
    PlanValue
    """
    from .planning import blocks
    from .planning.cash_reduce import CashReducer

    scenarios = instance.plan.scenarios if scenarios is None else scenarios
    seed = instance.plan.seed + OUT_OF_SAMPLE_SEED_OFFSET if seed is None else seed
    cash_valued = needs_cash_paths(instance)   # the plan's value depends on its cash paths
    paths_needed = cash_balance or fan or cash_valued
    seeded = instance.with_plan(scenarios=scenarios, seed=seed)
    kept = state if state is not None and state.seed == seed and state.scenarios == scenarios else None
    cost, _ = financing_cost_and_cash(instance, spec.financing)
    reducer = CashReducer(seeded, scenarios) if paths_needed else None
    raw, cubes, name = [], [], "numpy"
    for b0 in range(0, scenarios, blocks.BLOCK_SCENARIOS):
        ids = np.arange(b0, min(scenarios, b0 + blocks.BLOCK_SCENARIOS))
        tick = None if progress is None else (lambda done, _n, b0=b0: progress(b0 + done, scenarios))
        vt = value_actions(seeded, spec.actions, backend=backend, chunk=chunk, progress=tick,
                           plan_quantities=spec.quantities if paths_needed else None,
                           scenario_ids=None if ids.size == scenarios else ids, state=kept)
        name = vt.backend
        raw.append(plan_samples(vt, range(len(spec.actions)), spec.quantities, 0.0))
        if reducer is not None:
            # cash scenario by scenario: refinancing where the market is open, the revolver rule
            flags = refinance_open(seeded, ids, vt.backend)
            paths = cash_paths(seeded, vt.plan_cash, financing_cash(seeded, spec.financing, flags, ids.size))
            reducer.update(paths)
            if cash_balance:
                cubes.append((paths.cash, paths.drawn))
    liquidity = cash_fan = None
    if reducer is not None:
        liquidity, error = reducer.liquidity()
        if cash_valued:
            # the revolver's interest and fees are charged to every scenario at their mean,
            # as the financing's value cost is (`mip.liquidity` optimises the same quantity)
            cost += liquidity.expected_revolver_cost_usd
        if fan:
            cash_fan = reducer.fan(sample="in-sample" if seed == instance.plan.seed else "out-of-sample",
                                   seed=seed)
    samples = (raw[0] if len(raw) == 1 else np.concatenate(raw)) - cost
    stats = summary(samples, instance.risk.alpha)
    if liquidity is not None and cash_valued:
        stats["liquidity"] = liquidity.as_dict(instance)
        if error > 0:
            stats["liquidity"]["percentile_error_usd"] = error
    return PlanValue(samples=samples, stats=stats, seed=seed, scenarios=scenarios, backend=name,
                     financing_cost_usd=cost,
                     cash_balance=np.concatenate([c for c, _ in cubes]) if cubes else None,
                     revolver_drawn=np.concatenate([d for _, d in cubes]) if cubes else None,
                     cash_fan=cash_fan)
