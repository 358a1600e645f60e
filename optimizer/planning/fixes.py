"""What-if fixes: a user's "take this" / "never take that" on the catalog, and which sets
of them no plan can meet, read from the plan rules (`planning.rules`).

A fix is a constraint on the catalog: some action matching it is taken (a forbid: none
is). Two fixes contradict each other when every pair of actions they allow is excluded by
a rule (`rules.exclusive_rule`: one sale, a sold site idle, one acquisition); a fixed
convert at a candidate site needs an allowed acquisition among those the rules say are
energised by its start (`RuleGroups.acquired`). The MIP applies fixes as bounds and rows
(`wattfolio.mip.solve.apply_fixes`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from ..instance.types import Instance, month_str
from .catalog import Action
from .rules import RULES, exclusive_rule, rule_groups


@dataclass(frozen=True)
class Fix:
    """A user's constraint on the catalog: take (or, with forbid, never take) an action of
    `kind` at `site`, at `start` if given. A fix without a start means at least one of
    the matching actions is taken."""

    site: str
    kind: str
    start: int | None = None
    forbid: bool = False

    def matches(self, a: Action) -> bool:
        """Whether catalog action `a` is one this fix is about."""
        return a.site == self.site and a.kind == self.kind and (
            self.start is None or a.start == self.start)

    def __str__(self) -> str:
        when = f"@{month_str(self.start)}" if self.start is not None else ""
        return f"{'forbid' if self.forbid else 'fix'} {self.site}={self.kind}{when}"


def contradictions(parsed: Sequence[tuple[str, Fix]], catalog: Sequence[Action],
                   instance: Instance) -> list[str]:
    """Why no plan meets these fixes together, one message per clash.

    Parameters
    ----------
    parsed : sequence of (where, Fix)
        Each fix with the text that names it in messages (``--fix 'mine=sell'``).
    catalog : sequence of Action
        The instance's catalog (`build_catalog`).
    instance : Instance

    Returns
    -------
    list of str
        Empty when the fixes are compatible with each other and with the rules: a fix
        all of whose actions are forbidden; two fixes whose every pair of allowed actions
        a rule excludes; a fixed convert at a candidate site with no allowed acquisition
        energised by its start.
    """
    errors: list[str] = []
    fixes = [(w, f) for w, f in parsed if not f.forbid]
    forbids = [(w, f) for w, f in parsed if f.forbid]

    def allowed(f: Fix) -> list[Action]:
        return [a for a in catalog if f.matches(a) and not any(g.matches(a) for _, g in forbids)]

    for w, f in fixes:
        if not allowed(f):
            by = [wg for wg, g in forbids if any(g.matches(a) for a in catalog if f.matches(a))]
            errors.append(f"{w} contradicts {' and '.join(by)}: every action it allows is forbidden")
    groups = rule_groups(instance, catalog)
    for (w1, f1), (w2, f2) in combinations(fixes, 2):
        pairs = [(a.index, b.index) for a in allowed(f1) for b in allowed(f2)]
        # one action may meet both fixes; otherwise every pair must clash under a rule
        hit = [None if a == b else exclusive_rule(groups, a, b) for a, b in pairs]
        if pairs and all(hit):
            errors.append(f"{w1} contradicts {w2}: "
                          + "; ".join(RULES[r] for r in dict.fromkeys(hit)))
    ready = dict(groups.acquired)
    for w, f in fixes:
        site = instance.site(f.site)
        if f.kind != "convert" or site.status != "candidate" or site.acquire is None:
            continue
        # an acquisition fixed at this site narrows the ones a convert may follow
        acq = [allowed(g) for _, g in fixes if g.site == f.site and g.kind == "acquire"]
        ok = {a.index for a in catalog if a.site == f.site and a.kind == "acquire"
              and not any(g.matches(a) for _, g in forbids)}
        for chosen in acq:
            ok &= {a.index for a in chosen}
        if not any(b in ok for a in allowed(f) for b in ready.get(a.index, [])):
            errors.append(f"{w}: no allowed acquisition of {f.site!r} is energised "
                          f"({site.acquire.energize_months} months) by the convert's start")
    return errors
