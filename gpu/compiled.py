"""Compiled CPU kernels (Numba): the hourly mining margin and the contracts' cash flows.

The NumPy path (`gpu.factors.hourly_margin_sums`, `gpu.valuation.convert_flows`,
`sell_flows`) is the reference: vectorised, it materialises every intermediate as an
array — a dozen (scenario, month, hour) float32 arrays per hour block, two dozen (action,
scenario, month) float64 arrays per contract block — and moves ~200 bytes per
scenario-hour through memory. Here one loop iteration owns a cell and keeps its
intermediates in registers, as the CUDA kernel (`gpu.hourly_kernel`) does:

- **hourly margin**: a (scenario, month) cell walks its sampled hours — Philox, Box–Muller,
  spike, cap — in float32 with the same counters and formulas as the NumPy twin, handing
  each hour's price to every mining site of the market; only the per-site sums are
  written. Philox words are bit-identical (integer arithmetic); prices agree to float32
  rounding of the transcendental functions, sums to float64 rounding of their order.
- **contracts**: an (action, scenario) cell walks the months once, accumulating the NPV,
  the expected-cash sums, the plan's cash and the cut weights directly, so the (action,
  scenario, month) cash is never stored. float64 throughout, the NumPy path's formulas in
  the same order; the only difference is the order of the month sums (sequential here,
  pairwise in NumPy): ~1e-15 relative.

Every kernel is serial, releases the GIL (``nogil``) and writes only its own outputs, so
scenario chunks run in threads (`gpu.valuation.simulate_value_table`) with results that do
not depend on the number of workers. Compiled code is cached next to this file
(``cache=True``): the first run on a machine compiles (seconds), later runs load it.

Numba is an optional speed-up: :func:`available` says whether it imports, and the engine
falls back to the NumPy path when it does not (`gpu.backend`).
"""
from __future__ import annotations

import functools
import math

import numpy as np

