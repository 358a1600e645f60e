"""CVaR by cutting planes: the plan MIP never sees a scenario, only cuts built from them.

CVaR_alpha of plan NPV is the minimum, over tail-weight vectors w (0 <= w_s <= 1/n,
sum 1, n = (1-alpha) S), of ``sum_s w_s NPV_s(q)``. So for any such w the linear function
``sum_s w_s NPV_s(q)`` over-estimates CVaR at every plan and is exact at the plans whose
worst-n scenarios w picks. A cut costs one product ``npv @ w`` on the device (A numbers
to the host); evaluating a plan costs one ``q @ npv`` and one sort of S values.

**Floor mode** (`risk.cvar_floor_usd`, Künzi-Bay & Mayer 2006): solve the MIP for
E[NPV]; if the plan's CVaR is below the floor, add ``sum_s w_s NPV_s(q) >= floor`` with
w the plan's tail weights and re-solve the persistent model. Cuts only remove plans that
miss the floor, so the final plan is optimal for the true problem to the MIP gap, and an
infeasible cut model proves the floor unreachable.

Before the MIP, `floor_loop` runs the same loop on the LP relaxation (Kelley, its
``lp_phase``): LP solves are cheap, and the tail weights of a fractional point give a
valid cut too (CVaR is the minimum of tail-weighted means, whatever point chose the
weights), so the MIP starts with the cuts the relaxation needs, and an infeasible
relaxation is the same proof as an infeasible MIP. No in-out stabilisation here: its
centre would have to meet the floor, and the first LP point that does ends the phase.
On a model that already holds cuts for the same floor (solve's liquidity rounds) the MIP
goes first and the phase follows only if its plan misses: those cuts usually hold at the
MIP's plan while the relaxation still misses (VivoPower), and LP cuts that buy no MIP
round only slow the MIP solves after them. A raised floor on a persistent model (the
frontier's) starts with the phase. Measured (MIP rounds without -> with, same plans):
TeraWulf 34 -> 26 over its liquidity rounds' floor loops (10,000 scenarios), VivoPower
6 -> 4, a 6-point frontier at 2,000 scenarios 39 -> 18 (TeraWulf; floor loops 13 s ->
9 s) and 10 -> 9 (VivoPower; 19 s -> 5 s). Where binaries decide the tail (VivoPower: the
relaxation's bound at the floor sits ~60% above the MIP optimum) the LP cuts sit at
mixtures no plan reaches, so wall time there is about even; where continuous MW move it
(TeraWulf, `benchmarks/mip_scaling.py`'s synthetic sites) the relaxation is within 0.1-2%
of the MIP and most rounds go (synthetic, gap 1e-3: 10 sites 5 -> 3 and 4 -> 1 MIP rounds,
200 sites 2 -> 1 and 24 s -> 13 s; 50 sites none saved).

**Weight mode** (`risk.weight` w > 0; objective (1-w) E + w CVaR through an epigraph
variable eta). Three methods; `weight_loop(method="auto")` picks "rows-lp" while a plan's
tail is small (ceil(TAIL_MARGIN n) <= ROWS_AUTO_MAX scenarios, n = (1-alpha) S) and
"pool" beyond:

* "naive": one cut per MIP solve (eta <= the plan's tail mean). The reference, and a
  trap: each cut is exact only at plans with that tail set, and where the tail moves with
  every swap of a project the MIP walks through one new tail set per full solve.
* "pool": an LP phase (Kelley with in-out stabilisation, Ben-Ameur & Neto 2007), then MIP
  rounds that cut at every improving solution HiGHS saved plus a midpoint, from a MIP
  start, with a progressive gap. Fewer MIP rounds than "naive", still one tail set each.
* "rows" / "rows-lp" (tail-scenario generation, `TailRows`; in the spirit of Espinoza &
  Moreno's aggregation for CVaR, 2014): Rockafellar-Uryasev rows ``u_s >= z - NPV_s`` only
  for the scenarios T that ever reach an evaluated plan's worst TAIL_MARGIN n, every other
  scenario in one aggregated row (valid by Jensen), and ``eta <= z - (sum u)/n``. One row
  per scenario stands for every tail set those scenarios can form, so the master sees
  CVaR's kinks itself; T stays a fraction of S. "rows-lp" first grows T on the LP
  relaxation (LP re-solves, no MIP), then MIP solves add the tails of every improving
  solution until the bound closes or nothing new enters T. Usually one MIP solve.

Exactness (all methods): every cut and every partial RU model over-estimates CVaR, so the
model's MIP dual bound is an upper bound on the true optimum; every evaluated plan's true
objective is a lower bound. The loop stops when (UB - LB) <= gap * max(|LB|, 1), the same
relative gap HiGHS reports, or when nothing new separates at the target gap.

Why "auto": on the hard case of `benchmarks/weight_mode.py` (many one-binary projects
whose tails move with every swap) "naive" stalls, "pool" needs a dozen MIP rounds and
"rows-lp" one or two; at large scenario counts a per-scenario row set would be thousands
of dense rows, where "pool" stays small. The measured rounds and times are in
`benchmarks/results/weight_mode.json` and `benchmarks/results/mip_scaling*.json`.
"""
from __future__ import annotations

from .engine import FLOOR_RTOL, CutEngine, Evaluated, LoopResult, TailRows
from .loops import (IN_OUT, LP_ROUNDS, ROWS_AUTO_MAX, ROWS_LP_ROUNDS, TAIL_MARGIN, floor_loop,
                    weight_loop)

__all__ = ["FLOOR_RTOL", "IN_OUT", "LP_ROUNDS", "ROWS_AUTO_MAX", "ROWS_LP_ROUNDS", "TAIL_MARGIN",
           "CutEngine", "Evaluated", "LoopResult", "TailRows", "floor_loop", "weight_loop"]
