"""The instance reference generated from the key table: the JSON Schema and the Markdown
are current and agree with the loader, `wattfolio init` writes a file that validates,
ranges reject the extremes that made the engine non-finite, and warnings catch unit slips
without firing on the shipped instances."""
from __future__ import annotations

import copy
import math
import subprocess
import sys
import tomllib
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from wattfolio.cli.main import main
from wattfolio.instance.checks import run_checks
from wattfolio.instance.load import load_instance, parse_instance
from wattfolio.instance.raw import as_raw
from wattfolio.instance.reference import default_text, json_schema, stale_docs
from wattfolio.instance.rules import Rule
from wattfolio.instance.schema import _NESTED, ROOT, SCHEMA, Field
from wattfolio.instance.starter import starter_toml
from wattfolio.instance.types import HOURS_PER_MONTH, Hpc
from wattfolio.instance.warnings import UNIT_SLIPS, instance_warnings

ROOT_DIR = Path(__file__).resolve().parents[1]
INSTANCES = sorted((ROOT_DIR / "instances").glob("*.toml"))
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def raw(name: str = "tiny") -> dict:
    return tomllib.loads((ROOT_DIR / "instances" / f"{name}.toml").read_text())


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wattfolio.cli", *args], cwd=ROOT_DIR,
                          capture_output=True, text=True, timeout=120)


def schema_errors(data: dict) -> list[tuple[str, str]]:
    """(path, message) of every JSON Schema error, the path written as the loader writes it."""
    out = []
    for e in VALIDATOR.iter_errors(data):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
        out.append((path.lstrip("."), e.message))
    return out


def fields(parent: Field = ROOT, path: str = ""):
    """(path pattern, parent, key, field) for every key of SCHEMA."""
    for key, f in parent.fields.items():
        pat = f"{path}.{key}" if path else key
        yield pat, parent, key, f
        if f.kind in _NESTED:
            yield from fields(f, pat + {"table": "", "tables": "[]", "map": ".<id>"}[f.kind])


# --------------------------------------------------------------------------- the key table

@pytest.mark.parametrize("path, parent, key, f", list(fields()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_key_has_doc_unit_and_a_bounded_range(path, parent, key, f):
    assert f.doc, f"{path}: no doc"
    assert f.unit, f"{path}: no unit"
    if f.kind in ("float", "int"):
        r = f.rule
        assert r is not None and (r.choices is not None
                                  or (r.lo is not None and r.hi is not None and math.isfinite(r.hi))), path


def _numeric_rules() -> list[tuple[str, Rule]]:
    return [(p, f.rule) for p, _, _, f in fields() if f.kind in ("float", "int") and f.rule.lo is not None]


@pytest.mark.parametrize("path, rule", _numeric_rules(), ids=[p for p, _ in _numeric_rules()])
def test_rule_bounds_say_what_ok_tests(path, rule):
    """The machine-readable bounds (the JSON Schema's) and the check agree at each end."""
    lo, hi = rule.lo, rule.hi
    step = lambda x: max(abs(x) * 1e-9, 1e-12)       # noqa: E731
    assert rule.ok(lo) is not rule.lo_open and not rule.ok(lo - step(lo)) and rule.ok(lo + step(lo))
    assert rule.ok(hi) is not rule.hi_open and not rule.ok(hi + step(hi)) and rule.ok(hi - step(hi))
    assert rule.text == f"must be in {rule.range_text}"


def test_defaults_in_the_reference_are_the_data_classes():
    plan, hpc = SCHEMA["plan"], SCHEMA["sites"].fields["hpc"]
    assert default_text(plan, "hours_per_month") == str(HOURS_PER_MONTH)
    assert default_text(hpc, "pue") == str(Hpc.__dataclass_fields__["pue"].default)
    assert default_text(plan, "name") == "required"
    assert default_text(SCHEMA["risk"], "cvar_floor_usd") == "none"


# --------------------------------------------------------------------------- JSON Schema

def test_json_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json_schema())
    assert json_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.name)
def test_json_schema_accepts_every_shipped_instance(path):
    assert schema_errors(tomllib.loads(path.read_text())) == []


def test_json_schema_rejects_a_misspelled_key_and_an_out_of_range_value():
    data = raw()
    data["plan"]["horizon_yeras"] = data["plan"].pop("horizon_years")
    data["bitcoin"]["volatility"] = 55
    errs = schema_errors(data)
    assert ("plan", "'horizon_years' is a required property") in errs
    assert ("plan", "Additional properties are not allowed ('horizon_yeras' was unexpected)") in errs
    assert ("bitcoin.volatility", "55 is greater than the maximum of 5.0") in errs
    assert len(errs) == 3


