"""The engine's inputs in the backend's memory, moved there once per valuation.

`EngineInputs` holds host (NumPy) arrays. A valuation reads them in every scenario chunk
and every block of actions; on CuPy each ``xp.asarray`` of one of those small arrays is
a host-to-device copy (and a wait for it). :func:`device_inputs` does every such copy
once, before the chunk loop:

- the parameter tables the factor functions read (`SiteParams`, `LeaseParams` with
  device arrays, the subsidy schedule);
- the mining layout: margins are computed for mining sites only, one row each, in site
  order (``mining_sites``); ``mining_row`` maps a site to its row (-1: it does not mine);
- per kind of action, the columns its cash flows read (site, lease, start, ownership,
  capex, tenor, ...), gathered by action on the host (index arithmetic on NumPy) and
  copied as one float and one integer matrix.

The chunk loop then only slices these. Host copies of everything the Python side loops
over or branches on (which sites mine, which actions of a block do) stay in ``host``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from types import ModuleType
from typing import Any

import numpy as np

from .factors import poisson_bound
from .inputs import ACQUIRE, CONVERT, SELL, EngineInputs

# columns of each kind's cash flows: (name, host array by action) built in _group_columns
_FLOAT, _INT = "float", "int"


@dataclass(frozen=True)
class MarketMining:
    """The mining sites of one power market."""

    k: int            # market index
    rows: Any         # rows of the margin layout: a slice when contiguous, else int64 (n,)
    th_per_mw: Any    # (n,) float64: TH/s per grid MW
    opex: Any         # (n,) float64: $ per grid MW-month


@dataclass(frozen=True)
class MothballLimits:
    """The mothball and restart rule of each mining row (see `gpu.valuation.mothball`)."""

    stop_limit: Any   # (n_mining, 1) int64: losing months before a stop (int64 max: never)
    start_limit: Any  # (n_mining, 1) int64: paying months before a restart (max: never)
    cost: Any         # (n_mining, 1) float64: restart cost per grid MW


@dataclass(frozen=True)
class ActionGroup:
    """The actions of one kind and the columns their cash flows read."""

    kind: int
    index: np.ndarray        # host (n,): positions in inputs.actions
    mines: np.ndarray        # host bool (n,): the action's site has a mining baseline
    rows: Any                # (n,) int64: the same positions, for writing the outputs
    col: dict                # name -> (n,) array: float64 or int64 by column


@dataclass(frozen=True)
class DeviceInputs:
    host: EngineInputs
    sites: Any               # SiteParams with arrays in xp's memory (site_events)
    leases: Any              # LeaseParams with arrays in xp's memory (lease_events)
    subsidy: Any             # (M,) float64
    delay_max: int           # poisson_bound of the largest delay mean (host)
    mining_sites: np.ndarray  # host (n_mining,): site of each margin row
    mining_row: np.ndarray   # host (I,): row of each site, -1 when it does not mine
    markets: tuple           # MarketMining per market with mining sites
    mothball: MothballLimits | None
    gross_mining: Any        # (n_mining,) float64: owned grid MW of each mining site
    groups: tuple            # ActionGroup per kind present, in CONVERT, SELL, ACQUIRE order


def _move_arrays(xp: ModuleType, params: Any) -> Any:
    """A params dataclass with each NumPy array field copied into xp's memory."""
    return replace(params, **{f.name: xp.asarray(getattr(params, f.name)) for f in fields(params)
                              if isinstance(getattr(params, f.name), np.ndarray)})


def _upload_columns(xp: ModuleType, cols: dict[str, tuple[str, np.ndarray]]) -> dict:
    """Columns (n,) as views of one float64 and one int64 matrix: two copies in all."""
    out = {}
    for kind, dtype in ((_FLOAT, np.float64), (_INT, np.int64)):
        names = [k for k, (t, _) in cols.items() if t == kind]
        if not names:
            continue
        block = xp.asarray(np.stack([np.asarray(cols[k][1], dtype=dtype) for k in names]))
        out.update({k: block[j] for j, k in enumerate(names)})
    return out


