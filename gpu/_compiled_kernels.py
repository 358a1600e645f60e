"""The Numba kernels of `gpu.compiled`, at module level so that Numba's on-disk cache
finds them again in the next process (functions defined inside a function are compiled
anew each time). Imported only through `gpu.compiled`, which says why they exist and
what they guarantee; this module imports Numba at once."""
from __future__ import annotations

import numpy as np
from numba import njit

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
_INV23 = np.float32(1.1920928955078125e-07)   # 2**-23
_HALF32 = np.float32(0.5)
_ZERO32 = np.float32(0.0)
_FEW_SITES = 6   # up to this many mining sites in a market, hour_sums loops site by site


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


@njit(nogil=True, cache=True, error_model="numpy")
def hour_uniforms(scen, month0, stream, k0, k1, u0, u1, u2, u3):
    # Philox is integer arithmetic: compiled, it runs ~18x faster than as a dozen array
    # passes per round, to the same bits; the transcendentals stay with NumPy's SIMD
    # ufuncs (Numba here has no vector math library and would call them one by one)
    c, mb, pairs = u0.shape
    kk0, kk1 = np.uint64(k0), np.uint64(k1)
    st = np.uint64(stream)
    for i in range(c):
        s = np.uint64(scen[i]) & _MASK
        for mi in range(mb):
            month = np.uint64(month0 + mi) & _MASK
            for h in range(pairs):
                x0, x1, x2, x3 = philox(s, month, np.uint64(h), st, kk0, kk1)
                u0[i, mi, h] = u01(x0)
                u1[i, mi, h] = u01(x1)
                u2[i, mi, h] = u01(x2)
                u3[i, mi, h] = u01(x3)


@njit(nogil=True, cache=True, error_model="numpy")
def hour_sums(price, revenue, out):
    # every mining site of the market against one block of hour prices (c, mb, n): the
    # array path makes a pass over the block per site, which at hundreds of sites is
    # most of its time; here each hour's price meets all the sites in one loop that
    # runs across SIMD lanes (each site still adds its hours in order)
    c, mb, n = price.shape
    n_sites = revenue.shape[0]
    if n_sites <= _FEW_SITES:
        # a few sites: one site's hours at a time, its sum in a register (the same sums
        # in the same order as below)
        for i in range(c):
            for mi in range(mb):
                for j in range(n_sites):
                    r = np.float32(revenue[j, i, mi])
                    total = 0.0
                    for h in range(n):
                        total += np.float64(max(r - price[i, mi, h], _ZERO32))
                    out[j, i, mi] += total
        return
    rev = np.empty(n_sites, dtype=np.float32)
    acc = np.empty(n_sites, dtype=np.float64)
    for i in range(c):
        for mi in range(mb):
            for j in range(n_sites):
                rev[j] = revenue[j, i, mi]
                acc[j] = 0.0
            for h in range(n):
                p = price[i, mi, h]
                for j in range(n_sites):
                    # + 0.0 where the hour does not pay: the same sum as skipping it
                    acc[j] += np.float64(max(rev[j] - p, _ZERO32))
            for j in range(n_sites):
                out[j, i, mi] += acc[j]


@njit(nogil=True, cache=True, error_model="numpy")
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
        contract = noi * rate[a]
        re = relet[a]
        signing = backstop_cost[a] * (1.0 + discount_rate) ** (-(t0 + 0.5) / 12.0)
        for s in range(c):
            capex_m = -ow * capex[a] * overrun[i, s] / b
            rs = t0 + b + delay[i, s]
            end = rs + tenor[a]
            failed = max(default_month[le, s], rs)
            rf = end if renews[le, s] else end + re
            if failed < end:
                rf = max(rf, failed + re)
            paid = 0.0
            npv = 0.0
            wsum = 0.0
            years_then = -1
            escalation = 1.0
            # nothing flows before the start, and after the contract's end nothing but
            # the horizon's market rent (the residual stands for it in the NPV)
            last = min(window, max(end, n_months))
            build_end = t0 + b
            relet_from = failed + re
            for m in range(t0, last):
                cash = capex_m if m < build_end else 0.0
                # the lease adds to the cash only inside its term (outside it every
                # lease term of `gpu.valuation.convert_flows` is exactly zero), so the
                # term's arithmetic runs there alone: about 4x faster, the same bits
                if m >= rs and m < end:
                    years = (m - rs) // 12
                    if years != years_then:
                        # pow once a contract year, not once a month: the same value
                        escalation = grow ** np.float64(years)
                        years_then = years
                    contracted = contract * escalation
                    if m < failed:
                        cash += contracted
                    else:
                        relet_income = min(noi * rent[s, m], contracted) if m >= relet_from else 0.0
                        shortfall = contracted - relet_income
                        guarantor = min(shortfall, max(cap - paid, 0.0))
                        paid += shortfall
                        cash += relet_income + guarantor
                if m < n_months:
                    if mining:
                        cash -= lost_scale * margin[row, s, m]
                    liquid = cash + (noi * rent[s, m] if m >= rf else 0.0)
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


@njit(nogil=True, cache=True, error_model="numpy")
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


@njit(nogil=True, cache=True, error_model="numpy")
def mothball(margin, stop_limit, start_limit, cost, out):
    # one (site, scenario) path at a time, its months in registers: the twin of the CUDA
    # `wf_mothball_path`, IEEE operation for operation
    n_sites, c, n_months = margin.shape
    for i in range(n_sites):
        stop, start, charge = stop_limit[i], start_limit[i], cost[i]
        for s in range(c):
            losses = 0
            profits = 0
            stopped = False
            restarting = False
            for m in range(n_months):
                here = margin[i, s, m]
                out[i, s, m] = 0.0 if stopped else (here - charge if restarting else here)
                running = not stopped
                losses = losses + 1 if (running and here < 0.0) else 0
                profits = profits + 1 if (stopped and here > 0.0) else 0
                restarting = stopped and profits >= start
                stopped = (stopped and not restarting) or (running and losses >= stop)
