"""Per-column quantiles of an (S, M) matrix that arrives in row blocks, in fixed memory.

Month-by-month cash quantiles over 10^6 scenarios need neither the (S, M) matrix nor a
sort: :class:`PathQuantiles` keeps, per column m, counts over a fixed grid of ``bins``
equal bins of width w_m on [lower_m, upper_m), one underflow and one overflow count, and
the exact running min and max. Blocks of scenarios (c, M) are added with
:meth:`PathQuantiles.update`; sketches over the same grid add up with
:meth:`PathQuantiles.merge` (parallel chunks). Counts are integers, so the result does
not depend on how the rows were split into blocks or merged: it is bit-identical.

The estimate follows NumPy's default ``method="linear"``: with n values, h = (n-1) q,
k = floor(h), g = h - k, the quantile is x_(k) + g (x_(k+1) - x_(k)) over the sorted
values (ranks 0-based, k+1 capped at n-1). Each of the two order statistics is located
in its bin by the cumulative counts and placed inside it by its rank among the bin's
values (the bin clipped to [min_m, max_m]); the two are interpolated with NumPy's own
formula. The bound reported for each is its distance to the farther end of that bin.

Guarantee. If both order statistics lie inside the grid (not in under/overflow), the
estimate is within w_m of ``numpy.quantile(x[:, m], q)``.
Proof: binning is exact (below), so the counts locate the order statistic of rank r in
the bin where they first exceed r and its estimate is put in that same bin: each
estimated order statistic is within w_m of the true one. Both NumPy's value and ours are
(1-g) a + g b, of the true and of the estimated pair, which differ by at most
(1-g) |a - a'| + g |b - b'| <= w_m.

Exact binning: w_m is a power of two and lower_m an integer multiple of it, so bin edges
(K_m + j) w_m are exact binary numbers, x / w_m is exact, and floor(x / w_m) - K_m is
the bin of x with no rounding (the grid is at most twice as coarse as asked for, in
exchange). Both sides' interpolations still round; :meth:`PathQuantiles.error_bound`
adds 2^-46 max(|min_m|, |max_m|, w_m) for that (a few units in the last place; it also
covers x / w_m rounding to -0 for a negative x below 2^-1074 w_m, the one inexact case).

Outside the grid. The running min and max are exact, so rank 0 is the min and rank n-1
the max exactly (q = 0 and q = 1 are exact; bound: the rounding allowance alone). Any
other order statistic in the underflow (overflow) region lies in [min_m, lower_m)
([upper_m, max_m]): it is placed there as in a bin, and its bound is set by that
interval, which can be far wider than w_m but is never understated. The bound a query returns is always a true bound.

Memory, fixed whatever the number of rows: 8 M (bins + 2) bytes of int64 counts (144
months, 2^14 bins: 18.9 MB); a buffer of 2 M ``buffer_rows`` bytes of bin indices (int16;
int32 beyond 32765 bins), 9.4 MB by default, which defers the counting to one pass per
``buffer_rows`` rows so that the work over the whole counts array is not paid per block;
8 M 2048 bytes of float scratch (2.4 MB). Queries use two more arrays the size of the
counts while they run.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from .backend import as_xp, is_cupy, to_host

DEFAULT_BINS = 2 ** 14
DEFAULT_BUFFER_ROWS = 32768
SCRATCH_ROWS = 2048          # rows binned per pass: bounds the float scratch
ROUNDING = 2.0 ** -46        # relative allowance for the interpolations' rounding
_MAX_MAGNITUDE = 2.0 ** 1000  # keeps the grid, its edges and x / w finite and normal


def _power_of_two_at_least(xp: ModuleType, r):
    """Smallest power of two >= r (r > 0), exactly: frexp gives r = f 2^e, f in [0.5, 1)."""
    f, e = xp.frexp(r)
    return xp.ldexp(xp.ones_like(r), e - (f == 0.5).astype(e.dtype))


def _integer(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{name}: must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


@dataclass(eq=False)
class PathQuantiles:
    """Streaming, mergeable per-column quantiles over a fixed grid (module docstring).

    Make one with :meth:`from_block` (grid from the first block) or :meth:`from_ranges`.
    The grid of column m is ``bins`` bins of width ``width[m]`` (a power of two) from
    ``lower[m] = start[m] * width[m]``; ``start`` holds integers (as float64) of
    magnitude below 2^41 so that every edge is exact.

    Attributes
    ----------
    counts : array (M, bins + 2) int64
        Column 0 counts underflow, 1..bins the bins, bins + 1 overflow (a property: it
        flushes the buffered rows first, as the queries and :meth:`merge` do).
    vmin, vmax : array (M,) float64
        Exact running min and max (+inf / -inf before any row).
    count : int
        Rows seen.
    """

    xp: ModuleType
    bins: int
    start: Any
    width: Any
    buffer_rows: int = DEFAULT_BUFFER_ROWS
    _counts: Any = field(init=False, repr=False)
    vmin: Any = field(init=False, repr=False)
    vmax: Any = field(init=False, repr=False)
    count: int = field(init=False, default=0)
    _pending: Any = field(init=False, repr=False)
    _fill: int = field(init=False, repr=False, default=0)
    _scratch: Any = field(init=False, repr=False, default=None)
    _inv: Any = field(init=False, repr=False)
    _shift: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        xp = self.xp
        self.bins = _integer("bins", self.bins, 2, 2 ** 24)
        self.buffer_rows = _integer("buffer_rows", self.buffer_rows, 1, 2 ** 40)
        self.start = as_xp(xp, self.start, xp.float64)
        self.width = as_xp(xp, self.width, xp.float64)
        m = self.n_columns
        self._counts = xp.zeros((m, self.bins + 2), dtype=xp.int64)
        self.vmin = xp.full(m, np.inf, dtype=xp.float64)
        self.vmax = xp.full(m, -np.inf, dtype=xp.float64)
        small = self.bins + 2 <= np.iinfo(np.int16).max
        self._pending = xp.empty((m, self.buffer_rows), dtype=xp.int16 if small else xp.int32)
        self._inv = 1.0 / self.width                       # exact: powers of two
        self._shift = self.start - 1.0                     # bin j -> j + 1; underflow 0

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_ranges(cls, xp: ModuleType, lo, hi, bins: int = DEFAULT_BINS,
                    buffer_rows: int = DEFAULT_BUFFER_ROWS) -> "PathQuantiles":
        """An empty sketch whose grid covers [lo[m], hi[m]] in every column.

        The width is the smallest power of two >= (hi - lo) / (bins - 1) (and >= 2^-40
        of the larger magnitude, which keeps the edges exact), so the grid covers the
        range with up to twice its length to spare. lo == hi is allowed: the width is
        then set by the magnitude alone.
        """
        bins = _integer("bins", bins, 2, 2 ** 24)
        lo, hi = as_xp(xp, lo, xp.float64), as_xp(xp, hi, xp.float64)
        if lo.ndim != 1 or lo.shape != hi.shape or lo.shape[0] == 0:
            raise ValueError(f"lo, hi: must be 1-D arrays of one shape (M,), got {lo.shape}, {hi.shape}")
        mag = xp.maximum(xp.abs(lo), xp.abs(hi))
        if not bool(xp.all(hi >= lo) & xp.all(mag <= _MAX_MAGNITUDE)):   # NaN fails too
            raise ValueError("lo, hi: need finite lo <= hi with magnitudes up to 2^1000")
        # (1 + 2^-50) absorbs the rounding of (hi - lo) / (bins - 1), so the grid covers hi.
        r = xp.maximum((hi - lo) / (bins - 1) * (1.0 + 2.0 ** -50), mag * 2.0 ** -40)
        width = _power_of_two_at_least(xp, xp.maximum(r, 2.0 ** -1000))
        return cls(xp, bins, xp.floor(lo / width), width, buffer_rows)

    @classmethod
    def from_block(cls, xp: ModuleType, block, bins: int = DEFAULT_BINS, margin: float = 1.0,
                   buffer_rows: int = DEFAULT_BUFFER_ROWS) -> "PathQuantiles":
        """A sketch with its grid set from a first block (c, M), which it then counts.

        Per column, the block's [min, max] widened by ``margin`` times its span on each
        side; a column whose span is 0 (constant, or a one-row block) is widened by
        max(|value|, 1) on each side instead, so that no grid has zero width. The width
        is then rounded up to a power of two (:meth:`from_ranges`).
        """
        if not (isinstance(margin, numbers.Real) and 0.0 <= float(margin) < np.inf):
            raise ValueError(f"margin: must be a finite number >= 0, got {margin!r}")
        b = cls._block(xp, block, None)
        if b.shape[0] == 0:
            raise ValueError("block: the first block must hold at least one row")
        lo, hi = b.min(axis=0), b.max(axis=0)
        if not bool(xp.all(xp.isfinite(lo)) & xp.all(xp.isfinite(hi))):
            cls._raise_non_finite(xp, b)
        span = hi - lo
        pad = xp.where(span > 0, float(margin) * span, xp.maximum(xp.abs(lo), 1.0))
        sketch = cls.from_ranges(xp, lo - pad, hi + pad, bins, buffer_rows)
        sketch._add(b, lo, hi)
        return sketch

    def empty_like(self) -> "PathQuantiles":
        """An empty sketch on the same grid, to count another chunk and :meth:`merge`."""
        return type(self)(self.xp, self.bins, self.start.copy(), self.width.copy(),
                          self.buffer_rows)

    # -- properties ---------------------------------------------------------------------
    @property
    def n_columns(self) -> int:
        return int(self.start.shape[0])

    @property
    def lower(self):
        """(M,) the grid's lower edge; values below it count as underflow."""
        return self.start * self.width

    @property
    def upper(self):
        """(M,) the grid's upper edge; values at or above it count as overflow."""
        return (self.start + self.bins) * self.width

    @property
    def counts(self):
        self.flush()
        return self._counts

    @property
    def underflow(self):
        """(M,) rows below ``lower``."""
        return self.counts[:, 0]

    @property
    def overflow(self):
        """(M,) rows at or above ``upper``."""
        return self.counts[:, -1]

    @property
    def nbytes(self) -> int:
        """Bytes held: counts, the index buffer and the scratch (once allocated)."""
        scratch = 0 if self._scratch is None else self._scratch.nbytes
        return int(self._counts.nbytes + self._pending.nbytes + scratch)

    # -- counting -----------------------------------------------------------------------
    @staticmethod
    def _block(xp: ModuleType, block, n_columns: int | None):
        b = as_xp(xp, block, xp.float64)
        if b.ndim != 2 or (n_columns is not None and b.shape[1] != n_columns):
            want = "(c, M)" if n_columns is None else f"(c, {n_columns})"
            raise ValueError(f"block: must be a {want} array, got shape {b.shape}")
        return b

    @staticmethod
    def _raise_non_finite(xp: ModuleType, b) -> None:
        row, col = np.argwhere(~np.isfinite(to_host(b)))[0]
        raise ValueError(f"block[{row}, {col}]: must be finite, got {float(to_host(b[row, col]))}")

    def update(self, block) -> "PathQuantiles":
        """Count a block (c, M) of rows (host or device array); returns self.

        Raises ValueError, before counting anything, if the block has a non-finite value.
        """
        xp = self.xp
        b = self._block(xp, block, self.n_columns)
        if b.shape[0] == 0:
            return self
        lo, hi = b.min(axis=0), b.max(axis=0)     # NaN and inf show up here
        if not bool(xp.all(xp.isfinite(lo)) & xp.all(xp.isfinite(hi))):
            self._raise_non_finite(xp, b)
        self._add(b, lo, hi)
        return self

    def _add(self, b, lo, hi) -> None:
        xp = self.xp
        self.vmin = xp.minimum(self.vmin, lo)
        self.vmax = xp.maximum(self.vmax, hi)
        self.count += int(b.shape[0])
        if self._scratch is None:
            self._scratch = xp.empty((min(SCRATCH_ROWS, self.buffer_rows), self.n_columns),
                                     dtype=xp.float64)
        with np.errstate(over="ignore"):      # x / w overflowing to inf is overflow, rightly
            self._bin_rows(b)

    def _bin_rows(self, b) -> None:
        xp, row = self.xp, 0
        while row < b.shape[0]:
            step = min(b.shape[0] - row, self.buffer_rows - self._fill, self._scratch.shape[0])
            buf = self._scratch[:step]
            # All four steps are exact: x * (1 / w) scales by a power of two, floor gives
            # an integer, and subtracting the integer start - 1 (below 2^41 in magnitude)
            # gives the bin + 1 exactly wherever it lies in [0, bins + 1]; farther values
            # may round but stay beyond the clip, which maps them to under/overflow.
            xp.multiply(b[row:row + step], self._inv, out=buf)
            xp.floor(buf, out=buf)
            xp.subtract(buf, self._shift, out=buf)
            xp.clip(buf, 0, self.bins + 1, out=buf)
            # Stored column-major: the flush then counts one group of columns at a time.
            self._pending[:, self._fill:self._fill + step] = buf.T
            self._fill += step
            row += step
            if self._fill == self.buffer_rows:
                self.flush()

    def flush(self) -> None:
        """Add the buffered bin indices to ``counts`` (the queries and merge call it)."""
        if self._fill == 0:
            return
        xp, m, nb = self.xp, self.n_columns, self.bins + 2
        if is_cupy(xp):
            # One bincount over column-offset indices, in one launch: the device is fast
            # at the dense work and its memory pool makes the temporaries cheap.
            offsets = (xp.arange(m, dtype=xp.int64) * nb)[:, None]
            flat = (self._pending[:, :self._fill] + offsets).ravel()
            self._counts += xp.bincount(flat, minlength=m * nb).reshape(m, nb)
        else:
            # On the CPU a full-width bincount would allocate and zero M (bins + 2) counts
            # per call (page faults, then a pass over memory); one column at a time the
            # counts fit in cache and the loop's overhead is small next to the counting.
            for col in range(m):
                self._counts[col] += xp.bincount(self._pending[col, :self._fill], minlength=nb)
        self._fill = 0

    def merge(self, other: "PathQuantiles") -> "PathQuantiles":
        """Add another sketch on the same grid (e.g. from :meth:`empty_like`) into this
        one; returns self. The result is bit-identical to one sketch over both."""
        xp = self.xp
        if not isinstance(other, PathQuantiles) or other.bins != self.bins \
                or other.n_columns != self.n_columns \
                or not bool(xp.array_equal(other.start, self.start)
                            & xp.array_equal(other.width, self.width)):
            raise ValueError("other: must be a PathQuantiles on the same grid (see empty_like)")
        self.flush()
        other.flush()
        self._counts += other._counts
        self.vmin = xp.minimum(self.vmin, other.vmin)
        self.vmax = xp.maximum(self.vmax, other.vmax)
        self.count += other.count
        return self

    # -- queries ------------------------------------------------------------------------
    def _order_statistics(self, ranks):
        """Estimates and exact error bounds (R, M) of the order statistics of ``ranks``
        (R,) (host ints, 0-based, each in [0, n-1])."""
        xp, m, nb, n = self.xp, self.n_columns, self.bins + 2, self.count
        cum = xp.cumsum(self._counts, axis=1)
        # Offsetting row m by m (n + 1) makes the flattened cumulative counts one sorted
        # array, so one searchsorted finds every (rank, column)'s bin: the first bin
        # whose cumulative count exceeds the rank.
        row_off = xp.arange(m, dtype=xp.int64) * (n + 1)
        cum += row_off[:, None]
        r = xp.asarray(np.asarray(ranks, dtype=np.int64))[:, None]
        pos = xp.searchsorted(cum.ravel(), (r + row_off[None, :]).ravel(), side="right")
        pos = pos.reshape(r.shape[0], m)
        b = pos - (xp.arange(m, dtype=xp.int64) * nb)[None, :]     # 0 .. bins + 1
        in_bin = self._counts.ravel()[pos]                            # >= 1
        before = cum.ravel()[pos] - row_off[None, :] - in_bin
        bf = b.astype(xp.float64)
        left = xp.where(b == 0, -np.inf, (self.start + bf - 1.0) * self.width)
        right = xp.where(b == nb - 1, np.inf, (self.start + bf) * self.width)
        left = xp.maximum(left, self.vmin)       # the bin holds a value, so left <= right
        right = xp.minimum(right, self.vmax)
        frac = ((r - before).astype(xp.float64) + 0.5) / in_bin
        est = xp.minimum(xp.maximum(left + frac * (right - left), left), right)
        bound = xp.maximum(est - left, right - est)   # the true value is in [left, right]
        est = xp.where(r == 0, self.vmin, xp.where(r == n - 1, self.vmax, est))
        bound = xp.where((r == 0) | (r == n - 1), 0.0, bound)
        return est, bound

    def estimate(self, q) -> tuple[Any, Any]:
        """(quantiles, error bounds) for levels ``q`` in [0, 1]: arrays (M,) for a scalar
        q, (P, M) for a sequence, in ``xp``.

        The bound is exact (module docstring): ``|estimate - numpy.quantile(x, q,
        axis=0)| <= bound`` always, and ``bound <= width + 2^-46 max(|vmin|, |vmax|,
        width)`` where both order statistics lie inside the grid.
        """
        xp = self.xp
        scalar = np.ndim(q) == 0
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if qs.ndim != 1 or not np.all((qs >= 0.0) & (qs <= 1.0)):
            raise ValueError(f"q: must be levels in [0, 1], got {q!r}")
        self.flush()
        n = self.count
        if n == 0:
            raise ValueError("no rows counted yet: nothing to take quantiles of")
        h = (n - 1) * qs                          # NumPy's virtual index, as it computes it
        k = np.floor(h)
        g = xp.asarray(h - k)[:, None]
        k = k.astype(np.int64)
        est, bound = self._order_statistics(np.concatenate([k, np.minimum(k + 1, n - 1)]))
        a, b_ = est[:qs.size], est[qs.size:]
        diff = b_ - a                             # NumPy's _lerp, term for term
        values = xp.where(g >= 0.5, b_ - diff * (1.0 - g), a + diff * g)
        slack = ROUNDING * xp.maximum(xp.maximum(xp.abs(self.vmin), xp.abs(self.vmax)), self.width)
        bounds = (1.0 - g) * bound[:qs.size] + g * bound[qs.size:] + slack[None, :]
        return (values[0], bounds[0]) if scalar else (values, bounds)

    def quantile(self, q):
        """Estimated quantiles, as ``numpy.quantile(x, q, axis=0)`` (see :meth:`estimate`)."""
        return self.estimate(q)[0]

    def error_bound(self, q):
        """Exact bounds on ``|quantile(q) - numpy.quantile(x, q, axis=0)|`` (see
        :meth:`estimate`); ``width`` (plus rounding) where the grid holds both order
        statistics."""
        return self.estimate(q)[1]

    def percentiles(self, ps: Sequence[float] | float):
        """Estimated percentiles, as ``numpy.percentile(x, ps, axis=0)``: q = ps / 100."""
        return self.quantile(np.true_divide(np.asarray(ps, dtype=np.float64), 100))
