"""Scenario chunks run in threads on the CPU, their results handed back in chunk order.

NumPy's array loops and the compiled kernels (`gpu.compiled`, ``nogil``) release the GIL,
so chunks in threads use every core without copying the inputs into processes. Each chunk
writes only its own columns and returns its sums, which the caller adds in chunk order:
the result is the same bits whatever the number of workers. CuPy runs one chunk at a time
(the device is already parallel).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from .backend import is_cupy

WORKERS_ENV = "WATTFOLIO_WORKERS"


def default_workers() -> int:
    """Threads for scenario chunks on the CPU: ``WATTFOLIO_WORKERS`` when set, else the
    cores this process may use."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"{WORKERS_ENV}: must be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"{WORKERS_ENV}: must be a positive integer, got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def map_chunks(xp: ModuleType, job: Callable[[int], Any], starts: Iterable[int],
               workers: int | None = None) -> Iterator[Any]:
    """``job(s0)`` for each chunk start, in threads (`workers`, default `default_workers`)
    on NumPy and one at a time on CuPy; yields the results in the order of `starts`.

    Parameters
    ----------
    xp : module
        The backend's namespace.
    job : callable
        One chunk's work from its first scenario number.
    starts : iterable of int
        The chunks' first scenario numbers.
    workers : int, optional
        Threads; never more than there are chunks.

    Yields
    ------
    object
        Each job's result, in chunk order.
    """
    starts = list(starts)
    n = 1 if is_cupy(xp) else max(1, min(workers or default_workers(), len(starts)))
    if n == 1:
        yield from map(job, starts)
        return
    pool = ThreadPoolExecutor(n)
    try:
        yield from pool.map(job, starts)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
