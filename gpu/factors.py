"""Factor processes: power prices, bitcoin, HPC market rent, and one-off events.

Every draw is keyed by (scenario, month, hour, stream) through Philox, so a scenario's
path is the same whichever chunk it is computed in and on either backend. Each function
takes the namespace `xp` first (required) and `scen`, the absolute scenario numbers of a
chunk, and returns arrays whose first scenario axis matches it. Parameter arrays may be
given on the host or already on the device (the engine moves them once per valuation,
`gpu.device`); scalars and bounds are read on the host, so nothing here waits for the
device. Linear recursions in time go through `gpu.recursions.linear_recursion` (one
kernel on CuPy). Time: plan month m sits at t = m / 12 years.
"""
from __future__ import annotations

import functools
import math
from types import ModuleType

import numpy as np

from .backend import as_xp, is_cupy, to_host
from .inputs import (
    BitcoinParams,
    Horizon,
    LeaseParams,
    PowerParams,
    RentParams,
    SiteParams,
    StressParams,
)
from .philox import box_muller, draw, normals, uniform01, uniform01_f64
from .recursions import linear_recursion

# Stream ids (the counter's fourth word): purpose in the high half, entity in the low.
POWER_LEVEL = 1 << 16
POWER_HOURS = 2 << 16
BITCOIN = 3 << 16
RENT = 4 << 16
SITE_EVENTS = 5 << 16
LEASE_EVENTS = 6 << 16
STRESS = 7 << 16

HOURS_PER_MONTH = 730.0


def ou_path(xp: ModuleType, z, kappa: float, sigma: float):
    """Zero-started log-OU with monthly steps driven by normals z (c, M).

    Returns (x, var): x[:, m] = phi * x[:, m-1] + s * z[:, m] with x[:, -1] = 0 (by
    `linear_recursion`), and the variance of x[:, m] (M,), so callers can centre exp(x)
    on mean one.
    """
    dt = 1.0 / 12.0
    phi = math.exp(-kappa * dt)
    s = sigma * math.sqrt((1.0 - phi * phi) / (2.0 * kappa)) if kappa > 0 else sigma * math.sqrt(dt)
    n_months = z.shape[1]
    x = linear_recursion(xp, s * z, phi)
    powers = phi ** (2.0 * xp.arange(n_months, dtype=xp.float64))
    var = (s * s) * xp.cumsum(powers)
    return x, var


def monthly_normals(xp: ModuleType, seed: int, scen, months: int, stream: int):
    """One standard normal per (scenario, month) for a stream, float64 (c, M)."""
    m = xp.arange(months, dtype=xp.uint32)
    z0, _ = normals(seed, scen[:, None], m[None, :], 0, stream, xp=xp)
    return z0.astype(xp.float64)


def power_levels(xp: ModuleType, seed: int, scen, horizon: Horizon, power: PowerParams, k: int):
    """Monthly mean price level of market k ($/MWh, (c, M) float64), seasonality included.

    log-OU deviation around the long-run level, centred so that E[level] equals
    mean_price times the seasonal factor.
    """
    z = monthly_normals(xp, seed, scen, horizon.months, POWER_LEVEL + k)
    x, var = ou_path(xp, z, float(power.mean_reversion[k]), float(power.volatility[k]))
    m = xp.arange(horizon.months, dtype=xp.float64)
    calendar = (horizon.first_calendar_month + m) % 12
    peak = float(power.seasonal_peak_month[k]) - 1.0
    season = float(power.seasonal_amplitude[k]) * xp.cos(2.0 * math.pi * (calendar - peak) / 12.0)
    return float(power.mean_price[k]) * xp.exp(season[None, :] + x - 0.5 * var[None, :])


