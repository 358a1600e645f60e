"""Sensitivity: signs known from the economics, exact linearity where the model is linear in
the input, and a bisected flip threshold checked by re-solving on either side of it."""
from __future__ import annotations

import json
from argparse import Namespace
from dataclasses import replace

import pytest

from wattfolio.instance.load import load_instance
from wattfolio.run import plan_instance
from wattfolio.analysis.sensitivity import KNOBS, knob, sensitivity, strategy
from wattfolio.cli.analysis_commands import sensitivity_command

N = 300


@pytest.fixture(scope="module")
def tiny():
    return load_instance("instances/tiny.toml")


@pytest.fixture(scope="module")
def tiny_plan(tiny):
    return plan_instance(tiny, scenarios=N)


def test_signs_and_linearity_for_a_converting_plan(tiny, tiny_plan):
    assert any(a.kind == "convert" for a in tiny_plan.actions)
    rows = {r["input"]: r for r in sensitivity(tiny, tiny_plan, scenarios=N, replan=False,
                                               inputs=["hpc_rent", "capex", "discount_rate"])}
    rent, capex, rate = rows["hpc_rent"], rows["capex"], rows["discount_rate"]
    assert rent["npv_high_usd"] > rent["base_npv_usd"] > rent["npv_low_usd"]
    assert capex["npv_high_usd"] < capex["base_npv_usd"] < capex["npv_low_usd"]
    assert rate["npv_high_usd"] < rate["base_npv_usd"] < rate["npv_low_usd"]
    # rent and capex enter the cash flows linearly (tiny has no backstop to cap), so the
    # plan's NPV is affine in their multipliers: the base sits at the midpoint of 0.8, 1.2
    for r in (rent, capex):
        mid = 0.5 * (r["npv_low_usd"] + r["npv_high_usd"])
        assert r["base_npv_usd"] == pytest.approx(mid, rel=1e-9)
    # without re-planning nothing flips
    assert not any(r["flips_low"] or r["flips_high"] for r in rows.values())
    # the base is the plan's own in-sample E[NPV] (same scenarios and seed)
    assert rent["base_npv_usd"] == pytest.approx(tiny_plan.stats["expected_npv_usd"], rel=1e-12)


def test_flip_threshold_lies_between_settings_that_differ(tiny, tiny_plan):
    (row,) = sensitivity(tiny, tiny_plan, scenarios=N, inputs=["btc_price"], bisect_steps=4)
    # cheaper bitcoin makes mining worth less than a buyer pays for the site: sell it
    assert row["flips_low"] and not row["flips_high"]
    assert ("mine", "sell", None) in strategy(row["plan_at_low"])
    same, differs = row["bracket_low"]
    assert row["low"] <= differs < row["threshold_low"] < same <= 1.0
    assert same - differs == pytest.approx((1.0 - row["low"]) / 2 ** 4)
    assert row["threshold"] == row["threshold_low"]
    k = knob("btc_price")
    reference = strategy(tiny_plan.document["decisions"])

    def plan_at(x):
        return strategy(plan_instance(k.apply(tiny, x), scenarios=N).document["decisions"])

    eps = 0.5 * (same - differs)
    assert plan_at(row["threshold_low"] + eps) == reference
    assert plan_at(row["threshold_low"] - eps) != reference
    assert strategy(row["plan_at_low"]) == plan_at(row["low"])


def test_every_knob_moves_its_input(tiny):
    # tiny's network is economic; the growth knob is checked on its exogenous twin
    b = tiny.bitcoin
    exogenous = replace(tiny, bitcoin=replace(b, hashrate_growth=0.2, marginal_efficiency_j_per_th=None,
                                              marginal_power_usd_per_mwh=None,
                                              hashrate_adjustment_speed=None))
    for k in KNOBS:
        inst = tiny if k.applies(tiny) else exogenous
        assert k.applies(inst), k.name
        lo, hi = k.apply(inst, k.low), k.apply(inst, k.high)
        assert lo != inst and hi != inst, k.name
        assert k.apply(inst, k.base) == inst, k.name
    with pytest.raises(ValueError, match="unknown sensitivity input 'nope'"):
        knob("nope")


def test_command_writes_json_and_csv(tiny, tmp_path):
    args = Namespace(out=str(tmp_path), scenarios=200, seed=None, backend="numpy", chunk=None,
                     fix=[], forbid=[], no_replan=True)
    assert sensitivity_command(args, tiny) == 0
    doc = json.loads((tmp_path / "sensitivity.json").read_text())
    assert {r["input"] for r in doc["inputs"]} == {k.name for k in KNOBS if k.applies(tiny)}
    swings = [r["swing_usd"] for r in doc["inputs"]]
    assert swings == sorted(swings, reverse=True)
    assert (tmp_path / "sensitivity.csv").read_text().startswith("input,label,unit")
