"""Recursions in time: a first-order linear filter and the mothball-and-restart rule.

Each month's value depends on the last, so neither is one whole-array expression. On
NumPy each runs month by month over whole (rows) slices, vectorised over scenarios: 144
cheap passes, which measured faster than any reformulation. On CuPy that would be one or
more launches a month (a dozen a month for the mothball rule, some 1,700 per chunk), so
a CUDA kernel gives each path one thread that walks its months in registers: one launch
per call. Kernel and NumPy loop perform the same IEEE operations in the same order (the
kernel spells its products and sums `__dmul_rn` / `__dadd_rn` so that the compiler cannot
fuse them into an FMA), so the two backends agree bit for bit, and a row's result never
depends on the other rows, so chunking cannot change a bit either.

(A matmul with the lower-triangular phi-power matrix, the other vectorisation, rounds
differently with the number of rows in OpenBLAS: paths then depended on the chunk size.)

The kernel bodies are plain C apart from the launch index and the two intrinsics; tests
compile them for the CPU (tests/test_recursion_kernels.py) and compare them with the NumPy
loops exactly.
"""
from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import Any

import numpy as np

from .backend import is_cupy

THREADS = 256

# One path each: months contiguous (stride 1).
PATH_SOURCE = r"""
__device__ static void wf_linear_path(const double* d, double* x, long long months, double phi) {
    double prev = 0.0;
    for (long long m = 0; m < months; ++m) {
        prev = __dadd_rn(__dmul_rn(phi, prev), d[m]);
        x[m] = prev;
    }
}

__device__ static void wf_mothball_path(const double* margin, double* out, long long months,
                                        long long stop_limit, long long start_limit,
                                        double cost) {
    long long losses = 0, profits = 0;
    bool stopped = false, restarting = false;
    for (long long m = 0; m < months; ++m) {
        const double here = margin[m];
        out[m] = stopped ? 0.0 : (restarting ? here - cost : here);
        const bool running = !stopped;
        losses = (running && here < 0.0) ? losses + 1 : 0;
        profits = (stopped && here > 0.0) ? profits + 1 : 0;
        restarting = stopped && profits >= start_limit;
        stopped = (stopped && !restarting) || (running && losses >= stop_limit);
    }
}
"""

CUDA_SOURCE = PATH_SOURCE + r"""
extern "C" __global__ void wf_linear_recursion(const double* d, double* x, long long rows,
                                               long long months, double phi) {
    const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    wf_linear_path(d + r * months, x + r * months, months, phi);
}

extern "C" __global__ void wf_mothball(const double* margin, double* out, long long sites,
                                       long long scenarios, long long months,
                                       const long long* stop_limit, const long long* start_limit,
                                       const double* cost) {
    const long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= sites * scenarios) return;
    const long long site = p / scenarios;  /* once per thread, not per month */
    wf_mothball_path(margin + p * months, out + p * months, months, stop_limit[site],
                     start_limit[site], cost[site]);
}
"""


@functools.lru_cache(maxsize=1)
def _module() -> Any:
    import cupy  # noqa: PLC0415 - CuPy is optional; only a cupy caller reaches this

    return cupy.RawModule(code=CUDA_SOURCE)


def _blocks(n: int) -> tuple[int]:
    return (math.ceil(n / THREADS),)


def linear_recursion(xp: ModuleType, d, phi: float):
    """x_m = phi x_{m-1} + d_m along the last axis (x_{-1} = 0), for every row at once.

    Parameters
    ----------
    xp : module
        Array namespace of `d`.
    d : array (..., M) float64
        The increments.
    phi : float
        Persistence per step.

    Returns
    -------
    array (..., M) float64
    """
    if is_cupy(xp):
        d = xp.ascontiguousarray(d, dtype=xp.float64)
        x = xp.empty_like(d)
        months = d.shape[-1]
        rows = d.size // months if months else 0
        if rows:
            _module().get_function("wf_linear_recursion")(
                _blocks(rows), (THREADS,), (d, x, np.int64(rows), np.int64(months), np.float64(phi)))
        return x
    x = xp.empty(d.shape, dtype=xp.float64)
    prev = xp.zeros(d.shape[:-1], dtype=xp.float64)
    for m in range(d.shape[-1]):  # a recursion in time, vectorised over the rows
        prev = phi * prev + d[..., m]
        x[..., m] = prev
    return x