def hourly_margin_sums(xp: ModuleType, seed: int, scen, month0: int, level, revenue,
                       power: PowerParams, k: int, hours: int):
    """Sum over sampled hours of max(revenue - price_h, 0) for a block of months.

    level (c, mb): the months' mean price; revenue (n_sites, c, mb): hash revenue per MWh
    of each mining site in this market. Hours are lognormal around the level with mean
    equal to it, replaced by `spike_price` with `spike_probability`, then capped.
    One Philox call serves two hours: two uniforms feed Box–Muller, two decide spikes.
    Returns (n_sites, c, mb) float64.
    """
    if is_cupy(xp):
        from .hourly_kernel import hourly_margin_sums_fused  # noqa: PLC0415
        return hourly_margin_sums_fused(xp, seed, scen, month0, level, revenue, power, k, hours,
                                        POWER_HOURS + k)
    spike_p = float(power.spike_probability[k])
    u = hour_uniforms(xp, seed, scen, month0, level.shape[1], (hours + 1) // 2, POWER_HOURS + k,
                      spikes=spike_p > 0)
    out = xp.zeros((revenue.shape[0], *level.shape), dtype=xp.float64)
    for price in hour_prices(xp, u, level, hours, float(power.hourly_volatility[k]), spike_p,
                             float(power.spike_price[k]), float(power.price_cap[k])):
        for j in range(revenue.shape[0]):
            gain = revenue[j].astype(xp.float32)[:, :, None] - price
            out[j] += xp.maximum(gain, xp.float32(0.0)).sum(axis=-1, dtype=xp.float64)
    return out


def hour_uniforms(xp: ModuleType, seed: int, scen, month0: int, mb: int, pairs: int, stream: int,
                  *, spikes: bool = True) -> tuple:
    """The four float32 uniforms of every hour pair, each (c, mb, pairs): two for
    Box–Muller, two for the pair's spike draws (None without spikes). `gpu.compiled`
    computes the same bits without the array path's (c, mb, pairs) uint32 temporaries."""
    m = xp.arange(month0, month0 + mb, dtype=xp.uint32)
    h = xp.arange(pairs, dtype=xp.uint32)
    x0, x1, x2, x3 = draw(seed, scen[:, None, None], m[None, :, None], h[None, None, :], stream, xp=xp)
    u = uniform01(x0, xp=xp), uniform01(x1, xp=xp)
    return u + ((uniform01(x2, xp=xp), uniform01(x3, xp=xp)) if spikes else (None, None))


