"""What a valid `schema = 1` instance is: the key table (`SCHEMA`) and named checks.

Each check is a plain function `check_x(data) -> list[str]` over the raw TOML dict
(before any data class is built), in the style of PyPSA's `consistency.py` and Switch's
`min_data_check`. Every message reads "path: what is wrong, got VALUE", with sites,
leases and instruments indexed by position (`sites[2]`) and markets by key
(`markets.ercot`). `CHECKS` lists them in the order they run; `run_checks` runs all of
them so that a user sees every problem at once.

The checks are written to be independent: a value of the wrong type is reported once (by
`check_types`) and skipped by the others, which only look at well-typed values.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field as dc_field
from typing import Any

from .types import (
    Acquire, AiStress, Bitcoin, Finance, Hpc, HpcMarket, Instrument, Lease, Market, Mining, Plan,
    Risk, Sale, Site, TerminalMultiple, month_str, parse_month,
)

STATUSES = ("operating", "development", "candidate")
USES = ("mining", "solar", "land")
INSTRUMENT_KINDS = ("convertible", "secured_notes", "equity")
DEBT_KINDS = ("convertible", "secured_notes")


# --------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rule:
    """A condition on one well-typed value; `text` is the message when it fails."""

    text: str
    ok: Callable[[Any], bool]


def gt(lo: float) -> Rule:
    return Rule(f"must be > {lo:g}", lambda v: v > lo)


def ge(lo: float) -> Rule:
    return Rule(f"must be >= {lo:g}", lambda v: v >= lo)


def interval(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Rule:
    """lo..hi with each end open or closed, written in interval notation."""
    text = f"must be in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def ok(v: float) -> bool:
        above = v > lo if lo_open else v >= lo
        below = v < hi if hi_open else v <= hi
        return above and below

    return Rule(text, ok)


def one_of(*choices: Any) -> Rule:
    return Rule("must be one of " + ", ".join(repr(c) for c in choices), lambda v: v in choices)


def non_empty(what: str) -> Rule:
    return Rule(f"must name at least one {what}", lambda v: len(v) > 0)


# --------------------------------------------------------------------------- schema

@dataclass(frozen=True)
class Field:
    """One key of a table.

    kind: str | float | int | month | str_list | month_list (scalars and lists), or
    table | tables (array of tables) | map (table of tables keyed by id), which carry
    `fields` and the data class `cls` they build.
    """

    kind: str
    required: bool = True
    rule: Rule | None = None
    fields: Mapping[str, Field] = dc_field(default_factory=dict)
    cls: type | None = None
    fill: bool = False      # an absent optional table is built from {} (all defaults)


def _f(rule: Rule | None = None, *, required: bool = True) -> Field:
    return Field("float", required, rule)


def _i(rule: Rule | None = None, *, required: bool = True) -> Field:
    return Field("int", required, rule)


_PROB = interval(0, 1)

SCHEMA: dict[str, Field] = {
    "schema": Field("int", rule=Rule("must be 1 (the only schema this version reads)",
                                     lambda v: v == 1)),
    "plan": Field("table", cls=Plan, fields={
        "name": Field("str"),
        "start": Field("month"),
        "horizon_years": _i(interval(1, 50)),
        "decision_step_months": _i(ge(1)),
        "discount_rate": _f(interval(0, 1, hi_open=True)),
        "scenarios": _i(ge(1)),
        "hours_per_month": _i(interval(1, 730), required=False),
        # the seed keys a counter-based generator: it must fit an unsigned word
        "seed": _i(interval(0, 2**32 - 1)),
        "terminal_multiple": Field("table", required=False, cls=TerminalMultiple, fields={
            "hpc": _f(ge(0), required=False),
            "mining": _f(ge(0), required=False),
        }),
    }),
    "risk": Field("table", required=False, cls=Risk, fill=True, fields={
        "alpha": _f(interval(0, 1, lo_open=True, hi_open=True), required=False),
        "cvar_floor_usd": _f(required=False),
        "weight": _f(_PROB, required=False),
    }),
    "bitcoin": Field("table", cls=Bitcoin, fields={
        "price_usd": _f(gt(0)),
        "drift": _f(),
        "volatility": _f(ge(0)),
        "network_hashrate_ehs": _f(gt(0)),
        "fees_btc_per_block": _f(ge(0)),
        "subsidy_btc": _f(ge(0)),
        "halvings": Field("month_list", required=False),
        "hashrate_price_elasticity": _f(required=False),
        # exactly one network mode: hashrate_growth, or the three marginal-fleet keys
        # (check_network_mode)
        "hashrate_growth": _f(gt(-1), required=False),
        "marginal_efficiency_j_per_th": _f(gt(0), required=False),
        "marginal_power_usd_per_mwh": _f(gt(0), required=False),
        "hashrate_adjustment_speed": _f(ge(0), required=False),
    }),
    "markets": Field("map", cls=Market, fields={
        "mean_price": _f(gt(0)),
        "volatility": _f(ge(0)),
        "mean_reversion": _f(ge(0)),
        "seasonal_amplitude": _f(ge(0)),
        "seasonal_peak_month": _i(interval(1, 12)),
        "hourly_volatility": _f(ge(0)),
        "spike_probability": _f(_PROB),
        "spike_price": _f(ge(0)),
        "price_cap": _f(gt(0)),
    }),
    "hpc_market": Field("table", cls=HpcMarket, fields={
        "rate_kw_month": _f(gt(0)),
        "volatility": _f(ge(0)),
        "drift": _f(),
        "mean_reversion": _f(ge(0), required=False),
    }),
    "sites": Field("tables", cls=Site, fields={
        "id": Field("str"),
        "market": Field("str"),
        "status": Field("str", rule=one_of(*STATUSES)),
        "use": Field("str", rule=one_of(*USES)),
        "capacity_mw": _f(gt(0)),
        "ownership": _f(interval(0, 1, lo_open=True), required=False),
        "mining": Field("table", required=False, cls=Mining, fields={
            "efficiency_j_per_th": _f(gt(0)),
            "opex_usd_per_mw_month": _f(ge(0)),
            "shutdown_after_loss_months": _i(ge(0), required=False),
            "restart_after_profit_months": _i(ge(0), required=False),
            "restart_cost_usd_per_mw": _f(ge(0), required=False),
        }),
        "hpc": Field("table", required=False, cls=Hpc, fields={
            "max_mw": _f(gt(0)),
            "capex_usd_per_mw": _f(gt(0)),
            "capex_overrun_volatility": _f(ge(0)),
            "build_months": _i(ge(1)),
            "delay_months_mean": _f(ge(0)),
            "pue": _f(ge(1), required=False),
        }),
        "sale": Field("table", required=False, cls=Sale, fields={
            "low_usd": _f(ge(0)),
            "mode_usd": _f(ge(0)),
            "high_usd": _f(ge(0)),
            "close_probability": _f(_PROB),
            "months_to_close": _i(ge(0)),
        }),
        "acquire": Field("table", required=False, cls=Acquire, fields={
            "cost_usd": _f(ge(0)),
            "energize_months": _i(ge(0)),
        }),
    }),
    "leases": Field("tables", required=False, cls=Lease, fields={
        "id": Field("str"),
        "tenant": Field("str"),
        "sites": Field("str_list", rule=non_empty("site")),
        "max_mw": _f(gt(0)),
        # exactly one of the two (check_lease_rent): the starting rent, or the total
        # contract value a release quotes
        "rate_kw_month": _f(gt(0), required=False),
        "contract_value_usd": _f(gt(0), required=False),
        "escalator": _f(gt(-1)),
        "tenor_years": _i(ge(1)),
        "noi_margin": _f(interval(0, 1, lo_open=True)),
        "sign_by": Field("month"),
        "default_rate": _f(_PROB),
        "renewal_probability": _f(_PROB),
        "backstop_usd": _f(ge(0), required=False),
        "backstop_cost_usd": _f(ge(0), required=False),
        "relet_months": _i(ge(0), required=False),
    }),
    "ai_stress": Field("table", required=False, cls=AiStress, fill=True, fields={
        "annual_probability": _f(interval(0, 1, hi_open=True), required=False),
        "rent_drop": _f(interval(0, 1, hi_open=True), required=False),
        "default_multiplier": _f(ge(1), required=False),
    }),
    "finance": Field("table", required=False, cls=Finance, fields={
        "cash_usd": _f(ge(0)),
        "min_cash_usd": _f(ge(0), required=False),
        # required only with debt / a convertible: `check_finance_rates`
        "cost_of_debt": _f(interval(0, 1, lo_open=True, hi_open=True), required=False),
        "risk_free_rate": _f(interval(0, 1, hi_open=True), required=False),
        "instruments": Field("tables", required=False, cls=Instrument, fields={
            "id": Field("str"),
            "kind": Field("str", rule=one_of(*INSTRUMENT_KINDS)),
            "max_usd": _f(gt(0)),
            "issue_by": Field("month"),
            "fee": _f(interval(0, 1, hi_open=True), required=False),
            "rate": _f(ge(0), required=False),
            "maturity": Field("month", required=False),
            "conversion_premium": _f(ge(0), required=False),
            "equity_volatility": _f(ge(0), required=False),
            "loan_to_cost": _f(interval(0, 1, lo_open=True), required=False),
        }),
    }),
}

_NESTED = ("table", "tables", "map")


# --------------------------------------------------------------------------- helpers

def show(value: Any) -> str:
    """A value as the user would recognise it in their file."""
    return repr(value)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def iter_tables(data: Mapping[str, Any]) -> Iterator[tuple[str, dict, Mapping[str, Field]]]:
    """(path, table, its fields) for the root and every nested table of the right shape."""
    yield from _tables("", data, SCHEMA)


def _tables(path: str, table: Mapping[str, Any], fields: Mapping[str, Field]):
    yield path, table, fields
    for key, f in fields.items():
        value, sub = table.get(key), join(path, key)
        if f.kind == "table" and isinstance(value, dict):
            yield from _tables(sub, value, f.fields)
        elif f.kind == "tables" and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _tables(f"{sub}[{i}]", item, f.fields)
        elif f.kind == "map" and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, dict):
                    yield from _tables(f"{sub}.{name}", item, f.fields)


def _is_number(v: Any) -> bool:
    # bool is an int subclass in Python, but `true` is never a quantity
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type_errors(path: str, f: Field, v: Any) -> list[str]:
    """Why v is not of kind f.kind ([] when it is)."""
    kind = f.kind
    if kind == "str":
        return [] if isinstance(v, str) else [f"{path}: expected a string, got {show(v)}"]
    if kind == "float":
        if not _is_number(v):
            return [f"{path}: expected a number, got {show(v)}"]
        if not math.isfinite(v):
            return [f"{path}: expected a finite number, got {show(v)}"]
        return []
    if kind == "int":
        return [] if isinstance(v, int) and not isinstance(v, bool) else [
            f"{path}: expected an integer, got {show(v)}"]
    if kind == "month":
        try:
            parse_month(v)
        except ValueError as e:
            return [f"{path}: {e}"]
        return []
    if kind in ("str_list", "month_list"):
        if not isinstance(v, list):
            return [f"{path}: expected a list, got {show(v)}"]
        item = Field("str" if kind == "str_list" else "month")
        return [e for i, x in enumerate(v) for e in _type_errors(f"{path}[{i}]", item, x)]
    if kind == "table":
        return [] if isinstance(v, dict) else [f"{path}: expected a table, got {show(v)}"]
    if kind == "tables":
        if not isinstance(v, list):
            return [f"{path}: expected an array of tables, got {show(v)}"]
        return [f"{path}[{i}]: expected a table, got {show(x)}"
                for i, x in enumerate(v) if not isinstance(x, dict)]
    if kind == "map":
        if not isinstance(v, dict):
            return [f"{path}: expected a table of tables, got {show(v)}"]
        return [f"{join(path, k)}: expected a table, got {show(x)}"
                for k, x in v.items() if not isinstance(x, dict)]
    raise AssertionError(f"unknown field kind {kind!r}")


def _well_typed(f: Field, v: Any) -> bool:
    return not _type_errors("", f, v)


def _items(data: Mapping[str, Any], *keys: str) -> list[tuple[str, dict]]:
    """(path, table) of each well-formed entry of an array of tables at data[keys...]."""
    node: Any = data
    for k in keys:
        if not isinstance(node, dict):
            return []
        node = node.get(k)
    if not isinstance(node, list):
        return []
    base = ".".join(keys)
    return [(f"{base}[{i}]", t) for i, t in enumerate(node) if isinstance(t, dict)]


def _str(table: Mapping[str, Any], key: str) -> str | None:
    v = table.get(key)
    return v if isinstance(v, str) else None


def _num(table: Mapping[str, Any], key: str) -> float | None:
    v = table.get(key)
    return v if _is_number(v) and math.isfinite(v) else None


def _month(table: Mapping[str, Any], key: str) -> int | None:
    try:
        return parse_month(table.get(key))
    except ValueError:
        return None


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f", did you mean {close[0]!r}?" if close else ""


# --------------------------------------------------------------------------- checks

def check_unknown_keys(data: Mapping[str, Any]) -> list[str]:
    """Keys the schema does not know: a typo must not silently become a default."""
    out = []
    for path, table, fields in iter_tables(data):
        known = list(fields)
        for key in table:
            if key not in fields:
                hint = _suggest(key, known) or f" (known keys: {', '.join(known)})"
                out.append(f"{join(path, key)}: unknown key{hint}")
    return out


def check_required_keys(data: Mapping[str, Any]) -> list[str]:
    out = []
    for path, table, fields in iter_tables(data):
        for key, f in fields.items():
            if f.required and key not in table:
                what = "table" if f.kind in _NESTED else "key"
                out.append(f"{join(path, key)}: missing required {what}")
    return out


def check_types(data: Mapping[str, Any]) -> list[str]:
    out = []
    for path, table, fields in iter_tables(data):
        for key, f in fields.items():
            if key in table:
                out.extend(_type_errors(join(path, key), f, table[key]))
    return out


def check_ranges(data: Mapping[str, Any]) -> list[str]:
    out = []
    for path, table, fields in iter_tables(data):
        for key, f in fields.items():
            if f.rule is None or key not in table or not _well_typed(f, table[key]):
                continue
            v = table[key]
            if not f.rule.ok(v):
                out.append(f"{join(path, key)}: {f.rule.text}, got {show(v)}")
    return out


def check_not_empty(data: Mapping[str, Any]) -> list[str]:
    """An instance needs something to value: at least one market and one site."""
    out = []
    if isinstance(data.get("markets"), dict) and not data["markets"]:
        out.append("markets: at least one [markets.<id>] table is required, got none")
    if isinstance(data.get("sites"), list) and not data["sites"]:
        out.append("sites: at least one [[sites]] entry is required, got none")
    return out


def check_duplicate_ids(data: Mapping[str, Any]) -> list[str]:
    out = []
    for keys in (("sites",), ("leases",), ("finance", "instruments")):
        first: dict[str, str] = {}
        for path, table in _items(data, *keys):
            ident = _str(table, "id")
            if ident is None:
                continue
            if ident in first:
                out.append(f"{path}.id: duplicate id (also {first[ident]}.id), got {show(ident)}")
            else:
                first[ident] = path
    return out


def check_references(data: Mapping[str, Any]) -> list[str]:
    """Sites name a known market; leases name known sites."""
    out = []
    markets = data.get("markets")
    if isinstance(markets, dict) and markets:
        names = list(markets)
        for path, site in _items(data, "sites"):
            m = _str(site, "market")
            if m is not None and m not in markets:
                hint = _suggest(m, names) or f" (markets: {', '.join(names)})"
                out.append(f"{path}.market: unknown market, got {show(m)}{hint}")
    site_ids = [s for _, t in _items(data, "sites") if (s := _str(t, "id")) is not None]
    for path, lease in _items(data, "leases"):
        sites = lease.get("sites")
        if not isinstance(sites, list):
            continue
        for i, s in enumerate(sites):
            if isinstance(s, str) and s not in site_ids:
                hint = _suggest(s, site_ids)
                out.append(f"{path}.sites[{i}]: unknown site, got {show(s)}{hint}")
    return out


def check_site_tables(data: Mapping[str, Any]) -> list[str]:
    """A site's optional tables must fit its status (they decide which actions exist)."""
    out = []
    for path, site in _items(data, "sites"):
        status = _str(site, "status")
        if status not in STATUSES:
            continue
        if "mining" in site and status != "operating":
            out.append(f"{path}.mining: only operating sites mine, got status {show(status)}")
        if "acquire" in site and status != "candidate":
            out.append(f"{path}.acquire: only candidate sites can be acquired, "
                       f"got status {show(status)}")
        if "sale" in site and status == "candidate":
            out.append(f"{path}.sale: a candidate site is not owned and cannot be sold, "
                       f"got status {show(status)}")
        if status == "candidate" and "hpc" in site and "acquire" not in site:
            out.append(f"{path}.acquire: required on a candidate site with an hpc table "
                       f"(it must be bought before it is converted), got none")
    return out