def test_json_schema_knows_hpc_block_mw():
    data = raw()
    data["sites"][1]["hpc"]["block_mw"] = 5.0
    assert schema_errors(data) == []
    data["sites"][1]["hpc"]["block_mw"] = -1.0
    assert schema_errors(data) == [("sites[1].hpc.block_mw", "-1.0 is less than the minimum of 0")]


def test_json_schema_says_the_exactly_one_rules():
    both = raw()
    both["bitcoin"]["hashrate_growth"] = 0.2
    assert [p for p, _ in schema_errors(both)] == ["bitcoin"]
    rent_twice = raw()
    rent_twice["leases"][0]["contract_value_usd"] = 1e9
    assert [p for p, _ in schema_errors(rent_twice)] == ["leases[0]"]
    equity_with_maturity = raw()
    equity_with_maturity["finance"]["instruments"][0]["maturity"] = "2030-01"
    assert [p for p, _ in schema_errors(equity_with_maturity)] == ["finance.instruments[0]"]


def _numeric_paths(data: dict):
    """(path, table, key, field) of every numeric key present in a raw instance."""
    from wattfolio.instance.raw import iter_tables, join
    for path, table, fs in iter_tables(data):
        for key, f in fs.items():
            if key in table and f.kind in ("float", "int") and f.rule is not None and f.rule.hi is not None:
                yield join(path, key), table, key, f


def test_json_schema_and_the_loader_reject_the_same_out_of_range_values():
    base = raw("terawulf")
    for path, _, key, f in list(_numeric_paths(base)):
        for bad in (f.rule.hi * 2 + 1, f.rule.lo - abs(f.rule.lo) - 1):
            data = copy.deepcopy(base)
            target = next(t for p, t, k, _ in _numeric_paths(data) if p == path)
            target[key] = int(bad) if f.kind == "int" else float(bad)
            assert path in [p for p, _ in schema_errors(data)], (path, bad)
            assert any(e.startswith(f"{path}: must be in") for e in run_checks(data)), (path, bad)


# --------------------------------------------------------------------------- docs

def test_generated_docs_are_current():
    """docs/instance-reference.md and docs/instance.schema.json are what SCHEMA gives now;
    `python3 -m wattfolio.instance.reference` rewrites them."""
    assert stale_docs() == []


def test_schema_command_prints_the_reference_and_the_json_schema():
    md, js = cli("schema"), cli("schema", "--json")
    assert md.returncode == 0 and js.returncode == 0
    assert md.stdout == (ROOT_DIR / "docs" / "instance-reference.md").read_text()
    assert js.stdout == (ROOT_DIR / "docs" / "instance.schema.json").read_text()
    assert "| `hours_per_month` | integer | hours | 730 | [1, 730] |" in md.stdout


# --------------------------------------------------------------------------- init, --version

def test_init_writes_a_starter_that_validates_as_is(tmp_path):
    out = tmp_path / "new.toml"
    r = cli("init", "Acme 'pivot' \"2026\" é", "--out", str(out))
    assert r.returncode == 0, r.stderr
    v = cli("validate", str(out))
    assert v.returncode == 0 and v.stdout.startswith("OK:"), v.stderr
    assert "warning:" not in v.stderr
    data = tomllib.loads(out.read_text())
    assert data["plan"]["name"] == "Acme 'pivot' \"2026\" é"
    assert schema_errors(data) == []
    assert cli("init", "again", "--out", str(out)).returncode == 2     # never overwrites


def test_starter_lists_every_key_with_unit_and_range():
    text = starter_toml("x")
    for path, _, key, f in fields():
        if f.kind in _NESTED:
            continue
        lines = [ln for ln in text.splitlines() if ln.lstrip("# ").startswith(f"{key} = ")]
        assert lines, f"{path} missing from the starter"
        if f.rule is not None and f.rule.lo is not None:
            assert any(f.rule.range_text in ln for ln in lines), path


def test_init_prints_to_stdout_without_out():
    r = cli("init", "demo")
    assert r.returncode == 0 and tomllib.loads(r.stdout)["plan"]["name"] == "demo"


def test_version_is_the_distribution_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"wattfolio {version('wattfolio')}"


# --------------------------------------------------------------------------- ranges at the CLI

