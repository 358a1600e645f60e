"""Compiled CPU kernels (Numba): the hourly mining margin's random words, the contracts'
cash flows and the mothball recursion.

The NumPy path (`gpu.factors.hourly_margin_sums`, `gpu.valuation.convert_flows`,
`sell_flows`, `gpu.recursions.mothball_rows`) is the reference: vectorised, it
materialises every intermediate as an array — a dozen (scenario, month, hour) uint32
arrays per Philox round, two dozen (action, scenario, month) float64 arrays per contract
block — and moves ~200 bytes per scenario-hour through memory. Here:

- **hourly margin**: Philox (integer arithmetic, 80% of the array path's time) and the
  uniforms run compiled, to the same bits; the transcendentals and the prices run in the
  NumPy path's own code (`gpu.factors.hour_prices`), which NumPy vectorises across SIMD
  lanes and Numba here cannot (it has no vector math library), on cache-sized blocks;
  the sums over hours run compiled for all of a market's mining sites per block (the
  array path makes a pass per site). Prices are the NumPy path's bits, sums agree to
  float64 rounding of their order.
- **contracts**: an (action, scenario) cell walks the months once, accumulating the NPV,
  the expected-cash sums, the plan's cash and the cut weights directly, so the (action,
  scenario, month) cash is never stored. float64 throughout, the NumPy path's formulas in
  the same order; the only difference is the order of the month sums (sequential here,
  pairwise in NumPy): ~1e-15 relative.
- **mothball**: each (site, scenario) path walks its months in registers, as the CUDA
  kernel does, IEEE operation for operation: the same bits.

Every kernel is serial, releases the GIL (``nogil``) and writes only its own outputs, so
scenario chunks run in threads (`gpu.valuation.simulate_value_table`) with results that do
not depend on the number of workers. Compiled code is cached next to this file
(``cache=True``): the first run on a machine compiles (seconds), later runs load it.

Numba is an optional speed-up: :func:`available` says whether it imports, and the engine
falls back to the NumPy path when it does not (`gpu.backend`).
"""
from __future__ import annotations

import functools

import numpy as np

from .backend import numba_available

# hour pairs per block of the hourly margin: its float32 temporaries (~20 of them) then
# stay in a core's L2 cache; results do not depend on it
HOUR_BLOCK = 1 << 15


def available() -> bool:
    """True when Numba imports (the compiled kernels can run)."""
    return numba_available()


@functools.lru_cache(maxsize=1)
def _kernels():
    """The compiled kernels (`gpu._compiled_kernels`), loaded from Numba's cache or
    compiled on first use."""
    from . import _compiled_kernels as k  # noqa: PLC0415 - imports Numba

    return {"hour_uniforms": k.hour_uniforms, "hour_sums": k.hour_sums, "convert": k.convert,
            "sell": k.sell, "mothball": k.mothball}


