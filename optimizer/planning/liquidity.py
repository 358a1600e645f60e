"""Liquidity scenario by scenario: the committed revolver, refinancing at maturity where
the market is open, the plan's cash balance in every scenario-month, and the figures a
board reads from it.

Conventions (README, "Liquidity"):

- **Revolver** (`kind = "revolver"`, at most one): committed from the plan's start to
  its `maturity`, drawn by rule in each scenario, never by the plan (`gpu.liquidity`).
- **Refinancing** (`refinance = {...}` on secured notes and convertibles): at maturity
  the principal rolls into new notes at `refinance.rate` for `term_years` in the
  scenarios where the market is open — no AI-market bust has begun and HPC market rent
  is at least `min_rent_index` x today's — and is due in cash elsewhere. The test reads
  the scenario's market state alone, never the plan, so cash stays linear in the
  decisions. A refinancing at the market's rate of the day is valued NPV-neutral.
- **Headroom** = cash + undrawn committed revolver. The liquidity floor
  (`risk.liquidity_probability` p) asks that headroom stay >= `finance.min_cash_usd` in
  every month in at least p of the scenarios.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..gpu.backend import get_backend, to_host
from ..gpu.factors import rent_path, stress_onset
from ..gpu.liquidity import CashPaths, Revolver, revolver_paths, worst_month
from ..instance.types import Instance, Instrument
from .finance import draw_terms, drawn_financing
from .valuation import engine_inputs

REFINANCE_BLOCK = 1 << 16   # scenarios per block of the refinancing test's rent paths


def revolver_of(instance: Instance) -> Revolver:
    """The instance's committed revolver in plan months (a zero facility when none)."""
    for k in instance.finance.instruments:
        if k.kind == "revolver":
            return Revolver(limit_usd=k.max_usd, rate=k.rate, commitment_fee=k.commitment_fee,
                            maturity=max(0, min(k.maturity, instance.plan.end) - instance.plan.start))
    return Revolver()


def refinancing(instance: Instance) -> list[Instrument]:
    """Instruments that can roll over at a maturity inside the horizon."""
    return [k for k in instance.finance.instruments
            if k.refinance is not None and k.maturity is not None and k.maturity < instance.plan.end]


def refinance_open(instance: Instance, scenarios: np.ndarray, backend: str = "numpy") -> dict[str, np.ndarray]:
    """Per refinancing instrument, whether its market is open at maturity in each of the
    given scenario numbers (bool (S,)), from the scenario's HPC rent and AI-stress state
    alone (the same draws the valuation makes)."""
    out: dict[str, np.ndarray] = {}
    ks = refinancing(instance)
    if not ks:
        return out
    be = get_backend(backend)
    xp = be.xp
    inputs = engine_inputs(instance, [])
    h = inputs.horizon
    today = inputs.rent.rate_kw_month
    scenarios = np.asarray(scenarios, dtype=np.int64)
    last = max(k.maturity - instance.plan.start for k in ks) + 1
    parts: dict[str, list[np.ndarray]] = {k.id: [] for k in ks}
    # rent paths only to the last maturity, a block of scenarios at a time: at 10^6
    # scenarios the whole (S, M) path would be gigabytes for one bool per scenario
    for b0 in range(0, scenarios.size, REFINANCE_BLOCK):
        scen = xp.asarray(scenarios[b0:b0 + REFINANCE_BLOCK])
        onset = stress_onset(xp, h.seed, scen, inputs.stress)
        rent = rent_path(xp, h.seed, scen, h, inputs.rent, months=last, onset=onset,
                         rent_drop=inputs.stress.rent_drop)
        for k in ks:
            m = k.maturity - instance.plan.start
            ok = (rent[:, m] >= k.refinance.min_rent_index * today) & (onset > m)
            parts[k.id].append(to_host(ok).astype(bool))
    return {kid: np.concatenate(v) if v else np.zeros(0, bool) for kid, v in parts.items()}


def refinanced_cash(instance: Instance, instrument: Instrument, month: int) -> np.ndarray:
    """Cash per $ drawn in `month` (M,) when the notes roll over at maturity: no principal
    then, coupons at the new rate to the new maturity, principal there if inside the
    horizon."""
    plan = instance.plan
    _, cash = draw_terms(instance, (instrument.id, month))
    cash = cash.copy()
    mat = instrument.maturity - plan.start
    cash[mat] += 1.0
    new = mat + 12 * instrument.refinance.term_years
    last = min(new, plan.months - 1)
    cash[mat + 1:last + 1] -= instrument.refinance.rate / 12.0
    if new < plan.months:
        cash[new] -= 1.0
    return cash