@pytest.mark.parametrize("table, key, value, expected", [
    ("bitcoin", "drift", 50.0, "bitcoin.drift: must be in [-1, 1], got 50.0"),
    ("bitcoin", "volatility", 1e200, "bitcoin.volatility: must be in [0, 5], got 1e+200"),
    ("bitcoin", "hashrate_price_elasticity", 50.0,
     "bitcoin.hashrate_price_elasticity: must be in [-5, 5], got 50.0"),
    ("bitcoin", "price_usd", 2e8, "bitcoin.price_usd: must be in (0, 1e8], got 200000000.0"),
    ("bitcoin", "network_hashrate_ehs", 0.0, "bitcoin.network_hashrate_ehs: must be in [0.001, 1e6], got 0.0"),
    ("plan", "scenarios", 10**9, "plan.scenarios: must be in [1, 1e8], got 1000000000"),
    ("plan", "discount_rate", 1.0, "plan.discount_rate: must be in [0, 1), got 1.0"),
    ("risk", "alpha", 0.4, "risk.alpha: must be in [0.5, 0.999], got 0.4"),
    ("risk", "alpha", 0.9999, "risk.alpha: must be in [0.5, 0.999], got 0.9999"),
    ("terminal_multiple", "hpc", 1000.0, "plan.terminal_multiple.hpc: must be in [0, 100], got 1000.0"),
    ("markets", "mean_price", 2e6, "markets.hub.mean_price: must be in (0, 1e6], got 2000000.0"),
    ("site", "capacity_mw", 2e6, "sites[0].capacity_mw: must be in (0, 1e6], got 2000000.0"),
    ("hpc", "build_months", 601, "sites[0].hpc.build_months: must be in [1, 600], got 601"),
    ("finance", "cash_usd", 1e14, "finance.cash_usd: must be in [0, 1e13], got 100000000000000.0"),
])
def test_out_of_range_extremes_exit_2_naming_the_path(tmp_path, capsys, table, key, value, expected):
    data = raw()
    where = {"terminal_multiple": data["plan"]["terminal_multiple"], "markets": data["markets"]["hub"],
             "site": data["sites"][0], "hpc": data["sites"][0]["hpc"]}.get(table) or data[table]
    where[key] = value
    path = tmp_path / "bad.toml"
    from wattfolio.instance.synth import to_toml
    path.write_text(to_toml(data))
    assert main(["validate", str(path)]) == 2
    assert f"error: {expected}" in capsys.readouterr().err.splitlines()


def test_drift_volatility_and_elasticity_are_bounded_together():
    data = raw()
    data["plan"].update(horizon_years=50, decision_step_months=120)
    data["bitcoin"].update(drift=1.0, hashrate_price_elasticity=5.0)
    (err,) = run_checks(data)
    assert err.startswith("bitcoin: hash revenue must stay <= 1e30 $/MWh in an 8-sigma scenario")
    assert err.endswith("from drift 1.0, volatility 0.5, hashrate_price_elasticity 5.0 over 50 years")
    for path in INSTANCES:
        assert not [e for e in run_checks(tomllib.loads(path.read_text())) if e.startswith("bitcoin:")]


def test_the_joint_bound_guards_a_real_overflow_and_lets_the_edge_run_finite():
    from wattfolio.planning.catalog import build_catalog
    from wattfolio.planning.valuation import value_actions

    data = raw()
    data["plan"].update(horizon_years=50, decision_step_months=120, hours_per_month=4)
    data["bitcoin"].update(volatility=5.0, drift=1.0, hashrate_price_elasticity=1.0)
    inst = parse_instance(data)                  # accepted: elasticity 1 cancels the surprise
    from wattfolio.errors import InstanceError
    try:
        vt = value_actions(inst, build_catalog(inst), scenarios=32, backend="numpy")
        assert np.isfinite(vt.npv).all() and np.isfinite(vt.baseline_npv).all()
    except InstanceError as err:
        # finite, but past what the solver can carry: refused by name, never NaN
        assert "non-finite or |x| >" in str(err)
    # elasticity 5 is rejected, and for a reason: built in code past the check, it overflows,
    # and the value table's check refuses it by name rather than solving on NaN
    bad = replace(inst, bitcoin=replace(inst.bitcoin, hashrate_price_elasticity=5.0))
    with np.errstate(all="ignore"), pytest.raises(InstanceError, match="non-finite"):
        value_actions(bad, build_catalog(bad), scenarios=32, backend="numpy")