def check_hpc_fits_capacity(data: Mapping[str, Any]) -> list[str]:
    """Critical IT MW times PUE is the grid draw; it cannot exceed the site's grid MW."""
    out = []
    default_pue = Hpc.__dataclass_fields__["pue"].default
    for path, site in _items(data, "sites"):
        hpc, cap = site.get("hpc"), _num(site, "capacity_mw")
        if not isinstance(hpc, dict) or cap is None:
            continue
        max_mw = _num(hpc, "max_mw")
        pue = _num(hpc, "pue") if "pue" in hpc else default_pue
        if max_mw is None or pue is None:
            continue
        if max_mw * pue > cap:
            out.append(f"{path}.hpc.max_mw: max_mw x pue must be <= capacity_mw, got "
                       f"{show(max_mw)} x {show(pue)} = {max_mw * pue:g} > "
                       f"capacity_mw {show(cap)}")
    return out


def check_sale_range(data: Mapping[str, Any]) -> list[str]:
    """The sale price is triangular(low, mode, high): the three must be ordered."""
    out = []
    for path, site in _items(data, "sites"):
        sale = site.get("sale")
        if not isinstance(sale, dict):
            continue
        lo, mode, hi = (_num(sale, k) for k in ("low_usd", "mode_usd", "high_usd"))
        if None in (lo, mode, hi):
            continue
        if not lo <= mode <= hi:
            out.append(f"{path}.sale: must have low_usd <= mode_usd <= high_usd, got "
                       f"{show(lo)}, {show(mode)}, {show(hi)}")
    return out


