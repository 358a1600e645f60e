"""What the per-scenario liquidity floor costs a planning run.

    python3 benchmarks/liquidity.py [--scenarios 10000 100000] [--instances terawulf vivopower]
                                    [--backend numpy|cupy]

For each seed instance and scenario count, in the same process: the plan with the
instance's liquidity floor and revolver (`risk.liquidity_probability`), and the same
instance with the expected-cash rows only (no probability, the revolver left out). It
reports the liquidity cut rounds, the recomputation time per round (the oracle's
valuations: the plan's cash paths and the cuts' weighted recomputation), the total wall
time of each plan and their ratio, and both plans' E[NPV], CVaR and in-sample P(cash
below minimum). Results go to ``benchmarks/results/liquidity_<backend>.json``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))

from wattfolio.instance.load import load_instance  # noqa: E402
from wattfolio.plan_value import value_plan          # noqa: E402
from wattfolio.run import plan_instance             # noqa: E402


def expected_cash_only(inst):
    """The instance as the first build planned it: expected cash rows, no revolver."""
    keep = tuple(k for k in inst.finance.instruments if k.kind != "revolver")
    return replace(inst, risk=replace(inst.risk, liquidity_probability=None),
                   finance=replace(inst.finance, instruments=keep))


def one(inst, scenarios: int, backend: str) -> dict:
    t0 = time.perf_counter()
    r = plan_instance(inst, scenarios=scenarios, backend=backend)
    wall = time.perf_counter() - t0
    rounds = r.solver.get("liquidity_rounds") or []
    liq = r.stats.get("liquidity")
    if liq is None:
        # the expected-cash plan's own cash, scenario by scenario, on the same scenarios
        probe = replace(inst, risk=replace(inst.risk, liquidity_probability=0.95))
        liq = value_plan(probe, r.spec, scenarios=scenarios, seed=r.seed, backend=backend).stats["liquidity"]
    return {"wall_s": wall, "liquidity_rounds": len(rounds),
            "recompute_s_per_round": statistics.median([x["seconds"] for x in rounds]) if rounds else 0.0,
            "recompute_s_total": sum(x["seconds"] for x in rounds),
            "expected_npv_usd": r.stats["expected_npv_usd"], "cvar_usd": r.stats["cvar_usd"],
            "prob_below_min": liq.get("prob_below_min")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--instances", nargs="+", default=["terawulf", "vivopower"])
    p.add_argument("--backend", default="numpy")
    p.add_argument("--out")
    args = p.parse_args()
    rows = []
    for name in args.instances:
        inst = load_instance(ROOT / "instances" / f"{name}.toml")
        for n in args.scenarios:
            floor = one(inst, n, args.backend)
            base = one(expected_cash_only(inst), n, args.backend)
            row = {"instance": name, "scenarios": n, "backend": args.backend,
                   "floor": floor, "expected_cash": base,
                   "wall_ratio": floor["wall_s"] / base["wall_s"],
                   "expected_npv_cost_usd": base["expected_npv_usd"] - floor["expected_npv_usd"]}
            rows.append(row)
            print(f"{name:10s} {n:>8,}  floor {floor['wall_s']:7.1f} s ({floor['liquidity_rounds']} rounds, "
                  f"{floor['recompute_s_per_round']:.2f} s/round)  expected-cash {base['wall_s']:6.1f} s  "
                  f"ratio {row['wall_ratio']:.1f}x  E[NPV] cost {row['expected_npv_cost_usd'] / 1e6:,.1f}M  "
                  f"P(short) {floor['prob_below_min']:.1%} vs {base['prob_below_min']:.1%}", flush=True)
    from mip_scaling import write_results  # noqa: PLC0415  (the benchmarks' JSON writer)
    write_results(args.out or str(RESULTS / f"liquidity_{args.backend}.json"), args, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