def hour_prices(xp: ModuleType, uniforms: tuple, level, hours: int, sig: float, spike_p: float,
                spike_price: float, cap: float) -> list:
    """The sampled hours' prices from their uniforms (`hour_uniforms`): float32 arrays
    (c, mb, n) for the first and the second hour of each pair (an odd hour count takes
    only the first normal of the last pair; none when there is one hour). The NumPy path
    and the compiled one (`gpu.compiled.hourly_margin_sums`) share this code, so their
    prices are the same bits."""
    u0, u1, u2, u3 = uniforms
    pairs = u0.shape[-1]
    z0, z1 = box_muller(u0, u1, xp=xp)
    level32 = level.astype(xp.float32)[:, :, None]
    prices = []
    for z, spike_u, n in ((z0, u2, pairs), (z1, u3, hours // 2)):
        if n == 0:
            continue
        price = level32 * xp.exp(xp.float32(sig) * z[:, :, :n] - xp.float32(0.5 * sig * sig))
        if spike_p > 0:
            spiking = spike_u[:, :, :n] < xp.float32(spike_p)
            price = xp.where(spiking, xp.float32(spike_price), price)
        prices.append(xp.minimum(price, xp.float32(cap)))
    return prices


def bitcoin_paths(xp: ModuleType, seed: int, scen, horizon: Horizon, btc: BitcoinParams,
                  subsidy=None):
    """Bitcoin price ($, GBM) and hashprice ($ per TH/s per day), each (c, M) float64.

    Price starts at price_usd in month 0: E[P_m] = P_0 exp(drift * m/12). Hashprice =
    (subsidy + fees) * 144 blocks/day * price / hashrate. The network hashrate H either
    grows at hashrate_growth a year (exogenous) or, with the marginal-fleet parameters
    (economic), answers to what mining earns: with y = ln H and phi = exp(-speed / 12),

        y_{m+1} = y_m + (1 - phi) ln(hp_m / hp*) + elasticity (s_{m+1} - s_m),

    hp* the marginal fleet's breakeven and s the price surprise; y_0 = ln(hashrate_ehs).
    Either way hashrate leans into price surprises with the given elasticity.
    `subsidy` is `btc.subsidy_btc` already in xp's memory (the engine moves it once per
    valuation); by default it is taken from `btc`.
    """
    subsidy = as_xp(xp, btc.subsidy_btc if subsidy is None else subsidy, xp.float64)
    n = horizon.months
    dt = 1.0 / 12.0
    z = monthly_normals(xp, seed, scen, n, BITCOIN)
    z[:, 0] = 0.0  # month 0 is today's price
    w = xp.cumsum(z, axis=1) * math.sqrt(dt)
    t = xp.arange(n, dtype=xp.float64) * dt
    surprise = btc.volatility * w - 0.5 * btc.volatility ** 2 * t[None, :]
    price = btc.price_usd * xp.exp(btc.drift * t[None, :] + surprise)
    if btc.economic:
        return price, economic_hashprice(xp, btc, surprise, subsidy)
    hashrate_ehs = (btc.hashrate_ehs * (1.0 + btc.hashrate_growth) ** t[None, :]
                    * xp.exp(btc.hashrate_price_elasticity * surprise))
    hashprice = (subsidy[None, :] + btc.fees_btc) * 144.0 * price / (hashrate_ehs * 1e6)
    return price, hashprice


def economic_hashprice(xp: ModuleType, btc: BitcoinParams, surprise, subsidy):
    """Hashprice of an economic network ($ per TH/s per day).

    In x = ln(hp / hp*) the log-hashrate rule of `bitcoin_paths` is a linear filter,
    x_m = phi x_{m-1} + d_m with d_m = Delta ln[(subsidy + fees) P]_m - elasticity Delta s_m:
    the network closes a share 1 - phi of the gap to breakeven each month, while a halving
    or a price move opens a new one. Working in x, not y, sums small increments rather than
    a log-hashrate of ~7, which keeps the path accurate to a few ulps. The filter runs as
    `linear_recursion`: the matmul with the phi-power matrix it replaces rounded
    differently with the number of rows in OpenBLAS, so paths depended on the chunk size.

    Parameters
    ----------
    xp : module
        Array namespace of `surprise`.
    btc : BitcoinParams
        With the marginal-fleet fields set.
    surprise : array (c, M) float64
        The price surprise s: ln P_m = ln P_0 + drift t_m + s_m, with s_0 = 0.
    subsidy : array (M,) float64
        `btc.subsidy_btc` in xp's memory (month 0's value is read from `btc`, on the host).

    Returns
    -------
    array (c, M) float64
    """
    dt = 1.0 / 12.0
    phi = math.exp(-btc.hashrate_adjustment_speed * dt)
    hp_star = btc.breakeven_hashprice
    log_reward = xp.log(subsidy + btc.fees_btc)
    hp0 = (float(btc.subsidy_btc[0]) + btc.fees_btc) * 144.0 * btc.price_usd / (btc.hashrate_ehs * 1e6)
    d = xp.empty(surprise.shape, dtype=xp.float64)
    d[:, 0] = math.log(hp0 / hp_star)     # month 0 is known: today's price and network
    d[:, 1:] = ((log_reward[1:] - log_reward[:-1])[None, :] + btc.drift * dt
                + (1.0 - btc.hashrate_price_elasticity) * (surprise[:, 1:] - surprise[:, :-1]))
    return hp_star * xp.exp(linear_recursion(xp, d, phi))


def rent_path(xp: ModuleType, seed: int, scen, horizon: Horizon, rent: RentParams,
              months: int | None = None, onset=None, rent_drop: float = 0.0):
    """Market rent for new or re-let HPC leases ($/kW-month, (c, months) float64): log-OU
    around a drifting level, centred so E[R_m] = rate * exp(drift * m/12).

    `months` (default the horizon's) may reach past the horizon: contracts are valued to
    their end, and month m's rent does not depend on how many months are drawn. With an
    AI-market stress `onset` (c,) plan month, rent is cut by `rent_drop` from then on.
    """
    months = horizon.months if months is None else months
    z = monthly_normals(xp, seed, scen, months, RENT)
    z[:, 0] = 0.0  # today's rent is known
    x, var = ou_path(xp, z, rent.mean_reversion, rent.volatility)
    var = xp.concatenate((xp.zeros(1, dtype=var.dtype), var[:-1]))  # z[:, 0] = 0: month m has seen m shocks
    t = xp.arange(months, dtype=xp.float64) / 12.0
    path = rent.rate_kw_month * xp.exp(rent.drift * t[None, :] + x - 0.5 * var[None, :])
    if onset is not None and rent_drop > 0.0:
        m = xp.arange(months, dtype=xp.int64)
        path = xp.where(m[None, :] >= onset[:, None], (1.0 - rent_drop) * path, path)
    return path


def poisson_bound(lam_max: float) -> int:
    """The largest count `poisson_inverse` returns for means up to lam_max (its CDF is
    summed that far, 12 standard deviations past the mean): it bounds build delays, so
    the valuation window can be sized before any draw."""
    return int(lam_max + 12.0 * math.sqrt(lam_max) + 12.0)


def poisson_inverse(xp: ModuleType, u, lam, k_max: int):
    """Poisson(lam) by inverting the CDF at uniforms u; lam broadcasts against u.

    The CDF is summed up to `k_max` (`poisson_bound` of the largest mean, which the caller
    reads from its host-side parameters), so no device value is waited for. On CuPy one
    elementwise kernel walks the k terms in registers; on NumPy the same sums run in
    place, pass by pass: the same IEEE operations in the same order.
    """
    lam = as_xp(xp, lam, xp.float64)
    if is_cupy(xp):
        return _poisson_kernel()(u, lam, np.int32(k_max))
    lam = lam + xp.zeros_like(u)
    pmf = xp.exp(-lam)
    cdf = pmf.copy()
    count = xp.zeros(u.shape, dtype=xp.int64)
    above = xp.empty(u.shape, dtype=bool)
    for k in range(1, k_max + 1):
        xp.greater(u, cdf, out=above)
        count += above
        pmf *= lam
        pmf /= k
        cdf += pmf
    return count


_POISSON_SOURCE = r"""
double pmf = exp(-lam);
double cdf = pmf;
long long n = 0;
for (int k = 1; k <= k_max; ++k) {
    n += (u > cdf);
    pmf = pmf * lam / (double)k;
    cdf = cdf + pmf;
}
count = n;
"""


@functools.lru_cache(maxsize=1)
def _poisson_kernel():
    import cupy  # noqa: PLC0415 - only a cupy caller reaches this

    return cupy.ElementwiseKernel("float64 u, float64 lam, int32 k_max", "int64 count",
                                  _POISSON_SOURCE, "wattfolio_poisson_inverse")


def triangular_inverse(xp: ModuleType, u, low, mode, high):
    """Triangular(low, mode, high) by inverting its CDF at uniforms u."""
    width = xp.maximum(high - low, 1e-300)
    split = (mode - low) / width
    left = low + xp.sqrt(u * width * (mode - low))
    right = high - xp.sqrt((1.0 - u) * width * (high - mode))
    return xp.where(u < split, left, right)


def site_events(xp: ModuleType, seed: int, scen, sites: SiteParams,
                delay_max: int | None = None) -> dict:
    """Per (site, scenario) one-off draws, each (I, c):

    overrun: capex multiplier, lognormal with mean one; delay: Poisson months beyond
    the build; sale_closes: bool; sale_price: triangular $ for 100% of the site.
    Drawn per site, not per action, so every alternative start at a site sees the same
    overrun and delay (common random numbers sharpen the comparison). `sites`' arrays may
    be on the device; then pass `delay_max` (`poisson_bound` of the largest delay mean,
    from the host), else it is read from them.
    """
    if delay_max is None:
        means = to_host(sites.delay_months_mean)
        delay_max = poisson_bound(float(means.max()) if means.size else 0.0)
    idx = xp.arange(sites.n, dtype=xp.int64)
    a0, a1, a2, a3 = draw(seed, scen[None, :], 0, 0, SITE_EVENTS + idx[:, None], xp=xp)
    b0, _, _, _ = draw(seed, scen[None, :], 1, 0, SITE_EVENTS + idx[:, None], xp=xp)
    z, _ = box_muller(uniform01(a0, xp=xp), uniform01(a1, xp=xp), xp=xp)
    vol = as_xp(xp, sites.overrun_volatility, xp.float64)[:, None]
    overrun = xp.exp(vol * z.astype(xp.float64) - 0.5 * vol * vol)
    delay = poisson_inverse(xp, uniform01_f64(a2, xp=xp), as_xp(xp, sites.delay_months_mean)[:, None],
                            delay_max)
    closes = uniform01_f64(a3, xp=xp) < as_xp(xp, sites.close_probability)[:, None]
    price = triangular_inverse(xp, uniform01_f64(b0, xp=xp),
                               as_xp(xp, sites.sale_low, xp.float64)[:, None],
                               as_xp(xp, sites.sale_mode, xp.float64)[:, None],
                               as_xp(xp, sites.sale_high, xp.float64)[:, None])
    return {"overrun": overrun, "delay": delay, "sale_closes": closes, "sale_price": price}


NEVER = 1 << 40  # months: an event that never comes


def stress_onset(xp: ModuleType, seed: int, scen, stress: StressParams):
    """Plan month (c,) int64 in which an AI-market bust begins: exponential at the
    intensity equivalent to `annual_probability`, NEVER when the stress is off."""
    if stress.annual_probability <= 0.0:
        return xp.full(scen.shape, NEVER, dtype=xp.int64)
    x0, _, _, _ = draw(seed, scen, 0, 0, STRESS, xp=xp)
    intensity = -math.log1p(-min(stress.annual_probability, 1.0 - 1e-12)) / 12.0
    months = xp.floor(-xp.log(uniform01_f64(x0, xp=xp)) / intensity)
    return xp.minimum(months, float(NEVER)).astype(xp.int64)


def lease_events(xp: ModuleType, seed: int, scen, leases: LeaseParams, onset=None,
                 default_multiplier: float = 1.0) -> dict:
    """Per (lease, scenario) draws, each (L, c).

    default_month: the plan month in which the lease's tenant defaults (NEVER if it does
    not). It is drawn once per tenant, so leases with one tenant fail together: each lease
    reads its tenant's counter (stream LEASE_EVENTS + tenant) and the tenant's rate (the
    checks require leases of one tenant to agree), an exponential time at the intensity
    equivalent to the annual `default_rate`, counted from the plan's start (a tenant can
    fail during the build), with the intensity multiplied by `default_multiplier` from
    the AI-market stress `onset` (c,) on.
    renews: bool, the tenant (or the re-let tenant) renews at the contract's end.
    `leases`' arrays may be on the host or the device.
    """
    tenant = as_xp(xp, leases.tenant, xp.int64)
    x0, _, _, _ = draw(seed, scen[None, :], 0, 0, LEASE_EVENTS + tenant[:, None], xp=xp)
    rate = as_xp(xp, leases.default_rate, xp.float64)[:, None]
    lam1 = -xp.log1p(-xp.minimum(rate, 1.0 - 1e-12)) / 12.0
    e = -xp.log(uniform01_f64(x0, xp=xp))
    with np.errstate(divide="ignore"):
        before = xp.where(lam1 > 0, e / xp.where(lam1 > 0, lam1, 1.0), float(NEVER))
        t = before
        if onset is not None and default_multiplier != 1.0:
            tau = onset.astype(xp.float64)[None, :]
            lam2 = lam1 * default_multiplier
            after = tau + (e - lam1 * tau) / xp.where(lam2 > 0, lam2, 1.0)
            t = xp.where((before < tau) | (lam2 <= 0), before, after)
    default_month = xp.minimum(xp.floor(t), float(NEVER)).astype(xp.int64)
    idx = xp.arange(leases.n, dtype=xp.int64)
    _, x1, _, _ = draw(seed, scen[None, :], 0, 0, LEASE_EVENTS + idx[:, None], xp=xp)
    renews = uniform01_f64(x1, xp=xp) < as_xp(xp, leases.renewal_probability)[:, None]
    return {"default_month": default_month, "renews": renews}