MARGINAL_FLEET_KEYS = ("marginal_efficiency_j_per_th", "marginal_power_usd_per_mwh",
                       "hashrate_adjustment_speed")


def check_network_mode(data: Mapping[str, Any]) -> list[str]:
    """The network is exogenous (`hashrate_growth`) or economic (all three marginal-fleet
    keys): exactly one, so an old file keeps its meaning and a half-given fleet is no
    silent mix of the two."""
    btc = data.get("bitcoin")
    if not isinstance(btc, dict):
        return []
    given = [k for k in MARGINAL_FLEET_KEYS if k in btc]
    paths = [f"bitcoin.{k}" for k in given]
    if "hashrate_growth" in btc and given:
        values = " and ".join(f"bitcoin.{k} = {show(btc[k])}" for k in ("hashrate_growth", *given))
        return [f"bitcoin.hashrate_growth: give either hashrate_growth (exogenous network) or "
                f"the marginal-fleet keys (economic network), not both, got {values}"]
    if "hashrate_growth" in btc:
        return []
    if not given:
        return ["bitcoin: needs a network model, either bitcoin.hashrate_growth (exogenous "
                "growth) or " + ", ".join(f"bitcoin.{k}" for k in MARGINAL_FLEET_KEYS)
                + " (economic), got neither"]
    out = [f"bitcoin.{k}: required with {' and '.join(paths)}, got none"
           for k in MARGINAL_FLEET_KEYS if k not in btc]
    subsidy, fees = _num(btc, "subsidy_btc"), _num(btc, "fees_btc_per_block")
    if not out and subsidy is not None and fees is not None and subsidy + fees <= 0:
        # hashprice would be zero for ever: log hashprice, which the network tracks, is -inf
        out.append(f"bitcoin.subsidy_btc: subsidy_btc + fees_btc_per_block must be > 0 with an "
                   f"economic network, got {show(subsidy)} + {show(fees)}")
    return out