# --------------------------------------------------------------------------- warnings

def _messages(data) -> dict[str, str]:
    return {w.split(": ", 1)[0]: w for w in instance_warnings(data)}


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.name)
def test_no_warning_on_the_shipped_instances(path):
    assert instance_warnings(tomllib.loads(path.read_text())) == []
    assert instance_warnings(load_instance(path)) == []


@pytest.mark.parametrize("edit, path, text", [
    (lambda d: d["bitcoin"].__setitem__("volatility", 55), "bitcoin.volatility",
     "bitcoin.volatility: looks like a percent; the key is a decimal (did you mean 0.55?), got 55"),
    (lambda d: d["bitcoin"].__setitem__("price_usd", 0.04), "bitcoin.price_usd",
     "bitcoin.price_usd: looks like a price in thousands or millions of USD, or a BTC amount; the "
     "key is USD per bitcoin (e.g. 90000), got 0.04"),
    (lambda d: d["hpc_market"].__setitem__("rate_kw_month", 150000), "hpc_market.rate_kw_month",
     "hpc_market.rate_kw_month: looks like $/MW-month; the key is $/kW-month (did you mean 150?), "
     "got 150000"),
    (lambda d: d["leases"][0].__setitem__("rate_kw_month", 150000), "leases[0].rate_kw_month",
     "leases[0].rate_kw_month: looks like $/MW-month; the key is $/kW-month (did you mean 150?), "
     "got 150000"),
])
def test_unit_slips_warn_naming_the_path(edit, path, text):
    data = raw()
    edit(data)
    assert _messages(data)[path] == text


def test_validate_prints_warnings_and_exits_0_without_errors(tmp_path):
    data = raw()
    data["bitcoin"]["price_usd"] = 0.04                       # legal, but surely not meant
    from wattfolio.instance.synth import to_toml
    path = tmp_path / "slip.toml"
    path.write_text(to_toml(data))
    r = cli("validate", str(path))
    assert r.returncode == 0 and r.stdout.startswith("OK:")
    assert [ln.split(": ")[1] for ln in r.stderr.splitlines()] == ["bitcoin.price_usd"]
    # out of range and a slip: the error, and the warning saying why
    data["bitcoin"]["price_usd"], data["bitcoin"]["volatility"] = 90000.0, 55
    path.write_text(to_toml(data))
    r = cli("validate", str(path))
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: bitcoin.volatility: must be in [0, 5], got 55",
        "warning: bitcoin.volatility: looks like a percent; the key is a decimal (did you mean "
        "0.55?), got 55"]


@pytest.mark.parametrize("slip", UNIT_SLIPS, ids=lambda s: s.keys[0])
def test_every_unit_slip_fires_on_each_of_its_keys(slip):
    for pattern in slip.keys:
        data = raw("terawulf")
        node, parts = data, pattern.split(".")
        for part in parts[:-1]:
            name = part.removesuffix("[]")
            node = (next(iter(node.values())) if part == "<id>" else node[name])
            if part.endswith("[]"):
                node = node[0]
        node[parts[-1]] = slip.example
        assert any(w.split(": ")[0].endswith(parts[-1]) for w in instance_warnings(data)), pattern


def test_consequential_defaults_warn_only_when_they_matter():
    data = raw()
    del data["plan"]["hours_per_month"], data["leases"][0]["backstop_usd"]
    assert set(_messages(data)) == {"plan.hours_per_month", "leases[0].backstop_usd"}
    data["leases"][0]["default_rate"] = 0.0                  # nothing to guarantee
    del data["sites"][0]["mining"]                            # no hour is simulated
    data["plan"]["terminal_multiple"].pop("mining")
    assert _messages(data) == {}


def test_a_loaded_instance_remembers_its_defaults():
    data = raw()
    del data["plan"]["hours_per_month"]
    inst = parse_instance(data)
    assert list(_messages(inst)) == ["plan.hours_per_month"]
    assert _messages(inst.with_plan(hours_per_month=24)) == {}   # what --hours does
    built = replace(inst, defaulted=None)                       # as if built in code
    assert _messages(built) == {}
    assert list(_messages(replace(built, bitcoin=replace(built.bitcoin, volatility=55.0)))) == [
        "bitcoin.volatility"]


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.name)
def test_as_raw_round_trips_a_loaded_instance(path):
    inst = load_instance(path)
    again = parse_instance(as_raw(inst))
    assert replace(again, sha256=inst.sha256) == inst