# Philox4x32 constants as uint64: products of two 32-bit words are formed in 64 bits and
# split, so every operand must be unsigned (Numba would widen a mix with a signed literal
# to float64).
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_NINE = np.uint64(9)
_TWO_PI32 = np.float32(6.2831854820251465)    # float32(2 pi), as the other twins use
_INV23 = np.float32(1.1920928955078125e-07)   # 2**-23
_HALF32 = np.float32(0.5)
_MINUS_TWO32 = np.float32(-2.0)
_ZERO32 = np.float32(0.0)


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when Numba imports (the compiled kernels can run)."""
    try:
        import numba  # noqa: F401, PLC0415 - optional dependency, probed once
        return True
    except Exception:  # noqa: BLE001 - a broken install counts as "not available"
        return False


@functools.lru_cache(maxsize=1)
def _kernels():
    """The compiled kernels, built (or loaded from cache) on first use."""
    from numba import njit  # noqa: PLC0415

    jit = njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

    @njit(inline="always", cache=True)
    def philox(c0, c1, c2, c3, k0, k1):
        for r in range(10):
            if r > 0:
                k0 = (k0 + _W0) & _MASK
                k1 = (k1 + _W1) & _MASK
            p0 = _M0 * c0
            p1 = _M1 * c2
            c0, c1, c2, c3 = ((p1 >> _SHIFT) ^ c1 ^ k0, p1 & _MASK,
                              (p0 >> _SHIFT) ^ c3 ^ k1, p0 & _MASK)
        return c0, c1, c2, c3

    @njit(inline="always", cache=True)
    def u01(bits):
        return (np.float32(bits >> _NINE) + _HALF32) * _INV23

    @jit
    def hourly(scen, month0, hours, stream, k0, k1, sig, half_var, spike_p, spike_price, cap,
               level, revenue, out):
        n, c, mb = revenue.shape
        pairs = (hours + 1) // 2
        second = hours // 2
        rev = np.empty(n, dtype=np.float32)
        acc = np.empty(n, dtype=np.float64)
        kk0, kk1 = np.uint64(k0), np.uint64(k1)
        st = np.uint64(stream)
        spiky = spike_p > _ZERO32
        for i in range(c):
            s = np.uint64(scen[i]) & _MASK
            for mi in range(mb):
                month = np.uint64(month0 + mi) & _MASK
                lv = level[i, mi]
                for j in range(n):
                    rev[j] = revenue[j, i, mi]
                    acc[j] = 0.0
                for h in range(pairs):
                    x0, x1, x2, x3 = philox(s, month, np.uint64(h), st, kk0, kk1)
                    radius = math.sqrt(_MINUS_TWO32 * math.log(u01(x0)))
                    angle = _TWO_PI32 * u01(x1)
                    for half in range(2):
                        if half == 1 and h >= second:
                            break
                        z = radius * (math.cos(angle) if half == 0 else math.sin(angle))
                        p = lv * math.exp(sig * z - half_var)
                        if spiky and u01(x2 if half == 0 else x3) < spike_p:
                            p = spike_price
                        if p > cap:
                            p = cap
                        for j in range(n):
                            g = rev[j] - p
                            if g > _ZERO32:
                                acc[j] += np.float64(g)
                for j in range(n):
                    out[j, i, mi] = acc[j]

    @jit
    def convert(start, build, own, capex, tenor, relet, noi_margin, rate, escalator,
                backstop, pue, backstop_cost, mines, margin_row, site, lease,
                overrun, delay, default_month, renews, margin, rent, disc, disc_end,
                n_months, tv_hpc, tv_mining, discount_rate, weights, use_weights,
                cash_weights, use_cash_weights, npv_out, cash_sum, plan_cash, weighted):
        n_act = start.shape[0]
        c = rent.shape[0]
        window = disc.shape[0]
        lo = max(0, n_months - 12)
        for a in range(n_act):
            t0, b, i, le = start[a], build[a], site[a], lease[a]
            ow = own[a]
            noi = ow * 1000.0 * noi_margin[a]
            cap = ow * backstop[a]
            grow = 1.0 + escalator[a]
            lost_scale = ow * pue[a]
            row = margin_row[a]
            mining = mines[a] > 0
            w = weights[a] if use_weights else 0.0
            signing = backstop_cost[a] * (1.0 + discount_rate) ** (-(t0 + 0.5) / 12.0)
            for s in range(c):
                capex_m = -ow * capex[a] * overrun[i, s] / b
                rs = t0 + b + delay[i, s]
                end = rs + tenor[a]
                failed = max(default_month[le, s], rs)
                rf = end if renews[le, s] else end + relet[a]
                if failed < end:
                    rf = max(rf, failed + relet[a])
                paid = 0.0
                npv = 0.0
                wsum = 0.0
                years_then = -1.0
                escalation = 1.0
                # nothing flows before the start, and after the contract's end nothing but
                # the horizon's market rent (the residual stands for it in the NPV)
                last = min(window, max(end, n_months))
                for m in range(t0, last):
                    cash = capex_m if (m >= t0 and m < t0 + b) else 0.0
                    years = np.floor(max(m - rs, 0) / 12.0)
                    if years != years_then:
                        # pow once a contract year, not once a month: the same value
                        escalation = grow ** years
                        years_then = years
                    contracted = noi * rate[a] * escalation
                    market = noi * rent[s, m]
                    in_term = m >= rs and m < end
                    after = in_term and m >= failed
                    relet_income = min(market, contracted) if (after and m >= failed + relet[a]) else 0.0
                    shortfall = contracted - relet_income if after else 0.0
                    guarantor = min(shortfall, max(cap - paid, 0.0))
                    paid += shortfall
                    cash += ((contracted if (in_term and m < failed) else 0.0) + relet_income) + guarantor
                    if m < n_months:
                        if mining and m >= t0:
                            cash -= lost_scale * margin[row, s, m]
                        liquid = cash + (market if m >= rf else 0.0)
                        cash_sum[a, m] += liquid
                        if use_weights:
                            plan_cash[s, m] += w * liquid
                        if use_cash_weights:
                            wsum += liquid * cash_weights[s, m]
                    npv += cash * disc[m]
                lost_tv = 0.0
                if mining:
                    ly = 0.0
                    for m in range(lo, n_months):
                        ly += margin[row, s, m]
                    lost_tv = tv_mining * ow * pue[a] * max(ly, 0.0)
                residual = tv_hpc * 12.0 * noi * rent[s, rf] * (1.0 + discount_rate) ** (-rf / 12.0)
                npv_out[a, s] = npv + residual - lost_tv * disc_end - signing
                if use_cash_weights:
                    weighted[a] += wsum

    @jit
    def sell(close, own, gross, mines, margin_row, site, sale_closes, sale_price, margin,
             disc, disc_end, n_months, tv_mining, weights, use_weights, cash_weights,
             use_cash_weights, npv_out, cash_sum, plan_cash, weighted):
        n_act = close.shape[0]
        c = sale_closes.shape[1]
        lo = max(0, n_months - 12)
        for a in range(n_act):
            i, cl, row = site[a], close[a], margin_row[a]
            mining = mines[a] > 0
            w = weights[a] if use_weights else 0.0
            for s in range(c):
                closes = sale_closes[i, s]
                proceeds = own[a] * sale_price[i, s] if closes else 0.0
                npv = 0.0
                wsum = 0.0
                for m in range(n_months):
                    cash = proceeds if m == cl else 0.0
                    if mining and closes and m >= cl:
                        cash -= gross[a] * margin[row, s, m]
                    npv += cash * disc[m]
                    cash_sum[a, m] += cash
                    if use_weights:
                        plan_cash[s, m] += w * cash
                    if use_cash_weights:
                        wsum += cash * cash_weights[s, m]
                if mining:
                    ly = 0.0
                    for m in range(lo, n_months):
                        ly += margin[row, s, m]
                    tv = -(tv_mining * gross[a] * max(ly, 0.0)) if closes else -0.0
                    npv = npv + tv * disc_end
                npv_out[a, s] = npv
                if use_cash_weights:
                    weighted[a] += wsum

    return {"hourly": hourly, "convert": convert, "sell": sell}


def hourly_margin_sums(scen: np.ndarray, month0: int, level: np.ndarray, revenue: np.ndarray,
                       hours: int, stream: int, key: tuple[int, int], sig: float,
                       spike_p: float, spike_price: float, cap: float) -> np.ndarray:
    """Compiled twin of `gpu.factors.hourly_margin_sums` on the host.

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
    n, c, mb = revenue.shape
    out = np.zeros((n, c, mb), dtype=np.float64)
    if n == 0 or c == 0 or mb == 0:
        return out
    _kernels()["hourly"](
        np.ascontiguousarray(scen, dtype=np.int64), int(month0), int(hours), int(stream),
        int(key[0]), int(key[1]), np.float32(sig), np.float32(0.5 * sig * sig),
        np.float32(spike_p), np.float32(spike_price), np.float32(cap),
        np.ascontiguousarray(level, dtype=np.float32),
        np.ascontiguousarray(revenue, dtype=np.float32), out)
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
