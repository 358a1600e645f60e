"""Streaming per-column quantiles against numpy.quantile: the stated bound (one bin width
where the grid holds both order statistics, an exact wider one where it does not), exact
extremes, exact binning, bit-identical block splits and merges."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wattfolio.gpu.backend import to_host
from wattfolio.gpu.quantiles import ROUNDING, PathQuantiles

QS = [0.0, 0.05, 0.5, 0.95, 1.0]
MORE_QS = QS + [0.01, 0.25, 0.75, 0.99, 0.123456789]


def _sketch(xp, x, first, block, **kw) -> PathQuantiles:
    """Grid from the first `first` rows, the rest in blocks of `block` rows."""
    s = PathQuantiles.from_block(xp, xp.asarray(x[:first]), **kw)
    for i in range(first, len(x), block):
        s.update(xp.asarray(x[i:i + block]))
    return s


def _check(s: PathQuantiles, x: np.ndarray, qs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every estimate is within its bound of numpy.quantile, and the bound is one bin width
    (plus the rounding allowance) wherever the grid holds both order statistics.
    Returns host (values, bounds, inside)."""
    v, b = (to_host(a) for a in s.estimate(qs))
    ref = np.quantile(x, qs, axis=0)
    assert np.all(np.abs(v - ref) <= b), np.max(np.abs(v - ref) - b)
    n, srt = len(x), np.sort(x, axis=0)
    k = np.floor((n - 1) * np.asarray(qs)).astype(int)
    lower, upper, w = to_host(s.lower), to_host(s.upper), to_host(s.width)

    def in_grid(rows):
        vals = srt[rows]
        return (vals >= lower) & (vals < upper)

    inside = in_grid(k) & in_grid(np.minimum(k + 1, n - 1))
    slack = ROUNDING * np.maximum(np.maximum(np.abs(srt[0]), np.abs(srt[-1])), w)
    limit = np.broadcast_to(w * (1 + 1e-12) + slack, b.shape)
    assert np.all(b[inside] <= limit[inside])
    # q = 0 and q = 1 are the exact min and max, bound: the rounding allowance alone
    for i, q in enumerate(qs):
        if q in (0.0, 1.0):
            np.testing.assert_array_equal(v[i], srt[0] if q == 0.0 else srt[-1])
            np.testing.assert_array_equal(b[i], slack)
    return v, b, inside


def test_normal_lognormal_and_paths(xp_backends) -> None:
    xp = xp_backends.xp
    rng = np.random.default_rng(1)
    n = 6000
    x = np.column_stack([
        rng.standard_normal(n),
        3e6 + 2e5 * rng.standard_normal(n),                    # cash-like level and spread
        rng.lognormal(0.0, 1.0, n),
        -rng.lognormal(10.0, 0.8, n),
        rng.standard_normal((n, 4)).cumsum(axis=1),            # a short random-walk path
    ])
    s = _sketch(xp, x, 1024, 1000)
    v, b, inside = _check(s, x, MORE_QS)
    assert inside.all()           # 6000 draws stay inside a grid of three first-block spans
    assert int(to_host(s.underflow).sum() + to_host(s.overflow).sum()) == 0
    # and the estimates are useful: well inside one bin width of NumPy's quantiles
    w = to_host(s.width)
    assert np.all(np.abs(v - np.quantile(x, MORE_QS, axis=0)) <= w)
    # the grid is exact binary: widths are powers of two, edges integer multiples
    mant, _ = np.frexp(w)
    assert np.all(mant == 0.5)
    assert np.all(to_host(s.start) == np.floor(to_host(s.start)))
    span = x[:1024].max(axis=0) - x[:1024].min(axis=0)
    assert np.all(to_host(s.lower) <= x[:1024].min(axis=0) - span)
    assert np.all(to_host(s.upper) >= x[:1024].max(axis=0) + span)
    assert np.all(w <= 2 * 3 * span / (s.bins - 1) * (1 + 1e-12))


