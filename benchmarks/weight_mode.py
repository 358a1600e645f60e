"""Weight mode ((1-w) E + w CVaR) on the case where the naive cut loop stalls.

    python3 benchmarks/weight_mode.py [--projects 200] [--scenarios 100] [--seeds 0,1,2]
                                      [--methods naive,pool,rows,rows-lp] [--cap 300]
                                      [--gap 1e-4] [--no-ef] [--no-mpisppy]

The hard case (`hard_case`): N independent projects, each a sale at its own site (one
binary each), that cost cash in the first month; cash covers about `take` of them, so
the cash row is a knapsack. Per-scenario NPVs have a genuine mean/tail conflict: the
projects with the higher mean load more on a left-skewed common factor (a crash regime
in 10% of scenarios) and crash on their own more often (a loss of 0.5-1.5x cost, with
probability growing with the loading), plus Student-t(3) noise. Which scenarios form a
plan's tail then depends on which projects it holds, so every MIP solve of the naive loop
finds a plan whose tail set no cut has seen yet: it needs dozens of rounds.

Per seed and method: MIP rounds, wall seconds, objective, certified gap; the extensive
form (`wattfolio.mip.extensive`, same HiGHS, gap and cap) and, if mpi-sppy is installed,
mpi-sppy's extensive form over wattfolio's own scenario model
(`wattfolio.mip.scenarios.scenario_creator`: the same data and rows, one model per
scenario) with mpi-sppy's CVaR transform (`mpisppy.utils.cvar`), solved by `highs`.
Writes ``benchmarks/results/weight_mode.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wattfolio.gpu.value_table import ValueTable                                       # noqa: E402
from wattfolio.planning.catalog import build_catalog                                  # noqa: E402
from wattfolio.mip.cvar import weight_loop                                  # noqa: E402
from wattfolio.mip.extensive import solve_extensive                              # noqa: E402
from wattfolio.instance.types import (Finance, Instance, Mining, Plan, Risk, Sale,  # noqa: E402
                                Site, parse_month)
from wattfolio.mip.build import SCALE                                        # noqa: E402
from wattfolio.mip.model import PlanModel                                     # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
START = parse_month("2026-01")


def hard_case(n: int = 200, S: int = 100, seed: int = 0, *, weight: float = 0.5,
              alpha: float = 0.9, take: float = 30.0, crash_p: float = 0.08,
              idio: float = 0.6) -> tuple[Instance, list, ValueTable]:
    """(instance, catalog, ValueTable) of the knapsack-of-projects case (module docstring)."""
    rng = np.random.default_rng(seed)
    sites = tuple(Site(id=f"p{i:03d}", market="m", status="operating", use="mining",
                       capacity_mw=10.0, mining=Mining(20.0, 5000.0),
                       sale=Sale(1e7, 1.5e7, 2e7, 1.0, 1)) for i in range(n))
    cost = rng.uniform(0.5, 1.5, n) * 1e7
    plan = Plan(name="hard", start=START, horizon_years=1, decision_step_months=12,
                discount_rate=0.1, scenarios=S, seed=seed)
    inst = Instance(plan=plan, risk=Risk(alpha, None, weight), bitcoin=None, markets=(),
                    hpc_market=None, sites=sites,
                    finance=Finance(cash_usd=take * cost.mean(), min_cash_usd=0.0))
    actions = build_catalog(inst)
    assert len(actions) == n, "one sale per project"
    factor = rng.standard_normal(S) - np.where(rng.random(S) < 0.1, 3.0, 0.0)
    factor -= factor.mean()
    beta = np.abs(rng.normal(0.0, 1.0, n))
    mu = 0.05 + 0.10 * beta + 0.05 * rng.standard_normal(n)
    crash = rng.random((n, S)) < crash_p * (0.5 + beta[:, None])
    loss = rng.uniform(0.5, 1.5, n)[:, None] * crash
    npv = (mu[:, None] + 0.15 * beta[:, None] * factor[None]
           + idio * 0.15 * rng.standard_t(3, (n, S)) - loss + loss.mean(1, keepdims=True))
    npv *= cost[:, None]
    M = plan.months
    cash = np.zeros((n, M))
    cash[:, 0] = -cost
    vt = ValueTable(npv=npv, baseline_npv=np.zeros(S), cash=cash, baseline_cash=np.zeros(M),
                    xp=np, backend="numpy")
    return inst, actions, vt


def run_method(inst, actions, vt, method: str, gap: float, cap: float) -> dict:
    t0 = time.perf_counter()
    pm = PlanModel(inst, actions, vt, weight=inst.risk.weight)
    res = weight_loop(pm, inst.risk.alpha, None, gap=gap, deadline=t0 + cap, method=method)
    wall = time.perf_counter() - t0
    return {"status": res.status, "wall_seconds": wall,
            "rounds": len(res.rounds), "mip_rounds": sum(r["phase"] == "mip" for r in res.rounds),
            "cuts": res.cuts, "objective": res.best.objective if res.best else None,
            "cvar": res.best.cvar if res.best else None, "bound": res.bound, "gap": res.gap,
            "taken": int(res.best.q.sum()) if res.best else None}


def run_extensive(inst, actions, vt, gap: float, cap: float) -> dict:
    t0 = time.perf_counter()
    ef = solve_extensive(inst, actions, vt, alpha=inst.risk.alpha, weight=inst.risk.weight,
                         time_limit=cap, gap=gap)
    return {"status": ef.outcome.status, "wall_seconds": time.perf_counter() - t0,
            "highs_seconds": ef.outcome.seconds,
            "objective": ef.outcome.objective if ef.outcome.has_solution else None,
            "cvar": ef.cvar_usd, "bound": ef.outcome.bound, "gap": ef.outcome.gap}


def run_mpisppy(inst, actions, vt, gap: float, cap: float) -> dict | None:
    """mpi-sppy's EF over `scenario_creator` with its CVaR transform; a status saying why
    when it cannot run."""
    try:
        from mpisppy.opt.ef import ExtensiveForm
        from wattfolio.mip.scenarios import kw_creator, scenario_creator, scenario_names_creator
    except Exception as e:                     # noqa: BLE001 - optional dependency
        return {"status": f"skipped: {type(e).__name__}: {e}"}
    t0 = time.perf_counter()
    try:
        kw = kw_creator(inst, actions, vt, cvar_weight=inst.risk.weight, cvar_alpha=inst.risk.alpha)
        ef = ExtensiveForm({"solver": "highs"}, scenario_names_creator(vt.n_scenarios),
                           scenario_creator, scenario_creator_kwargs=kw)
        build = time.perf_counter() - t0
        res = ef.solve_extensive_form(solver_options={"mip_rel_gap": gap, "time_limit": cap})
        obj = ef.get_objective_value() * SCALE
    except Exception as e:                     # noqa: BLE001
        return {"status": f"failed: {type(e).__name__}: {e}"}
    tc = str(res.solver.termination_condition)
    return {"status": "optimal" if tc == "optimal" else tc, "build_seconds": build,
            "wall_seconds": time.perf_counter() - t0, "objective": obj}


def _fmt(x, spec=",.0f"):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title="weight mode on the hard case (seconds)")
    for c in ("seed", "N x S", "method", "status", "MIP rounds", "rounds", "wall", "objective",
              "gap", "vs EF obj", "EF / method"):
        t.add_column(c, justify="right")
    for r in rows:
        ef = r["results"].get("extensive")
        for name, m in r["results"].items():
            if "wall_seconds" not in m:
                t.add_row(str(r["seed"]), f"{r['projects']}x{r['scenarios']}", name, m["status"],
                          *["-"] * 7)
                continue
            d = (m["objective"] - ef["objective"]) / abs(ef["objective"]) if (
                ef and ef.get("objective") and m.get("objective")) else None
            t.add_row(str(r["seed"]), f"{r['projects']}x{r['scenarios']}", name, m["status"],
                      str(m.get("mip_rounds", "-")), str(m.get("rounds", "-")),
                      _fmt(m["wall_seconds"], ".2f"), _fmt(m.get("objective")),
                      _fmt(m.get("gap"), ".1e"), _fmt(d, "+.1e"),
                      _fmt(ef["wall_seconds"] / m["wall_seconds"], ".1f") if ef else "-")
    Console(width=200).print(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--projects", type=int, default=200)
    p.add_argument("--scenarios", default="100")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--methods", default="naive,pool,rows,rows-lp")
    p.add_argument("--cap", type=float, default=300.0)
    p.add_argument("--gap", type=float, default=1e-4)
    p.add_argument("--no-ef", dest="ef", action="store_false")
    p.add_argument("--no-mpisppy", dest="mpisppy", action="store_false")
    p.add_argument("--out", default=str(RESULTS / "weight_mode.json"))
    args = p.parse_args(argv)
    rows = []
    for S in map(int, args.scenarios.split(",")):
        for seed in map(int, args.seeds.split(",")):
            inst, actions, vt = hard_case(args.projects, S, seed)
            row = {"projects": args.projects, "scenarios": S, "seed": seed,
                   "weight": inst.risk.weight, "alpha": inst.risk.alpha, "results": {}}
            for method in args.methods.split(","):
                row["results"][method] = run_method(inst, actions, vt, method, args.gap, args.cap)
                print(method, json.dumps(row["results"][method], default=float), flush=True)
            if args.ef:
                row["results"]["extensive"] = run_extensive(inst, actions, vt, args.gap, args.cap)
                print("extensive", json.dumps(row["results"]["extensive"], default=float), flush=True)
            if args.mpisppy:
                row["results"]["mpisppy-ef"] = run_mpisppy(inst, actions, vt, args.gap, args.cap)
                print("mpisppy-ef", json.dumps(row["results"]["mpisppy-ef"], default=float), flush=True)
            ef = row["results"].get("extensive")
            if ef and ef.get("objective"):
                for m in row["results"].values():
                    if m.get("objective") is not None:
                        m["rel_diff_vs_ef"] = (m["objective"] - ef["objective"]) / abs(ef["objective"])
            rows.append(row)
    print_table(rows)
    from mip_scaling import write_results
    write_results(args.out, args, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
