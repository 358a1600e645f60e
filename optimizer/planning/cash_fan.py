"""The company's month-end cash across scenarios, reduced to what a fan chart shows.

A valuation with ``cash_balance=True`` yields an (S, M) array: the cash at the end of
each of the M plan months in each of S scenarios. That array is large (S is thousands)
and only its per-month percentiles and two breach frequencies are ever read, so the run
reduces it once, here, into a `CashFan`; the report draws the fan from that record and
plan.json stores it (``to_dict``), so a page and its plan.json agree on the numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..instance.types import month_str, parse_month

PERCENTILES = (5, 25, 50, 75, 95)   # the 90% band, the 50% band and the median


@dataclass(frozen=True, eq=False)
class CashFan:
    """Per-month percentiles of month-end cash over a set of scenarios.

    Attributes
    ----------
    start_month : int
        Absolute month of the first column (the plan's first month).
    quantiles : dict
        Percentile (5, 25, 50, 75, 95) to an (M,) array of cash at each month's end, USD.
    min_cash_usd : float
        The minimum cash the board requires.
    prob_below_min : float
        Share of scenarios whose cash falls below the minimum in at least one month.
    prob_below_zero : float
        Share of scenarios whose cash falls below zero in at least one month.
    sample : str
        Which scenarios: ``in-sample`` (those the plan was chosen on) or
        ``out-of-sample`` (fresh ones).
    scenarios : int
        How many scenarios.
    seed : int
        Their seed.
    quantile_error_usd : float
        An exact bound on each percentile's distance to numpy's over the same
        scenarios: 0 where they were computed exactly, a sketch's bound past
        `planning.blocks.EXACT_SCENARIOS` scenarios.
    """

    start_month: int
    quantiles: dict[int, np.ndarray]
    min_cash_usd: float
    prob_below_min: float
    prob_below_zero: float
    sample: str
    scenarios: int
    seed: int
    quantile_error_usd: float = 0.0   # bound on each percentile's error (0: exact, numpy's)

    @classmethod
    def from_paths(cls, balance: Any, *, start_month: int, min_cash_usd: float, sample: str,
                   seed: int) -> "CashFan":
        """Reduce (S, M) month-end cash paths to their fan.

        Parameters
        ----------
        balance : array_like
            (S, M) cash at the end of each plan month in each scenario, USD.
        start_month : int
            Absolute month of column 0.
        min_cash_usd : float
            The required minimum cash.
        sample : str
            ``in-sample`` or ``out-of-sample``, for the reader.
        seed : int
            The scenarios' seed.

        Returns
        -------
        CashFan
        """
        cash = np.asarray(balance, dtype=float)
        if cash.ndim != 2 or cash.shape[0] == 0:
            raise ValueError(f"balance: must be a (scenarios, months) array with a scenario, got shape {cash.shape}")
        bands = np.percentile(cash, PERCENTILES, axis=0)
        return cls(start_month=int(start_month), quantiles={p: bands[i] for i, p in enumerate(PERCENTILES)},
                   min_cash_usd=float(min_cash_usd),
                   prob_below_min=float(np.mean((cash < min_cash_usd).any(axis=1))),
                   prob_below_zero=float(np.mean((cash < 0).any(axis=1))),
                   sample=sample, scenarios=int(cash.shape[0]), seed=int(seed))

    @property
    def months(self) -> int:
        """Number of plan months covered."""
        return int(self.quantiles[50].shape[0])

    def lowest(self, percentile: int) -> tuple[str, float]:
        """The month ('YYYY-MM') and value of the lowest point of one percentile's path.

        Parameters
        ----------
        percentile : int
            One of `PERCENTILES`.

        Returns
        -------
        tuple
            (month, USD); the first such month on a tie.
        """
        path = self.quantiles[percentile]
        m = int(np.argmin(path))
        return month_str(self.start_month + m), float(path[m])

    def to_dict(self) -> dict[str, Any]:
        """The fan as plan.json stores it (``quality.out_of_sample.cash_balance_usd``).

        Returns
        -------
        dict
            ``source``, ``months`` ('YYYY-MM' each), ``p5`` ... ``p95`` (lists, USD),
            ``min_cash_usd``, ``prob_below_min_any_month``, ``prob_below_zero_any_month``,
            ``sample``, ``scenarios``, ``seed`` and ``quantile_error_usd``; plain Python
            types only.
        """
        out: dict[str, Any] = {"source": f"{self.sample}, {self.scenarios:,} scenarios",
                               "months": [month_str(self.start_month + j) for j in range(self.months)]}
        out.update({f"p{p}": self.quantiles[p].tolist() for p in PERCENTILES})
        out.update({"min_cash_usd": self.min_cash_usd, "prob_below_min_any_month": self.prob_below_min,
                    "prob_below_zero_any_month": self.prob_below_zero, "sample": self.sample,
                    "scenarios": self.scenarios, "seed": self.seed,
                    "quantile_error_usd": self.quantile_error_usd})
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CashFan":
        """The fan back from `to_dict`'s shape (as read from plan.json).

        Parameters
        ----------
        d : mapping
            A dict written by `to_dict`.

        Returns
        -------
        CashFan

        Raises
        ------
        KeyError
            When a key `to_dict` writes is missing (a plan.json from before the fan kept
            its 50% band).
        """
        return cls(start_month=parse_month(d["months"][0]),
                   quantiles={p: np.asarray(d[f"p{p}"], dtype=float) for p in PERCENTILES},
                   min_cash_usd=float(d["min_cash_usd"]), prob_below_min=float(d["prob_below_min_any_month"]),
                   prob_below_zero=float(d["prob_below_zero_any_month"]), sample=str(d["sample"]),
                   scenarios=int(d["scenarios"]), seed=int(d["seed"]),
                   quantile_error_usd=float(d.get("quantile_error_usd", 0.0)))