# keys that only make sense for some instrument kinds
_ONLY_ON: dict[str, tuple[str, ...]] = {
    "maturity": DEBT_KINDS,
    "rate": DEBT_KINDS,
    "conversion_premium": ("convertible",),
    "equity_volatility": ("convertible",),
    "loan_to_cost": ("secured_notes",),
}


def check_instrument_terms(data: Mapping[str, Any]) -> list[str]:
    """Debt needs a maturity after issue; kind-specific terms only on their kind."""
    out = []
    for path, inst in _items(data, "finance", "instruments"):
        kind = _str(inst, "kind")
        if kind not in INSTRUMENT_KINDS:
            continue
        for key, kinds in _ONLY_ON.items():
            if key in inst and kind not in kinds:
                out.append(f"{path}.{key}: only on {' or '.join(kinds)} instruments, "
                           f"got {show(inst[key])} on kind {show(kind)}")
        if kind in DEBT_KINDS:
            if "maturity" not in inst:
                out.append(f"{path}.maturity: required for kind {show(kind)}, got none")
            else:
                issue, mat = _month(inst, "issue_by"), _month(inst, "maturity")
                if issue is not None and mat is not None and mat <= issue:
                    out.append(f"{path}.maturity: must be after issue_by "
                               f"{show(inst['issue_by'])}, got {show(inst['maturity'])}")
    return out


