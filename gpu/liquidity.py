"""Cash by scenario and month under a committed revolver drawn by rule, and the figures of
liquidity a board reads from it.

Arrays in, arrays out, in one namespace `xp`. The inputs are a plan's monthly net cash
flows per scenario *before* the revolver (operations, actions, financing, refinancing)
and the opening cash; the rule is the one companies write into their treasury policy:

- interest on the drawn balance (`rate`/12) and the commitment fee on the undrawn part
  (`commitment_fee`/12) are paid in cash each month the facility is open;
- when cash would fall below `min_cash`, the revolver is drawn to bring it back, up to
  its limit;
- surplus cash above `min_cash` repays the drawn balance first;
- at maturity the drawn balance is repaid in full and the facility closes.

The recursion runs month by month, vectorised over scenarios; a scenario's path never
depends on the others, so chunks give the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Revolver:
    """A committed facility; `maturity` is a plan month (the facility closes there);
    limit 0 means none."""

    limit_usd: float = 0.0
    rate: float = 0.0
    commitment_fee: float = 0.0
    maturity: int = 0


@dataclass
class CashPaths:
    """Month-end figures (c, M) of a chunk of scenarios."""

    cash: Any          # cash balance after the revolver's draws and repayments
    drawn: Any         # revolver balance
    headroom: Any      # cash + undrawn committed revolver
    interest: Any      # revolver interest and fees paid in each month


def revolver_paths(xp: ModuleType, flows, opening_usd: float, min_cash_usd: float,
                   revolver: Revolver) -> CashPaths:
    """Apply the revolver rule (module docstring) to net flows (c, M) before it.

    Parameters
    ----------
    xp : module
        numpy or cupy; `flows` lives in it.
    flows : array (c, M) float64
        Net cash of each month before any revolver flow, USD.
    opening_usd, min_cash_usd : float
        Cash at the plan's start and the minimum the treasury keeps.
    revolver : Revolver
        The facility (limit 0: none, cash is just the running sum).

    Returns
    -------
    CashPaths
    """
    c, n_months = flows.shape
    cash = xp.full(c, float(opening_usd), dtype=xp.float64)
    drawn = xp.zeros(c, dtype=xp.float64)
    out = CashPaths(*(xp.empty((c, n_months), dtype=xp.float64) for _ in range(4)))
    limit, floor = float(revolver.limit_usd), float(min_cash_usd)
    monthly, fee = revolver.rate / 12.0, revolver.commitment_fee / 12.0
    for m in range(n_months):  # a recursion in time, vectorised over scenarios
        is_open = limit > 0.0 and m < revolver.maturity
        cash = cash + flows[:, m]
        if is_open:
            interest = drawn * monthly + (limit - drawn) * fee
            cash = cash - interest
            draw = xp.clip(floor - cash, 0.0, limit - drawn)
            repay = xp.minimum(xp.maximum(cash - floor, 0.0), drawn)
            cash = cash + draw - repay
            drawn = drawn + draw - repay
            out.interest[:, m] = interest
        else:
            if limit > 0.0 and m == revolver.maturity:
                cash = cash - drawn  # repaid in full at maturity
                drawn = xp.zeros_like(drawn)
            out.interest[:, m] = 0.0
        out.cash[:, m] = cash
        out.drawn[:, m] = drawn
        out.headroom[:, m] = cash + (limit - drawn) if is_open else cash
    return out


def worst_month(xp: ModuleType, headroom, min_cash_usd: float):
    """Per scenario, the largest shortfall of headroom below the minimum over the months
    (negative when it never falls short) and the month it happens in: the liquidity
    cuts' worst month. Returns (shortfall (c,), month (c,) int64)."""
    gap = float(min_cash_usd) - headroom
    month = xp.argmax(gap, axis=1)
    return xp.take_along_axis(gap, month[:, None], axis=1)[:, 0], month.astype(xp.int64)
