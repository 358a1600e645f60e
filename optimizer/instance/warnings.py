"""What is legal but probably not meant: warnings about an instance (shown, never fatal).

Two kinds, each message starting with the path it is about:

- consequential defaults (`DEFAULT_WARNINGS`): an optional key left out whose default
  changes results a user would notice (730 sampled hours a month, an unguaranteed lease);
- unit slips (`UNIT_SLIPS`): a value that fits its range but looks typed in another unit
  (55 for a 55% volatility, $/MW-month where $/kW-month is asked). Slips are also looked
  for in values outside their range, where the warning explains the error next to it.

`instance_warnings` is pure: it takes the raw TOML dict (before or without validation) or
an `Instance`, and returns the messages. `wattfolio validate` and the other commands print
them as `warning: ...` lines; the run lists them in plan.json's `warnings`.

Missing terminal multiples are not here: they are an error (`check_terminal_multiple`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .raw import _is_number, _items, _num, _str, as_raw, join, show
from .schema import SCHEMA, Field
from .types import HOURS_PER_MONTH

__all__ = ["instance_warnings", "UNIT_SLIPS", "DEFAULT_WARNINGS", "UnitSlip"]


@dataclass(frozen=True)
class UnitSlip:
    """Keys (patterns as the reference writes them: `sites[].hpc.capex_usd_per_mw`,
    `markets.<id>.mean_price`) whose value looks typed in another unit when `test` holds;
    `when` says that test in words, `hint(v)` what was probably meant."""

    keys: tuple[str, ...]
    when: str
    test: Callable[[float], bool]
    hint: Callable[[float], str]
    example: float          # a value that slips, for the reference and the tests


def _percent(v: float) -> str:
    return f"looks like a percent; the key is a decimal (did you mean {v / 100:g}?)"


def _rate(v: float) -> str:
    return (f"{v * 100:g}% a year is implausible; rates are annual decimals, 7% = 0.07 "
            f"(did you mean {v / 100:g}?)")


_VOLATILITIES = ("bitcoin.volatility", "markets.<id>.volatility", "markets.<id>.hourly_volatility",
                 "hpc_market.volatility", "sites[].hpc.capex_overrun_volatility",
                 "finance.instruments[].equity_volatility")
_RATES = ("plan.discount_rate", "finance.cost_of_debt", "finance.risk_free_rate",
          "finance.instruments[].rate", "finance.instruments[].fee", "leases[].escalator",
          "leases[].default_rate")

UNIT_SLIPS: tuple[UnitSlip, ...] = (
    UnitSlip(_VOLATILITIES, "> 3", lambda v: v > 3, _percent, 55),
    UnitSlip(_RATES, "> 0.5", lambda v: v > 0.5, _rate, 7),
    UnitSlip(("bitcoin.price_usd",), "> 0 and < 100", lambda v: 0 < v < 100,
             lambda v: "looks like a price in thousands or millions of USD, or a BTC amount; the "
                       "key is USD per bitcoin (e.g. 90000)", 0.04),
    UnitSlip(("hpc_market.rate_kw_month", "leases[].rate_kw_month"), "> 1000", lambda v: v > 1000,
             lambda v: f"looks like $/MW-month; the key is $/kW-month (did you mean {v / 1000:g}?)",
             150000),
    UnitSlip(("markets.<id>.mean_price",), "> 1000", lambda v: v > 1000,
             lambda v: "looks like a price cap or $/GWh ($/kWh x 1e6); the key is the mean price "
                       "in $/MWh (typically 20-150)", 45000),
    UnitSlip(("markets.<id>.mean_price", "bitcoin.marginal_power_usd_per_mwh"), "> 0 and < 1",
             lambda v: 0 < v < 1, lambda v: f"looks like $/kWh; the key is $/MWh (did you mean {v * 1000:g}?)",
             0.045),
    UnitSlip(("sites[].hpc.capex_usd_per_mw",), "> 0 and < 1e5", lambda v: 0 < v < 1e5,
             lambda v: "looks like $/kW or $M per MW; the key is USD per critical MW (9e6 = $9M/MW)",
             9.0),
    UnitSlip(("sites[].mining.opex_usd_per_mw_month",), "> 0 and < 100", lambda v: 0 < v < 100,
             lambda v: f"looks like $/MWh; the key is USD per MW-month (did you mean {v * HOURS_PER_MONTH:g}?)",
             7.0),
)

DEFAULT_WARNINGS: tuple[tuple[str, str], ...] = (
    ("plan.hours_per_month", "absent while a site mines: every one of the 730 hours of each "
                             "scenario-month is simulated (exact, but slow on a CPU)"),
    ("leases[].backstop_usd", "absent while default_rate > 0: a default is unguaranteed"),
)


def instance_warnings(data_or_instance: Mapping[str, Any] | Any) -> list[str]:
    """Every warning about an instance, each naming its path ([] when there is none).

    Parameters
    ----------
    data_or_instance : dict or Instance
        The raw TOML dict (valid or not: a value of the wrong type is skipped), or an
        Instance: a loaded one remembers which keys its file left out
        (`Instance.defaulted`); for one built in code (`defaulted` None) a default cannot
        be told from a value meant, so only unit slips apply.

    Returns
    -------
    list of str
        "path: what looks wrong, got VALUE" lines, defaults first, then unit slips in
        key-table order.
    """
    if isinstance(data_or_instance, Mapping):
        data, knows_defaults = data_or_instance, True
    else:
        data = as_raw(data_or_instance)
        # built in code: which values were meant cannot be told from defaults
        knows_defaults = getattr(data_or_instance, "defaulted", None) is not None
    if not isinstance(data, dict):
        return []
    return (_default_warnings(data) if knows_defaults else []) + _unit_warnings(data)


def _default_warnings(data: Mapping[str, Any]) -> list[str]:
    out = []
    plan = data.get("plan")
    miners = [p for p, s in _items(data, "sites") if isinstance(s.get("mining"), dict)]
    if isinstance(plan, dict) and miners and "hours_per_month" not in plan:
        out.append(f"plan.hours_per_month: not given, so all {HOURS_PER_MONTH} hours of each "
                   f"scenario-month are simulated for the mining sites: exact, but slow on a CPU; "
                   f"write e.g. hours_per_month = 24 (unbiased, noisier) or pass --hours, "
                   f"got none (default {HOURS_PER_MONTH})")
    for path, lease in _items(data, "leases"):
        rate = _num(lease, "default_rate")
        if "backstop_usd" not in lease and rate is not None and rate > 0:
            tenant = _str(lease, "tenant")
            who = f"tenant {show(tenant)}" if tenant is not None else "the tenant"
            out.append(f"{path}.backstop_usd: not given, so a default by {who} (default_rate "
                       f"{show(rate)} a year) is unguaranteed: rent stops, the space stands empty "
                       f"for relet_months and is re-let at market rent; write backstop_usd = 0 "
                       f"to confirm, got none (default 0)")
    return out


def _unit_warnings(data: Mapping[str, Any]) -> list[str]:
    by_key: dict[str, list[UnitSlip]] = {}
    for slip in UNIT_SLIPS:
        for key in slip.keys:
            by_key.setdefault(key, []).append(slip)
    out = []
    for pattern, path, table, fields in _tables("", "", data, SCHEMA):
        for key in fields:
            v = table.get(key)
            if not _is_number(v) or v != v:
                continue
            for slip in by_key.get(join(pattern, key), ()):
                if slip.test(v):
                    out.append(f"{join(path, key)}: {slip.hint(v)}, got {show(v)}")
    return out


def _tables(pattern: str, path: str, table: Mapping[str, Any],
            fields: Mapping[str, Field]) -> Iterator[tuple[str, str, Mapping[str, Any], Mapping[str, Field]]]:
    """(pattern, path, table, fields) for every table: `sites[].hpc` and `sites[2].hpc`."""
    yield pattern, path, table, fields
    for key, f in fields.items():
        value, sub, pat = table.get(key), join(path, key), join(pattern, key)
        if f.kind == "table" and isinstance(value, dict):
            yield from _tables(pat, sub, value, f.fields)
        elif f.kind == "tables" and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _tables(f"{pat}[]", f"{sub}[{i}]", item, f.fields)
        elif f.kind == "map" and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, dict):
                    yield from _tables(f"{pat}.<id>", f"{sub}.{name}", item, f.fields)


def key_patterns() -> list[str]:
    """Every key's pattern (`sites[].hpc.pue`): the reference's and UNIT_SLIPS' names."""
    out = []

    def walk(pattern: str, fields: Mapping[str, Field]) -> None:
        for key, f in fields.items():
            pat = join(pattern, key)
            out.append(pat)
            if f.kind in ("table", "tables", "map"):
                walk(pat + {"table": "", "tables": "[]", "map": ".<id>"}[f.kind], f.fields)

    walk("", SCHEMA)
    return out

