"""A plan's cash scenario by scenario, reduced block by block: the liquidity figures and the
cash fan without the (scenarios x months) matrix.

`plan_value.value_plan` values a plan on blocks of `blocks.BLOCK_SCENARIOS` scenarios;
each block's cash paths (`gpu.liquidity.CashPaths`) are handed to a `CashReducer` and let
go. Up to `blocks.EXACT_SCENARIOS` scenarios the reducer keeps the blocks and reduces them exactly
(`liquidity_stats`, `CashFan.from_paths`: numpy percentiles). Past it, month-by-month
percentiles come from fixed-memory sketches (`gpu.quantiles.PathQuantiles`, its grid set
by the first block) whose error bound is exact and recorded with the figures
(``quantile_error_usd``); shares, counts, peaks and means are exact either way.

Memory past `blocks.EXACT_SCENARIOS`: two sketches (~19 MB each at 144 months) plus 16 bytes
per scenario (the peak revolver draw and the revolver's cost), whatever the count.
"""
from __future__ import annotations

import math

import numpy as np

from ..gpu.liquidity import CashPaths, worst_month
from ..gpu.quantiles import PathQuantiles
from ..instance.types import Instance
from . import blocks
from .cash_fan import PERCENTILES, CashFan
from .liquidity import LiquidityStats, _interval, liquidity_stats



class CashReducer:
    """Accumulates the cash paths of consecutive scenario blocks into the board's figures.

    Parameters
    ----------
    instance : Instance
        Its finance (minimum cash) and plan (months, discount rate).
    scenarios : int
        How many scenarios the blocks will hold in all (chooses exact or sketched).
    """

    def __init__(self, instance: Instance, scenarios: int) -> None:
        self.instance, self.scenarios = instance, int(scenarios)
        self.exact = self.scenarios <= blocks.EXACT_SCENARIOS
        self._blocks: list[CashPaths] = []
        self._cash: PathQuantiles | None = None
        self._headroom: PathQuantiles | None = None
        self._peak: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._below = self._below_zero = self._fan_below_min = 0
        self.count = 0
        p = instance.plan
        self._disc = (1.0 + p.discount_rate) ** (-(np.arange(p.months) + 0.5) / 12.0)

    def update(self, paths: CashPaths) -> None:
        """Add one block's month-end cash paths (host arrays, (c, M))."""
        c = paths.cash.shape[0]
        self.count += c
        if self.exact:
            self._blocks.append(paths)
            return
        f = self.instance.finance
        short, _ = worst_month(np, paths.headroom, f.min_cash_usd)
        self._below += int((short > 1e-6).sum())
        low = paths.cash.min(axis=1)
        self._below_zero += int((low < 0).sum())
        self._fan_below_min += int((low < f.min_cash_usd).sum())
        self._peak.append(paths.drawn.max(axis=1) if paths.drawn.size else np.zeros(c))
        self._cost.append(paths.interest @ self._disc)
        if self._cash is None:
            self._cash = PathQuantiles.from_block(np, paths.cash)
            self._headroom = PathQuantiles.from_block(np, paths.headroom)
        else:
            self._cash.update(paths.cash)
            self._headroom.update(paths.headroom)

    def _joined(self) -> CashPaths:
        return CashPaths(*(np.concatenate([getattr(b, k) for b in self._blocks], axis=0)
                           for k in ("cash", "drawn", "headroom", "interest")))

    def _check(self) -> None:
        if self.count == 0:
            raise ValueError("CashReducer: no scenario was added")

    def liquidity(self) -> tuple[LiquidityStats, float]:
        """(the liquidity figures, the error bound of their percentiles, USD; 0 when exact)."""
        self._check()
        if self.exact:
            return liquidity_stats(self.instance, self._joined()), 0.0
        S = self.count
        p05, p05_err = self._headroom.estimate(0.05)
        tight = int(np.argmin(p05))
        cash05, cash05_err = self._cash.estimate(0.05)
        peak = np.concatenate(self._peak)
        stats = LiquidityStats(
            prob_below_min=self._below / S, prob_below_min_ci95=_interval(self._below, S),
            prob_cash_below_zero=self._below_zero / S,
            tightest_month=tight, headroom_p05_usd=float(p05[tight]),
            cash_p05_min_usd=float(cash05.min()),
            peak_revolver_p50_usd=float(np.percentile(peak, 50)),
            peak_revolver_p95_usd=float(np.percentile(peak, 95)),
            expected_revolver_cost_usd=float(np.concatenate(self._cost).mean()))
        return stats, float(max(p05_err.max(), cash05_err.max()))

    def fan(self, *, sample: str, seed: int) -> CashFan:
        """The month-end cash fan (P5..P95 per month and the breach shares)."""
        self._check()
        inst = self.instance
        if self.exact:
            return CashFan.from_paths(self._joined().cash, start_month=inst.plan.start,
                                      min_cash_usd=inst.finance.min_cash_usd, sample=sample, seed=seed)
        values, bounds = self._cash.estimate([p / 100.0 for p in PERCENTILES])
        S = self.count
        return CashFan(start_month=int(inst.plan.start),
                       quantiles={p: np.asarray(values[i]) for i, p in enumerate(PERCENTILES)},
                       min_cash_usd=float(inst.finance.min_cash_usd),
                       prob_below_min=self._fan_below_min / S, prob_below_zero=self._below_zero / S,
                       sample=sample, scenarios=S, seed=int(seed),
                       quantile_error_usd=float(bounds.max()) if math.isfinite(float(bounds.max())) else math.inf)
