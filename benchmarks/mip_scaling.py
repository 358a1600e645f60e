"""Plan MIP scaling: cut loops against the extensive form, by sites and scenarios.

    python3 benchmarks/mip_scaling.py [--sites 10,50,200] [--scenarios 1000,10000,100000]
                                      [--modes floor,weight] [--cap 120] [--no-ef]
                                      [--weight-methods pool,naive] [--gap 1e-3]

The catalog comes from `wattfolio.instance.synth.synth_instance(sites, seed)`; the ValueTable is
random but structured (it stands in for the engine so that the MIP is timed alone): a
skewed bitcoin factor drives the mining baseline and, negatively, sales and converts (both
stop mining); an HPC-rent factor drives converts; each site has its own factor shared by
its actions; plus noise. Expected monthly cash follows the actions' economics (capex over
the build, rent after it, sale proceeds, acquisition cost), so the min-cash rows and the
financing matter.

Per (sites, scenarios, mode): Pyomo build and transfer to HiGHS, solve time, rounds,
cuts, objective and certified gap of the cut loop; the extensive form with the same HiGHS,
gap and time cap (argv `--cap`, default 120 s) where asked. The floor is binding: a
fixed share of the way from the E-optimal plan's CVaR to the CVaR of the best hedge the
loop can find in one pass. Weight mode uses w = 0.5. Prints a rich table and writes
``benchmarks/results/mip_scaling.json`` with machine info.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wattfolio.gpu.value_table import ValueTable                       # noqa: E402
from wattfolio.planning.catalog import build_catalog                  # noqa: E402
from wattfolio.mip.cvar import floor_loop, weight_loop      # noqa: E402
from wattfolio.mip.extensive import solve_extensive              # noqa: E402
from wattfolio.instance.load import parse_instance                    # noqa: E402
from wattfolio.mip.model import PlanModel                        # noqa: E402
from wattfolio.instance.synth import synth_instance                   # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
WEIGHT = 0.5
FLOOR_SHARE = 0.5


def structured_table(inst, actions, S: int, seed: int) -> ValueTable:
    """A ValueTable with the structure of the engine's (see the module docstring)."""
    rng = np.random.default_rng(seed)
    A, M = len(actions), inst.plan.months
    site_ids = [s.id for s in inst.sites]
    sidx = np.array([site_ids.index(a.site) for a in actions])
    btc = np.exp(0.6 * rng.standard_normal(S) - 0.18) - 1.0          # skewed, mean ~0
    rent = rng.standard_normal(S)
    site_f = rng.standard_normal((len(site_ids), S))
    lease_ids = [le.id for le in inst.leases]
    # tenant default: a rare, large loss per lease, the left tail CVaR sees
    default = (rng.random((max(len(lease_ids), 1), S)) < 0.04).astype(float)
    l_def = np.zeros(A)
    lidx = np.array([lease_ids.index(a.lease) if a.lease else 0 for a in actions])
    r = inst.plan.discount_rate
    mu, l_btc, l_rent, l_site, noise = (np.zeros(A) for _ in range(5))
    cash = np.zeros((A, M))
    for i, a in enumerate(actions):
        s = inst.site(a.site)
        m0 = a.start - inst.plan.start
        disc = (1 + r) ** (-m0 / 12)
        if a.kind == "convert":
            capex = s.hpc.capex_usd_per_mw
            mu[i] = capex * rng.normal(0.10, 0.08) * disc
            l_btc[i], l_rent[i], l_site[i], noise[i] = 0.15 * capex, 0.05 * capex, 0.04 * capex, 0.03 * capex
            l_def[i] = -0.8 * capex
            b = s.hpc.build_months
            cash[i, m0:m0 + b] -= capex / b
            cash[i, m0 + b:] += capex * 0.014
        elif a.kind == "sell":
            v = s.sale.mode_usd
            mu[i] = v * rng.normal(0.05, 0.08) * disc
            l_btc[i], l_site[i], noise[i] = -0.35 * v, 0.05 * v, 0.05 * v
            close = min(m0 + s.sale.months_to_close, M - 1)
            cash[i, close] += v * s.sale.close_probability
            cash[i, close + 1:] -= v * 0.006
        else:
            c = s.acquire.cost_usd
            mu[i] = -c * rng.normal(0.05, 0.03) * disc    # land at a small premium over value
            noise[i] = 0.02 * c
            cash[i, m0] -= c
    npv = (mu[:, None] + l_btc[:, None] * btc + l_rent[:, None] * rent
           + l_site[:, None] * site_f[sidx] + l_def[:, None] * (default[lidx] - 0.04))
    npv += noise[:, None] * rng.standard_normal((A, S))
    mining_mw = sum(s.capacity_mw for s in inst.sites if s.mining is not None)
    base_mean = mining_mw * 2.5e6
    baseline = base_mean * (1.0 + 0.9 * btc) + 0.05 * base_mean * rng.standard_normal(S)
    base_cash = np.full(M, mining_mw * 2.5e6 / M * 1.2)
    return ValueTable(npv=npv, baseline_npv=baseline, cash=cash, baseline_cash=base_cash,
                      xp=np, backend="numpy")


