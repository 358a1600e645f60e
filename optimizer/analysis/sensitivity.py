"""Sensitivity: which inputs move the plan's value, and which would change the decision.

For each key input (`KNOBS`), the input is set low and high; the chosen plan (its actions,
MW and financing as decided) is re-valued there on the same scenarios (same seed: common
random numbers, so the difference is the input's doing) -> tornado data. With `replan`,
the problem is also re-solved at each setting; where the decisions differ from the plan
at the base setting the input "flips" the plan, and the switching point is located by
bisection on the setting.

Settings (low, high) and why:

=====================  ======  ===========  ====================================================
input                  kind    low / high   rationale
=====================  ======  ===========  ====================================================
btc_price              x       0.7 / 1.3    a +-30% level shift today, about half of one year's
                                            one-sigma move at 55%/y volatility
btc_volatility         x       0.75 / 1.25  0.55/y -> 0.41 .. 0.69: the range of realised
                                            annual BTC volatility in recent years
hashrate_growth        +       -0.1 / +0.1  network growth per year, 20% -> 10% .. 30%
                                            (exogenous network only)
network_breakeven      x       0.8 / 1.2    the marginal fleet's power cost, $50/MWh -> 40 .. 60:
                                            about the span from median power to all-in
                                            cost (economic network only)
power_price            x       0.8 / 1.2    long-run mean price of every market, +-20%
spike_probability      x       0.5 / 2.0    the domain range "5-60 h/y above $1,000" spans 12x
hpc_rent               x       0.8 / 1.2    every lease's rate and the market rent; the
                                            calibration range $100-190/kW-month is ~+-25%
capex                  x       0.8 / 1.2    capex per critical MW at every site ($8-10M/MW
                                            guidance, overruns skewed upward)
build_delay            +       -2 / +6      expected delay months beyond the build (floored
                                            at 0): power and equipment delays run long
renewal_probability    +       -0.2 / +0.2  every lease's renewal probability (clipped to 0..1)
discount_rate          +       -0.02/+0.02  10% -> 8% .. 12%
=====================  ======  ===========  ====================================================

"x" multiplies the instance's value, "+" adds to it; a row's `low`, `high`, `threshold`
are on that scale (base 1 for x, 0 for +). The re-valued plan keeps its financing, so
`cash_short_*_usd` is how far (worst month) it falls below min cash in expectation at that
setting: a plan funded to the limit at the base runs short when the input turns against it.

A flip is a change in *what is done where, with whom*: the set of (site, action, lease)
in the plan. A start moved by a quarter or MW resized is reported in `changes_*` but is
not a flip: plans carry several near-tied timings and cash-driven MW splits (measured on
vivopower: counting starts as flips made every rent or capex move of 1% a "flip"), and a
board decides the strategy, not the quarter. Bisection assumes one switch between the
base and the flipping end: if the plan changes several times on the way, it finds one.
"""
from __future__ import annotations

import math

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..gpu.risk import mean_and_se

from ..planning.catalog import Action, build_catalog
from ..planning.valuation import value_actions
from ..plan_value import plan_samples
from ..planning.finance import financing_cost_and_cash
from ..formatting import usd
from ..instance.types import Instance
from ..run import PlanResult, plan_instance
from ..mip.solve import Fix, PlanInfeasible
from .whatif import decision_diff

BISECT_STEPS = 4        # bracket = range / 16: four solves per flipping side
CASH_TOL_USD = 1.0


@dataclass(frozen=True)
class Knob:
    """One input: `apply(instance, setting)` returns the instance at that setting;
    `applies(instance)` says whether the instance has that input at all."""

    name: str
    label: str
    unit: str               # "x" (multiplier, base 1) or "+" (shift, base 0)
    low: float
    high: float
    apply: Callable[[Instance, float], Instance]
    applies: Callable[[Instance], bool] = lambda inst: True

    @property
    def base(self) -> float:
        return 1.0 if self.unit == "x" else 0.0


def _btc(field: str, f: Callable[[float, float], float]) -> Callable[[Instance, float], Instance]:
    return lambda inst, x: replace(inst, bitcoin=replace(
        inst.bitcoin, **{field: f(getattr(inst.bitcoin, field), x)}))


def _markets(field: str, f: Callable[[float, float], float]) -> Callable[[Instance, float], Instance]:
    return lambda inst, x: replace(inst, markets=tuple(
        replace(m, **{field: f(getattr(m, field), x)}) for m in inst.markets))


