"""The one cross-key range: bitcoin parameters whose ranges are each safe but whose
combination over a long horizon is not.

Each key of SCHEMA has a range in which, with the others at sane values, the engine stays
finite. Hashprice is the exception: its log moves by (1 - elasticity) times the price
surprise plus the drift and network growth over the horizon (gpu/factors.py,
`bitcoin_paths` and `economic_hashprice`), and the hourly kernel prices hours in float32
(max 3.4e38). So drift 1, volatility 5 and elasticity 5 over 50 years, each in range,
overflow hash revenue to inf and the NPVs after it. `check_bitcoin_tail` bounds that
combination by an 8-sigma envelope of the price surprise s_t = vol W_t - vol^2 t / 2:

    up(T)   = max over t <= T of 8 vol sqrt(t) - vol^2 t / 2   (<= 32 whatever vol and T)
    down(T) = 8 vol sqrt(T) + vol^2 T / 2

A path beyond it has a chance of about 600 x 6e-16 per scenario (Mills ratio at 8
sigma, 600 months), so 1e8 scenarios stay inside it with probability 1 - 4e-5.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .raw import _items, _num
from .schema import SCHEMA, default_of
from .types import Bitcoin

SIGMAS = 8.0
MAX_REVENUE = 1e30        # $/MWh: float32 holds 3.4e38; leaves room for sums and scaling
MIN_HASHRATE_EHS = 1e-290  # hashprice divides by hashrate x 1e6 (TH/s): stays a normal float

_BTC = SCHEMA["bitcoin"].fields


def surprise_envelope(vol: float, years: float, sigmas: float = SIGMAS) -> tuple[float, float]:
    """How far the log-price surprise can move within a horizon.

    Parameters
    ----------
    vol : float
        Annualised volatility of the log price.
    years : float
        Horizon.
    sigmas : float
        Standard deviations of the Brownian path allowed for.

    Returns
    -------
    (float, float)
        (up, down): the most s_t = vol W_t - vol^2 t / 2 rises above and falls below 0
        for t <= years, with |W_t| <= sigmas sqrt(t).
    """
    root = math.sqrt(years)
    # sigma k sqrt(t) - sigma^2 t / 2 peaks at sigma sqrt(t) = k, where it is k^2 / 2
    up = sigmas * sigmas / 2 if vol * root >= sigmas else sigmas * vol * root - vol * vol * years / 2
    return up, sigmas * vol * root + vol * vol * years / 2


def check_bitcoin_tail(data: Mapping[str, Any]) -> list[str]:
    """Hash revenue stays below 1e30 $/MWh and an exogenous network's hashrate above
    1e-290 EH/s in an 8-sigma scenario over the horizon (a float32 hour, a division)."""
    btc, plan = data.get("bitcoin"), data.get("plan")
    if not isinstance(btc, dict) or not isinstance(plan, dict):
        return []
    effs = [e for _, s in _items(data, "sites") if isinstance(s.get("mining"), dict)
            and (e := _num(s["mining"], "efficiency_j_per_th")) is not None]
    if not effs:
        return []   # no site mines: hashprice is drawn but never used
    keys = ["price_usd", "drift", "volatility", "network_hashrate_ehs", "fees_btc_per_block",
            "subsidy_btc", "hashrate_price_elasticity", "hashrate_growth",
            "marginal_efficiency_j_per_th", "marginal_power_usd_per_mwh"]
    v = {k: _value(btc, k) for k in keys}
    years = plan.get("horizon_years")
    if not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= 50:
        return []
    if None in (v["price_usd"], v["drift"], v["volatility"], v["network_hashrate_ehs"],
                v["fees_btc_per_block"], v["subsidy_btc"]) or min(effs) < 1:
        return []   # a missing or out-of-range value: check_ranges already says so
    economic = "hashrate_growth" not in btc
    e = (v["hashrate_price_elasticity"] if "hashrate_price_elasticity" in btc
         else default_of(Bitcoin, "hashrate_price_elasticity"))
    growth = 0.0 if economic else v["hashrate_growth"]
    if e is None or growth is None:
        return []
    reward = v["subsidy_btc"] + v["fees_btc_per_block"]
    if reward <= 0:
        return []   # hashprice is 0 for ever (check_network_mode rejects it if economic)
    hp0 = reward * 144.0 * v["price_usd"] / (v["network_hashrate_ehs"] * 1e6)
    up, down = surprise_envelope(v["volatility"], years)
    log_g = math.log1p(growth)
    # ln hashprice = its start + trend + (1 - e) s; halvings only lower it
    surprise = (1 - e) * up if e <= 1 else (e - 1) * down
    if economic:
        eff, power = v["marginal_efficiency_j_per_th"], v["marginal_power_usd_per_mwh"]
        if eff is None or power is None:
            return []   # check_network_mode / check_ranges report these
        # x = ln(hp / hp*) filters the same increments (plus today's gap, which decays):
        # reversion toward breakeven only shrinks each part, so this bounds it too
        log_hp_star = math.log(eff * power * 24e-6)
        log_hp_max = (log_hp_star + max(0.0, math.log(hp0) - log_hp_star)
                      + max(0.0, v["drift"] * years) + surprise)
    else:
        log_hp_max = math.log(hp0) + max(0.0, (v["drift"] - log_g) * years) + surprise
    log_revenue = math.log(1e6 / min(effs) / 24.0) + log_hp_max
    why = (f"from drift {v['drift']!r}, volatility {v['volatility']!r}, hashrate_price_elasticity "
           f"{e!r}" + ("" if economic else f", hashrate_growth {growth!r}") + f" over {years} years")
    out = []
    if log_revenue > math.log(MAX_REVENUE):
        out.append(f"bitcoin: hash revenue must stay <= 1e30 $/MWh in an 8-sigma scenario over the "
                   f"horizon (hours are priced in float32), got {_power(log_revenue)} $/MWh {why}")
    if not economic:
        low = math.log(v["network_hashrate_ehs"]) + min(0.0, log_g * years) - (e * down if e >= 0 else -e * up)
        if low < math.log(MIN_HASHRATE_EHS):
            out.append(f"bitcoin: the network hashrate must stay >= 1e-290 EH/s in an 8-sigma "
                       f"scenario over the horizon (hashprice divides by it), got {_power(low)} EH/s {why}")
    return out


def _value(table: Mapping[str, Any], key: str) -> float | None:
    """The number if it is present and within its range, else None."""
    v = _num(table, key)
    rule = _BTC[key].rule
    return v if v is not None and (rule is None or rule.ok(v)) else None


def _power(log_value: float) -> str:
    """e^x as '3e45' without overflowing a float."""
    exponent = math.floor(log_value / math.log(10))
    mantissa = math.exp(log_value - exponent * math.log(10))
    return f"{mantissa:.1f}e{exponent}"
