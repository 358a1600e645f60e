"""Where a `plan` run goes: wall and CPU seconds by stage, and peak memory, per instance.

    python3 benchmarks/plan_profile.py [--configs terawulf:10000,vivopower:10000,...]
                                       [--repeat 3] [--backend auto] [--workers N]

A config is ``NAME:SCENARIOS[:REPEATS]``: a shipped instance (``terawulf``, ``vivopower``) or
``synthN`` (`wattfolio.instance.synth.synth_instance(N, seed=0)`). Each run is a fresh
process (`--one`), so its peak RSS (``ru_maxrss``) is its own and every run pays the same
imports; it runs the product's path — `wattfolio.run.plan_instance` (stages: draws,
valuation, solve, plan_value), the out-of-sample check (`wattfolio.analysis.quality.
out_of_sample`, at its default size) and the report (`build_context`, `render_report`) —
and records wall and CPU seconds (all threads) per stage. The solve stage is split into
the MIP (HiGHS), the liquidity rounds' re-valuations and the rest (model build, cuts).

Reported: the median over `--repeat` runs of each stage's wall seconds and its share of
the run, CPU/wall (how many cores were busy), and the peak RSS. Prints a table and writes
``benchmarks/results/plan_profile.json`` with the machine and package versions.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_CONFIGS = ("terawulf:10000,vivopower:10000,terawulf:100000:1,vivopower:100000:1,"
                   "synth200:1000:1,synth1000:1000:1")
STAGES = ("load", "draws", "valuation", "solve", "plan_value", "out_of_sample", "report")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _instance(name: str, scenarios: int):
    from wattfolio.instance.load import load_instance, parse_instance
    from wattfolio.instance.synth import synth_instance

    if name.startswith("synth"):
        inst = parse_instance(synth_instance(int(name[5:]), 0, scenarios=scenarios))
    else:
        inst = load_instance(ROOT / "instances" / f"{name}.toml")
    return inst.with_plan(scenarios=scenarios)


def run_one(name: str, scenarios: int, backend: str) -> dict:
    """One run in this process: stage wall and CPU seconds, peak RSS."""
    t_start, c_start = time.perf_counter(), _cpu()
    from wattfolio.analysis.quality import out_of_sample
    from wattfolio.report import build_context, render_report
    from wattfolio.run import plan_instance

    wall, cpu = {}, {}
    t, c = time.perf_counter(), _cpu()
    inst = _instance(name, scenarios)
    wall["load"], cpu["load"] = time.perf_counter() - t_start, _cpu() - c_start

    t, c = time.perf_counter(), _cpu()
    res = plan_instance(inst, backend=backend)
    plan_wall, plan_cpu = time.perf_counter() - t, _cpu() - c
    wall.update(res.timings)
    for k, v in res.timings.items():
        cpu[k] = v / plan_wall * plan_cpu if plan_wall > 0 else 0.0   # CPU split pro rata
    solver = res.solver
    mip = sum(r.get("mip_seconds") or 0.0 for r in solver["round_log"])
    liquidity = sum(r["seconds"] for r in solver["liquidity_rounds"])

    t, c = time.perf_counter(), _cpu()
    q = {"out_of_sample": out_of_sample(res.instance, res, backend=backend)}
    wall["out_of_sample"], cpu["out_of_sample"] = time.perf_counter() - t, _cpu() - c
    res.quality = q

    t, c = time.perf_counter(), _cpu()
    render_report(build_context(res, cash=res.cash_fan, quality=q))
    wall["report"], cpu["report"] = time.perf_counter() - t, _cpu() - c

    total = time.perf_counter() - t_start
    return {
        "config": f"{name}:{scenarios}", "instance": name, "scenarios": scenarios,
        "backend": res.backend, "actions": len(res.catalog),
        "wall_s": total, "cpu_s": _cpu() - c_start,
        "stage_wall_s": wall, "stage_cpu_s": cpu,
        "solve_split_s": {"mip": mip, "liquidity_rounds": liquidity,
                          "build_and_cuts": max(wall["solve"] - mip - liquidity, 0.0)},
        "liquidity_rounds": len(solver["liquidity_rounds"]), "mip_rounds": len(solver["round_log"]),
        "expected_npv_usd": res.stats["expected_npv_usd"], "cvar_usd": res.stats["cvar_usd"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def _child(config: str, backend: str, workers: int | None) -> dict:
    env = dict(os.environ)
    if workers:
        env["WATTFOLIO_WORKERS"] = str(workers)
    out = subprocess.run([sys.executable, __file__, "--one", config, "--backend", backend],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{config}: run failed\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median_run(runs: list[dict]) -> dict:
    best = dict(runs[0])
    best["repeats"] = len(runs)
    best["wall_s"] = statistics.median(r["wall_s"] for r in runs)
    best["cpu_s"] = statistics.median(r["cpu_s"] for r in runs)
    best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    for key in ("stage_wall_s", "stage_cpu_s", "solve_split_s"):
        best[key] = {k: statistics.median(r[key].get(k, 0.0) for r in runs) for k in runs[0][key]}
    best["wall_s_all"] = [r["wall_s"] for r in runs]
    return best


def machine() -> dict:
    from importlib import metadata

    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0))}
    for pkg in ("numpy", "numba", "highspy", "pyomo", "scipy"):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default=DEFAULT_CONFIGS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "plan_profile.json"))
    args = ap.parse_args(argv)
    if args.one:
        name, n = args.one.split(":")
        print(json.dumps(run_one(name, int(n), args.backend)))
        return 0

    from rich.console import Console
    from rich.table import Table

    rows = []
    for spec in args.configs.split(","):
        parts = spec.split(":")
        config, repeat = ":".join(parts[:2]), int(parts[2]) if len(parts) > 2 else args.repeat
        runs = [_child(config, args.backend, args.workers) for _ in range(repeat)]
        rows.append(_median_run(runs))
        r = rows[-1]
        print(f"{config}: median {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
              f"peak {r['peak_rss_mib']:,.0f} MiB", file=sys.stderr)
    t = Table(title="plan: share of wall time by stage (median of runs)")
    for col in ("config", "wall s", "cpu/wall", *STAGES, "peak RSS MiB"):
        t.add_column(col, justify="right")
    for r in rows:
        shares = [f"{100 * r['stage_wall_s'].get(s, 0.0) / r['wall_s']:.0f}%" for s in STAGES]
        t.add_row(r["config"], f"{r['wall_s']:.1f}", f"{r['cpu_s'] / r['wall_s']:.2f}", *shares,
                  f"{r['peak_rss_mib']:,.0f}")
    Console(width=200).print(t)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"benchmark": "plan_profile", "backend": args.backend,
                                          "workers": args.workers, "machine": machine(),
                                          "runs": rows}, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
