"""The efficient frontier: against brute force on a hand-built table, and its shape on tiny."""
from __future__ import annotations

import itertools
import json
from argparse import Namespace

import numpy as np
import pytest

from wattfolio.gpu.value_table import ValueTable
from wattfolio.planning.catalog import build_catalog
from wattfolio.analysis.frontier import frontier
from wattfolio.cli.analysis_commands import frontier_command
from wattfolio.instance.types import Finance, Instance, Plan, Risk, Sale, Site, parse_month
from wattfolio.instance.load import load_instance
from wattfolio.run import plan_instance
from wattfolio.mip.solve import Fix

START = parse_month("2026-01")
S, ALPHA = 200, 0.9          # tail = 20 scenarios exactly


def sale_instance() -> Instance:
    """Three sites, each may be sold in month 0 or 6 (or kept): 27 plans."""
    sites = tuple(Site(id=f"s{i}", market="m", status="operating", use="mining", capacity_mw=10.0,
                       sale=Sale(1e6, 2e6, 3e6, 0.9, 3)) for i in range(3))
    plan = Plan(name="sales", start=START, horizon_years=1, decision_step_months=6,
                discount_rate=0.1, scenarios=S, seed=1)
    return Instance(plan=plan, risk=Risk(ALPHA, None, 0.0), bitcoin=None, markets=(),
                    hpc_market=None, sites=sites, finance=Finance(cash_usd=1e12))


def sale_table(n_actions: int, seed: int = 3) -> ValueTable:
    # each action trades expected value for tail risk differently: mean up, spread up
    rng = np.random.default_rng(seed)
    mean = rng.uniform(-1.0, 4.0, n_actions)[:, None] * 1e6
    spread = rng.uniform(0.5, 6.0, n_actions)[:, None] * 1e6
    npv = mean + spread * rng.standard_normal((n_actions, S))
    return ValueTable(npv=npv, baseline_npv=rng.normal(5e6, 1e6, S), cash=np.zeros((n_actions, 12)),
                      baseline_cash=np.zeros(12), xp=np, backend="numpy")


def brute_force(catalog, vt: ValueTable):
    """(E, CVaR) of every plan: per site keep, or one of its sell actions."""
    by_site: dict[str, list[int]] = {}
    for a in catalog:
        by_site.setdefault(a.site, []).append(a.index)
    out = []
    for choice in itertools.product(*[[None] + idx for idx in by_site.values()]):
        v = vt.baseline_npv + sum(vt.npv[i] for i in choice if i is not None)
        tail = np.sort(v)[: int(round((1 - ALPHA) * S))]
        out.append((float(v.mean()), float(tail.mean())))
    return out


def test_frontier_matches_brute_force():
    inst = sale_instance()
    catalog = build_catalog(inst)
    assert len(catalog) == 6
    vt = sale_table(len(catalog))
    rows = frontier(inst, points=6, scenarios=S, value_table=vt)
    plans = brute_force(catalog, vt)
    best_cvar = max(c for _, c in plans)
    assert rows[-1]["cvar_usd"] == pytest.approx(best_cvar, rel=1e-6)
    assert rows[0]["expected_npv_usd"] == pytest.approx(max(e for e, _ in plans), rel=1e-9)
    for r in rows:
        best = max(e for e, c in plans if c >= r["floor_usd"] - 1e-6 * abs(r["floor_usd"]))
        assert r["expected_npv_usd"] == pytest.approx(best, rel=1e-4)
        assert r["cvar_usd"] >= r["floor_usd"] - 1e-6 * abs(r["floor_usd"])


@pytest.fixture(scope="module")
def tiny_rows():
    inst = load_instance("instances/tiny.toml")
    return inst, frontier(inst, points=5, scenarios=400)


def test_tiny_frontier_is_monotone_and_starts_risk_neutral(tiny_rows):
    inst, rows = tiny_rows
    assert len(rows) == 5
    floors = [r["floor_usd"] for r in rows]
    assert floors == sorted(floors)
    for a, b in zip(rows, rows[1:]):
        # a tighter floor never raises E[NPV] (up to the MIP gap 1e-4)
        assert b["expected_npv_usd"] <= a["expected_npv_usd"] + 1e-4 * abs(a["expected_npv_usd"])
    for r in rows:
        assert r["cvar_usd"] >= r["floor_usd"] - 1e-6 * abs(r["floor_usd"])
    rn = plan_instance(inst, scenarios=400)
    assert rows[0]["decisions"] == rn.document["decisions"]
    assert rows[0]["expected_npv_usd"] == pytest.approx(rn.stats["expected_npv_usd"], rel=1e-12)
    assert rows[0]["cvar_usd"] == pytest.approx(rn.stats["cvar_usd"], rel=1e-12)


def test_changed_replays_the_decisions(tiny_rows):
    _, rows = tiny_rows
    held: dict[tuple, dict] = {}
    for r in rows:
        for c in r["changed"]:
            key = (c["site"], c["action"], c["start"], c.get("lease"))
            if c["change"] == "removed":
                del held[key]
            else:
                held[key] = {k: v for k, v in c.items() if k not in ("change", "mw_before")}
        assert sorted(held.values(), key=str) == sorted(r["decisions"], key=str)


def test_frontier_honours_fixes_and_command_writes_files(tmp_path):
    inst = load_instance("instances/tiny.toml")
    args = Namespace(out=str(tmp_path), points=3, scenarios=300, seed=None, backend="numpy",
                     chunk=None, fix=[], forbid=["shell=convert"])
    assert frontier_command(args, inst) == 0
    doc = json.loads((tmp_path / "frontier.json").read_text())
    assert len(doc["points"]) == 3 and doc["fixes"] == ["forbid shell=convert"]
    for p in doc["points"]:
        assert not any(d["site"] == "shell" and d["action"] == "convert" for d in p["decisions"])
    csv = (tmp_path / "frontier.csv").read_text().splitlines()
    assert csv[0].startswith("floor_usd,expected_npv_usd") and len(csv) == 4
    # the same rows from the function with the same fix
    rows = frontier(inst, points=3, scenarios=300, fixes=[Fix("shell", "convert", forbid=True)])
    assert [r["expected_npv_usd"] for r in rows] == pytest.approx([p["expected_npv_usd"] for p in doc["points"]])


def test_points_must_be_at_least_two():
    with pytest.raises(ValueError, match="points: must be >= 2"):
        frontier(load_instance("instances/tiny.toml"), points=1, scenarios=10)


def test_liquidity_frontier_never_rises_and_keeps_the_floor():
    """With a liquidity floor every point is a full planning solve: a tighter CVaR floor
    never raises E[NPV] (the first build's points ignored liquidity after the first and
    rose above the risk-neutral plan), and each point meets its CVaR floor."""
    inst = load_instance("instances/vivopower.toml")
    assert inst.risk.liquidity_probability is not None
    rows = frontier(inst, points=3, scenarios=1000)
    for a, b in zip(rows, rows[1:]):
        assert b["expected_npv_usd"] <= a["expected_npv_usd"] + 1e-4 * abs(a["expected_npv_usd"])
        assert b["cvar_usd"] >= b["floor_usd"] - 1e-6 * abs(b["floor_usd"])
