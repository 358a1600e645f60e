"""Risk statistics against hand-computed cases, brute force and the Rockafellar-Uryasev
variational formula."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from wattfolio.gpu.backend import to_host
from wattfolio.gpu.risk import cvar, mean_and_se, prob_loss, quantiles, summary, tail_weights, var

# The five values -10, -5, 0, 5, 10, deliberately out of order (indices 0..4).
V5 = [5.0, -10.0, 10.0, 0.0, -5.0]


@pytest.mark.parametrize(
    "alpha, expected_cvar, expected_var",
    [
        # n = 0.4 * 5 = 2 (integer): mean of the 2 worst = (-10 - 5) / 2 = -7.5; VaR = 2nd worst.
        (0.6, -7.5, -5.0),
        # n = 0.5 * 5 = 2.5: k = 2, frac = 0.5 -> (-10 - 5 + 0.5 * 0) / 2.5 = -6; VaR = 3rd worst.
        (0.5, -6.0, 0.0),
        # n = 0.3 * 5 = 1.5 (0.30000000000000004 * 5 in floating point):
        # (-10 + 0.5 * -5) / 1.5 = -12.5 / 1.5 = -8.333...; VaR = 2nd worst.
        (0.7, -12.5 / 1.5, -5.0),
        # n = 0.1 * 5 = 0.5 < 1: only the worst scenario, at weight 0.5 / 0.5 -> -10.
        (0.9, -10.0, -10.0),
        # alpha = 0: n = 5, the whole distribution -> the mean 0; VaR is the largest value.
        (0.0, 0.0, 10.0),
    ],
)
def test_cvar_and_var_hand_cases(alpha: float, expected_cvar: float, expected_var: float) -> None:
    assert cvar(V5, alpha) == pytest.approx(expected_cvar, abs=1e-12)
    assert var(V5, alpha) == expected_var


def test_tail_weights_hand_case(xp_backends) -> None:
    xp = xp_backends.xp
    # alpha = 0.5, n = 2.5: 1/2.5 = 0.4 on -10 (index 1) and -5 (index 4), 0.5/2.5 = 0.2 on 0
    # (index 3), nothing on 5 and 10.
    w = to_host(tail_weights(xp.asarray(V5), 0.5))
    np.testing.assert_allclose(w, [0.0, 0.4, 0.0, 0.2, 0.4], rtol=0, atol=1e-15)
    assert float(w @ np.array(V5)) == pytest.approx(-6.0, abs=1e-12)


def test_tail_weights_ties_are_stable() -> None:
    # n = 0.5 * 4 = 2 among four equal values: the first two indices carry the weight.
    w = tail_weights(np.ones(4), 0.5)
    np.testing.assert_array_equal(w, [0.5, 0.5, 0.0, 0.0])


def test_alpha_rounding_on_1000_scenarios() -> None:
    # (1 - 0.95) * 1000 = 50.00000000000004 in floating point; it must count as exactly 50.
    v = np.arange(1000, dtype=np.float64) - 500.0  # -500 .. 499
    # Worst 50: -500 .. -451, mean (-500 - 451) / 2 = -475.5; VaR is the 50th worst, -451.
    assert cvar(v, 0.95) == pytest.approx(-475.5, abs=1e-9)
    assert var(v, 0.95) == -451.0
    w = tail_weights(v, 0.95)
    assert int(np.count_nonzero(w)) == 50
    np.testing.assert_array_equal(w[:50], np.full(50, 1 / 50))


def test_cvar_matches_replication_brute_force() -> None:
    # Replicating every scenario m times turns the fractional tail n = (1 - alpha) S into the
    # integer n m: then CVaR is plainly the mean of the n m smallest replicated values.
    rng = np.random.default_rng(5)
    for s, alpha, m in [(7, 0.9, 10), (13, 0.75, 4), (40, 0.95, 1), (9, 0.55, 20), (25, 0.99, 4)]:
        v = rng.normal(size=s) * 1e6
        tail = round((1 - alpha) * s * m)
        brute = np.sort(np.repeat(v, m))[:tail].mean()
        assert cvar(v, alpha) == pytest.approx(brute, rel=1e-12, abs=1e-6)


def test_rockafellar_uryasev_variational_form() -> None:
    # Lower-tail CVaR = max_t { t - E[(t - V)^+] / (1 - alpha) }; the objective is concave and
    # piecewise linear in t with kinks at the data, so the max over the data is exact, and
    # VaR is a maximiser.
    rng = np.random.default_rng(8)
    for s, alpha in [(50, 0.9), (101, 0.95), (37, 0.8), (200, 0.97)]:
        v = rng.standard_t(3, size=s)
        f = [t - np.maximum(t - v, 0).mean() / (1 - alpha) for t in v]
        assert cvar(v, alpha) == pytest.approx(max(f), rel=1e-10, abs=1e-12)
        t = var(v, alpha)
        assert t - np.maximum(t - v, 0).mean() / (1 - alpha) == pytest.approx(max(f), abs=1e-10)


def test_tail_weights_give_valid_cvar_cuts() -> None:
    # At the plan that generated them the cut is exact; at any other plan it can only
    # overestimate CVaR (CVaR is the minimum over the weights of its risk envelope), which is
    # what makes it a valid outer cut.
    rng = np.random.default_rng(21)
    npv = rng.normal(size=(4, 300)) + rng.normal(size=(4, 1))
    q = rng.uniform(0, 1, size=4)
    w = tail_weights(q @ npv, 0.9)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-12)
    coef = w @ npv.T
    assert coef @ q == pytest.approx(cvar(q @ npv, 0.9), abs=1e-10)
    for _ in range(50):
        q2 = rng.uniform(0, 1, size=4)
        assert coef @ q2 >= cvar(q2 @ npv, 0.9) - 1e-10


def test_tail_weights_sum_and_reproduce_cvar_random(xp_backends) -> None:
    xp = xp_backends.xp
    rng = np.random.default_rng(2)
    for s, alpha in [(1000, 0.95), (333, 0.9), (10, 0.97), (1, 0.5)]:
        v = rng.normal(size=s)
        w = to_host(tail_weights(xp.asarray(v), alpha))
        assert np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-12)
        assert float(w @ v) == pytest.approx(cvar(xp.asarray(v), alpha), abs=1e-12)


def test_quantiles_hand_and_numpy() -> None:
    # Linear interpolation on 0, 10, 20, 30, 40: q = 0.25 sits at position 0.25 * 4 = 1 -> 10;
    # q = 0.1 at position 0.4 -> 0.4 * 10 = 4; q = 0.995 at 3.98 -> 30 + 0.98 * 10 = 39.8.
    got = quantiles([40.0, 0.0, 30.0, 10.0, 20.0], (0.1, 0.25, 0.995))
    assert got == pytest.approx({"p10": 4.0, "p25": 10.0, "p99.5": 39.8})
    v = np.random.default_rng(4).lognormal(size=2001)
    qs = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    got = quantiles(v, qs)
    assert list(got) == ["p01", "p05", "p25", "p50", "p75", "p95", "p99"]
    np.testing.assert_allclose(list(got.values()), np.percentile(v, [100 * q for q in qs]),
                               rtol=1e-12)


def test_prob_loss_and_mean_se() -> None:
    # Two of four scenarios are below zero; a zero NPV is not a loss.
    assert prob_loss([-1.0, 0.0, 2.0, -3.0]) == 0.5
    # Mean 2.5; sample variance ((1.5^2 + 0.5^2) * 2) / 3 = 5/3; s.e. sqrt(5/3) / sqrt(4).
    mean, se = mean_and_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and se == pytest.approx(math.sqrt(5 / 3) / 2, rel=1e-14)
    mean, se = mean_and_se([7.0])
    assert mean == 7.0 and math.isnan(se)


def test_summary(xp_backends) -> None:
    xp = xp_backends.xp
    v = xp.asarray(np.arange(1000, dtype=np.float64) - 500.0)
    out = summary(v, 0.95)
    assert set(out) == {"expected_npv_usd", "expected_npv_se_usd", "cvar_usd", "alpha",
                        "prob_loss", "npv_quantiles_usd", "scenarios"}
    assert out["expected_npv_usd"] == -0.5            # mean of -500 .. 499
    assert out["cvar_usd"] == pytest.approx(-475.5)   # mean of -500 .. -451
    assert out["prob_loss"] == 0.5                    # -500 .. -1: 500 of 1000
    assert out["scenarios"] == 1000 and out["alpha"] == 0.95
    # p50 of -500 .. 499 at position 499.5 -> -0.5; p05 at 49.95 -> -450.05.
    assert out["npv_quantiles_usd"]["p50"] == pytest.approx(-0.5)
    assert out["npv_quantiles_usd"]["p05"] == pytest.approx(-450.05)
    # Sample variance (ddof 1) of N consecutive integers is N (N + 1) / 12, so the standard
    # error is sqrt(1000 * 1001 / 12) / sqrt(1000) = sqrt(1001 / 12).
    assert out["expected_npv_se_usd"] == pytest.approx(math.sqrt(1001 / 12), rel=1e-12)
    json.dumps(out)  # plain python types only
    assert all(type(x) is float for x in out["npv_quantiles_usd"].values())


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"alpha: must be in \[0, 1\), got 1.0"):
        cvar(V5, 1.0)
    with pytest.raises(ValueError, match=r"alpha: must be in \[0, 1\), got -0.1"):
        tail_weights(V5, -0.1)
    with pytest.raises(ValueError, match=r"values: must be a 1-D array .* got shape \(2, 2\)"):
        cvar(np.zeros((2, 2)), 0.9)
    with pytest.raises(ValueError, match="values: must hold at least one scenario, got 0"):
        summary(np.zeros(0), 0.9)
    with pytest.raises(ValueError, match=r"values\[2\]: must be finite, got nan"):
        prob_loss([1.0, 2.0, float("nan")])
    with pytest.raises(ValueError, match=r"qs\[1\]: must be in \[0, 1\], got 5.0"):
        quantiles(V5, (0.5, 5.0))


@pytest.mark.parametrize("n", [1, 7, 1000, 2023])
def test_summary_equals_the_figure_functions_bit_for_bit(xp_backends, n) -> None:
    """summary computes everything in one pass and one transfer; each figure is exactly
    what its own function gives."""
    xp = xp_backends.xp
    v = xp.asarray(np.random.default_rng(n).normal(100.0, 50.0, size=n))
    for alpha in (0.0, 0.9, 0.95, 0.99):
        out = summary(v, alpha)
        mean, se = mean_and_se(v)
        assert out["expected_npv_usd"] == mean and out["cvar_usd"] == cvar(v, alpha)
        assert (math.isnan(se) and math.isnan(out["expected_npv_se_usd"])) or out["expected_npv_se_usd"] == se
        assert out["prob_loss"] == prob_loss(v) and out["npv_quantiles_usd"] == quantiles(v)


def test_summary_names_a_non_finite_scenario() -> None:
    with pytest.raises(ValueError, match=r"values\[3\]: must be finite, got inf"):
        summary(np.array([1.0, 2.0, 3.0, np.inf]), 0.9)


def test_path_figures_equal_numpy_percentiles_and_breaches(xp_backends) -> None:
    from wattfolio.gpu.risk import path_figures

    rng = np.random.default_rng(2)
    paths = np.cumsum(rng.normal(0.0, 10.0, size=(501, 36)), axis=1) + 40.0
    bands, shares = path_figures(xp_backends.xp.asarray(paths), (5, 25, 50, 75, 95), (0.0, 40.0))
    np.testing.assert_allclose(bands, np.percentile(paths, [5, 25, 50, 75, 95], axis=0), rtol=1e-13, atol=0)
    assert shares.tolist() == [float(np.mean((paths < f).any(axis=1))) for f in (0.0, 40.0)]
    assert path_figures(paths, [50])[1].shape == (0,)
