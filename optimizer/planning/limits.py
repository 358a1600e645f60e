"""What the engine and the solver can carry: memory for the scenario arrays, and
finite, solver-sized numbers in the ValueTable (the MIP's coefficients).

Both are checked before the work they guard: the memory estimate before any array is
allocated, the ValueTable before the MIP is built. Either failure is bad input (exit 2):
the message gives the estimate and the largest scenario count that fits, or names the
instance keys behind the numbers that are not finite.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from ..errors import InstanceError
from ..instance.types import Instance
from .catalog import Action

MAX_ABS_USD = 1e15       # a MIP coefficient past this is numerically meaningless to HiGHS
MEMORY_SHARE = 0.8       # of the memory available now
WORK_COPIES = 3          # the table, the engine's working arrays and the cut loop's copies
GIB = 2 ** 30
CHECK_BLOCK = 1 << 16    # scenarios per block of the value table's finiteness check


def available_bytes() -> int:
    """Memory available now: MemAvailable from /proc/meminfo, else physical pages."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def bytes_per_scenario(n_actions: int, months: int, cash_paths: bool = True) -> int:
    """float64 bytes one scenario costs: its ValueTable column (actions + baseline) and,
    where plan cash paths are kept, a month-by-month row of plan cash and cash balance."""
    per = (n_actions + 1) * 8 * WORK_COPIES
    if cash_paths:
        per += 2 * months * 8 * WORK_COPIES
    return per


def check_memory(instance: Instance, n_actions: int, scenarios: int, *, what: str = "--scenarios",
                 cash_paths: bool = True, available: int | None = None) -> None:
    """Exit 2 (InstanceError) before allocating when the run cannot fit in memory."""
    per = bytes_per_scenario(n_actions, instance.plan.months, cash_paths)
    need = per * scenarios
    avail = int((available_bytes() if available is None else available) * MEMORY_SHARE)
    if need <= avail:
        return
    fit = avail // per
    raise InstanceError([
        f"{what} = {scenarios:,}: needs ~{need / GIB:,.1f} GiB ({n_actions:,} actions x "
        f"{scenarios:,} scenarios x {instance.plan.months} months, float64) but about "
        f"{avail / GIB:,.1f} GiB is available; about {fit:,} scenarios fit"
        + ("" if fit else " (the instance itself is too large: fewer sites, leases or start months)")])


def _keys(instance: Instance, a: Action) -> str:
    keys = [f"sites[id={a.site!r}]"]
    if a.lease:
        keys.append(f"leases[id={a.lease!r}]")
    if a.kind == "sell":
        keys.append(f"sites[id={a.site!r}].sale")
    return ", ".join(keys)


def _bad(x: Any, axis: int | None = None, xp: Any = np) -> np.ndarray:
    """Where x is non-finite or beyond MAX_ABS_USD, reduced on x's own device (only the
    per-row flags come back to the host)."""
    from ..gpu.backend import to_host

    if xp is np:
        x = np.asarray(x, dtype=np.float64)
    if axis == 1 and x.ndim == 2:
        # column blocks: at 10^6 scenarios a whole-table |x| would be another table
        out = xp.zeros(x.shape[0], dtype=bool)
        for c0 in range(0, x.shape[1], CHECK_BLOCK):
            block = x[:, c0:c0 + CHECK_BLOCK]
            with np.errstate(invalid="ignore", over="ignore"):
                out |= (~xp.isfinite(block) | (xp.abs(block) > MAX_ABS_USD)).any(axis=1)
        return to_host(out)
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~xp.isfinite(x) | (xp.abs(x) > MAX_ABS_USD)
    return to_host(bad if axis is None else bad.any(axis=axis))


def check_value_table(instance: Instance, actions: Sequence[Action], vt: Any) -> None:
    """Non-finite or unsolvably large numbers in the ValueTable -> InstanceError naming
    the actions and the instance keys that drive them (exit 2)."""
    errors: list[str] = []
    xp = getattr(vt, "xp", np)
    rows = _bad(vt.npv, 1, xp) if vt.npv.size else np.zeros(len(actions), bool)
    cash = np.asarray(vt.cash)
    if cash.size:
        rows = rows | _bad(cash, 1)
    base = bool(_bad(vt.baseline_npv, None, xp).any() or _bad(vt.baseline_cash).any())
    if base:
        errors.append(f"the baseline (every site mining, nothing done) values to non-finite or "
                      f"|x| > {MAX_ABS_USD:.0e} USD numbers: check bitcoin.*, power.*, sites[*] "
                      "(hashrate, efficiency, terminal multiples) and plan.discount rates")
    idx = np.flatnonzero(rows)
    for i in idx[:8]:
        a = actions[int(i)]
        errors.append(f"action {a.label}: values to non-finite or |x| > {MAX_ABS_USD:.0e} USD "
                      f"numbers; the keys that drive it: {_keys(instance, a)}, valuation.*")
    if idx.size > 8:
        errors.append(f"... and {idx.size - 8} more actions")
    if vt.plan_cash is not None and _bad(vt.plan_cash).any():
        errors.append("the plan's monthly cash is non-finite or beyond 1e15 USD in some scenario")
    if errors:
        raise InstanceError(errors)
