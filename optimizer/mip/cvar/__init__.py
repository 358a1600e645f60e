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

Measured (2-core machine, HiGHS 1.15). The hard case, benchmarks/weight_mode.py (200
one-binary projects x 100 scenarios, cash for ~30 of them, w = 0.5, alpha = 0.9, gap 1e-4;
results/weight_mode.json; seed 0's run shared the 2 cores with another benchmark):
seed 0 / seed 1: "naive" 43 / 60 rounds in 150 s, not converged (gap 2% / 8e-4);
"pool" 17 / 13 MIP rounds, 109 / 50 s; "rows" 3 / 3 MIP rounds, 8.4 / 6.0 s; "rows-lp"
1 / 2 MIP rounds, 3.3 / 4.6 s; our extensive form 9.0 / 3.5 s (5.7 s for seed 0 alone);
mpi-sppy's EF with its CVaR transform (appsi_highs, on the benchmark's former toy
model; it now builds `mip.scenarios.scenario_creator`) 16 / 5.4 s; all that finish agree to
1e-15. So at S = 100 "rows-lp" is 15-30x faster than the cut loops and level with the
EF (0.8-2.7x), not decisively faster: the last MIP carries ~45 of the 100 scenario rows.
Its edge over the EF is the row count, expected to grow with S (unmeasured here).
On the synthetic tables of benchmarks/mip_scaling.py
(results/mip_scaling_weight_methods.json, 1e3 scenarios, w = 0.5, gap 1e-3) every method
converges in 1-2 MIP rounds: 10 sites "rows-lp" 1.1 s, "pool" 0.9 s, EF 5.3 s; 50 sites
4.6 s, 5.3 s, EF 18 s. At 1e5 scenarios (results/mip_scaling.json) "pool" takes 13 s at
200 sites, where a per-scenario row set would be thousands of dense rows: hence "auto".
"""
from __future__ import annotations

from .engine import FLOOR_RTOL, CutEngine, Evaluated, LoopResult, TailRows
from .loops import (IN_OUT, LP_ROUNDS, ROWS_AUTO_MAX, ROWS_LP_ROUNDS, TAIL_MARGIN, floor_loop,
                    weight_loop)

__all__ = ["FLOOR_RTOL", "IN_OUT", "LP_ROUNDS", "ROWS_AUTO_MAX", "ROWS_LP_ROUNDS", "TAIL_MARGIN",
           "CutEngine", "Evaluated", "LoopResult", "TailRows", "floor_loop", "weight_loop"]