def _group_columns(inputs: EngineInputs, kind: int, acts: np.ndarray,
                   mining_row: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
    """Host columns of one kind's actions: the per-site and per-lease figures gathered by
    action, so that the flows index nothing but the scenario draws."""
    s, ls, a = inputs.sites, inputs.leases, inputs.actions
    i = a.site[acts]
    cols = {"site": (_INT, i), "start": (_INT, a.start[acts]),
            "margin_row": (_INT, np.maximum(mining_row[i], 0)),
            "mines": (_INT, (mining_row[i] >= 0).astype(np.int64)),
            "own": (_FLOAT, s.ownership[i])}
    if kind == CONVERT:
        le = a.lease[acts]
        cols.update(lease=(_INT, le), build=(_INT, s.build_months[i]),
                    capex=(_FLOAT, s.capex_usd_per_mw[i]), pue=(_FLOAT, s.pue[i]),
                    tenor=(_INT, ls.tenor_months[le]), relet=(_INT, ls.relet_months[le]),
                    noi_margin=(_FLOAT, ls.noi_margin[le]), rate=(_FLOAT, ls.rate_kw_month[le]),
                    escalator=(_FLOAT, ls.escalator[le]),
                    backstop=(_FLOAT, ls.backstop_usd_per_mw[le]),
                    backstop_cost=(_FLOAT, ls.backstop_cost_usd_per_mw[le]))
    elif kind == SELL:
        cols.update(close=(_INT, a.start[acts] + s.months_to_close[i]),
                    gross=(_FLOAT, s.ownership[i] * s.capacity_mw[i]))
    else:
        cols.update(cost=(_FLOAT, (s.ownership * s.acquire_cost)[i]))
    return cols


def _rows(xp: ModuleType, rows: np.ndarray) -> Any:
    """An index into the margin layout: a slice when the rows are contiguous (no gather)."""
    if rows.size and np.array_equal(rows, np.arange(rows[0], rows[0] + rows.size)):
        return slice(int(rows[0]), int(rows[0]) + rows.size)
    return xp.asarray(rows)


def device_inputs(xp: ModuleType, inputs: EngineInputs) -> DeviceInputs:
    """Every array the chunk loop reads, in xp's memory: the one host-to-device step of a
    valuation (module docstring)."""
    s = inputs.sites
    mining_sites = np.flatnonzero(s.mines)
    mining_row = np.full(s.n, -1, dtype=np.int64)
    mining_row[mining_sites] = np.arange(mining_sites.size)
    markets = []
    for k in np.unique(s.market[mining_sites]):
        here = mining_sites[s.market[mining_sites] == k]
        markets.append(MarketMining(
            k=int(k), rows=_rows(xp, mining_row[here]),
            th_per_mw=xp.asarray(1e6 / s.efficiency_j_per_th[here], dtype=xp.float64),
            opex=xp.asarray(s.opex_usd_per_mw_month[here], dtype=xp.float64)))
    never = np.iinfo(np.int64).max
    patience = s.shutdown_after_loss_months[mining_sites]
    limits = None
    if (patience > 0).any():
        restart = s.restart_after_profit_months[mining_sites]
        limits = MothballLimits(
            stop_limit=xp.asarray(np.where(patience > 0, patience, never).astype(np.int64)[:, None]),
            start_limit=xp.asarray(np.where(restart > 0, restart, never).astype(np.int64)[:, None]),
            cost=xp.asarray(np.asarray(s.restart_cost_usd_per_mw[mining_sites], np.float64)[:, None]))
    groups = []
    for kind in (CONVERT, SELL, ACQUIRE):
        acts = np.flatnonzero(inputs.actions.kind == kind)
        if acts.size == 0:
            continue
        groups.append(ActionGroup(kind=kind, index=acts, mines=mining_row[inputs.actions.site[acts]] >= 0,
                                  rows=xp.asarray(acts),
                                  col=_upload_columns(xp, _group_columns(inputs, kind, acts, mining_row))))
    gross = (s.ownership * s.capacity_mw * s.mines)[mining_sites]
    return DeviceInputs(
        host=inputs, sites=_move_arrays(xp, s), leases=_move_arrays(xp, inputs.leases),
        subsidy=xp.asarray(inputs.bitcoin.subsidy_btc, dtype=xp.float64),
        delay_max=poisson_bound(float(s.delay_months_mean.max()) if s.n else 0.0),
        mining_sites=mining_sites, mining_row=mining_row, markets=tuple(markets),
        mothball=limits, gross_mining=xp.asarray(np.asarray(gross, dtype=np.float64)),
        groups=tuple(groups))