def mothball(xp: ModuleType, margin, patience: np.ndarray, restart: np.ndarray | None = None,
             restart_cost=None):
    """Mothball and restart fleets along each margin path (sites, scenarios, months).

    Parameters
    ----------
    xp : module
        Array namespace of `margin`.
    margin : array (I, c, M) float64
        Margin per grid MW a fleet would earn running, month by month.
    patience : ndarray (I,) int
        A running fleet stops from the month after this many consecutive losing months
        (0: never stops).
    restart : ndarray (I,) int, optional
        A stopped fleet mines again from the month after this many consecutive months in
        which running would have paid (margin > 0); 0 or None: never restarts.
    restart_cost : ndarray (I,) float, optional
        $ per grid MW taken from the restart month's margin (default 0).

    Returns
    -------
    array (I, c, M) float64
        The margin earned: 0 while stopped. Both rules look only backwards along the
        path, so together they are a policy an operator could follow, not hindsight.
        A restarted fleet starts a fresh run of losing months; the restart cost is a
        one-off and does not count as a loss.
    """
    never = np.iinfo(np.int64).max
    n_sites = margin.shape[0]
    restart = np.zeros(n_sites, np.int64) if restart is None else np.asarray(restart)
    cost = np.zeros(n_sites) if restart_cost is None else np.asarray(restart_cost)
    patience = np.asarray(patience)
    stop_limit = xp.asarray(np.where(patience > 0, patience, never).astype(np.int64)[:, None])
    start_limit = xp.asarray(np.where(restart > 0, restart, never).astype(np.int64)[:, None])
    return mothball_rows(xp, margin, stop_limit, start_limit, xp.asarray(np.asarray(cost, np.float64)[:, None]))


def mothball_rows(xp: ModuleType, margin, stop_limit, start_limit, cost):
    """`mothball` with its limits already in xp's memory, (I, 1) each.

    On CuPy one fused kernel walks the months of each (site, scenario) in registers. On
    NumPy the recursion runs month by month over whole (sites, scenarios) slices into
    buffers allocated once: no per-month allocation. Both compute the same IEEE
    operations, so they agree bit for bit.
    """
    if is_cupy(xp):
        return _mothball_fused(xp, margin, stop_limit, start_limit, cost)
    shape = margin.shape[:2]
    losses = xp.zeros(shape, dtype=xp.int64)
    profits = xp.zeros(shape, dtype=xp.int64)
    stopped = xp.zeros(shape, dtype=bool)
    restarting = xp.zeros(shape, dtype=bool)
    running, flag = xp.empty(shape, dtype=bool), xp.empty(shape, dtype=bool)
    charge = xp.empty(shape, dtype=xp.float64)
    out = xp.empty_like(margin)
    for m in range(margin.shape[2]):  # a recursion in time, vectorised over sites and scenarios
        here, earned = margin[:, :, m], out[:, :, m]
        # earned: 0 while stopped, here - cost in a restart month, else here (a restarting
        # fleet is not stopped, and here - 0.0 is here, bit for bit)
        xp.multiply(cost, restarting, out=charge)
        xp.subtract(here, charge, out=earned)
        xp.copyto(earned, 0.0, where=stopped)
        # each run counts only in its own state, so a switch starts the other afresh
        xp.logical_not(stopped, out=running)
        xp.less(here, 0.0, out=flag)
        flag &= running
        losses += 1
        losses *= flag
        xp.greater(here, 0.0, out=flag)
        flag &= stopped
        profits += 1
        profits *= flag
        xp.greater_equal(profits, start_limit, out=restarting)
        restarting &= stopped
        # stopped = (stopped & ~restarting) | (running & losses >= stop_limit)
        xp.greater_equal(losses, stop_limit, out=flag)
        flag &= running
        xp.logical_not(restarting, out=running)
        stopped &= running
        stopped |= flag
    return out


def _mothball_fused(xp: ModuleType, margin, stop_limit, start_limit, cost):
    """Fused twin of the NumPy mothball recursion for CuPy arrays: margin (I, c, M)
    float64, limits (I, 1) int64 and cost (I, 1) float64 in device memory."""
    margin = xp.ascontiguousarray(margin, dtype=xp.float64)
    sites, scenarios, months = margin.shape
    out = xp.empty_like(margin)
    paths = sites * scenarios
    if paths == 0 or months == 0:
        return out
    _module().get_function("wf_mothball")(_blocks(paths), (THREADS,), (
        margin, out, np.int64(sites), np.int64(scenarios), np.int64(months),
        xp.ascontiguousarray(stop_limit.reshape(-1), dtype=xp.int64),
        xp.ascontiguousarray(start_limit.reshape(-1), dtype=xp.int64),
        xp.ascontiguousarray(cost.reshape(-1), dtype=xp.float64)))
    return out
