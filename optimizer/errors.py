"""Errors for bad user input: every problem found, each naming its path and value.

Both classes carry the full list so that a user fixes a file in one pass instead of
one error per run; `str()` gives one error per line.
"""
from __future__ import annotations

from collections.abc import Iterable


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
