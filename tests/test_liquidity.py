"""The revolver rule against a hand-computed path, and the worst-month shortfall."""
from __future__ import annotations

import numpy as np
import pytest

from wattfolio.gpu.liquidity import Revolver, revolver_paths, worst_month


def test_revolver_path_by_hand():
    """Opening cash 10, minimum 5, a 20 facility at 12% (1%/month) with a 1.2% commitment
    fee (0.1%/month) closing in month 4; net flows -8, -10, +4, +20, -3. Worked by hand:

    m0: 10-8 = 2; fee 20x0.001 = 0.02 -> 1.98; draw 3.02 -> cash 5, drawn 3.02
    m1: 5-10 = -5; 3.02x0.01 + 16.98x0.001 = 0.04718 -> -5.04718; draw 10.04718 -> 5, 13.06718
    m2: 5+4 = 9; 0.1306718 + 0.00693282 = 0.13760462 -> 8.86239538; repay 3.86239538 -> 5, 9.20478462
    m3: 5+20 = 25; 0.0920478462 + 0.01079521538 = 0.10284306158 -> 24.89715693842;
        repay 9.20478462 -> 15.69237231842, drawn 0
    m4 (maturity, closed): 15.69237231842 - 3 = 12.69237231842
    """
    flows = np.array([[-8.0, -10.0, 4.0, 20.0, -3.0]])
    rv = Revolver(limit_usd=20.0, rate=0.12, commitment_fee=0.012, maturity=4)
    p = revolver_paths(np, flows, 10.0, 5.0, rv)
    np.testing.assert_allclose(p.cash[0], [5, 5, 5, 15.69237231842, 12.69237231842], rtol=1e-12)
    np.testing.assert_allclose(p.drawn[0], [3.02, 13.06718, 9.20478462, 0, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p.interest[0], [0.02, 0.04718, 0.13760462, 0.10284306158, 0], rtol=1e-12)
    np.testing.assert_allclose(p.headroom[0], [21.98, 11.93282, 15.79521538, 35.69237231842,
                                               12.69237231842], rtol=1e-12)


def test_exhausted_revolver_leaves_cash_short_and_maturity_repays():
    flows = np.array([[-30.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    rv = Revolver(limit_usd=10.0, rate=0.0, commitment_fee=0.0, maturity=2)
    p = revolver_paths(np, flows, 10.0, 5.0, rv)
    # scenario 0: -20 after the flow, the whole 10 drawn, still 15 short of 5
    np.testing.assert_allclose(p.cash[0], [-10.0, -10.0, -20.0])
    np.testing.assert_allclose(p.headroom[0], [-10.0, -10.0, -20.0])
    short, month = worst_month(np, p.headroom, 5.0)
    # scenario 1: headroom 11+10, 12+10, then 13 once the facility has closed
    np.testing.assert_allclose(short, [25.0, -8.0])
    assert list(month) == [2, 2]
    # without a facility cash is the running sum
    none = revolver_paths(np, flows, 10.0, 5.0, Revolver())
    np.testing.assert_allclose(none.cash, 10.0 + np.cumsum(flows, axis=1))
    np.testing.assert_allclose(none.drawn, 0.0)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_scenarios_are_independent(split):
    rng = np.random.default_rng(3)
    flows = rng.normal(0, 5, (7, 24))
    rv = Revolver(limit_usd=12.0, rate=0.08, commitment_fee=0.005, maturity=18)
    whole = revolver_paths(np, flows, 3.0, 2.0, rv)
    parts = [revolver_paths(np, f, 3.0, 2.0, rv) for f in np.array_split(flows, split)]
    np.testing.assert_array_equal(whole.cash, np.vstack([p.cash for p in parts]))
