"""The scenarios' draws that action flows read: mining margins hour by hour, market rent,
site and lease events; and `ScenarioState`, those draws kept between valuations.

Every draw is keyed by (scenario, month, hour, stream) through Philox (`gpu.factors`), so
a scenario's draws are the same in any chunk, in any order, kept or drawn again.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .backend import Backend, is_cupy
from .chunks import map_chunks
from .device import DeviceInputs, device_inputs
from .factors import (
    HOURS_PER_MONTH,
    POWER_HOURS,
    bitcoin_paths,
    hourly_margin_sums,
    lease_events,
    poisson_bound,
    power_levels,
    rent_path,
    site_events,
    stress_onset,
)
from .inputs import CONVERT, EngineInputs
from .philox import seed_key
from .recursions import mothball_rows

# float32 elements of an hourly (scenarios x months x hour-pairs) block (array path).
HOUR_ELEMENTS = 1 << 21
# Scenarios per chunk when the caller does not say: results never depend on it.
DEFAULT_CHUNK = {"numpy": 2048, "cupy": 32768}


def mining_margin(xp: ModuleType, inputs: EngineInputs, scen, hashprice, dev: DeviceInputs | None = None,
                  compiled: bool = False):
    """Mining margin per grid MW per month, $ (n_mining, c, M) float64: hour-by-hour
    curtailed hash revenue less opex, for the mining sites only, row r being site
    ``np.flatnonzero(inputs.sites.mines)[r]``. `dev` is the valuation's device copy of
    the inputs (made here when not given); `compiled` runs the hours through
    `gpu.compiled` (host arrays only)."""
    dev = device_inputs(xp, inputs) if dev is None else dev
    h, p = inputs.horizon, inputs.power
    c, n_months = scen.shape[0], h.months
    margin = xp.zeros((dev.mining_sites.size, c, n_months), dtype=xp.float64)
    if dev.mining_sites.size == 0:
        return margin
    hours = h.hours_per_month
    scale = HOURS_PER_MONTH / hours  # sampled hours stand for the whole month
    pairs = (hours + 1) // 2
    # the fused GPU kernel keeps hours in registers, so it takes every month at once;
    # the array path holds a (c, months, hour-pairs) block and needs it cache-sized
    # (the compiled cells hold their hours in registers too)
    mb = n_months if is_cupy(xp) or compiled else max(1, min(n_months, HOUR_ELEMENTS // max(1, c * pairs)))
    for mk in dev.markets:
        level = power_levels(xp, h.seed, scen, h, p, mk.k)
        # $/MWh a site earns from hashing: TH/s per MW x $/TH/s/day / 24 h
        revenue = mk.th_per_mw[:, None, None] * hashprice[None, :, :] / 24.0
        for m0 in range(0, n_months, mb):
            m1 = min(n_months, m0 + mb)
            if compiled:
                from . import compiled as cpu  # noqa: PLC0415 - Numba is optional

                sums = cpu.hourly_margin_sums(
                    scen, m0, level[:, m0:m1], revenue[:, :, m0:m1], hours, POWER_HOURS + mk.k,
                    seed_key(h.seed), float(p.hourly_volatility[mk.k]),
                    float(p.spike_probability[mk.k]), float(p.spike_price[mk.k]),
                    float(p.price_cap[mk.k]))
            else:
                sums = hourly_margin_sums(xp, h.seed, scen, m0, level[:, m0:m1], revenue[:, :, m0:m1],
                                          p, mk.k, hours)
            margin[mk.rows, :, m0:m1] = sums * scale
        margin[mk.rows] -= mk.opex[:, None, None]
    if dev.mothball is not None:
        lim = dev.mothball
        if compiled:
            # the array path strides across months of (sites, scenarios) slices; the
            # compiled one walks each path's months in registers, as the CUDA kernel does
            from . import compiled as cpu  # noqa: PLC0415 - Numba is optional

            margin = cpu.mothball_rows(margin, lim.stop_limit, lim.start_limit, lim.cost)
        else:
            margin = mothball_rows(xp, margin, lim.stop_limit, lim.start_limit, lim.cost)
    return margin


def valuation_months(inputs: EngineInputs) -> int:
    """Months the valuation spans: the horizon, or longer where a convert's contract (with
    the longest possible build delay and the re-let after it) runs past it, so that a
    contract is valued to its end whatever the horizon."""
    h, s, ls, a = inputs.horizon, inputs.sites, inputs.leases, inputs.actions
    conv = np.flatnonzero(a.kind == CONVERT)
    if conv.size == 0:
        return h.months
    i, le = a.site[conv], a.lease[conv]
    delay_max = poisson_bound(float(s.delay_months_mean.max()) if s.n else 0.0)
    ends = a.start[conv] + s.build_months[i] + delay_max + ls.tenor_months[le] + ls.relet_months[le]
    return max(h.months, int(ends.max()) + 1)


def scenario_draws(xp: ModuleType, dev: DeviceInputs, scen, window: int, compiled: bool = False):
    """What the action flows read of scenarios `scen`: mining margins (n_mining, c, M),
    market rent (c, window), site and lease events."""
    inputs = dev.host
    h = inputs.horizon
    _, hashprice = bitcoin_paths(xp, h.seed, scen, h, inputs.bitcoin, subsidy=dev.subsidy)
    margin = mining_margin(xp, inputs, scen, hashprice, dev, compiled=compiled)
    onset = stress_onset(xp, h.seed, scen, inputs.stress)
    rent = rent_path(xp, h.seed, scen, h, inputs.rent, months=window, onset=onset,
                     rent_drop=inputs.stress.rent_drop)
    site_ev = site_events(xp, h.seed, scen, dev.sites, dev.delay_max)
    lease_ev = lease_events(xp, h.seed, scen, dev.leases, onset, inputs.stress.default_multiplier)
    return margin, rent, site_ev, lease_ev


@dataclass
class ScenarioState:
    """The draws of scenarios 0..S-1 that action flows read, kept between valuations.

    A planner that re-values plans on the same scenarios (the liquidity cuts, round after
    round) otherwise redraws every path and hour each time; kept here, a plan's cash costs
    only its own actions' flows. Rows are gathered by scenario number, so any subset
    (a CVaR tail) reads them too. Paths do not depend on the window they are drawn for
    (a forward recursion), so a state drawn for a longer window serves a shorter one.
    """

    margin: object            # (n_mining, S, M) float64
    rent: object              # (S, window) float64
    site_ev: dict             # name -> (I, S)
    lease_ev: dict            # name -> (L, S)
    window: int
    seed: int
    scenarios: int

    @property
    def nbytes(self) -> int:
        arrays = [self.margin, self.rent, *self.site_ev.values(), *self.lease_ev.values()]
        return int(sum(a.nbytes for a in arrays))

    def rows(self, xp: ModuleType, scen, window: int, span: tuple[int, int] | None = None):
        """(margin, rent, site events, lease events) of scenario numbers `scen`; with
        `span` = (s0, s1), the scenarios s0..s1-1 as views (no copy)."""
        if window > self.window:
            raise ValueError(f"window: the state holds {self.window} months, {window} asked")
        idx = slice(*span) if span is not None else xp.asarray(scen)
        return (self.margin[:, idx], self.rent[idx, :window],
                {k: v[:, idx] for k, v in self.site_ev.items()},
                {k: v[:, idx] for k, v in self.lease_ev.items()})


def state_bytes(inputs: EngineInputs, scenarios: int) -> int:
    """Bytes a `ScenarioState` of `scenarios` scenarios takes (before drawing it)."""
    n_mining = int(np.count_nonzero(inputs.sites.mines))
    per = 8 * (n_mining * inputs.horizon.months + valuation_months(inputs)
               + 4 * inputs.sites.n + 2 * inputs.leases.n)
    return per * int(scenarios)


def scenario_state(inputs: EngineInputs, scenarios: int, backend: Backend,
                   chunk: int | None = None, workers: int | None = None) -> ScenarioState:
    """Draw and keep the paths and events of scenarios 0..scenarios-1 (`ScenarioState`),
    for the window `inputs`' actions need; chunks run in threads as for the valuation."""
    xp = backend.xp
    chunk = chunk or DEFAULT_CHUNK["cupy" if is_cupy(xp) else "numpy"]
    dev = device_inputs(xp, inputs)
    window = valuation_months(inputs)
    if backend.compiled:
        from .compiled import warm_up  # noqa: PLC0415

        warm_up()

    # the first chunk's draws give the layout; every chunk then writes its own columns
    # of arrays allocated once (no concatenation: the peak is the state, not twice it)
    first = scenario_draws(xp, dev, xp.arange(0, min(scenarios, chunk), dtype=xp.int64), window,
                           backend.compiled)

    def alloc(a, axis: int):
        shape = list(a.shape)
        shape[axis] = scenarios
        return xp.empty(tuple(shape), dtype=a.dtype)

    margin, rent = alloc(first[0], 1), alloc(first[1], 0)
    site_ev = {k: alloc(v, 1) for k, v in first[2].items()}
    lease_ev = {k: alloc(v, 1) for k, v in first[3].items()}

    def put(s0: int, parts) -> None:
        s1 = s0 + parts[1].shape[0]
        margin[:, s0:s1], rent[s0:s1] = parts[0], parts[1]
        for k, v in parts[2].items():
            site_ev[k][:, s0:s1] = v
        for k, v in parts[3].items():
            lease_ev[k][:, s0:s1] = v

    put(0, first)
    del first

    def job(s0: int) -> None:
        put(s0, scenario_draws(xp, dev, xp.arange(s0, min(scenarios, s0 + chunk), dtype=xp.int64),
                               window, backend.compiled))

    for _ in map_chunks(xp, job, range(chunk, scenarios, chunk), workers):
        pass
    return ScenarioState(margin=margin, rent=rent, site_ev=site_ev, lease_ev=lease_ev,
                         window=window, seed=inputs.horizon.seed, scenarios=scenarios)