def hourly_margin_sums(scen: np.ndarray, month0: int, level: np.ndarray, revenue: np.ndarray,
                       hours: int, stream: int, key: tuple[int, int], sig: float,
                       spike_p: float, spike_price: float, cap: float) -> np.ndarray:
    """Twin of `gpu.factors.hourly_margin_sums` on the host.

    The Philox words and their uniforms come from a compiled loop, the prices from the
    NumPy path's own code (`gpu.factors.hour_prices`, the same bits), fed blocks of
    (scenarios, months, every hour pair of a month) of about `HOUR_BLOCK` pairs, which
    keep its temporaries in cache; the sums over hours run compiled for every mining site
    of the market at once (sequentially, where NumPy sums pairwise: float64 rounding of
    the order, ~1e-16 relative). A month's hours are summed whole in every block, so the
    block size does not change the result.

    Parameters
    ----------
    scen : ndarray (c,)
        Absolute scenario numbers.
    month0 : int
        Plan month of the block's first column.
    level : ndarray (c, mb)
        The months' mean price, $/MWh.
    revenue : ndarray (n_sites, c, mb)
        Hash revenue per MWh of each mining site.
    hours, stream, key, sig, spike_p, spike_price, cap
        Sampled hours per month, the Philox stream and key, and the market's hourly
        volatility, spike probability, spike price and cap.

    Returns
    -------
    ndarray (n_sites, c, mb) float64
        Sum over sampled hours of max(revenue - price, 0).
    """
    from .factors import hour_prices  # noqa: PLC0415 - factors imports nothing of this

    n, c, mb = revenue.shape
    out = np.zeros((n, c, mb), dtype=np.float64)
    if n == 0 or c == 0 or mb == 0:
        return out
    pairs = (hours + 1) // 2
    months = max(1, min(mb, HOUR_BLOCK // pairs))
    rows = max(1, min(c, HOUR_BLOCK // (pairs * months)))
    # the spike uniforms are drawn even without spikes (the prices then ignore them):
    # two stores per pair, against a second kernel signature
    buffers = [np.empty((rows, months, pairs), dtype=np.float32) for _ in range(4)]
    scen = np.ascontiguousarray(scen, dtype=np.int64)
    kernels = _kernels()
    for s0 in range(0, c, rows):
        s1 = min(c, s0 + rows)
        for m0 in range(0, mb, months):
            m1 = min(mb, m0 + months)
            u = tuple(b[:s1 - s0, :m1 - m0] for b in buffers)
            kernels["hour_uniforms"](scen[s0:s1], int(month0 + m0), int(stream), int(key[0]),
                                     int(key[1]), *u)
            prices = hour_prices(np, u, level[s0:s1, m0:m1], hours, sig, spike_p, spike_price, cap)
            rev = np.ascontiguousarray(revenue[:, s0:s1, m0:m1], dtype=np.float32)
            for price in prices:   # first hours of the pairs, then second hours, as NumPy adds them
                kernels["hour_sums"](price, rev, out[:, s0:s1, m0:m1])
    return out


def mothball_rows(margin: np.ndarray, stop_limit: np.ndarray, start_limit: np.ndarray,
                  cost: np.ndarray) -> np.ndarray:
    """Compiled twin of `gpu.recursions.mothball_rows` on the host: the same operations
    path by path, so the same bits.

    Parameters
    ----------
    margin : ndarray (I, c, M) float64
        Margin per grid MW of each mining site's fleet, month by month.
    stop_limit, start_limit : ndarray (I, 1) int64
        Losing months before a stop, paying months before a restart (int64 max: never).
    cost : ndarray (I, 1) float64
        $ per grid MW charged in a restart month.

    Returns
    -------
    ndarray (I, c, M) float64
        The margin earned.
    """
    margin = _f64(margin)
    out = np.empty_like(margin)
    if margin.size:
        _kernels()["mothball"](margin, _i64(np.reshape(stop_limit, -1)),
                               _i64(np.reshape(start_limit, -1)), _f64(np.reshape(cost, -1)), out)
    return out


def _i64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _accumulators(n_act: int, c: int, n_months: int, weights, cash_weights):
    w = _f64(weights) if weights is not None else np.zeros(n_act)
    cw = _f64(cash_weights) if cash_weights is not None else np.zeros((1, 1))
    return (w, cw, np.zeros((n_act, c)), np.zeros((n_act, n_months)),
            np.zeros((c, n_months)) if weights is not None else np.zeros((1, 1)),
            np.zeros(n_act))


def convert_reduced(h, col: dict, margin, rent, site_ev, lease_ev, disc, disc_end,
                    weights=None, cash_weights=None):
    """The reductions `gpu.valuation` takes of `convert_flows`, without its (a, c, M) cash.

    Returns
    -------
    tuple
        (npv (a, c), cash summed over scenarios (a, M), the plan's cash sum_a w_a cash_a
        (c, M) or None, per action sum_{s,m} W[s,m] cash (a,) or None); `weights` (a,)
        and `cash_weights` (c, M) as `simulate_value_table` takes them.
    """
    n_act, c, n_months = col["start"].shape[0], rent.shape[0], h.months
    w, cw, npv, cash_sum, plan, weighted = _accumulators(n_act, c, n_months, weights, cash_weights)
    _kernels()["convert"](
        _i64(col["start"]), _i64(col["build"]), _f64(col["own"]), _f64(col["capex"]),
        _i64(col["tenor"]), _i64(col["relet"]), _f64(col["noi_margin"]), _f64(col["rate"]),
        _f64(col["escalator"]), _f64(col["backstop"]), _f64(col["pue"]),
        _f64(col["backstop_cost"]), _i64(col["mines"]), _i64(col["margin_row"]),
        _i64(col["site"]), _i64(col["lease"]),
        _f64(site_ev["overrun"]), _i64(site_ev["delay"]), _i64(lease_ev["default_month"]),
        np.ascontiguousarray(lease_ev["renews"], dtype=np.bool_), _margin(margin, c, n_months),
        _f64(rent), _f64(disc), float(disc_end), int(n_months), float(h.tv_hpc),
        float(h.tv_mining), float(h.discount_rate), w, weights is not None, cw,
        cash_weights is not None, npv, cash_sum, plan, weighted)
    return (npv, cash_sum, plan if weights is not None else None,
            weighted if cash_weights is not None else None)


def sell_reduced(h, col: dict, margin, site_ev, disc, disc_end, weights=None, cash_weights=None):
    """The reductions of `gpu.valuation.sell_flows` (as `convert_reduced`)."""
    n_act, n_months = col["start"].shape[0], h.months
    c = site_ev["sale_closes"].shape[1]
    w, cw, npv, cash_sum, plan, weighted = _accumulators(n_act, c, n_months, weights, cash_weights)
    _kernels()["sell"](
        _i64(col["close"]), _f64(col["own"]), _f64(col["gross"]), _i64(col["mines"]),
        _i64(col["margin_row"]), _i64(col["site"]),
        np.ascontiguousarray(site_ev["sale_closes"], dtype=np.bool_), _f64(site_ev["sale_price"]),
        _margin(margin, c, n_months), _f64(disc), float(disc_end), int(n_months),
        float(h.tv_mining), w, weights is not None, cw, cash_weights is not None,
        npv, cash_sum, plan, weighted)
    return (npv, cash_sum, plan if weights is not None else None,
            weighted if cash_weights is not None else None)


def _margin(margin, c: int, n_months: int) -> np.ndarray:
    """The margin layout (n_mining, c, M); a one-row zero stand-in when nothing mines (the
    kernels read it only for actions whose site mines)."""
    m = _f64(margin)
    return m if m.shape[0] else np.zeros((1, c, n_months))


def warm_up() -> None:
    """Compile (or load) every kernel now, on tiny inputs: before threads start, so that
    the first chunks do not wait on one another's compilation."""
    if available():
        _kernels()
