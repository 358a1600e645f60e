"""mpi-sppy's extensive form over `wattfolio.mip.scenarios.scenario_creator` reaches the
same optimum as wattfolio's own solve: risk-neutral, and with mpi-sppy's CVaR transform
against weight mode at the same weight and level (to 1e-6 relative). The EF's plan is a
plan wattfolio accepts (`planning.rules.violations`) and values the same.

Skipped where mpi-sppy is not installed (``pip install wattfolio[mpisppy]``).
"""
from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("mpisppy", reason="mpi-sppy is not installed (pip install 'wattfolio[mpisppy]')")

from mpisppy.opt.ef import ExtensiveForm  # noqa: E402

from wattfolio.instance.load import load_instance, parse_instance  # noqa: E402
from wattfolio.instance.synth import synth_instance  # noqa: E402
from wattfolio.instance.types import month_str, parse_month  # noqa: E402
from wattfolio.mip.build import SCALE  # noqa: E402
from wattfolio.mip.cvar import CutEngine  # noqa: E402
from wattfolio.mip.model import PlanModel  # noqa: E402
from wattfolio.mip.scenarios import (kw_creator, root_plan, scenario_creator,  # noqa: E402
                                     scenario_names_creator)
from wattfolio.mip.solve import solve  # noqa: E402
from wattfolio.planning.catalog import build_catalog  # noqa: E402
from wattfolio.planning.finance import expected_cash_rows  # noqa: E402
from wattfolio.planning.rules import violations  # noqa: E402
from wattfolio.planning.valuation import value_actions  # noqa: E402

# mpi-sppy builds the EF in Pyomo and hands it to this solver: "highs" is the same
# pyomo.contrib.solver HiGHS interface wattfolio uses ("appsi_highs" works too)
SOLVER = "highs"
GAP = 1e-9
RTOL = 1e-6


def tiny():
    return load_instance("instances/tiny.toml").with_plan(scenarios=60, hours_per_month=4)


def tiny_blocks():
    """tiny with both sites built in 5 MW blocks: the block counts are first-stage too."""
    d = tomllib.loads(Path("instances/tiny.toml").read_text())
    for site in d["sites"]:
        site["hpc"]["block_mw"] = 5.0
    return parse_instance(d).with_plan(scenarios=60, hours_per_month=4)


def synthetic():
    """Three synthetic sites (two mining, one to develop), all three instruments, over four
    years so that the 50-scenario EF stays small."""
    d = synth_instance(3, 2, scenarios=50, hours_per_month=2)
    d["plan"]["horizon_years"] = 4
    last = month_str(parse_month(d["plan"]["start"]) + 47)
    for k in d["finance"]["instruments"]:
        k["issue_by"] = min(k["issue_by"], last)
    return parse_instance(d)


@pytest.fixture(scope="module", params=["tiny", "tiny_blocks", "synthetic"])
def case(request):
    inst = {"tiny": tiny, "tiny_blocks": tiny_blocks, "synthetic": synthetic}[request.param]()
    catalog = build_catalog(inst)
    return inst, catalog, value_actions(inst, catalog, backend="numpy")


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_extensive_form_matches_wattfolio(case, weight):
    inst, catalog, vt = case
    kw = kw_creator(inst, catalog, vt, cvar_weight=weight)
    ef = ExtensiveForm({"solver": SOLVER}, scenario_names_creator(vt.n_scenarios),
                       scenario_creator, scenario_creator_kwargs=kw)
    res = ef.solve_extensive_form(solver_options={"mip_rel_gap": GAP})
    assert str(res.solver.termination_condition) == "optimal"
    ef_obj = ef.get_objective_value() * SCALE

    ours = solve(replace(inst, risk=replace(inst.risk, weight=weight)), catalog, vt, gap=GAP)
    assert ours.status == "optimal"
    assert ef_obj == pytest.approx(ours.objective, rel=RTOL)

    # the EF's first stage is a plan wattfolio accepts and values at the EF's objective
    q, d = root_plan(ef.local_scenarios["scen0"], kw["data"])
    pm = PlanModel(inst, catalog, vt, weight=weight)
    taken = [a for a in catalog if q[a.index] > 0]
    draws = [(k.instrument, float(v), k.month) for k, v in zip(pm.draws, d) if v > 0]
    assert violations(inst, taken, [float(q[a.index]) for a in taken], draws,
                      cash=expected_cash_rows(inst, vt)) == []
    ev = CutEngine(pm, inst.risk.alpha, None).score(q, d)
    assert ev.objective == pytest.approx(ef_obj, rel=RTOL)


def test_scenario_model_is_one_scenario():
    inst = tiny().with_plan(scenarios=8)
    catalog = build_catalog(inst)
    vt = value_actions(inst, catalog, backend="numpy")
    kw = kw_creator(inst, catalog, vt)
    m = scenario_creator("scen3", **kw)
    assert m._mpisppy_probability == pytest.approx(1 / 8)
    root = m._mpisppy_node_list[0]
    assert root.name == "ROOT" and len(root.nonant_vardata_list) == len(m.x) + len(m.q) + len(m.D)
    blocks = tiny_blocks().with_plan(scenarios=8)
    kw = kw_creator(blocks, build_catalog(blocks), value_actions(blocks, build_catalog(blocks),
                                                                  backend="numpy"))
    m = scenario_creator("scen3", **kw)
    nonants = {id(v) for v in m._mpisppy_node_list[0].nonant_vardata_list}
    assert len(m.n) == len(m.q) > 0 and all(id(v) in nonants for v in m.n.values())
    assert scenario_names_creator(3, start=2) == ["scen2", "scen3", "scen4"]
    with pytest.raises(ValueError):
        scenario_creator("scen8", **kw)
