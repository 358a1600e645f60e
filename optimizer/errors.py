"""Errors and the exit codes they map to.

Bad user input (exit 2) carries every problem found, each naming its path and value, so
that a user fixes a file in one pass instead of one error per run; `str()` gives one
error per line. A problem no plan can meet (exit 3) says which constraint and by how much.
"""
from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_BAD_INPUT = 2     # instance, plan file or arguments: nothing is written
EXIT_INFEASIBLE = 3    # no plan meets the constraints: the message names the cause
EXIT_INTERRUPTED = 130  # Ctrl-C: outputs are swapped in whole, so nothing is half-written

# No silent hang: the solver stops here unless told otherwise (the CLI's --time-limit and
# the API's time_limit), and the best plan found is returned with its certified gap.
DEFAULT_TIME_LIMIT_S = 600.0


class _InputErrors(ValueError):
    """A list of "path: message, got VALUE" strings about one input file."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors: list[str] = list(errors)
        super().__init__("\n".join(self.errors))

    def __str__(self) -> str:
        return "\n".join(self.errors)


class InstanceError(_InputErrors):
    """An instance file that cannot be read, parsed or validated."""


class PlanError(_InputErrors):
    """A plan file (plan.json) that cannot be read or does not fit its instance."""


class OutputError(_InputErrors):
    """An output path (--out, --samples, --cash) wattfolio must not or cannot write."""


class PlanInfeasible(RuntimeError):
    """No plan satisfies the instance. `reason` is "cash", "cvar_floor", "fixes" or
    "no_solution"; the other attributes carry the numbers the message quotes."""

    def __init__(self, message: str, *, reason: str, month: int | None = None,
                 shortfall_usd: float | None = None, floor_usd: float | None = None,
                 best_cvar_usd: float | None = None, alpha: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.month = month
        self.shortfall_usd = shortfall_usd
        self.floor_usd = floor_usd
        self.best_cvar_usd = best_cvar_usd
        self.alpha = alpha