def _with_risk(inst, *, floor=None, weight=0.0):
    from dataclasses import replace
    return replace(inst, risk=replace(inst.risk, cvar_floor_usd=floor, weight=weight))


def _binding_floor(inst, actions, vt, gap, cap) -> tuple[float, float]:
    """A floor half way from the E-optimal plan's CVaR to that of the best plan found in a
    short max-CVaR run: reachable by construction and binding."""
    alpha = inst.risk.alpha
    pm = PlanModel(inst, actions, vt)
    res = floor_loop(pm, alpha, -math.inf, gap=gap)
    c0 = res.best.cvar
    pm1 = PlanModel(inst, actions, vt, weight=1.0)
    hi = weight_loop(pm1, alpha, None, gap=1e-2, deadline=time.perf_counter() + cap)
    return c0 + FLOOR_SHARE * (hi.best.cvar - c0), c0


def run_case(n_sites: int, S: int, mode: str, args) -> dict:
    inst = parse_instance(synth_instance(n_sites, args.seed))
    actions = build_catalog(inst)
    t = time.perf_counter()
    vt = structured_table(inst, actions, S, args.seed)
    gen = time.perf_counter() - t
    alpha = inst.risk.alpha
    row = {"sites": n_sites, "scenarios": S, "actions": len(actions), "mode": mode,
           "table_seconds": gen, "gap_target": args.gap}
    if mode == "floor":
        floor, c0 = _binding_floor(inst, actions, vt, args.gap, args.cap)
        row.update(floor_usd=floor, unconstrained_cvar_usd=c0)
        inst = _with_risk(inst, floor=floor)
        methods = ["floor-kbm"]
    else:
        inst = _with_risk(inst, weight=WEIGHT)
        methods = [f"weight-{m}" for m in args.weight_methods]
    row["methods"] = {}
    for method in methods:
        t0 = time.perf_counter()
        pm = PlanModel(inst, actions, vt, weight=inst.risk.weight)
        deadline = t0 + args.cap
        if method == "floor-kbm":
            res = floor_loop(pm, alpha, floor, gap=args.gap, deadline=deadline)
        else:
            res = weight_loop(pm, alpha, None, gap=args.gap, deadline=deadline,
                              method=method.split("-", 1)[1])
        wall = time.perf_counter() - t0
        mip = sum(r["mip_seconds"] for r in res.rounds)
        row["methods"][method] = {
            "status": res.status, "wall_seconds": wall, "build_seconds": pm.build_seconds,
            "transfer_seconds": pm.transfer_seconds, "highs_seconds": mip,
            "rounds": len(res.rounds), "mip_rounds": sum(r["phase"] == "mip" for r in res.rounds),
            "cuts": res.cuts, "objective": res.best.objective if res.best else None,
            "cvar": res.best.cvar if res.best else None, "gap": res.gap,
            "build_share": (pm.build_seconds + pm.transfer_seconds) / wall}
    if args.ef and S <= args.ef_max_scenarios:
        t0 = time.perf_counter()
        ef = solve_extensive(inst, actions, vt, alpha=alpha, weight=inst.risk.weight,
                             floor=inst.risk.cvar_floor_usd, time_limit=args.cap, gap=args.gap)
        row["extensive"] = {
            "status": ef.outcome.status, "build_seconds": ef.build_seconds,
            "transfer_seconds": ef.model.transfer_seconds, "highs_seconds": ef.outcome.seconds,
            "wall_seconds": time.perf_counter() - t0,
            "objective": ef.outcome.objective if ef.outcome.has_solution else None,
            "bound": ef.outcome.bound, "gap": ef.outcome.gap}
    return row


