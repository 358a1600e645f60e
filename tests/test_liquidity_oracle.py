"""The liquidity oracle's cuts against the figures they linearise: the floor cut holds
with equality at the plan it was cut at, the revolver-cost tangent touches the cost there
and stays below it elsewhere (the cost is convex in the plan), and valuing the plan in
scenario blocks changes nothing."""
from __future__ import annotations

import numpy as np
import pytest

from wattfolio.instance.load import load_instance
from wattfolio.mip.model import PlanModel
from wattfolio.planning import blocks
from wattfolio.planning.catalog import build_catalog
from wattfolio.planning.liquidity import LiquidityOracle
from wattfolio.planning.valuation import value_actions


@pytest.fixture(scope="module")
def oracle():
    inst = load_instance("instances/terawulf.toml").with_plan(scenarios=300)
    acts = build_catalog(inst)
    vt = value_actions(inst, acts, backend="numpy")
    pm = PlanModel(inst, acts, vt)
    orc = LiquidityOracle(inst, acts, pm.draws, backend="numpy")
    conv = [i for i, a in enumerate(acts) if a.kind == "convert"]
    q = np.zeros(len(acts))
    q[conv[:3]] = [120.0, 40.0, 25.0]
    d = np.zeros(len(pm.draws))
    d[:3] = [4e8, 3e8, 3e8]
    return orc, q, d, conv


def test_floor_cut_is_tight_at_its_plan(oracle):
    orc, q, d, _ = oracle
    pt = orc.point(q, d)
    assert pt.tail_mean_usd > 0          # the plan falls short somewhere: a cut exists
    cq, cd, const = orc.liquidity_cut(pt)
    lhs = cq @ q + cd @ d + const
    # sum over the tail of headroom - min at each scenario's worst month = -sum of shortfalls
    assert lhs == pytest.approx(-pt.shortfall[pt.tail].sum(), rel=1e-9, abs=1.0)


def test_cost_tangent_touches_and_stays_below(oracle):
    orc, q, d, conv = oracle
    pt = orc.point(q, d)
    assert pt.cost_usd > 0
    cq, cd, const = orc.cost_cut(pt)
    assert cq @ q + cd @ d + const == pytest.approx(pt.cost_usd, rel=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(3):
        q2 = q.copy()
        q2[conv[:3]] *= rng.uniform(0.5, 1.5, 3)
        d2 = d * rng.uniform(0.5, 1.5, d.size)
        true = orc.point(q2, d2).cost_usd
        assert cq @ q2 + cd @ d2 + const <= true * (1 + 1e-9) + 1.0


def test_blocks_change_nothing(oracle, monkeypatch):
    orc, q, d, _ = oracle
    whole = orc.point(q, d)
    monkeypatch.setattr(blocks, "BLOCK_SCENARIOS", 64)
    blocked = orc.point(q, d)
    assert np.array_equal(blocked.shortfall, whole.shortfall)
    assert np.array_equal(blocked.worst, whole.worst)
    assert np.array_equal(blocked.cost_active, whole.cost_active)
    assert blocked.cost_usd == pytest.approx(whole.cost_usd, rel=1e-12)
    np.testing.assert_allclose(orc.cost_cut(blocked)[0], orc.cost_cut(whole)[0], rtol=1e-12)
