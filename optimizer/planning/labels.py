"""Labels for analysts: plan months as ``pd.Period``, typed DataFrames of decisions and
financing, and xarray DataArrays of per-scenario NPV, cash and action values.

pandas and xarray are imported inside each function, so that importing the planner does
not pull them in.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..instance.types import month_str
from .cash_fan import CashFan
from .catalog import Action


def period(month: int | None):
    """Absolute month number -> monthly ``pd.Period`` (None -> NaT)."""
    import pandas as pd

    if month is None:
        return pd.NaT
    return pd.Period(year=int(month) // 12, month=int(month) % 12 + 1, freq="M")


def months_index(start: int, n: int):
    """``n`` monthly periods from absolute month ``start`` (a ``pd.PeriodIndex``)."""
    import pandas as pd

    return pd.period_range(period(start), periods=n, freq="M", name="month")


def decisions_frame(actions: Sequence[Action], quantities: Sequence[float]):
    """Decisions as a typed DataFrame (see `PlanResult.decisions`)."""
    import pandas as pd

    return pd.DataFrame({
        "site": pd.array([a.site for a in actions], dtype="string"),
        "action": pd.Categorical([a.kind for a in actions], categories=["convert", "sell", "acquire"]),
        "start": pd.PeriodIndex([period(a.start) for a in actions], freq="M"),
        "mw": pd.array([float(q) if a.kind == "convert" else np.nan
                        for a, q in zip(actions, quantities)], dtype="float64"),
        "lease": pd.array([a.lease for a in actions], dtype="string"),
    })


def financing_frame(draws: Sequence[tuple[str, float, int]]):
    """Financing draws as a typed DataFrame (see `PlanResult.financing`)."""
    import pandas as pd

    return pd.DataFrame({
        "instrument": pd.array([k for k, _, _ in draws], dtype="string"),
        "amount_usd": pd.array([float(v) for _, v, _ in draws], dtype="float64"),
        "start": pd.PeriodIndex([period(t) for _, _, t in draws], freq="M"),
    })


def npv_frame(samples: Any):
    """Per-scenario NPV as a DataFrame ``scenario`` (int64), ``npv_usd`` (float64): the
    layout of npv_samples.parquet."""
    import pandas as pd

    s = np.asarray(samples, dtype=np.float64)
    return pd.DataFrame({"scenario": np.arange(s.size, dtype=np.int64), "npv_usd": s})


def cash_quantiles_frame(fan: CashFan):
    """A cash fan as a DataFrame ``month`` (YYYY-MM string, Parquet-portable), ``p05`` ..
    ``p95`` (float64, USD): the layout of cash_quantiles.parquet."""
    import pandas as pd

    n = len(next(iter(fan.quantiles.values())))
    out = {"month": [month_str(fan.start_month + m) for m in range(n)]}
    for p in sorted(fan.quantiles):
        out[f"p{p:02d}"] = np.asarray(fan.quantiles[p], dtype=np.float64)
    return pd.DataFrame(out)


def npv_array(samples: Any, *, seed: int | None = None):
    """Per-scenario plan NPV as a DataArray ``npv_usd`` over ``scenario``."""
    import xarray as xr

    s = np.asarray(samples, dtype=np.float64)
    return xr.DataArray(s, dims=["scenario"], coords={"scenario": np.arange(s.size)},
                        name="npv_usd", attrs={"units": "USD", "seed": seed,
                                               "description": "plan NPV, net of financing"})


def cash_array(cash: Any, start_month: int, *, seed: int | None = None, name: str = "cash_usd"):
    """(S, M) month-end cash as a DataArray ``scenario`` x ``month`` (pd.Period months)."""
    import xarray as xr

    c = np.asarray(cash, dtype=np.float64)
    return xr.DataArray(c, dims=["scenario", "month"],
                        coords={"scenario": np.arange(c.shape[0]),
                                "month": months_index(start_month, c.shape[1])},
                        name=name, attrs={"units": "USD", "seed": seed,
                                          "description": "cash at each month's end"})


def _host(a: Any) -> np.ndarray:
    from ..gpu.backend import to_host

    return np.asarray(to_host(a), dtype=np.float64)


def action_values_array(vt: Any, catalog: Sequence[Action], *, seed: int | None = None):
    """The ValueTable's NPV per unit (per critical MW for a convert) as an ``action`` x
    ``scenario`` DataArray with site, kind, start (``pd.Period``) and lease coordinates.

    Parameters
    ----------
    vt : ValueTable
    catalog : sequence of Action
        The actions `vt`'s rows value, in row order.
    seed : int, optional
        Recorded in the attributes.

    Returns
    -------
    xarray.DataArray
    """
    import xarray as xr

    npv = _host(vt.npv)
    return xr.DataArray(
        npv, dims=["action", "scenario"],
        coords={"action": [a.label for a in catalog], "scenario": np.arange(npv.shape[1]),
                "site": ("action", [a.site for a in catalog]),
                "kind": ("action", [a.kind for a in catalog]),
                "start": ("action", months_like([a.start for a in catalog])),
                "lease": ("action", [a.lease or "" for a in catalog])},
        name="npv_per_unit_usd",
        attrs={"units": "USD per unit (per critical MW for convert)", "seed": seed})


def months_like(months: Sequence[int]):
    """Absolute months -> a monthly ``pd.PeriodIndex``."""
    import pandas as pd

    return pd.PeriodIndex([period(m) for m in months], freq="M")