@pytest.mark.parametrize("bins", [16, 2 ** 14])
def test_discrete_and_tied_values(bins: int) -> None:
    rng = np.random.default_rng(2)
    n = 4000
    heavy_tie = np.where(rng.random(n) < 0.9, 5.0, rng.standard_normal(n))
    x = np.column_stack([
        rng.integers(0, 4, n).astype(float),                   # four values, many ties each
        heavy_tie,                                             # 90% one value
        np.round(rng.standard_normal(n), 1),                   # a coarse lattice
        rng.integers(0, 2, n) * 1e6,                           # two far-apart values
    ])
    s = _sketch(np, x, 500, 777, bins=bins)
    _check(s, x, MORE_QS + list(np.linspace(0, 1, 41)))


def test_constant_columns_are_exact() -> None:
    x = np.tile([7.25, 0.0, -1e6, 1e-300], (900, 1))
    s = _sketch(np, x, 1, 100)                               # a one-row first block, span 0
    v, b = s.estimate(MORE_QS)
    np.testing.assert_array_equal(v, np.quantile(x, MORE_QS, axis=0))
    assert np.all(to_host(s.width) > 0)
    assert np.all(b <= ROUNDING * np.maximum(np.abs(x[0]), to_host(s.width)))


def test_block_split_and_buffer_do_not_change_a_bit() -> None:
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.standard_normal(3000), rng.lognormal(size=3000),
                         rng.integers(0, 3, 3000).astype(float)])
    ref = _sketch(np, x, 300, 10 ** 9)                       # the rest in one block
    ref_v, ref_b = ref.estimate(MORE_QS)
    cuts = np.sort(rng.choice(np.arange(301, 3000), 40, replace=False))
    for split in ("sevens", "random", "buffers"):
        if split == "sevens":
            s = _sketch(np, x, 300, 7)
        elif split == "random":
            s = PathQuantiles.from_block(np, x[:300])
            for part in np.split(x[300:], cuts - 300):
                s.update(part)
        else:                                                # flushes at odd places
            s = _sketch(np, x, 300, 500, buffer_rows=13)
        v, b = s.estimate(MORE_QS)
        np.testing.assert_array_equal(s.counts, ref.counts)
        np.testing.assert_array_equal(v, ref_v)
        np.testing.assert_array_equal(b, ref_b)
        assert s.count == ref.count == 3000


def test_merge_equals_one_sketch(xp_backends) -> None:
    xp = xp_backends.xp
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5000, 6)).cumsum(axis=1)
    one = _sketch(xp, x, 500, 10 ** 9)
    a = PathQuantiles.from_block(xp, xp.asarray(x[:500]))
    b, c = a.empty_like(), a.empty_like()
    b.update(xp.asarray(x[500:1800]))
    c.update(xp.asarray(x[1800:]))
    assert a.merge(b).merge(c) is a
    np.testing.assert_array_equal(to_host(a.counts), to_host(one.counts))
    for got, want in zip(a.estimate(QS), one.estimate(QS)):
        np.testing.assert_array_equal(to_host(got), to_host(want))
    assert a.count == 5000
    _check(a, x, MORE_QS)
    other_grid = PathQuantiles.from_block(xp, xp.asarray(3.0 * x[:500]))
    with pytest.raises(ValueError, match="same grid"):
        a.merge(other_grid)


def test_values_outside_the_first_block() -> None:
    rng = np.random.default_rng(5)
    first = rng.standard_normal((20, 3))
    later = np.concatenate([rng.standard_normal((3000, 3)) * 30.0,
                            [[-1e5, 2e5, 0.0]], [[1e4, -3e4, 0.0]]])
    x = np.concatenate([first, later])
    s = _sketch(np, x, 20, 1000)
    under, over = to_host(s.underflow), to_host(s.overflow)
    assert np.all(under > 0) and np.all(over > 0)
    qs = MORE_QS + list(np.linspace(0, 1, 101))
    v, b, inside = _check(s, x, qs)          # the bound holds everywhere, in the grid or not
    w = np.broadcast_to(to_host(s.width), b.shape)
    assert not inside.all() and inside.any()
    # outside the grid the bound is the under/overflow interval's: finite, wider than w
    assert np.all(np.isfinite(b)) and np.any(b[~inside] > w[~inside])


