"""The valuation's output: per-action NPV by scenario, and expected monthly cash."""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np


@dataclass
class ValueTable:
    """NPVs per unit of each action (per critical MW for convert, per action otherwise),
    incremental against the sites' baseline, discounted to the plan's start.

    A plan with quantities q (length A) is worth, in scenario s,
    ``baseline_npv[s] + npv[:, s] @ q`` before financing.
    """

    npv: Any                    # xp array (A, S) float64: stays on the device for the cuts
    baseline_npv: Any           # xp array (S,) float64: all sites mining, nothing else done
    cash: np.ndarray            # host (A, M) float64: expected undiscounted cash per unit, per month
    baseline_cash: np.ndarray   # host (M,) float64
    xp: ModuleType              # numpy or cupy: the namespace npv lives in
    backend: str                # "numpy" | "cupy"
    plan_cash: np.ndarray | None = None  # host (S, M): one plan's operating cash by scenario
    weighted_cash: np.ndarray | None = None  # host (A,): sum_{s,m} W[s,m] cash[a,s,m], when asked
    weighted_baseline: float = 0.0           # the same of the baseline

    @property
    def n_actions(self) -> int:
        return int(self.npv.shape[0])

    @property
    def n_scenarios(self) -> int:
        return int(self.npv.shape[1])

    def plan_npv(self, q: Any) -> Any:
        """Per-scenario NPV (before financing) of quantities q, on the device."""
        q = self.xp.asarray(q, dtype=self.xp.float64)
        return self.baseline_npv + q @ self.npv
