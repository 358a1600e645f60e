"""Instance loading and validation: a valid file builds the right values; each kind of
bad input is reported with its exact path and offending value."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from wattfolio.errors import InstanceError, PlanError
from wattfolio.instance.load import load_instance, parse_instance, validate_file, validate_main

REPO = Path(__file__).resolve().parents[1]

VALID = """\
schema = 1

[plan]
name = "test portfolio"
start = "2026-01"
horizon_years = 12
decision_step_months = 3
discount_rate = 0.10
scenarios = 200
seed = 7
terminal_multiple = { hpc = 12.0, mining = 3.0 }

[bitcoin]
price_usd = 90000
drift = 0.0
volatility = 0.55
network_hashrate_ehs = 1050
hashrate_growth = 0.20
fees_btc_per_block = 0.03
subsidy_btc = 3.125
halvings = ["2028-04", "2032-04"]

[markets.ercot]
mean_price = 45
volatility = 0.5
mean_reversion = 3.0
seasonal_amplitude = 0.15
seasonal_peak_month = 8
hourly_volatility = 0.35
spike_probability = 0.004
spike_price = 2500.0
price_cap = 5000.0

[hpc_market]
rate_kw_month = 150.0
volatility = 0.15
drift = -0.02

[[sites]]
id = "lake"
market = "ercot"
status = "operating"
use = "mining"
capacity_mw = 500
mining = { efficiency_j_per_th = 18.5, opex_usd_per_mw_month = 6000 }

[sites.sale]
low_usd = 150e6
mode_usd = 250e6
high_usd = 400e6
close_probability = 0.8
months_to_close = 6

[sites.hpc]
max_mw = 200
capex_usd_per_mw = 9.0e6
capex_overrun_volatility = 0.15
build_months = 12
delay_months_mean = 3
pue = 1.25

[[sites]]
id = "plains"
market = "ercot"
status = "candidate"
use = "land"
capacity_mw = 300
ownership = 0.51
acquire = { cost_usd = 180e6, energize_months = 6 }

[sites.hpc]
max_mw = 150
capex_usd_per_mw = 1.0e7
capex_overrun_volatility = 0.2
build_months = 18
delay_months_mean = 4

[[leases]]
id = "fluidstack"
tenant = "Fluidstack"
sites = ["lake", "plains"]
max_mw = 200
rate_kw_month = 154.0
escalator = 0.03
tenor_years = 10
noi_margin = 0.85
sign_by = "2026-12"
default_rate = 0.02
backstop_usd = 1.8e9
renewal_probability = 0.6

[finance]
cash_usd = 500e6
cost_of_debt = 0.075
risk_free_rate = 0.04

[[finance.instruments]]
id = "converts"
kind = "convertible"
max_usd = 575e6
issue_by = "2026-06"
maturity = "2032-05"
conversion_premium = 0.375
fee = 0.025

