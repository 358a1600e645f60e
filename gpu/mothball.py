"""Mothballing and restarting mining fleets along each margin path.

A recursion in time (each month's state depends on the last), so it cannot become one
whole-array expression. On NumPy it runs month by month over (sites, scenarios) slices
into buffers allocated once. On CuPy that would be a dozen launches a month, some 1,700
per chunk for 144 months, so a CUDA kernel (CuPy RawKernel) gives one thread each
(site, scenario) path and walks its months in registers: one launch per chunk. The rule
is integer counting and one subtraction, so both give the same bits. The kernel body is
plain C apart from the launch index; tests compile it for the CPU
(tests/test_mothball_kernel.py) and compare it with the NumPy recursion exactly.
"""
from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import Any

import numpy as np

from .backend import is_cupy

THREADS = 256

# One path: margin and out are the path's M months (stride 1, months contiguous).
PATH_SOURCE = r"""
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
def _kernel() -> Any:
    import cupy  # noqa: PLC0415 - CuPy is optional; only a cupy caller reaches this

    return cupy.RawKernel(CUDA_SOURCE, "wf_mothball")


def _mothball_fused(xp: ModuleType, margin, stop_limit, start_limit, cost):
    """Fused twin of the NumPy mothball recursion for CuPy arrays: margin (I, c, M)
    float64, limits (I, 1) int64 and cost (I, 1) float64 in device memory."""
    margin = xp.ascontiguousarray(margin, dtype=xp.float64)
    sites, scenarios, months = margin.shape
    out = xp.empty_like(margin)
    paths = sites * scenarios
    if paths == 0 or months == 0:
        return out
    _kernel()((math.ceil(paths / THREADS),), (THREADS,), (
        margin, out, np.int64(sites), np.int64(scenarios), np.int64(months),
        xp.ascontiguousarray(stop_limit.reshape(-1), dtype=xp.int64),
        xp.ascontiguousarray(start_limit.reshape(-1), dtype=xp.int64),
        xp.ascontiguousarray(cost.reshape(-1), dtype=xp.float64)))
    return out


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
