"""What a valid `schema = 1` instance is beyond its key table (`instance/schema.py`): named checks.

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

from collections.abc import Callable, Mapping
from typing import Any

from .raw import (
    _items, _month, _num, _str, _suggest, _type_errors, _well_typed, iter_tables, join, show,
)
from .finite import check_bitcoin_tail
from .schema import _NESTED, DEBT_KINDS, INSTRUMENT_KINDS, SCHEMA, STATUSES, Field
from .types import Hpc, month_str

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
    """Every required key of every table that is there (SCHEMA's `required`)."""
    out = []
    for path, table, fields in iter_tables(data):
        for key, f in fields.items():
            if f.required and key not in table:
                what = "table" if f.kind in _NESTED else "key"
                out.append(f"{join(path, key)}: missing required {what}")
    return out


def check_types(data: Mapping[str, Any]) -> list[str]:
    """Each value has its key's kind: a number, an integer, a 'YYYY-MM' month, a table..."""
    out = []
    for path, table, fields in iter_tables(data):
        for key, f in fields.items():
            if key in table:
                out.extend(_type_errors(join(path, key), f, table[key]))
    return out


def check_ranges(data: Mapping[str, Any]) -> list[str]:
    """Each well-typed value meets its key's rule: the range, the choices, the length."""
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
    """Site, lease and instrument ids are unique: decisions and plans name them."""
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


# an integer block count past this is a unit slip (kW typed for MW), and a bound the MIP's
# integrality tolerance can no longer tell from its neighbours
MAX_BLOCKS = 100_000


def check_hpc_blocks(data: Mapping[str, Any]) -> list[str]:
    """A site built in blocks (`hpc.block_mw` > 0) must fit one block, since a taken convert
    builds at least one, and fill hpc.max_mw with at most 100,000 of them (MAX_BLOCKS)."""
    out = []
    for path, site in _items(data, "sites"):
        hpc = site.get("hpc")
        if not isinstance(hpc, dict):
            continue
        block, max_mw = _num(hpc, "block_mw"), _num(hpc, "max_mw")
        if block is None or max_mw is None or block <= 0:
            continue
        if block > max_mw:
            out.append(f"{path}.hpc.block_mw: must be <= hpc.max_mw {show(max_mw)} (a convert "
                       f"builds at least one block), got {show(block)}")
        elif max_mw / block > MAX_BLOCKS:
            out.append(f"{path}.hpc.block_mw: hpc.max_mw {show(max_mw)} would take more than "
                       f"{MAX_BLOCKS:,} blocks (is it in MW?), got {show(block)}")
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
    "maturity": DEBT_KINDS + ("revolver",),
    "rate": DEBT_KINDS + ("revolver",),
    "conversion_premium": ("convertible",),
    "equity_volatility": ("convertible",),
    "loan_to_cost": ("secured_notes",),
    "commitment_fee": ("revolver",),
    "refinance": DEBT_KINDS,
    "fee": ("convertible", "secured_notes", "equity"),
}


def check_instrument_terms(data: Mapping[str, Any]) -> list[str]:
    """Debt and a revolver need a maturity (after issue); every kind but a revolver (which
    is committed from the start and drawn by rule, never by the plan) needs `issue_by`;
    kind-specific terms only on their kind; at most one revolver."""
    out = []
    revolvers = []
    for path, inst in _items(data, "finance", "instruments"):
        kind = _str(inst, "kind")
        if kind not in INSTRUMENT_KINDS:
            continue
        for key, kinds in _ONLY_ON.items():
            if key in inst and kind not in kinds:
                out.append(f"{path}.{key}: only on {' or '.join(kinds)} instruments, "
                           f"got {show(inst[key])} on kind {show(kind)}")
        if kind == "revolver":
            revolvers.append(path)
            if "issue_by" in inst:
                out.append(f"{path}.issue_by: a revolver is committed from the plan's start and drawn "
                           f"by rule, not issued, got {show(inst['issue_by'])}")
        elif "issue_by" not in inst:
            out.append(f"{path}.issue_by: required for kind {show(kind)}, got none")
        if kind in DEBT_KINDS + ("revolver",):
            if "maturity" not in inst:
                out.append(f"{path}.maturity: required for kind {show(kind)}, got none")
            else:
                issue, mat = _month(inst, "issue_by"), _month(inst, "maturity")
                if issue is not None and mat is not None and mat <= issue:
                    out.append(f"{path}.maturity: must be after issue_by "
                               f"{show(inst['issue_by'])}, got {show(inst['maturity'])}")
    if len(revolvers) > 1:
        out.append(f"{revolvers[1]}.kind: at most one revolver, got a second one "
                   f"(the first is {revolvers[0]})")
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


def check_terminal_multiple(data: Mapping[str, Any]) -> list[str]:
    """Value past the horizon is stated where it exists: `plan.terminal_multiple.mining`
    once a site mines, `.hpc` once a lease is on offer. Leases are valued to their end
    and fleets only to the horizon, so a silent 0 would tilt every plan toward converting
    (and understate the residual of the space): 0 must be written to be meant."""
    plan = data.get("plan")
    if not isinstance(plan, dict):
        return []
    tm = plan.get("terminal_multiple", {})
    if not isinstance(tm, dict):
        return []   # check_types reports it
    miners = [_str(s, "id") or p for p, s in _items(data, "sites") if "mining" in s]
    leases = [_str(t, "id") or p for p, t in _items(data, "leases")]
    out = []
    for key, needs, what, dropped in (
            ("mining", miners, "a site mines", "every fleet's margin past the horizon"),
            ("hpc", leases, "a lease is on offer", "a converted space's value after its lease")):
        if needs and key not in tm:
            out.append(f"plan.terminal_multiple.{key}: required when {what} ({', '.join(needs)}): "
                       f"without it {dropped} counts as 0; write {key} = 0 to mean that, got none")
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
    check_hpc_blocks,
    check_sale_range,
    check_instrument_terms,
    check_finance_rates,
    check_decision_dates,
    check_lease_rent,
    check_tenant_credit,
    check_terminal_multiple,
    check_bitcoin_tail,
]


def run_checks(data: Mapping[str, Any]) -> list[str]:
    """Every error from every check, in check order ([] when the instance is valid)."""
    if not isinstance(data, dict):
        return [f"<instance>: expected a table, got {show(data)}"]
    return [e for check in CHECKS for e in check(data)]
