"""`wattfolio init`: a commented starter instance, written from the key table.

Every key of SCHEMA appears in SCHEMA's order: required keys with a sensible value,
optional ones commented out at their default (or, where the default is "none", at an
example), each with its unit, range and meaning. Optional tables the starter does not use
(a sale, an acquisition) are commented out whole, so uncommenting one never lands its keys
in the table above. The values describe one operating mining site with an option to
convert to HPC for one lease offer, funded by cash and equity: it validates as is
(tests/test_reference.py) and raises no warning.
"""
from __future__ import annotations

from typing import Any

from .reference import default_value, range_text
from .schema import _NESTED, NO_DEFAULT, ROOT, Field
from .synth import _key, _string, _value

# The starter's values (a tiny-style company, calibrated like instances/terawulf.toml).
# Tables named in OFF are shown commented out.
EXAMPLE: dict[str, Any] = {
    "schema": 1,
    "plan": {"name": "", "start": "2026-01", "horizon_years": 10, "decision_step_months": 6,
             "discount_rate": 0.10, "scenarios": 1000, "hours_per_month": 24, "seed": 1,
             "terminal_multiple": {"hpc": 12.0, "mining": 3.0}},
    "risk": {},
    "bitcoin": {"price_usd": 90000.0, "drift": 0.0, "volatility": 0.55, "network_hashrate_ehs": 1050.0,
                "fees_btc_per_block": 0.03, "subsidy_btc": 3.125, "halvings": ["2028-04", "2032-04"],
                "marginal_efficiency_j_per_th": 28.0, "marginal_power_usd_per_mwh": 50.0,
                "hashrate_adjustment_speed": 1.0},
    "markets": {"hub": {"mean_price": 45.0, "volatility": 0.5, "mean_reversion": 2.0,
                        "seasonal_amplitude": 0.15, "seasonal_peak_month": 8, "hourly_volatility": 0.35,
                        "spike_probability": 0.002, "spike_price": 1000.0, "price_cap": 5000.0}},
    "hpc_market": {"rate_kw_month": 150.0, "volatility": 0.15, "drift": 0.0},
    "sites": [{"id": "site-1", "market": "hub", "status": "operating", "use": "mining",
               "capacity_mw": 100.0,
               "mining": {"efficiency_j_per_th": 20.0, "opex_usd_per_mw_month": 6000.0},
               "hpc": {"max_mw": 60.0, "capex_usd_per_mw": 9.0e6, "capex_overrun_volatility": 0.15,
                       "build_months": 12, "delay_months_mean": 3.0},
               "sale": {"low_usd": 50e6, "mode_usd": 80e6, "high_usd": 120e6,
                        "close_probability": 0.8, "months_to_close": 6},
               "acquire": {"cost_usd": 30e6, "energize_months": 6}}],
    "leases": [{"id": "lease-1", "tenant": "Tenant A", "sites": ["site-1"], "max_mw": 60.0,
                "rate_kw_month": 150.0, "escalator": 0.03, "tenor_years": 10, "noi_margin": 0.85,
                "sign_by": "2027-12", "default_rate": 0.02, "renewal_probability": 0.5,
                "backstop_usd": 0.0}],
    "ai_stress": {},
    "finance": {"cash_usd": 100e6,
                "instruments": [{"id": "equity", "kind": "equity", "max_usd": 500e6,
                                 "issue_by": "2027-12", "fee": 0.05,
                                 "refinance": {"rate": 0.09}}]},
}
OFF = {"sites[].sale": "to offer the site for sale",
       "sites[].acquire": "on a candidate site (status = \"candidate\", no [sites.mining])",
       "finance.instruments[].refinance": "on secured_notes or a convertible"}
# example values for optional keys whose default is "none", shown commented out
HINTS: dict[str, Any] = {
    "risk.cvar_floor_usd": 0.0,
    "bitcoin.hashrate_growth": 0.2,
    "leases[].contract_value_usd": 1.1e9,
    "finance.cost_of_debt": 0.08,
    "finance.risk_free_rate": 0.04,
    "finance.instruments[].maturity": "2032-12",
}


def starter_toml(name: str) -> str:
    """The starter instance's text, with `plan.name = name`.

    Parameters
    ----------
    name : str
        The plan's name (any text: it is quoted for TOML).

    Returns
    -------
    str
        TOML that `wattfolio validate` accepts with neither errors nor warnings.
    """
    lines = [
        f"# {name}: a wattfolio instance (schema = 1), written by `wattfolio init`.",
        "# Every key is listed: required ones with a starter value, optional ones commented out",
        "# at their default. Each comment gives the unit, the range and the meaning;",
        "# docs/instance-reference.md has them all, `wattfolio schema` prints it.",
        "# For completion in Even Better TOML / taplo, put on the first line:",
        "#   #:schema <path to wattfolio>/docs/instance.schema.json",
        "",
    ]
    example = dict(EXAMPLE, plan=dict(EXAMPLE["plan"], name=name))
    _emit(lines, ROOT, example, "", [], off=False)
    return "\n".join(lines).rstrip("\n") + "\n"


def _emit(lines: list[str], parent: Field, values: dict[str, Any], pattern: str,
          header: list[str], *, off: bool) -> None:
    """Keys of one table, then its sub-tables (TOML wants a table's keys before them)."""
    c = "# " if off else ""
    for key, f in parent.fields.items():
        if f.kind in _NESTED:
            continue
        pat = f"{pattern}.{key}" if pattern else key
        comment = _comment(parent, key)
        if key in values:
            lines.append(f"{c}{_key(key)} = {_toml(values[key])}{comment}")
        else:
            shown = HINTS.get(pat, default_value(parent, key))
            shown = "..." if shown is NO_DEFAULT or shown is None else _toml(shown)
            lines.append(f"# {_key(key)} = {shown}{comment}")
    for key, f in parent.fields.items():
        if f.kind not in _NESTED:
            continue
        pat = (f"{pattern}.{key}" if pattern else key) + {"table": "", "tables": "[]", "map": ".<id>"}[f.kind]
        sub = values.get(key)
        if sub is None:
            continue
        table_off = off or pat in OFF
        c = "# " if table_off else ""
        items = (list(sub.items()) if f.kind == "map" else
                 [(None, x) for x in sub] if f.kind == "tables" else [(None, sub)])
        for ident, item in items:
            path = header + [key] + ([ident] if ident is not None else [])
            name = ".".join(_key(p) for p in path)
            lines.append("")
            lines.append(f"# {f.doc}" + (f": uncomment the header and its keys together {OFF[pat]}"
                                         if pat in OFF else ""))
            lines.append(f"{c}[[{name}]]" if f.kind == "tables" else f"{c}[{name}]")
            _emit(lines, f, item, pat, path if f.kind != "tables" else header + [key],
                  off=table_off)


def _comment(parent: Field, key: str) -> str:
    f = parent.fields[key]
    bits = [b for b in (f.unit if f.unit != "-" else "", range_text(f)) if b]
    return "   # " + (", ".join(bits) + ": " if bits else "") + f.doc


def _toml(v: Any) -> str:
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, float) and abs(v) >= 1e6:
        return f"{v:.6g}".replace("e+0", "e").replace("e+", "e")   # 9e6, not 9000000.0
    return _value(v)