def check_finance_rates(data: Mapping[str, Any]) -> list[str]:
    """Debt is valued against `finance.cost_of_debt` and a conversion option priced at
    `finance.risk_free_rate`: each is required once an instrument needs it."""
    finance = data.get("finance")
    if not isinstance(finance, dict):
        return []
    debt, convertible = [], []
    for path, inst in _items(data, "finance", "instruments"):
        kind, name = _str(inst, "kind"), _str(inst, "id") or path
        if kind in DEBT_KINDS:
            debt.append(name)
        if kind == "convertible":
            convertible.append(name)
    out = []
    for key, needs, why in (("cost_of_debt", debt, "debt"),
                            ("risk_free_rate", convertible, "a convertible")):
        if needs and key not in finance:
            out.append(f"finance.{key}: required when finance.instruments has {why} "
                       f"({', '.join(needs)}), got none")
    return out


def check_decision_dates(data: Mapping[str, Any]) -> list[str]:
    """A lease signing or an issue is a decision: it must fall inside the horizon.

    Market events (halvings, maturities) may lie beyond it; the valuation handles them.
    """
    plan = data.get("plan")
    if not isinstance(plan, dict):
        return []
    start, years = _month(plan, "start"), plan.get("horizon_years")
    # with a bad start or horizon, the window is unknown: check_ranges already says why
    if start is None or not _well_typed(Field("int"), years) or not _HORIZON.rule.ok(years):
        return []
    end = start + 12 * years         # first month after the horizon
    window = f"{month_str(start)}..{month_str(end - 1)}"
    out = []
    for keys, key in ((("leases",), "sign_by"), (("finance", "instruments"), "issue_by")):
        for path, table in _items(data, *keys):
            t = _month(table, key)
            if t is not None and not start <= t < end:
                out.append(f"{path}.{key}: must be within the plan horizon {window}, "
                           f"got {show(table[key])}")
    return out


