"""A plan valued in scenario blocks (`plan_value.value_plan`, `planning.cash_reduce`): the
same samples bit for bit, the same shares and peaks, percentiles within their stated
bound of the exact ones, and memory that does not grow with the scenario count."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from wattfolio.instance.load import load_instance
from wattfolio.planning import blocks
from wattfolio.plan_value import value_plan
from wattfolio.run import plan_instance


@pytest.fixture(scope="module")
def planned():
    inst = load_instance("instances/terawulf.toml").with_plan(scenarios=400)
    # a fixed plan is enough: the reducer only sees its cash
    res = plan_instance(inst.with_plan(scenarios=400), backend="numpy")
    return inst, res.spec


def _blocked(monkeypatch, size):
    monkeypatch.setattr(blocks, "BLOCK_SCENARIOS", size)
    monkeypatch.setattr(blocks, "EXACT_SCENARIOS", size)


def test_blocks_match_the_exact_pass(planned, monkeypatch):
    inst, spec = planned
    exact = value_plan(inst, spec, scenarios=400, seed=11, backend="numpy", fan=True)
    assert exact.cash_fan.quantile_error_usd == 0.0
    _blocked(monkeypatch, 96)
    blocked = value_plan(inst, spec, scenarios=400, seed=11, backend="numpy", fan=True)
    # per-scenario NPVs do not depend on the blocks
    assert np.array_equal(blocked.samples, exact.samples)
    le, lb = exact.stats["liquidity"], blocked.stats["liquidity"]
    for key in ("prob_below_min", "prob_cash_below_zero", "peak_revolver_p50_usd", "peak_revolver_p95_usd"):
        assert lb[key] == le[key], key
    assert lb["expected_revolver_cost_usd"] == pytest.approx(le["expected_revolver_cost_usd"], rel=1e-12)
    bound = lb.get("percentile_error_usd", 0.0)
    assert 0.0 < bound < 1e-3 * abs(le["cash_p05_min_usd"]) + 1e7
    assert abs(lb["cash_p05_min_usd"] - le["cash_p05_min_usd"]) <= bound
    assert abs(lb["headroom_p05_usd"] - le["headroom_p05_usd"]) <= bound + 1e-6
    fe, fb = exact.cash_fan, blocked.cash_fan
    assert fb.scenarios == fe.scenarios == 400 and fb.sample == "out-of-sample"
    assert fb.prob_below_min == fe.prob_below_min and fb.prob_below_zero == fe.prob_below_zero
    for p, path in fe.quantiles.items():
        assert np.all(np.abs(fb.quantiles[p] - path) <= fb.quantile_error_usd), p
    # the fan's record carries its bound
    assert fb.to_dict()["quantile_error_usd"] == fb.quantile_error_usd


def test_the_full_cube_when_asked(planned, monkeypatch):
    inst, spec = planned
    _blocked(monkeypatch, 150)
    ev = value_plan(inst, spec, scenarios=400, seed=11, backend="numpy", cash_balance=True)
    assert ev.cash_balance.shape == (400, inst.plan.months)
    assert ev.revolver_drawn.shape == (400, inst.plan.months)
    monkeypatch.undo()
    whole = value_plan(inst, spec, scenarios=400, seed=11, backend="numpy", cash_balance=True)
    assert np.array_equal(ev.cash_balance, whole.cash_balance)


def test_memory_does_not_grow_with_scenarios(planned, monkeypatch):
    """Peak traced memory at 4x the scenarios (both past the exact limit, so both hold the
    fixed-size sketches) stays within the smaller run's peak plus the per-scenario
    samples (8 bytes of NPV, 16 of peaks and costs; 64 allowed) and 8 MiB of slack."""
    inst, spec = planned
    _blocked(monkeypatch, 500)

    def peak(n):
        tracemalloc.start()
        try:
            value_plan(inst, spec, scenarios=n, seed=3, backend="numpy", fan=True)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1000), peak(4000)
    budget = small + 3000 * 64 + 8 * 2**20
    assert large <= budget, (small, large, budget)