def machine() -> dict:
    import highspy
    import pyomo
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "processor": platform.processor(),
            "numpy": np.__version__, "pyomo": pyomo.__version__,
            "highspy": ".".join(map(str, (highspy.HIGHS_VERSION_MAJOR, highspy.HIGHS_VERSION_MINOR,
                                          highspy.HIGHS_VERSION_PATCH)))}


def _fmt(x, spec=",.0f"):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title="plan MIP scaling (seconds; EF = extensive form)")
    for c in ("sites", "S", "A", "mode", "method", "status", "build+xfer", "wall", "rounds",
              "cuts", "objective", "gap", "EF wall", "EF status", "EF objective", "speed-up"):
        t.add_column(c, justify="right")
    for r in rows:
        ef = r.get("extensive")
        for name, m in r["methods"].items():
            speed = ef["wall_seconds"] / m["wall_seconds"] if ef else None
            t.add_row(str(r["sites"]), f"{r['scenarios']:,}", str(r["actions"]), r["mode"], name,
                      m["status"], _fmt(m["build_seconds"] + m["transfer_seconds"], ".2f"),
                      _fmt(m["wall_seconds"], ".2f"), str(m["rounds"]), str(m["cuts"]),
                      _fmt(m["objective"]), _fmt(m["gap"], ".1e"),
                      _fmt(ef["wall_seconds"], ".1f") if ef else "-", ef["status"] if ef else "-",
                      _fmt(ef["objective"]) if ef else "-",
                      (">=" if ef and ef["status"] == "time_limit" else "") + _fmt(speed, ".1f"))
    Console(width=220).print(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sites", default="10,50,200")
    p.add_argument("--scenarios", default="1000,10000,100000")
    p.add_argument("--modes", default="floor,weight")
    p.add_argument("--weight-methods", default="pool")
    p.add_argument("--cap", type=float, default=120.0)
    p.add_argument("--gap", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-ef", dest="ef", action="store_false")
    p.add_argument("--ef-max-scenarios", type=int, default=10_000)
    p.add_argument("--out", default=str(RESULTS / "mip_scaling.json"))
    args = p.parse_args(argv)
    args.weight_methods = args.weight_methods.split(",")
    rows = []
    for n in map(int, args.sites.split(",")):
        for S in map(int, args.scenarios.split(",")):
            for mode in args.modes.split(","):
                rows.append(run_case(n, S, mode, args))
                print(json.dumps(rows[-1], default=float), flush=True)
    print_table(rows)
    write_results(args.out, args, rows)
    return 0


def write_results(path: str, args, rows: list[dict]) -> None:
    """The benchmark's JSON (machine, arguments, rows), replaced whole."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": machine(), "args": vars(args), "rows": rows},
                              indent=2, default=float))
    tmp.replace(out)


if __name__ == "__main__":
    raise SystemExit(main())