def check_lease_rent(data: Mapping[str, Any]) -> list[str]:
    """A lease states its rent once: the starting `rate_kw_month` or the total
    `contract_value_usd` a release quotes, never both and never neither."""
    out = []
    for path, lease in _items(data, "leases"):
        has = [k for k in ("rate_kw_month", "contract_value_usd") if k in lease]
        if len(has) == 2:
            out.append(f"{path}.contract_value_usd: give rate_kw_month or contract_value_usd, not both, "
                       f"got {show(lease['rate_kw_month'])} and {show(lease['contract_value_usd'])}")
        elif not has:
            out.append(f"{path}.rate_kw_month: required (or contract_value_usd), got none")
    return out


def check_tenant_credit(data: Mapping[str, Any]) -> list[str]:
    """Leases with one tenant share one default time, so they must share its rate."""
    out, first = [], {}
    for path, lease in _items(data, "leases"):
        tenant, rate = _str(lease, "tenant"), _num(lease, "default_rate")
        if tenant is None or rate is None:
            continue
        if tenant in first and first[tenant][1] != rate:
            out.append(f"{path}.default_rate: leases of tenant {show(tenant)} share one default time, "
                       f"so one rate: {first[tenant][0]}.default_rate is {show(first[tenant][1])}, "
                       f"got {show(rate)}")
        first.setdefault(tenant, (path, rate))
    return out


_HORIZON = SCHEMA["plan"].fields["horizon_years"]

CHECKS: list[Callable[[Mapping[str, Any]], list[str]]] = [
    check_unknown_keys,
    check_required_keys,
    check_types,
    check_ranges,
    check_not_empty,
    check_network_mode,
    check_duplicate_ids,
    check_references,
    check_site_tables,
    check_hpc_fits_capacity,
    check_sale_range,
    check_instrument_terms,
    check_finance_rates,
    check_decision_dates,
    check_lease_rent,
    check_tenant_credit,
]


def run_checks(data: Mapping[str, Any]) -> list[str]:
    """Every error from every check, in check order ([] when the instance is valid)."""
    if not isinstance(data, dict):
        return [f"<instance>: expected a table, got {show(data)}"]
    return [e for check in CHECKS for e in check(data)]