[[finance.instruments]]
id = "notes"
kind = "secured_notes"
max_usd = 1.0e9
rate = 0.075
issue_by = "2027-03"
maturity = "2035-03"
loan_to_cost = 0.85
"""


def month(year: int, mon: int) -> int:
    """Hand-written absolute month number, independent of instance.parse_month."""
    return year * 12 + (mon - 1)


def valid() -> dict:
    return tomllib.loads(VALID)


def errors_of(data: dict) -> list[str]:
    with pytest.raises(InstanceError) as info:
        parse_instance(data)
    return info.value.errors


def assert_one_error(data: dict, expected: str) -> None:
    errs = errors_of(data)
    assert errs == [expected], errs


# ------------------------------------------------------------------ valid input

def test_valid_instance_loads_with_values_dates_and_defaults(tmp_path):
    path = tmp_path / "inst.toml"
    path.write_text(VALID)
    inst = load_instance(path)

    assert inst.sha256 == hashlib.sha256(VALID.encode()).hexdigest()
    p = inst.plan
    assert (p.name, p.start, p.horizon_years, p.scenarios, p.seed) == (
        "test portfolio", month(2026, 1), 12, 200, 7)
    assert p.hours_per_month == 730                                  # default
    assert (p.terminal_multiple.hpc, p.terminal_multiple.mining) == (12.0, 3.0)
    assert (inst.risk.alpha, inst.risk.cvar_floor_usd, inst.risk.weight) == (0.95, None, 0.0)
    assert inst.bitcoin.halvings == (month(2028, 4), month(2032, 4))
    assert inst.bitcoin.hashrate_price_elasticity == 0.5
    assert inst.hpc_market.mean_reversion == 0.3

    (ercot,) = inst.markets
    assert ercot.id == "ercot"
    assert ercot.mean_price == 45.0 and isinstance(ercot.mean_price, float)  # int -> float
    assert ercot.seasonal_peak_month == 8

    lake, plains = inst.sites
    assert lake.ownership == 1.0 and lake.hpc.pue == 1.25
    assert lake.mining.efficiency_j_per_th == 18.5
    assert (lake.sale.low_usd, lake.sale.mode_usd, lake.sale.high_usd) == (150e6, 250e6, 400e6)
    assert lake.acquire is None
    assert plains.ownership == 0.51 and plains.hpc.pue == 1.3        # default pue
    assert plains.mining is None and plains.sale is None
    assert (plains.acquire.cost_usd, plains.acquire.energize_months) == (180e6, 6)

    (lease,) = inst.leases
    assert lease.sites == ("lake", "plains")
    assert lease.sign_by == month(2026, 12)
    assert lease.relet_months == 6 and lease.backstop_usd == 1.8e9

    assert inst.finance.cash_usd == 500e6 and inst.finance.min_cash_usd == 0.0
    assert (inst.finance.cost_of_debt, inst.finance.risk_free_rate) == (0.075, 0.04)
    conv, notes = inst.finance.instruments
    assert (conv.kind, conv.issue_by, conv.maturity) == (
        "convertible", month(2026, 6), month(2032, 5))
    assert conv.rate == 0.0 and conv.fee == 0.025
    assert (notes.rate, notes.loan_to_cost, notes.fee) == (0.075, 0.85, 0.0)

    assert validate_file(path) == []


def test_optional_sections_may_be_absent():
    data = valid()
    del data["leases"], data["finance"], data["bitcoin"]["halvings"]
    # with no fleet and no lease, nothing lies past the horizon: the multiples may go too
    del data["plan"]["terminal_multiple"], data["sites"][0]["mining"]
    inst = parse_instance(data)
    assert inst.leases == () and inst.finance.instruments == () and inst.bitcoin.halvings == ()
    assert (inst.plan.terminal_multiple.hpc, inst.plan.terminal_multiple.mining) == (0.0, 0.0)


@pytest.mark.parametrize("drop, expected", [
    (("mining",), "plan.terminal_multiple.mining: required when a site mines (lake): without it "
                  "every fleet's margin past the horizon counts as 0; write mining = 0 to mean "
                  "that, got none"),
    (("hpc",), "plan.terminal_multiple.hpc: required when a lease is on offer (fluidstack): "
               "without it a converted space's value after its lease counts as 0; write hpc = 0 "
               "to mean that, got none"),
])
def test_terminal_multiple_required_where_value_lies_past_the_horizon(drop, expected):
    data = valid()
    for key in drop:
        del data["plan"]["terminal_multiple"][key]
    assert_one_error(data, expected)


def test_missing_terminal_multiple_table_names_both_keys():
    data = valid()
    del data["plan"]["terminal_multiple"]
    errs = errors_of(data)
    assert [e.split(":")[0] for e in errs] == ["plan.terminal_multiple.mining",
                                               "plan.terminal_multiple.hpc"]
    data["plan"]["terminal_multiple"] = {"hpc": 0, "mining": 0}     # 0 written is 0 meant
    assert parse_instance(data).plan.terminal_multiple.mining == 0.0


def test_halving_and_maturity_beyond_horizon_are_fine():
    data = valid()
    data["bitcoin"]["halvings"] = ["2028-04", "2040-04", "2044-04"]   # horizon ends 2037-12
    data["finance"]["instruments"][1]["maturity"] = "2045-01"
    inst = parse_instance(data)
    assert inst.bitcoin.halvings[-1] == month(2044, 4)
    assert inst.finance.instruments[1].maturity == month(2045, 1)


# ------------------------------------------------------------------ bad input

def test_negative_capex_exact_message():
    data = valid()
    data["sites"][1]["hpc"]["capex_usd_per_mw"] = -9.0e6
    assert_one_error(data, "sites[1].hpc.capex_usd_per_mw: must be in (0, 1e13], got -9000000.0")


def test_unknown_key_suggests_closest():
    data = valid()
    hpc = data["sites"][0]["hpc"]
    hpc["capex_per_mw"] = hpc.pop("capex_usd_per_mw")
    errs = errors_of(data)
    assert "sites[0].hpc.capex_per_mw: unknown key, did you mean 'capex_usd_per_mw'?" in errs
    assert "sites[0].hpc.capex_usd_per_mw: missing required key" in errs
    assert len(errs) == 2


def test_unknown_top_level_key():
    data = valid()
    data["finanse"] = {"cash_usd": 1}
    assert_one_error(data, "finanse: unknown key, did you mean 'finance'?")


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["plan"].__setitem__("seed", 7.5), "plan.seed: expected an integer, got 7.5"),
    (lambda d: d["plan"].__setitem__("scenarios", 100.0),
     "plan.scenarios: expected an integer, got 100.0"),
    (lambda d: d["sites"][0].__setitem__("capacity_mw", True),
     "sites[0].capacity_mw: expected a number, got True"),
    (lambda d: d["markets"]["ercot"].__setitem__("mean_price", "45"),
     "markets.ercot.mean_price: expected a number, got '45'"),
    (lambda d: d["leases"][0].__setitem__("tenor_years", 10.0),
     "leases[0].tenor_years: expected an integer, got 10.0"),
    (lambda d: d["leases"][0].__setitem__("sites", ["lake", 3]),
     "leases[0].sites[1]: expected a string, got 3"),
    (lambda d: d["bitcoin"].__setitem__("volatility", float("inf")),
     "bitcoin.volatility: expected a finite number, got inf"),
    (lambda d: d.__setitem__("schema", 2),
     "schema: must be 1 (the only schema this version reads), got 2"),
])
def test_wrong_type(mutate, expected):
    data = valid()
    mutate(data)
    assert_one_error(data, expected)


def test_malformed_dates():
    data = valid()
    data["plan"]["start"] = "2026-13"
    data["bitcoin"]["halvings"] = ["2028-04", "2032/04"]
    errs = errors_of(data)
    assert "plan.start: expected 'YYYY-MM', got '2026-13'" in errs
    assert "bitcoin.halvings[1]: expected 'YYYY-MM', got '2032/04'" in errs
    assert len(errs) == 2   # the horizon check is skipped, not tripped, by a bad start


def test_sign_by_outside_horizon():
    data = valid()
    data["leases"][0]["sign_by"] = "2040-01"
    assert_one_error(data, "leases[0].sign_by: must be within the plan horizon "
                           "2026-01..2037-12, got '2040-01'")


def test_issue_by_outside_horizon():
    data = valid()
    data["finance"]["instruments"][0]["issue_by"] = "2025-12"   # one month before start
    assert_one_error(data, "finance.instruments[0].issue_by: must be within the plan "
                           "horizon 2026-01..2037-12, got '2025-12'")


def test_decision_in_last_month_of_horizon_is_fine():
    data = valid()
    data["leases"][0]["sign_by"] = "2037-12"
    assert parse_instance(data).leases[0].sign_by == month(2037, 12)


def test_lease_naming_unknown_site():
    data = valid()
    data["leases"][0]["sites"] = ["lake", "plain"]
    assert_one_error(data, "leases[0].sites[1]: unknown site, got 'plain', "
                           "did you mean 'plains'?")


def test_site_in_unknown_market():
    data = valid()
    data["sites"][0]["market"] = "pjm"
    assert_one_error(data, "sites[0].market: unknown market, got 'pjm' (markets: ercot)")


def test_duplicate_ids():
    data = valid()
    data["sites"][1]["id"] = "lake"
    data["leases"][0]["sites"] = ["lake"]
    data["finance"]["instruments"][1]["id"] = "converts"
    errs = errors_of(data)
    assert errs == [
        "sites[1].id: duplicate id (also sites[0].id), got 'lake'",
        "finance.instruments[1].id: duplicate id (also finance.instruments[0].id), "
        "got 'converts'",
    ]


def test_hpc_larger_than_grid_capacity():
    data = valid()
    data["sites"][0]["hpc"]["max_mw"] = 400      # 400 x 1.25 = 500: exactly fits
    assert parse_instance(data).sites[0].hpc.max_mw == 400.0
    data["sites"][0]["hpc"]["max_mw"] = 401      # 401 x 1.25 = 501.25 > 500
    assert_one_error(data, "sites[0].hpc.max_mw: max_mw x pue must be <= capacity_mw, "
                           "got 401 x 1.25 = 501.25 > capacity_mw 500")


def test_hpc_capacity_uses_default_pue():
    data = valid()
    data["sites"][1]["hpc"]["max_mw"] = 240      # 240 x 1.3 = 312 > 300
    errs = errors_of(data)
    assert len(errs) == 1 and "got 240 x 1.3 = 312 > capacity_mw 300" in errs[0]


def test_hpc_blocks_load_and_must_fit_one_block(tmp_path, capsys):
    data = valid()
    data["sites"][0]["hpc"]["block_mw"] = 10
    inst = parse_instance(data)
    assert inst.sites[0].hpc.block_mw == 10.0 and inst.sites[1].hpc.block_mw == 0.0
    data["sites"][0]["hpc"]["block_mw"] = 250     # more than max_mw 200: not one block fits
    expected = ("sites[0].hpc.block_mw: must be <= hpc.max_mw 200 (a convert builds at least "
                "one block), got 250")
    assert_one_error(data, expected)
    data["sites"][0]["hpc"]["block_mw"] = 0.001   # kW typed for MW: 200,000 blocks
    assert_one_error(data, "sites[0].hpc.block_mw: hpc.max_mw 200 would take more than 100,000 "
                           "blocks (is it in MW?), got 0.001")
    data["sites"][0]["hpc"]["block_mw"] = -8
    assert_one_error(data, "sites[0].hpc.block_mw: must be in [0, 1e6], got -8")
    path = tmp_path / "blocks.toml"
    path.write_text(VALID.replace("pue = 1.25", "pue = 1.25\nblock_mw = 250"))
    assert validate_main(str(path)) == 2
    assert f"error: {expected}" in capsys.readouterr().err.splitlines()


def test_many_errors_reported_at_once():
    data = valid()
    data["plan"]["discount_rate"] = 1.0
    data["markets"]["ercot"]["seasonal_peak_month"] = 13
    data["sites"][0]["ownership"] = 0
    data["leases"][0]["noi_margin"] = 1.2
    data["sites"][1]["status"] = "planned"
    data["risk"] = {"alpha": 1}
    errs = errors_of(data)
    assert set(errs) == {
        "plan.discount_rate: must be in [0, 1), got 1.0",
        "markets.ercot.seasonal_peak_month: must be in [1, 12], got 13",
        "sites[0].ownership: must be in (0, 1], got 0",
        "leases[0].noi_margin: must be in (0, 1], got 1.2",
        "sites[1].status: must be one of 'operating', 'development', 'candidate', "
        "got 'planned'",
        "risk.alpha: must be in [0.5, 0.999], got 1",
    }
    assert len(errs) == 6


def test_missing_required_and_empty_collections():
    data = valid()
    del data["hpc_market"], data["plan"]["seed"]
    data["markets"] = {}
    data["sites"] = []
    data["leases"] = []
    errs = errors_of(data)
    assert set(errs) == {
        "hpc_market: missing required table",
        "plan.seed: missing required key",
        "markets: at least one [markets.<id>] table is required, got none",
        "sites: at least one [[sites]] entry is required, got none",
    }


def test_site_tables_must_fit_status():
    data = valid()
    plains = data["sites"][1]
    plains["mining"] = {"efficiency_j_per_th": 20, "opex_usd_per_mw_month": 5000}
    plains["sale"] = {"low_usd": 1, "mode_usd": 2, "high_usd": 3,
                      "close_probability": 0.5, "months_to_close": 3}
    del plains["acquire"]
    data["sites"][0]["acquire"] = {"cost_usd": 1e6, "energize_months": 0}
    errs = errors_of(data)
    assert set(errs) == {
        "sites[1].mining: only operating sites mine, got status 'candidate'",
        "sites[1].sale: a candidate site is not owned and cannot be sold, "
        "got status 'candidate'",
        "sites[1].acquire: required on a candidate site with an hpc table "
        "(it must be bought before it is converted), got none",
        "sites[0].acquire: only candidate sites can be acquired, got status 'operating'",
    }


def test_sale_bounds_must_be_ordered():
    data = valid()
    data["sites"][0]["sale"]["mode_usd"] = 100e6
    assert_one_error(data, "sites[0].sale: must have low_usd <= mode_usd <= high_usd, "
                           "got 150000000.0, 100000000.0, 400000000.0")


def test_instrument_terms_by_kind():
    data = valid()
    conv, notes = data["finance"]["instruments"]
    del conv["maturity"]
    conv["loan_to_cost"] = 0.8
    notes["maturity"] = "2027-03"          # not after issue_by
    notes["conversion_premium"] = 0.3
    data["finance"]["instruments"].append(
        {"id": "atm", "kind": "equity", "max_usd": 1e8, "issue_by": "2026-01",
         "rate": 0.05, "maturity": "2030-01"})
    errs = errors_of(data)
    assert set(errs) == {
        "finance.instruments[0].loan_to_cost: only on secured_notes instruments, "
        "got 0.8 on kind 'convertible'",
        "finance.instruments[0].maturity: required for kind 'convertible', got none",
        "finance.instruments[1].conversion_premium: only on convertible instruments, "
        "got 0.3 on kind 'secured_notes'",
        "finance.instruments[1].maturity: must be after issue_by '2027-03', got '2027-03'",
        "finance.instruments[2].maturity: only on convertible or secured_notes or revolver "
        "instruments, got '2030-01' on kind 'equity'",
        "finance.instruments[2].rate: only on convertible or secured_notes or revolver instruments, "
        "got 0.05 on kind 'equity'",
    }


def test_wrong_shape_of_tables_does_not_crash():
    data = valid()
    data["sites"][0]["hpc"] = 5
    data["leases"] = {"id": "x"}
    data["markets"]["ercot"] = 1
    errs = errors_of(data)
    assert "sites[0].hpc: expected a table, got 5" in errs
    assert "leases: expected an array of tables, got {'id': 'x'}" in errs
    assert "markets.ercot: expected a table, got 1" in errs


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(VALID.replace('seed = 7', 'seed 7'))
    line = VALID.splitlines().index("seed = 7") + 1
    errs = validate_file(path)
    assert len(errs) == 1
    assert errs[0].startswith(f"{path}: invalid TOML: ")
    assert f"line {line}" in errs[0]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(InstanceError) as info:
        load_instance(path)
    assert info.value.errors == [f"{path}: no such file"]


def test_error_classes_join_lines():
    e = InstanceError(["a: x, got 1", "b: y, got 2"])
    assert str(e) == "a: x, got 1\nb: y, got 2" and isinstance(e, ValueError)
    assert PlanError(["decisions[0].site: unknown site, got 'x'"]).errors == [
        "decisions[0].site: unknown site, got 'x'"]


def test_validate_main_ok(tmp_path, capsys):
    path = tmp_path / "inst.toml"
    path.write_text(VALID)
    assert validate_main(str(path)) == 0
    assert capsys.readouterr().out.strip() == f"OK: {path} (2 sites, 1 leases, 2 instruments)"


def test_module_cli_reports_errors_without_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(VALID.replace("capex_usd_per_mw = 1.0e7", "capex_usd_per_mw = -9.0e6")
                    .replace('sign_by = "2026-12"', 'sign_by = "2040-01"'))
    proc = subprocess.run([sys.executable, "-m", "wattfolio.instance.load", str(path)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert [line for line in lines if not line.startswith("warning: ")] == [
        "error: sites[1].hpc.capex_usd_per_mw: must be in (0, 1e13], got -9000000.0",
        "error: leases[0].sign_by: must be within the plan horizon 2026-01..2037-12, "
        "got '2040-01'",
    ]
    # warnings come after the errors: here the one for the absent hours_per_month
    assert [line.split(":")[1] for line in lines[2:]] == [" plan.hours_per_month"]
    assert "Traceback" not in proc.stderr
