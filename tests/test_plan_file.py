"""Plan files: decisions and financing are checked against the instance, every problem
named by its path in the file; clean plans round-trip."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattfolio.errors import PlanError
from wattfolio.planning.finance import cost_breakdown
from wattfolio.instance.types import parse_month
from wattfolio.instance.load import load_instance
from wattfolio.planning.plan_file import parse_plan, plan_document, read_plan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def terawulf():
    return load_instance(ROOT / "instances" / "terawulf.toml")


def _plan(decisions=(), financing=()):
    return {"schema": 1, "decisions": list(decisions), "financing": list(financing)}


def _errors(data, instance) -> list[str]:
    with pytest.raises(PlanError) as e:
        parse_plan(data, instance)
    return e.value.errors


def test_shipped_plan_parses_in_catalog_order(terawulf):
    spec = read_plan(ROOT / "instances/plans/terawulf-fluidstack.json", terawulf)
    assert [a.kind for a in spec.actions] == ["convert", "convert"]
    assert [a.index for a in spec.actions] == sorted(a.index for a in spec.actions)
    assert sorted(spec.quantities) == [168.0, 200.0]
    assert ("converts-2032", 575e6, parse_month("2026-01")) in spec.financing


def test_unknown_site_and_lease_named(terawulf):
    errs = _errors(_plan([
        {"site": "nowhere", "action": "sell", "start": "2026-01"},
        {"site": "lake-mariner", "action": "convert", "start": "2026-01", "mw": 10, "lease": "ghost"},
    ]), terawulf)
    assert "decisions[0].site: unknown site 'nowhere'" in errs
    assert "decisions[1].lease: unknown lease 'ghost'" in errs


def test_off_grid_and_late_starts_are_impossible(terawulf):
    errs = _errors(_plan([
        {"site": "lake-mariner", "action": "sell", "start": "2026-02"},
        {"site": "lake-mariner", "action": "convert", "start": "2027-01", "mw": 10, "lease": "fluidstack-lm"},
    ]), terawulf)
    assert any(e.startswith("decisions[0]: sell at 'lake-mariner' starting 2026-02 is not a possible action")
               and "every 3 months" in e for e in errs)
    assert any(e.startswith("decisions[1]: convert at 'lake-mariner'") and "signed by 2026-12" in e for e in errs)


def test_sold_site_takes_nothing_else_and_caps_hold(terawulf):
    errs = _errors(_plan([
        {"site": "lake-mariner", "action": "sell", "start": "2026-04"},
        {"site": "lake-mariner", "action": "convert", "start": "2026-01", "mw": 200, "lease": "fluidstack-lm"},
        {"site": "lake-mariner", "action": "convert", "start": "2026-04", "mw": 100, "lease": "neocloud-expansion"},
    ]), terawulf)
    assert "decisions: site 'lake-mariner' is sold, so it can take no other action" in errs
    assert any("converts 300 MW, more than hpc.max_mw 250" in e for e in errs)


def test_mw_out_of_range(terawulf):
    errs = _errors(_plan([
        {"site": "lake-mariner", "action": "convert", "start": "2026-01", "mw": 201, "lease": "fluidstack-lm"},
    ]), terawulf)
    assert errs == ["decisions[0].mw: must be in (0, 200], got 201.0"]


def test_mw_off_the_block_grid(terawulf):
    """Lake Mariner builds in 10 MW blocks: 19.8 MW is no plan, 20 MW is."""
    errs = _errors(_plan([
        {"site": "lake-mariner", "action": "convert", "start": "2026-01", "mw": 19.8, "lease": "fluidstack-lm"},
    ]), terawulf)
    assert errs == ["decisions[0].mw: at a site with hpc.block_mw, a convert builds a whole number "
                    "of blocks (hpc.block_mw = 10 at 'lake-mariner': 19.8 MW is 1.98 blocks), got 19.8"]
    spec = parse_plan(_plan([
        {"site": "lake-mariner", "action": "convert", "start": "2026-01", "mw": 20, "lease": "fluidstack-lm"},
    ]), terawulf)
    assert spec.quantities == [20.0]


def test_financing_errors(terawulf):
    errs = _errors(_plan(financing=[
        {"instrument": "converts-2032", "amount_usd": 500e6, "start": "2026-09"},
        {"instrument": "nope", "amount_usd": 1, "start": "2026-01"},
        {"instrument": "secured-2030", "amount_usd": -5, "start": "2026-01"},
        {"instrument": "converts-2032", "amount_usd": 600e6, "start": "2026-01"},
    ]), terawulf)
    assert any(e.startswith("financing[0].start:") and "issue_by 2026-06" in e for e in errs)
    assert "financing[1].instrument: unknown instrument 'nope'" in errs
    assert "financing[2].amount_usd: must be > 0, got -5.0" in errs
    assert any("more than max_usd 575,000,000" in e for e in errs)


def test_invalid_json_and_schema(tmp_path, terawulf):
    bad = tmp_path / "p.json"
    bad.write_text("{ not json")
    with pytest.raises(PlanError) as e:
        read_plan(bad, terawulf)
    assert "invalid JSON" in str(e.value)
    errs = _errors({"schema": 2, "decisions": []}, terawulf)
    assert errs == ["schema: must be 1, got 2"]


def test_document_round_trips(terawulf):
    spec = read_plan(ROOT / "instances/plans/terawulf-fluidstack.json", terawulf)
    doc = plan_document(terawulf, spec.actions, spec.quantities, spec.financing)
    again = parse_plan(json.loads(json.dumps(doc)), terawulf)
    assert again.actions == spec.actions and again.quantities == spec.quantities
    assert sorted(again.financing) == sorted(spec.financing)
    # the reader's net cost per $ is written and accepted back (it is not read)
    assert doc["financing"] and all(
        f["net_cost_per_usd"] == cost_breakdown(terawulf, f["instrument"], parse_month(f["start"])).net
        for f in doc["financing"])
