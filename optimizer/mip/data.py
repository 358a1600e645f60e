"""The plan MIP's data: arrays only, from an instance, its catalog and a ValueTable.

`model_data` is the one place where the instance, the catalog, the financing terms and
the ValueTable become the numbers the model is built from, in the spirit of mpi-sppy's
``farmer.py`` (`_scenario_data` apart from `_build_model`): `mip.build` reads nothing
else, so the same data serves the persistent planning model (`mip.model.PlanModel`), the
extensive form and mpi-sppy's scenario models (`mip.scenarios`).

Money here is in USD; `mip.build` scales it to $M (`SCALE`) where it writes rows.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..gpu.backend import to_host
from ..gpu.value_table import ValueTable
from ..instance.types import Instance
from ..planning.catalog import Action
from ..planning.finance import Draw, draw_options, draw_terms
from ..planning.rules import (CashRows, FinanceGroups, RuleGroups, cash_rows, finance_groups,
                              min_units, rule_groups)


@dataclass(frozen=True)
class ModelData:
    """Everything the plan MIP is built from (A actions, K draw options, M months).

    Attributes
    ----------
    kinds : ndarray (A,) of str
        convert | sell | acquire.
    is_convert : ndarray (A,) of bool
    max_units, min_units : ndarray (A,)
        A taken action's quantity bounds: MW for a convert (`rules.min_units` is its
        smallest tranche), 1 for a sell or an acquire.
    block_mw : ndarray (A,)
        MW per build block of a convert at a site built in blocks (`rules.convert_block_mw`:
        its MW is a whole number of them), 0 for every other action.
    mean_npv : ndarray (A,)
        E[NPV] per unit of each action, USD.
    mean_baseline : float
        E[NPV] of the baseline (nothing done), USD.
    draws : list of Draw
        The draw options (instrument, kind, month).
    draw_cost : ndarray (K,)
        PV value cost per $ drawn of each option.
    draw_cash : ndarray (K, M)
        Cash per $ drawn of each option, by plan month.
    cash : CashRows
        The min-cash rule's rows (`planning.rules.cash_rows`).
    groups : RuleGroups
        The logic and capacity rules over the catalog (`planning.rules.rule_groups`).
    finance : FinanceGroups
        Instrument caps and loan-to-cost (`planning.rules.finance_groups`).
    """

    kinds: np.ndarray
    is_convert: np.ndarray
    max_units: np.ndarray
    min_units: np.ndarray
    block_mw: np.ndarray
    mean_npv: np.ndarray
    mean_baseline: float
    draws: list[Draw]
    draw_cost: np.ndarray
    draw_cash: np.ndarray
    cash: CashRows
    groups: RuleGroups
    finance: FinanceGroups

    @property
    def n_actions(self) -> int:
        """A, the number of catalog actions."""
        return int(self.kinds.size)

    @property
    def n_draws(self) -> int:
        """K, the number of draw options."""
        return len(self.draws)

    @property
    def n_months(self) -> int:
        """M, the plan's months (one cash row each)."""
        return int(self.cash.rhs.size)

    @property
    def converts(self) -> list[int]:
        """Indices of the convert actions (the ones with an MW variable)."""
        return np.flatnonzero(self.is_convert).tolist()

    @property
    def blocked(self) -> list[int]:
        """Indices of the converts built in blocks (the ones with a block count)."""
        return np.flatnonzero(self.block_mw > 0).tolist()

    @property
    def max_blocks(self) -> np.ndarray:
        """(A,) blocks in each action's max_units (0 where it is not built in blocks)."""
        safe = np.where(self.block_mw > 0, self.block_mw, 1.0)
        return np.where(self.block_mw > 0, np.round(self.max_units / safe), 0.0)

    def plan_quantities(self, q: np.ndarray, x: np.ndarray, n: np.ndarray,
                        snap: bool = True) -> np.ndarray:
        """Quantities (A,) from a solution's MW q, binaries x (A,) and block counts n
        (one per `blocked`), the way a plan reads them.

        With `snap`, binaries come back as 0.9999999 and block counts as 2.0000001: both
        are rounded so that plans and cuts see clean decisions, and a convert built in
        blocks is exactly its block count times block_mw. Without it (a relaxation) q is
        read as it is.
        """
        if snap:
            x = np.round(x)
            q = np.where(self.is_convert, q * x, x)
            idx = self.blocked
            if idx:
                q[idx] = self.block_mw[idx] * np.round(np.asarray(n, dtype=float)) * x[idx]
        return np.clip(q, 0.0, self.max_units)


def model_data(instance: Instance, actions: Sequence[Action], vt: ValueTable) -> ModelData:
    """The `ModelData` of an instance, its catalog `actions` and their ValueTable.

    Parameters
    ----------
    instance : Instance
    actions : sequence of Action
        The catalog (`build_catalog`); positions are action indices.
    vt : ValueTable
        Values the same actions (``vt.n_actions == len(actions)``); only its means and
        expected cash are read here, the scenarios stay on the device for the cuts.

    Returns
    -------
    ModelData

    Raises
    ------
    ValueError
        When the ValueTable and the catalog disagree on the number of actions.
    """
    actions = list(actions)
    A, M = len(actions), instance.plan.months
    if vt.n_actions != A:
        raise ValueError(f"ValueTable has {vt.n_actions} actions, the catalog {A}")
    draws = draw_options(instance)
    terms = [draw_terms(instance, d) for d in draws]
    draw_cost = np.array([c for c, _ in terms])                           # per $
    draw_cash = np.array([f for _, f in terms]).reshape(len(draws), M)    # per $
    kinds = np.array([a.kind for a in actions])
    is_convert = kinds == "convert"
    max_units = np.array([a.max_units for a in actions], dtype=float)
    block = np.array([a.block_mw if a.kind == "convert" else 0.0 for a in actions], dtype=float)
    lo = np.array([min_units(u, b) if c else u for u, b, c in zip(max_units, block, is_convert)],
                  dtype=float)
    return ModelData(
        kinds=kinds, is_convert=is_convert, max_units=max_units, min_units=lo, block_mw=block,
        mean_npv=to_host(vt.xp.mean(vt.npv, axis=1)) if A else np.zeros(0),
        mean_baseline=float(to_host(vt.xp.mean(vt.baseline_npv))),
        draws=draws, draw_cost=draw_cost, draw_cash=draw_cash,
        cash=cash_rows(instance, vt.cash, vt.baseline_cash, draws, draw_cash),
        groups=rule_groups(instance, actions),
        finance=finance_groups(instance, actions, draws))


def scenario_npv(vt: ValueTable) -> tuple[np.ndarray, np.ndarray]:
    """(npv (A, S), baseline (S,)) on the host, USD: what a scenario model needs."""
    return np.asarray(to_host(vt.npv), dtype=float), np.asarray(to_host(vt.baseline_npv), dtype=float)