def financing_cash(instance: Instance, financing: Sequence[tuple[str, float, int]],
                   open_flags: dict[str, np.ndarray], n_scenarios: int) -> np.ndarray:
    """Cash of a plan's draws in every scenario-month (S, M): the draws' own schedule,
    rolled over at maturity in the scenarios where refinancing is open."""
    out = np.zeros((n_scenarios, instance.plan.months))
    for inst_id, amount, month in financing:
        _, cash = draw_terms(instance, (inst_id, month))
        out += amount * cash[None, :]
        flags = open_flags.get(inst_id)
        if flags is not None and flags.any():
            k = instance.instrument(inst_id)
            out[flags] += amount * (refinanced_cash(instance, k, month) - cash)[None, :]
    return out


def cash_paths(instance: Instance, operating: np.ndarray, financing_cash_sm: np.ndarray) -> CashPaths:
    """The revolver rule over a plan's operating cash (S, M) and financing cash (S, M)."""
    f = instance.finance
    return revolver_paths(np, operating + financing_cash_sm, f.cash_usd, f.min_cash_usd,
                          revolver_of(instance))


def _interval(k: int, n: int, z: float = 1.959963984540054) -> list[float]:
    """Wilson 95% interval of a binomial share k / n."""
    if n == 0:
        return [math.nan, math.nan]
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, centre - half), min(1.0, centre + half)]


@dataclass(frozen=True)
class LiquidityStats:
    prob_below_min: float            # share of scenarios with headroom < minimum in some month
    prob_below_min_ci95: list[float]
    prob_cash_below_zero: float
    tightest_month: int              # plan month with the lowest 5th percentile of headroom
    headroom_p05_usd: float          # that percentile, in that month
    cash_p05_min_usd: float          # lowest 5th percentile of month-end cash
    peak_revolver_p50_usd: float
    peak_revolver_p95_usd: float
    expected_revolver_cost_usd: float  # PV of interest and fees, mean over scenarios

    def as_dict(self, instance: Instance) -> dict:
        from ..instance.types import month_str
        d = dict(self.__dict__)
        d["tightest_month"] = month_str(instance.plan.start + self.tightest_month)
        return d


def liquidity_stats(instance: Instance, paths: CashPaths) -> LiquidityStats:
    """The board's liquidity figures from the cash paths of one set of scenarios."""
    f, p = instance.finance, instance.plan
    S = paths.cash.shape[0]
    short, _ = worst_month(np, paths.headroom, f.min_cash_usd)
    below = int((short > 1e-6).sum())
    p05 = np.percentile(paths.headroom, 5, axis=0)
    tight = int(np.argmin(p05))
    peak = paths.drawn.max(axis=1) if paths.drawn.size else np.zeros(S)
    disc = (1.0 + p.discount_rate) ** (-(np.arange(p.months) + 0.5) / 12.0)
    return LiquidityStats(
        prob_below_min=below / S, prob_below_min_ci95=_interval(below, S),
        prob_cash_below_zero=float((paths.cash.min(axis=1) < 0).mean()),
        tightest_month=tight, headroom_p05_usd=float(p05[tight]),
        cash_p05_min_usd=float(np.percentile(paths.cash, 5, axis=0).min()),
        peak_revolver_p50_usd=float(np.percentile(peak, 50)),
        peak_revolver_p95_usd=float(np.percentile(peak, 95)),
        expected_revolver_cost_usd=float((paths.interest @ disc).mean()))


# ---- the oracle the liquidity cuts ask ------------------------------------------------------

@dataclass
class LiquidityPoint:
    """One plan's liquidity on the in-sample scenarios, linear in the plan (pre-revolver
    cash plus the committed line), with what its cuts need."""

    q: np.ndarray
    draws_usd: np.ndarray
    shortfall: np.ndarray       # (S,) worst-month (min cash - headroom), USD
    worst: np.ndarray           # (S,) that month
    tail: np.ndarray            # scenario numbers of the worst (1 - p) share
    tail_mean_usd: float        # CVaR_p of the linear shortfall: the cuts' bound
    # share of scenarios whose headroom never falls short under the revolver rule itself
    # (interest on the drawn balance included): the figure the plan's stats report and
    # the floor is judged by
    probability: float
    cost_usd: float             # expected PV of revolver interest and fees (the rule, linearised)
    # (S, M) bool: where the revolver is partly drawn, d cost / d pre-revolver cash is
    # -disc[m] x cost_scale there and 0 elsewhere; None without a priced revolver. A mask,
    # not the float weights: an eighth of the memory at 10^6 scenarios
    cost_active: np.ndarray | None
    cost_scale: float = 0.0     # (rate - commitment fee) / 12 / S

    @property
    def cost_weights(self) -> np.ndarray | None:
        """(S, M) d cost / d pre-revolver cash, USD per USD (built from the mask)."""
        if self.cost_active is None:
            return None
        return np.where(self.cost_active, self.disc_scale, 0.0)

    disc_scale: np.ndarray | None = None   # (M,) disc x cost_scale