def test_exact_binning_at_the_edges() -> None:
    s = PathQuantiles.from_ranges(np, np.array([-3.0, 1e6]), np.array([5.0, 1e6 + 1.0]), bins=100)
    lower, w = s.lower, s.width
    assert np.all(lower <= [-3.0, 1e6]) and np.all(s.upper >= [5.0, 1e6 + 1.0])
    j = np.arange(100)
    edges = lower[None, :] + j[:, None] * w[None, :]          # exact: w is a power of two
    s.update(edges)                                           # bin j gets its lower edge
    np.testing.assert_array_equal(s.counts[:, 1:-1], np.ones((2, 100), dtype=np.int64))
    s.update(np.nextafter(edges[1:], -np.inf))                # just below: bin j - 1
    np.testing.assert_array_equal(s.counts[:, 1:-2], np.full((2, 99), 2))
    s.update(np.nextafter(edges[:1], -np.inf))                # just below the grid
    s.update(s.upper[None, :])                                # the upper edge: overflow
    np.testing.assert_array_equal(s.underflow, [1, 1])
    np.testing.assert_array_equal(s.overflow, [1, 1])


def test_percentiles_and_shapes() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2000, 5))
    s = _sketch(np, x, 256, 256)
    ps = [1, 5, 50, 95, 99]
    p = s.percentiles(ps)
    assert p.shape == (5, 5)
    assert np.all(np.abs(p - np.percentile(x, ps, axis=0)) <= s.error_bound(np.array(ps) / 100))
    assert s.quantile(0.5).shape == (5,) and s.error_bound(0.5).shape == (5,)
    assert s.quantile([0.5]).shape == (1, 5)
    np.testing.assert_array_equal(s.quantile(0.5), s.quantile([0.5])[0])


def test_memory_is_fixed() -> None:
    rng = np.random.default_rng(7)
    s = PathQuantiles.from_block(np, rng.standard_normal((2048, 144)), buffer_rows=4096)
    s.flush()
    held = s.nbytes
    for _ in range(4):
        s.update(rng.standard_normal((2048, 144)))
    s.estimate(QS)
    assert s.nbytes == held and s.counts.shape == (144, s.bins + 2)
    assert s.counts.nbytes == 8 * 144 * (2 ** 14 + 2)


def test_rejects_bad_input() -> None:
    s = PathQuantiles.from_block(np, np.zeros((3, 2)) + [[0.0, 1.0]])
    with pytest.raises(ValueError, match="no rows"):
        s.empty_like().quantile(0.5)
    bad = np.ones((4, 2))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"block\[2, 1\]: must be finite"):
        s.update(bad)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="finite"):
        s.update(bad)
    assert s.count == 3 and int(s.counts.sum()) == 6          # nothing was counted
    with pytest.raises(ValueError, match=r"\(c, 2\)"):
        s.update(np.ones((4, 3)))
    for q in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="q: must be"):
            s.quantile(q)
    with pytest.raises(ValueError, match="bins"):
        PathQuantiles.from_block(np, np.ones((2, 2)), bins=1)
    with pytest.raises(ValueError, match="margin"):
        PathQuantiles.from_block(np, np.ones((2, 2)), margin=-1.0)
    with pytest.raises(ValueError, match="at least one row"):
        PathQuantiles.from_block(np, np.ones((0, 2)))
    with pytest.raises(ValueError, match="lo <= hi"):
        PathQuantiles.from_ranges(np, np.array([1.0]), np.array([0.0]))
    assert s.update(np.ones((0, 2))) is s and s.count == 3


_VALUE = st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, 1.0, -2.5, 1e-9]),
                   st.floats(-1e12, 1e12))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=arrays(np.float64, st.tuples(st.integers(1, 80), st.integers(1, 3)), elements=_VALUE),
       bins=st.sampled_from([2, 3, 17, 1024]), data=st.data())
def test_bound_holds_for_any_values_and_split(x, bins, data) -> None:
    n = x.shape[0]
    first = data.draw(st.integers(1, n), label="first")
    block = data.draw(st.integers(1, n), label="block")
    qs = QS + data.draw(st.lists(st.floats(0.0, 1.0), max_size=4), label="qs")
    s = _sketch(np, x, first, block, bins=bins, buffer_rows=data.draw(st.integers(1, 50)))
    _check(s, x, qs)
    one = _sketch(np, x, first, n, bins=bins)
    for got, want in zip(s.estimate(qs), one.estimate(qs)):
        np.testing.assert_array_equal(got, want)