def _hpc(field: str, f: Callable[[float, float], float]) -> Callable[[Instance, float], Instance]:
    return lambda inst, x: replace(inst, sites=tuple(
        replace(s, hpc=replace(s.hpc, **{field: f(getattr(s.hpc, field), x)})) if s.hpc else s
        for s in inst.sites))


def _leases(field: str, f: Callable[[float, float], float]) -> Callable[[Instance, float], Instance]:
    return lambda inst, x: replace(inst, leases=tuple(
        replace(le, **{field: f(getattr(le, field), x)}) for le in inst.leases))


def _rent(inst: Instance, x: float) -> Instance:
    inst = _leases("rate_kw_month", lambda v, k: v * k)(inst, x)
    return replace(inst, hpc_market=replace(inst.hpc_market,
                                            rate_kw_month=inst.hpc_market.rate_kw_month * x))


def _times(v: float, k: float) -> float:
    return v * k


KNOBS: tuple[Knob, ...] = (
    Knob("btc_price", "BTC price", "x", 0.7, 1.3, _btc("price_usd", _times)),
    Knob("btc_volatility", "BTC volatility", "x", 0.75, 1.25, _btc("volatility", _times)),
    Knob("hashrate_growth", "Hashrate growth /y", "+", -0.1, 0.1,
         _btc("hashrate_growth", lambda v, d: max(v + d, -0.99)),
         applies=lambda inst: not inst.bitcoin.economic),
    Knob("network_breakeven", "Network breakeven (marginal fleet power cost)", "x", 0.8, 1.2,
         _btc("marginal_power_usd_per_mwh", _times), applies=lambda inst: inst.bitcoin.economic),
    Knob("power_price", "Power price level (all markets)", "x", 0.8, 1.2, _markets("mean_price", _times)),
    Knob("spike_probability", "Spike probability", "x", 0.5, 2.0,
         _markets("spike_probability", lambda v, k: min(v * k, 1.0))),
    Knob("hpc_rent", "HPC rent (leases and market)", "x", 0.8, 1.2, _rent),
    Knob("capex", "HPC capex per MW", "x", 0.8, 1.2, _hpc("capex_usd_per_mw", _times)),
    Knob("build_delay", "Build delay (months)", "+", -2.0, 6.0,
         _hpc("delay_months_mean", lambda v, d: max(v + d, 0.0))),
    Knob("renewal_probability", "Lease renewal probability", "+", -0.2, 0.2,
         _leases("renewal_probability", lambda v, d: min(max(v + d, 0.0), 1.0))),
    Knob("discount_rate", "Discount rate", "+", -0.02, 0.02,
         lambda inst, d: inst.with_plan(discount_rate=max(inst.plan.discount_rate + d, 0.0)))
)


def knob(name: str) -> Knob:
    for k in KNOBS:
        if k.name == name:
            return k
    raise ValueError(f"input: unknown sensitivity input {name!r} (known: {', '.join(k.name for k in KNOBS)})")


@dataclass
class Setting:
    """The plan re-valued, and the problem re-solved, at one input setting."""

    value: float
    npv_usd: float
    npv_se_usd: float
    cash_short_usd: float             # the fixed plan's worst expected-cash shortfall (0: none)
    decisions: list[dict] | None      # re-planned decisions; None without replan or if infeasible
    infeasible: str | None = None     # why no plan exists there, when so


def strategy(decisions: Sequence[dict]) -> set[tuple]:
    """What a plan does where, with whom: {(site, action, lease)} (see the module docstring)."""
    return {(d["site"], d["action"], d.get("lease")) for d in decisions}


