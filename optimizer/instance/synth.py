"""Synthetic N-site instances for benchmarks and scaling tests.

`synth_instance` draws a company around the public figures the seed instances cite
(docs/calibration.md: site sizes, J/TH, $/MW capex, $/kW-month rents, $/MW land):
about half operating mining sites, the rest development and candidate land, all
convertible to HPC, with ~N/10 lease offers each placeable at several sites, a few sale
options and one instrument of each kind. It returns the dict `tomllib` would return for
the file (dates as "YYYY-MM" strings), so it goes through the same validation as a file;
`synth_toml` writes that file. Both are deterministic for a seed.

Only operating sites mine, and they sit in the first `mining_markets` markets: those are
the only markets the engine simulates hour by hour, so the knob sets the expensive part.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from .types import month_str, parse_month

START = "2026-01"
HORIZON_YEARS = 12
STEP_MONTHS = 3
OTHER_MARKETS = 3          # markets holding only development / candidate land


def synth_instance(sites: int, seed: int, *, mining_markets: int = 1, scenarios: int = 1000,
                   hours_per_month: int = 24) -> dict[str, Any]:
    """A valid `schema = 1` instance dict with `sites` sites, drawn from `seed`."""
    if sites < 1:
        raise ValueError(f"sites must be >= 1, got {sites}")
    if mining_markets < 1:
        raise ValueError(f"mining_markets must be >= 1, got {mining_markets}")
    rng = np.random.default_rng(seed)
    start = parse_month(START)

    markets = {f"mine-{i}": _market(rng, mining=True) for i in range(mining_markets)}
    markets.update({f"land-{i}": _market(rng, mining=False) for i in range(OTHER_MARKETS)})

    site_list = [_site(rng, i, sites, mining_markets) for i in range(sites)]
    n_leases = max(1, round(sites / 10))
    leases = [_lease(rng, j, n_leases, site_list, start) for j in range(n_leases)]

    total_capex = sum(s["hpc"]["max_mw"] * s["hpc"]["capex_usd_per_mw"] for s in site_list)
    return {
        "schema": 1,
        "plan": {
            "name": f"synthetic {sites} sites (seed {seed})",
            "start": START,
            "horizon_years": HORIZON_YEARS,
            "decision_step_months": STEP_MONTHS,
            "discount_rate": 0.10,
            "scenarios": int(scenarios),
            "hours_per_month": int(hours_per_month),
            "seed": int(seed) % 2**32,
            "terminal_multiple": {"hpc": 12.0, "mining": 3.0},
        },
        "risk": {"alpha": 0.95, "weight": 0.0},
        "bitcoin": {
            "price_usd": _r(rng.uniform(80_000, 100_000), -3),
            "drift": 0.0,
            "volatility": 0.55,
            "network_hashrate_ehs": _r(rng.uniform(950, 1150), 0),
            # economic network: breakeven 28 J/TH x $50/MWh = $33.6/PH/day (Cambridge Digital
            # Mining Industry Report, CCAF 2025: 28.2 J/TH, power $45-55.5/MWh); speed est.
            "marginal_efficiency_j_per_th": 28.0,
            "marginal_power_usd_per_mwh": 50.0,
            "hashrate_adjustment_speed": 1.0,
            "fees_btc_per_block": 0.03,
            "subsidy_btc": 3.125,
            "halvings": ["2028-04", "2032-04"],
        },
        "markets": markets,
        "hpc_market": {"rate_kw_month": _r(rng.uniform(130, 170), 1), "volatility": 0.15,
                       "drift": -0.02, "mean_reversion": 0.3},
        "sites": site_list,
        "leases": leases,
        "finance": _finance(rng, total_capex, start),
    }


def synth_toml(sites: int, seed: int, **kw: Any) -> str:
    """`synth_instance(sites, seed, **kw)` as TOML text."""
    return to_toml(synth_instance(sites, seed, **kw))


# --------------------------------------------------------------------------- draws

def _r(x: float, digits: int) -> float:
    """Round to `digits` decimals (negative: to tens, thousands...) as a plain float."""
    return float(round(float(x), digits))


def _market(rng: np.random.Generator, *, mining: bool) -> dict[str, Any]:
    # df: miner power median ~$45/MWh; ERCOT $27–56; kappa 1–3/y; sigma 40–80%/y;
    # 5–60 scarcity hours a year; ERCOT cap $5,000
    return {
        "mean_price": _r(rng.uniform(30, 50) if mining else rng.uniform(35, 80), 1),
        "volatility": _r(rng.uniform(0.4, 0.8), 2),
        "mean_reversion": _r(rng.uniform(1.0, 3.0), 2),
        "seasonal_amplitude": _r(rng.uniform(0.0, 0.3), 2),
        "seasonal_peak_month": int(rng.integers(1, 13)),
        "hourly_volatility": _r(rng.uniform(0.2, 0.6), 2),
        "spike_probability": _r(rng.uniform(0.0005, 0.007), 4),
        "spike_price": _r(rng.uniform(1000, 3000), -2),
        "price_cap": 5000.0,
    }


def _status(i: int, n: int) -> str:
    """About half operating, 30% development, 20% candidate; site 0 always mines."""
    frac = i / n
    return "operating" if frac < 0.5 else "development" if frac < 0.8 else "candidate"


def _site(rng: np.random.Generator, i: int, n: int, mining_markets: int) -> dict[str, Any]:
    status = _status(i, n)
    site: dict[str, Any] = {"id": f"site-{i:04d}"}
    if status == "operating":
        site["market"] = f"mine-{int(rng.integers(mining_markets))}"
        cap = _r(rng.uniform(50, 500), 0)
    else:
        site["market"] = f"land-{int(rng.integers(OTHER_MARKETS))}"
        cap = _r(rng.uniform(100, 400) if status == "development" else rng.uniform(20, 200), 0)
    site.update(status=status, use="mining" if status == "operating" else "land",
                capacity_mw=cap)
    if status == "development" and rng.random() < 0.1:
        site["ownership"] = 0.51                       # df: a TeraWulf-style JV share
    if status == "operating":
        # df: fleets 18–28 J/TH; all-in opex ~$55/MWh over ~$45 power -> ~$4–9k/MW-month
        site["mining"] = {"efficiency_j_per_th": _r(rng.uniform(17, 28), 1),
                          "opex_usd_per_mw_month": _r(rng.uniform(4000, 9000), -2),
                          "restart_after_profit_months": 3}          # est.
    pue = _r(rng.uniform(1.15, 1.4), 2)
    # round down so that max_mw x pue <= capacity_mw survives the rounding
    max_mw = math.floor(cap * rng.uniform(0.3, 0.75) / pue)
    site["hpc"] = {
        "max_mw": float(max(max_mw, 1)),
        "capex_usd_per_mw": _r(rng.uniform(6.5e6, 11e6), -5),     # df: $6–11M/MW
        "capex_overrun_volatility": _r(rng.uniform(0.1, 0.3), 2),
        "build_months": int(rng.integers(9, 25)),                  # df: 6–18 months, est.
        "delay_months_mean": _r(rng.uniform(1, 6), 1),
        "pue": pue,
    }
    if status == "candidate":
        # df: energised land $400–550k/MW competitive, $100–250k/MW weak sites
        site["acquire"] = {"cost_usd": _r(cap * rng.uniform(1e5, 5.5e5), -4),
                           "energize_months": int(rng.integers(3, 13))}
    elif rng.random() < 0.15:
        per_mw = rng.uniform(3e5, 8e5) if status == "operating" else rng.uniform(5e4, 3e5)
        mode = cap * per_mw
        site["sale"] = {"low_usd": _r(mode * 0.6, -4), "mode_usd": _r(mode, -4),
                        "high_usd": _r(mode * 1.5, -4),
                        "close_probability": _r(rng.uniform(0.5, 0.9), 2),
                        "months_to_close": int(rng.integers(3, 13))}
    return site


def _lease(rng: np.random.Generator, j: int, n_leases: int, sites: list[dict[str, Any]],
           start: int) -> dict[str, Any]:
    # every site belongs to one lease (by index), and a few more are drawn at random, so
    # each lease is placeable at several sites and sites compete for leases
    own = [s["id"] for k, s in enumerate(sites) if k % n_leases == j]
    extra = rng.choice(len(sites), size=min(len(sites), int(rng.integers(1, 4))), replace=False)
    listed = own + [sites[int(k)]["id"] for k in sorted(extra) if sites[int(k)]["id"] not in own]
    return {
        "id": f"lease-{j:03d}",
        "tenant": f"Tenant {j}",
        "sites": listed,
        "max_mw": _r(rng.uniform(50, 400), 0),
        "rate_kw_month": _r(rng.uniform(100, 190), 1),          # df: $100–190/kW-month
        "escalator": _r(rng.uniform(0.02, 0.03), 3),            # df: 2–3%/y
        "tenor_years": int(rng.choice([10, 12, 15, 20, 25])),   # df: 10–15 y, up to 25
        "noi_margin": _r(rng.uniform(0.8, 0.9), 2),             # df: 80–90%
        # 1–3 years in, on the decision grid
        "sign_by": month_str(start + STEP_MONTHS * int(rng.integers(4, 13))),
        "default_rate": _r(rng.uniform(0.01, 0.06), 3),
        "backstop_usd": _r(rng.uniform(0, 1.5e9), -7) if rng.random() < 0.3 else 0.0,
        "renewal_probability": _r(rng.uniform(0.4, 0.7), 2),
        "relet_months": int(rng.integers(3, 13)),
    }


def _finance(rng: np.random.Generator, total_capex: float, start: int) -> dict[str, Any]:
    # one of each kind, sized to a fraction of what converting everything would cost, so
    # the cash constraint binds (df: 0% converts at 37.5% premium, 7–9% secured at 80–85%
    # loan-to-cost)
    # rng draws in the order of the keys below, so a seed keeps giving the same company
    cash = _r(total_capex * rng.uniform(0.05, 0.15), -6)
    converts_max = _r(total_capex * rng.uniform(0.05, 0.15), -6) or 1e6
    secured_max = _r(total_capex * rng.uniform(0.3, 0.6), -6) or 1e6
    secured_rate = _r(rng.uniform(0.07, 0.095), 4)
    return {
        "cash_usd": cash,
        "min_cash_usd": _r(total_capex * 0.01, -6),
        # the secured notes are issued at market, so their coupon is the cost of debt
        "cost_of_debt": secured_rate,
        "risk_free_rate": 0.04,
        "instruments": [
            {"id": "converts", "kind": "convertible", "max_usd": converts_max,
             "issue_by": month_str(start + 12), "maturity": month_str(start + 72),
             "rate": 0.0, "conversion_premium": 0.375, "fee": 0.025},
            {"id": "secured", "kind": "secured_notes", "max_usd": secured_max,
             "issue_by": month_str(start + 36), "maturity": month_str(start + 84),
             "rate": secured_rate, "fee": 0.02, "loan_to_cost": 0.8},
            {"id": "equity", "kind": "equity",
             "max_usd": _r(total_capex * rng.uniform(0.05, 0.2), -6) or 1e6,
             "issue_by": month_str(start + 12 * HORIZON_YEARS - 12), "fee": 0.04},
        ],
    }


# --------------------------------------------------------------------------- TOML

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_INLINE_MAX_KEYS = 6       # small scalar tables (hpc, sale, mining...) stay on one line


def to_toml(data: dict[str, Any]) -> str:
    """TOML text for a dict of the shapes an instance uses.

    Values: str, int, float, bool, lists of those, tables (dicts) and arrays of tables
    (lists of dicts). Small tables of scalars below the root are written inline; other
    tables get a `[header]`, arrays of tables `[[header]]`. `tomllib.loads` of the
    result gives back `data` exactly (floats are written with `repr`, which round-trips).
    """
    lines: list[str] = []
    _emit(lines, [], data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _emit(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    # a table's own keys must come before any sub-table header; sub-tables then follow
    # in the dict's order, so the file reads in the order the dict was built
    own = _own_keys(path, table)
    for key in own:
        lines.append(f"{_key(key)} = {_value(table[key])}")
    for key, value in table.items():
        if key in own:
            continue
        sub = path + [key]
        if isinstance(value, list):
            for item in value:
                lines += ["", f"[[{_dotted(sub)}]]"]
                _emit(lines, sub, item)
        else:
            # a table holding only sub-tables ([markets]) is implied by their headers
            if not value or _own_keys(sub, value):
                lines += ["", f"[{_dotted(sub)}]"]
            _emit(lines, sub, value)


def _own_keys(path: list[str], table: dict[str, Any]) -> list[str]:
    """Keys written as `key = value` in this table (the rest get headers)."""
    return [k for k, v in table.items()
            if not (_is_array_of_tables(v) or (isinstance(v, dict) and not (path and _inline_ok(v))))]


def _is_array_of_tables(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _inline_ok(d: dict[str, Any]) -> bool:
    return len(d) <= _INLINE_MAX_KEYS and not any(
        isinstance(v, dict) or _is_array_of_tables(v) for v in d.values())


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _dotted(path: list[str]) -> str:
    return ".".join(_key(k) for k in path)


def _string(s: str) -> str:
    # JSON string escapes (\" \\ \n \uXXXX ...) are all valid TOML basic-string escapes
    return json.dumps(s, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML: {v!r}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Print a synthetic instance as TOML.")
    parser.add_argument("sites", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("--mining-markets", type=int, default=1)
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--hours-per-month", type=int, default=24)
    a = parser.parse_args()
    print(synth_toml(a.sites, a.seed, mining_markets=a.mining_markets, scenarios=a.scenarios,
                     hours_per_month=a.hours_per_month), end="")
