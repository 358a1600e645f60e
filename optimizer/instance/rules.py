"""Conditions on one well-typed value of an instance key (`Rule`), in a form both the
checks and the generated reference read: the message text for a human, `ok` for the
loader, and the bounds and choices for the JSON Schema and the Markdown reference."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """A condition on one well-typed value; `text` is the message when it fails.

    `lo`/`hi` (with `lo_open`/`hi_open`) bound a number, `choices` lists the allowed
    values, `min_items`/`max_items` bound a list's length: what `ok` tests, in a form the
    reference and the JSON Schema can print. A rule built by hand may leave them unset.
    """

    text: str
    ok: Callable[[Any], bool]
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[Any, ...] | None = None
    min_items: int | None = None
    max_items: int | None = None

    @property
    def range_text(self) -> str:
        """The numeric range in interval notation ('' for a rule that is not one)."""
        if self.lo is None and self.hi is None:
            return ""
        return range_text(self.lo, self.hi, self.lo_open, self.hi_open)


def range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    """'[0, 1)', '(0, 1e13]', '[1, inf)': interval notation with bounds as `fmt` writes them."""
    left = "(-inf" if lo is None else f"{'(' if lo_open else '['}{fmt(lo)}"
    right = "inf)" if hi is None else f"{fmt(hi)}{')' if hi_open else ']'}"
    return f"{left}, {right}"


def fmt(x: float) -> str:
    """A bound as a user would type it.

    Parameters
    ----------
    x : int or float
        A bound of a rule.

    Returns
    -------
    str
        0.999, 600, 10000, 1e6, 1e13, 4294967295: powers of ten from 1e5 as 1eN, other
        whole numbers in full below 1e7, the rest as Python writes them.
    """
    if _power_of_ten(x) and abs(x) >= 1e5:
        return f"{'-' if x < 0 else ''}1e{round(math.log10(abs(x)))}"
    if isinstance(x, int):
        return str(x)
    x = float(x)
    if x.is_integer() and abs(x) < 1e7:
        return str(int(x))
    if abs(x) >= 1e7 or (x != 0 and abs(x) < 1e-4):
        mantissa, exponent = f"{x:.12e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return repr(x)


def _power_of_ten(x: float) -> bool:
    return x != 0 and float(x).is_integer() and str(int(abs(x))).rstrip("0") == "1"


def interval(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Rule:
    """The rule lo..hi, each end open or closed.

    Parameters
    ----------
    lo, hi : float
        The bounds.
    lo_open, hi_open : bool
        Whether the bound itself is excluded.

    Returns
    -------
    Rule
        With `lo`, `hi` and the openness set, and the message "must be in [lo, hi)" in
        interval notation.
    """

    def ok(v: float) -> bool:
        above = v > lo if lo_open else v >= lo
        below = v < hi if hi_open else v <= hi
        return above and below

    return Rule(f"must be in {range_text(lo, hi, lo_open, hi_open)}", ok, lo, hi, lo_open, hi_open)


def gt(lo: float, hi: float = math.inf) -> Rule:
    """(lo, hi]: strictly above lo."""
    return _half(lo, hi, lo_open=True)


def ge(lo: float, hi: float = math.inf) -> Rule:
    """[lo, hi]."""
    return _half(lo, hi, lo_open=False)


def _half(lo: float, hi: float, *, lo_open: bool) -> Rule:
    if math.isinf(hi):
        # only a hand-built rule is unbounded above: every key of SCHEMA has an upper bound
        op = ">" if lo_open else ">="
        return Rule(f"must be {op} {fmt(lo)}", (lambda v: v > lo) if lo_open else (lambda v: v >= lo),
                    lo=lo, lo_open=lo_open)
    return interval(lo, hi, lo_open=lo_open)


def one_of(*choices: Any) -> Rule:
    return Rule("must be one of " + ", ".join(repr(c) for c in choices),
                lambda v: v in choices, choices=tuple(choices))


def exactly(value: Any, why: str) -> Rule:
    """One allowed value (e.g. `schema = 1`), with the reason in the message."""
    return Rule(f"must be {value!r} ({why})", lambda v: v == value, choices=(value,))


def non_empty(what: str) -> Rule:
    return Rule(f"must name at least one {what}", lambda v: len(v) > 0, min_items=1)


def at_most(n: int, what: str) -> Rule:
    return Rule(f"must list at most {n} {what}", lambda v: len(v) <= n, max_items=n)