class _Evaluator:
    """Values the fixed plan and re-plans at settings of one instance (N scenarios, seed)."""

    def __init__(self, instance: Instance, result: PlanResult, scenarios: int, seed: int,
                 backend: str, chunk: int | None, fixes: Sequence[Fix] | None, replan: bool,
                 gap: float) -> None:
        self.instance = instance.with_plan(scenarios=scenarios, seed=seed)
        self.result, self.backend, self.chunk = result, backend, chunk
        self.fixes, self.replan, self.gap = list(fixes or []), replan, gap
        self.catalog: list[Action] = build_catalog(self.instance)
        by_label = {a.label: a for a in self.catalog}
        self.plan_actions = [by_label[a.label] for a in result.actions]
        self.solves = 0

    def at(self, k: Knob | None, x: float) -> Setting:
        inst = self.instance if k is None else k.apply(self.instance, x)
        actions = self.catalog if self.replan else self.plan_actions
        rows = [a.index for a in self.plan_actions] if self.replan else list(range(len(actions)))
        vt = value_actions(inst, actions, backend=self.backend, chunk=self.chunk)
        r = self.result
        cost, fin_cash = financing_cost_and_cash(inst, r.draws)
        samples = plan_samples(vt, rows, r.quantities, cost)
        mean, se = mean_and_se(samples)
        cash = (inst.finance.cash_usd + np.cumsum(
            vt.baseline_cash + np.asarray(r.quantities) @ vt.cash[rows] + fin_cash))
        short = float(max(0.0, (inst.finance.min_cash_usd - cash).max()))
        short = 0.0 if short <= CASH_TOL_USD else short
        decisions, why = None, None
        if self.replan:
            self.solves += 1
            try:
                decisions = plan_instance(inst, value_table=vt, fixes=self.fixes, gap=self.gap).document["decisions"]
            except PlanInfeasible as err:
                why = str(err)
        return Setting(x, mean, se, short, decisions, why)


def _differs(s: Setting, reference: Sequence[dict]) -> bool:
    return s.decisions is None or strategy(s.decisions) != strategy(reference)


def bisect_flip(ev: _Evaluator, k: Knob, same: float, differs: float, reference: Sequence[dict],
                steps: int = BISECT_STEPS) -> tuple[float, float]:
    """Narrow [same, differs] (settings where the re-planned decisions equal / differ from
    `reference`) to a bracket `steps` halvings wide; returns (same side, differing side)."""
    for _ in range(steps):
        mid = 0.5 * (same + differs)
        if _differs(ev.at(k, mid), reference):
            differs = mid
        else:
            same = mid
    return same, differs


def sensitivity(instance: Instance, result: PlanResult, *, scenarios: int | None = None,
                backend: str = "auto", chunk: int | None = None, replan: bool = True,
                fixes: Sequence[Fix] | None = None, inputs: Sequence[str] | None = None,
                gap: float = 1e-4, bisect_steps: int = BISECT_STEPS,
                progress: Callable[[str], None] | None = None) -> list[dict]:
    """Tornado rows for each input in `inputs` (default: every `KNOBS` entry that applies to the instance), sorted by swing.

    Row: ``{input, label, unit, base, low, high, npv_low_usd, npv_high_usd, base_npv_usd,
    swing_usd, cash_short_low_usd, cash_short_high_usd, flips_low, flips_high, threshold, threshold_low,
    threshold_high, bracket_low, bracket_high, plan_at_low, plan_at_high, changes_low,
    changes_high, infeasible_low, infeasible_high}``. NPVs are the chosen plan's E[NPV] on
    `scenarios` (default: the plan's own count, never lowered) scenarios of the plan's seed;
    `noise_*` marks a move within 2 s.e. of the base, `cash_short_*_material` a shortfall
    above `material_cash_usd`.
    Flips compare the plan re-solved at the setting with the plan re-solved at the base
    setting on the same scenarios (the reference: the same plan as `result` when the
    scenario count and fixes are those `result` was planned with). `threshold` is the switching setting nearest the base (the midpoint of its
    bisection bracket); `fixes` are the --fix/--forbid the plan was made under.
    """
    n = result.scenarios if scenarios is None else scenarios   # never lowered silently
    ev = _Evaluator(instance, result, n, result.seed, backend, chunk, fixes, replan, gap)
    say = progress or (lambda _msg: None)
    knobs = (tuple(k for k in KNOBS if k.applies(instance)) if inputs is None
             else tuple(knob(name) for name in inputs))
    for k in knobs:
        if not k.applies(instance):
            mode = "an economic" if instance.bitcoin.economic else "an exogenous"
            raise ValueError(f"input: {k.name!r} does not apply to an instance with {mode} network")
    base = ev.at(None, 0.0)
    if replan and base.decisions is None:
        raise PlanInfeasible(f"no plan at the base setting: {base.infeasible}", reason="no_solution")
    reference = base.decisions if replan else result.document["decisions"]
    material = material_cash_usd(result)
    rows = []
    for k in knobs:
        lo, hi = ev.at(k, k.low), ev.at(k, k.high)
        row: dict[str, Any] = {
            "input": k.name, "label": k.label, "unit": k.unit, "base": k.base,
            "low": k.low, "high": k.high, "base_npv_usd": base.npv_usd,
            "npv_low_usd": lo.npv_usd, "npv_high_usd": hi.npv_usd,
            "npv_low_se_usd": lo.npv_se_usd, "npv_high_se_usd": hi.npv_se_usd,
            "swing_usd": abs(hi.npv_usd - lo.npv_usd),
            # a move within NOISE_SE standard errors of the base is not told apart from noise
            "noise_low": _is_noise(lo, base), "noise_high": _is_noise(hi, base),
            "scenarios": n,
            "cash_material_usd": material,
            "cash_short_low_material": lo.cash_short_usd > material,
            "cash_short_high_material": hi.cash_short_usd > material,
            "cash_short_low_usd": lo.cash_short_usd, "cash_short_high_usd": hi.cash_short_usd,
            "flips_low": replan and _differs(lo, reference),
            "flips_high": replan and _differs(hi, reference),
            "plan_at_low": lo.decisions, "plan_at_high": hi.decisions,
            "changes_low": decision_diff(reference, lo.decisions) if lo.decisions is not None else None,
            "changes_high": decision_diff(reference, hi.decisions) if hi.decisions is not None else None,
            "infeasible_low": lo.infeasible, "infeasible_high": hi.infeasible,
            "threshold": None, "threshold_low": None, "threshold_high": None,
            "bracket_low": None, "bracket_high": None,
        }
        for side, end in (("low", k.low), ("high", k.high)):
            if row[f"flips_{side}"]:
                same, diff = bisect_flip(ev, k, k.base, end, reference, bisect_steps)
                row[f"bracket_{side}"] = [same, diff]
                row[f"threshold_{side}"] = 0.5 * (same + diff)
        near = [t for t in (row["threshold_low"], row["threshold_high"]) if t is not None]
        if near:
            row["threshold"] = min(near, key=lambda t: abs(t - k.base) / (abs(k.high - k.low) or 1.0))
        rows.append(row)
        say(f"{k.label}: E[NPV] {usd(lo.npv_usd)} to {usd(hi.npv_usd)}"
            + (f"  flips at {row['threshold']:g}{k.unit}" if row["threshold"] is not None else ""))
    rows.sort(key=lambda r: -r["swing_usd"])
    return rows