class LiquidityOracle:
    """Values plans' cash scenario by scenario for the liquidity cuts and the revolver's
    expected cost (an L-shaped epigraph). Cut coefficients are obtained by recomputing the
    scenarios from the counter-based generator with a scenario-by-month weight array, so
    actions x scenarios x months is never stored.

    Parameters
    ----------
    instance : Instance
        Its plan's scenarios and seed are the in-sample set.
    actions : sequence of Action
        The catalog, in the model's order.
    draws : sequence of Draw
        The model's financing options, in its order.
    backend, chunk :
        As for the valuation.
    state : ScenarioState, optional
        The in-sample draws, when the caller holds them (else drawn on first use).
    """

    def __init__(self, instance: Instance, actions, draws, backend: str = "auto",
                 chunk: int | None = None, state=None) -> None:
        p, f = instance.plan, instance.finance
        self.instance, self.actions, self.draws = instance, list(actions), list(draws)
        self.backend, self.chunk = backend, chunk
        self.probability = instance.risk.liquidity_probability
        S, M = p.scenarios, p.months
        self.S, self.M = S, M
        self.revolver = revolver_of(instance)
        rv = self.revolver
        m = np.arange(M)
        is_open = (m < rv.maturity) & (rv.limit_usd > 0)
        self.line = np.where(is_open, rv.limit_usd, 0.0)
        # the commitment fee on the whole line is the least the facility costs in cash
        self.fees = np.cumsum(np.where(is_open, rv.limit_usd * rv.commitment_fee / 12.0, 0.0))
        self.disc = (1.0 + p.discount_rate) ** (-(m + 0.5) / 12.0)
        self.open = refinance_open(instance, np.arange(S), backend)
        self.cum_draw = np.cumsum(np.array([draw_terms(instance, d)[1] for d in self.draws]).reshape(-1, M), axis=1)
        self.cum_draw_open: dict[int, np.ndarray] = {}
        for j, d in enumerate(self.draws):
            if d.instrument in self.open:
                k = instance.instrument(d.instrument)
                self.cum_draw_open[j] = np.cumsum(refinanced_cash(instance, k, d.month))
        self.opening, self.min_cash = f.cash_usd, f.min_cash_usd
        self._state = state

    @property
    def state(self):
        """The in-sample scenarios' draws, drawn once and reused by every round's
        valuations (`planning.valuation.in_sample_state`); None past its budget, where
        each round draws them again (slower, the same numbers)."""
        if self._state is None:
            from .valuation import in_sample_state
            self._state = in_sample_state(self.instance, self.actions, self.backend, self.chunk) or False
        return self._state or None

    def _draw_cum(self, d_usd: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Cumulative financing cash (len(ids), M) of draw amounts (K,) in scenarios ids."""
        out = np.broadcast_to(d_usd @ self.cum_draw, (ids.size, self.M)).copy()
        for j, cum in self.cum_draw_open.items():
            if d_usd[j] > 0:
                flags = self.open[self.draws[j].instrument][ids]
                out[flags] += d_usd[j] * (cum - self.cum_draw[j])[None, :]
        return out

    def point(self, q: np.ndarray, d_usd: np.ndarray) -> LiquidityPoint:
        """The plan's liquidity on every in-sample scenario, valued in scenario blocks
        (`blocks.BLOCK_SCENARIOS`) so that only (S,) figures and an (S, M) mask stay."""
        from . import blocks
        from .valuation import value_actions
        q = np.asarray(q, float)
        d_usd = np.asarray(d_usd, float)
        # the plan's cash needs only the actions it takes (a handful of the catalog): the
        # others add exactly zero, and valuing them is most of a valuation's cost
        taken = np.flatnonzero(q != 0.0)
        acts = [self.actions[i] for i in taken]
        rv = self.revolver
        priced = rv.limit_usd > 0 and (rv.rate > 0 or rv.commitment_fee > 0)
        is_open = self.line > 0
        short = np.empty(self.S)
        worst = np.empty(self.S, dtype=np.int64)
        active = np.zeros((self.S, self.M), dtype=bool) if priced else None
        cost_sum = 0.0
        holds = 0
        financing = drawn_financing(self.draws, d_usd)   # as the solution reports them
        for b0 in range(0, self.S, blocks.BLOCK_SCENARIOS):
            ids = np.arange(b0, min(self.S, b0 + blocks.BLOCK_SCENARIOS))
            vt = value_actions(self.instance, acts, backend=self.backend, chunk=self.chunk,
                               plan_quantities=q[taken], state=self.state,
                               scenario_ids=None if ids.size == self.S else ids)
            pre = self.opening + np.cumsum(vt.plan_cash, axis=1) + self._draw_cum(d_usd, ids)
            short[ids], worst[ids] = worst_month(np, pre + (self.line - self.fees)[None, :], self.min_cash)
            flags = {k: v[ids] for k, v in self.open.items()}
            paths = cash_paths(self.instance, vt.plan_cash,
                               financing_cash(self.instance, financing, flags, ids.size))
            true_short, _ = worst_month(np, paths.headroom, self.min_cash)
            holds += int((true_short <= 1e-6).sum())   # as `liquidity_stats` counts
            if priced:
                drawn = np.clip(self.min_cash - (pre - self.fees[None, :]), 0.0, rv.limit_usd)
                per_month = np.where(is_open, drawn * rv.rate / 12.0
                                     + (rv.limit_usd - drawn) * rv.commitment_fee / 12.0, 0.0)
                cost_sum += float((per_month @ self.disc).sum())
                active[ids] = (drawn > 0) & (drawn < rv.limit_usd) & is_open[None, :]
        p = self.probability
        n_tail = max(1, math.ceil((1.0 - p) * self.S)) if p is not None else 1
        tail = np.argsort(-short, kind="stable")[:n_tail]
        scale = (rv.rate - rv.commitment_fee) / 12.0 / self.S
        return LiquidityPoint(q=q, draws_usd=d_usd, shortfall=short, worst=worst, tail=tail,
                              tail_mean_usd=float(short[tail].mean()),
                              probability=holds / self.S,
                              cost_usd=cost_sum / self.S if priced else 0.0,
                              cost_active=active, cost_scale=scale,
                              disc_scale=self.disc * scale)

    def _weighted(self, scenario_ids: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """(sum_{s,m} W[s,m] x cumulative cash of each action (A,), the same of the baseline)."""
        from .valuation import value_actions
        # a weight on cumulative cash at month m is a weight on every month's cash up to m
        per_month = np.cumsum(weights[:, ::-1], axis=1)[:, ::-1]
        vt = value_actions(self.instance, self.actions, backend=self.backend, chunk=self.chunk,
                           scenario_ids=scenario_ids, cash_weights=per_month, state=self.state)
        return vt.weighted_cash, vt.weighted_baseline

    def liquidity_cut(self, pt: LiquidityPoint) -> tuple[np.ndarray, np.ndarray, float]:
        """(coefficients over q (A,), over draws (K,), constant), USD, of
        sum_{s in tail} headroom_{s, worst month}(q, D) - min cash >= 0: a valid cut for the
        CVaR bound on the worst-month shortfall (Nemirovski & Shapiro 2006)."""
        T, mstar = pt.tail, pt.worst[pt.tail]
        W = np.zeros((T.size, self.M))
        W[np.arange(T.size), mstar] = 1.0
        cq, cb = self._weighted(T, W)
        cd = np.zeros(len(self.draws))
        for j in range(len(self.draws)):
            cum = np.broadcast_to(self.cum_draw[j], (T.size, self.M)).copy()
            if j in self.cum_draw_open:
                flags = self.open[self.draws[j].instrument][T]
                cum[flags] = self.cum_draw_open[j]
            cd[j] = cum[np.arange(T.size), mstar].sum()
        const = float(cb + (self.opening + self.line[mstar] - self.fees[mstar] - self.min_cash).sum())
        return cq, cd, const

    def cost_cut(self, pt: LiquidityPoint) -> tuple[np.ndarray, np.ndarray, float]:
        """(coefficients over q, over draws, constant), USD, of the tangent to the expected
        revolver cost at the plan: theta >= const + cq . q + cd . D."""
        act = pt.cost_active
        rows = np.flatnonzero(act.any(axis=1))
        if rows.size == 0:
            return np.zeros(len(self.actions)), np.zeros(len(self.draws)), pt.cost_usd
        gq, _ = self._weighted(rows, np.where(act[rows], pt.disc_scale[None, :], 0.0))
        # a draw's cash is the same in every scenario (or in every open one): its weighted
        # sum needs only how many scenarios are active in each month
        gd = np.zeros(len(self.draws))
        count = act.sum(axis=0)
        for j in range(len(self.draws)):
            gd[j] = float((count * pt.disc_scale) @ self.cum_draw[j])
            if j in self.cum_draw_open:
                flags = self.open[self.draws[j].instrument]
                count_open = act[flags].sum(axis=0)
                gd[j] += float((count_open * pt.disc_scale) @ (self.cum_draw_open[j] - self.cum_draw[j]))
        # cost falls as cash rises: the gradient is minus the weighted cash
        const = pt.cost_usd + float(gq @ pt.q) + float(gd @ pt.draws_usd)
        return -gq, -gd, const
