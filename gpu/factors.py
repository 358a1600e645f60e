"""Factor processes: power prices, bitcoin, HPC market rent, and one-off events.

Every draw is keyed by (scenario, month, hour, stream) through Philox, so a scenario's
path is the same whichever chunk it is computed in and on either backend. Each function
takes `scen`, the absolute scenario numbers of a chunk, and returns arrays whose first
scenario axis matches it. Time: plan month m sits at t = m / 12 years.
"""
from __future__ import annotations

import math
from types import ModuleType

from .inputs import BitcoinParams, Horizon, LeaseParams, PowerParams, RentParams, SiteParams
from .philox import box_muller, draw, normals, uniform01, uniform01_f64

# Stream ids (the counter's fourth word): purpose in the high half, entity in the low.
POWER_LEVEL = 1 << 16
POWER_HOURS = 2 << 16
BITCOIN = 3 << 16
RENT = 4 << 16
SITE_EVENTS = 5 << 16
LEASE_EVENTS = 6 << 16

HOURS_PER_MONTH = 730.0


def ou_path(xp: ModuleType, z, kappa: float, sigma: float):
    """Zero-started log-OU with monthly steps driven by normals z (c, M).

    Returns (x, var): x[:, m] = phi * x[:, m-1] + s * z[:, m] with x[:, -1] = 0, and the
    variance of x[:, m] (M,), so callers can centre exp(x) on mean one.
    """
    dt = 1.0 / 12.0
    phi = math.exp(-kappa * dt)
    s = sigma * math.sqrt((1.0 - phi * phi) / (2.0 * kappa)) if kappa > 0 else sigma * math.sqrt(dt)
    c, n_months = z.shape
    x = xp.empty((c, n_months), dtype=xp.float64)
    prev = xp.zeros(c, dtype=xp.float64)
    for m in range(n_months):  # a recursion over 144 months, vectorised over scenarios
        prev = phi * prev + s * z[:, m]
        x[:, m] = prev
    powers = phi ** (2.0 * xp.arange(n_months, dtype=xp.float64))
    var = (s * s) * xp.cumsum(powers)
    return x, var