NOISE_SE = 2.0          # moves within 2 standard errors are marked as noise
CASH_MATERIAL_USD = 1e6  # a cash shortfall is flagged above $1M ...
CASH_MATERIAL_SHARE = 1e-3  # ... or above 0.1% of the plan's capex, whichever is larger


def _is_noise(s: Setting, base: Setting) -> bool:
    se = math.hypot(s.npv_se_usd or 0.0, base.npv_se_usd or 0.0)
    return abs(s.npv_usd - base.npv_usd) <= NOISE_SE * se


def material_cash_usd(result: PlanResult) -> float:
    """The shortfall below which "cash short" is not worth a flag: the larger of $1M and
    0.1% of the plan's capex (convert MW x capex per MW, plus acquisitions)."""
    inst, capex = result.instance, 0.0
    for a, q in zip(result.actions, result.quantities):
        site = inst.site(a.site)
        if a.kind == "convert" and site.hpc is not None:
            capex += q * site.hpc.capex_usd_per_mw
        elif a.kind == "acquire" and site.acquire is not None:
            capex += site.acquire.cost_usd
    return max(CASH_MATERIAL_USD, CASH_MATERIAL_SHARE * capex)


def _setting_text(unit: str, v: float | None) -> str:
    if v is None:
        return ""
    return f"x{v:.3g}" if unit == "x" else f"{v:+.3g}"


def sensitivity_csv(rows: Sequence[dict]) -> str:
    import pandas as pd

    cols = ["input", "label", "unit", "low", "high", "base_npv_usd", "npv_low_usd", "npv_high_usd",
            "npv_low_se_usd", "npv_high_se_usd", "noise_low", "noise_high", "scenarios",
            "swing_usd", "cash_short_low_usd", "cash_short_high_usd", "flips_low", "flips_high", "threshold",
            "threshold_low", "threshold_high"]
    from ..outputs import csv_safe
    return csv_safe(pd.DataFrame([{c: r[c] for c in cols} for r in rows], columns=cols)).to_csv(index=False)