def monthly_normals(xp: ModuleType, seed: int, scen, months: int, stream: int):
    """One standard normal per (scenario, month) for a stream, float64 (c, M)."""
    m = xp.arange(months, dtype=xp.int64)
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
    if xp.__name__ == "cupy":
        from .hourly_kernel import hourly_margin_sums_fused  # noqa: PLC0415
        return hourly_margin_sums_fused(xp, seed, scen, month0, level, revenue, power, k, hours,
                                        POWER_HOURS + k)
    c, mb = level.shape
    pairs = (hours + 1) // 2
    m = xp.arange(month0, month0 + mb, dtype=xp.int64)
    h = xp.arange(pairs, dtype=xp.int64)
    x0, x1, x2, x3 = draw(seed, scen[:, None, None], m[None, :, None], h[None, None, :],
                          POWER_HOURS + k, xp=xp)
    z0, z1 = box_muller(uniform01(x0, xp=xp), uniform01(x1, xp=xp), xp=xp)
    sig = float(power.hourly_volatility[k])
    spike_p = float(power.spike_probability[k])
    level32 = level.astype(xp.float32)[:, :, None]
    out = xp.zeros((revenue.shape[0], c, mb), dtype=xp.float64)
    # an odd hour count takes only the first normal of the last pair
    for z, bits, n in ((z0, x2, pairs), (z1, x3, hours // 2)):
        if n == 0:
            continue
        price = level32 * xp.exp(xp.float32(sig) * z[:, :, :n] - xp.float32(0.5 * sig * sig))
        if spike_p > 0:
            spiking = uniform01(bits[:, :, :n], xp=xp) < xp.float32(spike_p)
            price = xp.where(spiking, xp.float32(power.spike_price[k]), price)
        price = xp.minimum(price, xp.float32(power.price_cap[k]))
        for j in range(revenue.shape[0]):
            gain = revenue[j].astype(xp.float32)[:, :, None] - price
            out[j] += xp.maximum(gain, xp.float32(0.0)).sum(axis=-1, dtype=xp.float64)
    return out


def bitcoin_paths(xp: ModuleType, seed: int, scen, horizon: Horizon, btc: BitcoinParams):
    """Bitcoin price ($, GBM) and hashprice ($ per TH/s per day), each (c, M) float64.

    Price starts at price_usd in month 0: E[P_m] = P_0 exp(drift * m/12). Network hashrate
    grows at hashrate_growth a year and leans into price surprises with the given
    elasticity. Hashprice = (subsidy + fees) * 144 blocks/day * price / hashrate.
    """
    n = horizon.months
    dt = 1.0 / 12.0
    z = monthly_normals(xp, seed, scen, n, BITCOIN)
    z[:, 0] = 0.0  # month 0 is today's price
    w = xp.cumsum(z, axis=1) * math.sqrt(dt)
    t = xp.arange(n, dtype=xp.float64) * dt
    surprise = btc.volatility * w - 0.5 * btc.volatility ** 2 * t[None, :]
    price = btc.price_usd * xp.exp(btc.drift * t[None, :] + surprise)
    hashrate_ehs = (btc.hashrate_ehs * (1.0 + btc.hashrate_growth) ** t[None, :]
                    * xp.exp(btc.hashrate_price_elasticity * surprise))
    subsidy = xp.asarray(btc.subsidy_btc, dtype=xp.float64)
    hashprice = (subsidy[None, :] + btc.fees_btc) * 144.0 * price / (hashrate_ehs * 1e6)
    return price, hashprice


def rent_path(xp: ModuleType, seed: int, scen, horizon: Horizon, rent: RentParams):
    """Market rent for new or re-let HPC leases ($/kW-month, (c, M) float64): log-OU
    around a drifting level, centred so E[R_m] = rate * exp(drift * m/12)."""
    z = monthly_normals(xp, seed, scen, horizon.months, RENT)
    z[:, 0] = 0.0  # today's rent is known
    x, var = ou_path(xp, z, rent.mean_reversion, rent.volatility)
    var = xp.concatenate((xp.zeros(1, dtype=var.dtype), var[:-1]))  # z[:, 0] = 0: month m has seen m shocks
    t = xp.arange(horizon.months, dtype=xp.float64) / 12.0
    return rent.rate_kw_month * xp.exp(rent.drift * t[None, :] + x - 0.5 * var[None, :])


def poisson_inverse(xp: ModuleType, u, lam):
    """Poisson(lam) by inverting the CDF at uniforms u; lam broadcasts against u."""
    lam = xp.asarray(lam, dtype=xp.float64) + xp.zeros_like(u)
    lam_max = float(lam.max()) if lam.size else 0.0
    k_max = int(lam_max + 12.0 * math.sqrt(lam_max) + 12.0)
    pmf = xp.exp(-lam)
    cdf = pmf.copy()
    count = xp.zeros(u.shape, dtype=xp.int64)
    for k in range(1, k_max + 1):
        count += (u > cdf).astype(xp.int64)
        pmf = pmf * lam / k
        cdf = cdf + pmf
    return count


def triangular_inverse(xp: ModuleType, u, low, mode, high):
    """Triangular(low, mode, high) by inverting its CDF at uniforms u."""
    width = xp.maximum(high - low, 1e-300)
    split = (mode - low) / width
    left = low + xp.sqrt(u * width * (mode - low))
    right = high - xp.sqrt((1.0 - u) * width * (high - mode))
    return xp.where(u < split, left, right)


def site_events(xp: ModuleType, seed: int, scen, sites: SiteParams) -> dict:
    """Per (site, scenario) one-off draws, each (I, c):

    overrun: capex multiplier, lognormal with mean one; delay: Poisson months beyond
    the build; sale_closes: bool; sale_price: triangular $ for 100% of the site.
    Drawn per site, not per action, so every alternative start at a site sees the same
    overrun and delay (common random numbers sharpen the comparison).
    """
    idx = xp.arange(sites.n, dtype=xp.int64)
    a0, a1, a2, a3 = draw(seed, scen[None, :], 0, 0, SITE_EVENTS + idx[:, None], xp=xp)
    b0, _, _, _ = draw(seed, scen[None, :], 1, 0, SITE_EVENTS + idx[:, None], xp=xp)
    z, _ = box_muller(uniform01(a0, xp=xp), uniform01(a1, xp=xp), xp=xp)
    vol = xp.asarray(sites.overrun_volatility, dtype=xp.float64)[:, None]
    overrun = xp.exp(vol * z.astype(xp.float64) - 0.5 * vol * vol)
    delay = poisson_inverse(xp, uniform01_f64(a2, xp=xp), xp.asarray(sites.delay_months_mean)[:, None])
    closes = uniform01_f64(a3, xp=xp) < xp.asarray(sites.close_probability)[:, None]
    price = triangular_inverse(xp, uniform01_f64(b0, xp=xp),
                               xp.asarray(sites.sale_low, dtype=xp.float64)[:, None],
                               xp.asarray(sites.sale_mode, dtype=xp.float64)[:, None],
                               xp.asarray(sites.sale_high, dtype=xp.float64)[:, None])
    return {"overrun": overrun, "delay": delay, "sale_closes": closes, "sale_price": price}


NEVER = 1 << 40  # months: a default that never comes


def lease_events(xp: ModuleType, seed: int, scen, leases: LeaseParams) -> dict:
    """Per (lease, scenario) draws, each (L, c): default_after (whole months of rent
    paid before the tenant defaults; geometric at the monthly hazard equivalent to
    `default_rate`, NEVER when the rate is zero) and renews (bool, at expiry)."""
    idx = xp.arange(leases.n, dtype=xp.int64)
    x0, x1, _, _ = draw(seed, scen[None, :], 0, 0, LEASE_EVENTS + idx[:, None], xp=xp)
    rate = xp.asarray(leases.default_rate, dtype=xp.float64)[:, None]
    monthly = 1.0 - (1.0 - xp.minimum(rate, 1.0 - 1e-12)) ** (1.0 / 12.0)
    u = uniform01_f64(x0, xp=xp)
    survived = xp.floor(xp.log(u) / xp.log1p(-xp.maximum(monthly, 1e-300)))
    default_after = xp.where(monthly > 0, xp.minimum(survived, float(NEVER)), float(NEVER)).astype(xp.int64)
    renews = uniform01_f64(x1, xp=xp) < xp.asarray(leases.renewal_probability)[:, None]
    return {"default_after": default_after, "renews": renews}
