"""Scenario-hours per second of the valuation, per array backend.

    python3 benchmarks/scenario_throughput.py [--quick] [--backend numpy|cupy|all]
        [--sizes 10000,100000,1000000 --hours 730 --numpy-sizes 1000 --numpy-hours 730]
        [--chunk N] [--repeats R] [--out FILE.json]

Two measurements per configuration (scenarios x 144 months x hours_per_month):

- ``value_actions``: the whole `wattfolio.planning.valuation.value_actions` on a one-market instance
  with one mining site and a few convert actions (bitcoin, power, rent, events, hourly
  margins, action cash flows, NPVs);
- ``mining_margin``: `gpu.valuation.mining_margin` alone (power levels + the hourly
  curtailed margin, which dominates), over the same scenario chunks as value_actions.

scenario-hours = scenarios x months x hours_per_month. On NumPy the full 730 hours are
affordable only at 10^3 scenarios; larger counts sample fewer hours per month (the engine's
`hours_per_month`, an unbiased estimate), which the table says. NumPy runs these kernels on
one thread (elementwise ufuncs, no BLAS in the timed path), so its per-core figure is its
throughput; the table also shows CPU time / wall time to back that up.

`--sizes` replaces the built-in configurations: the CuPy runs take those scenario counts
at `--hours` hours a month, NumPy runs `--numpy-sizes` at `--numpy-hours` (NumPy at 10^6 x
730 would take hours), and CuPy also runs the NumPy configurations, so there are two kinds
of ratio: like for like at the same configuration, and per scenario-hour between the
largest CuPy and the largest NumPy run (different sizes: the JSON says so). `--chunk`
overrides the scenarios per chunk (default: the engine's per backend, 2048 on NumPy and
32768 on CuPy; results never depend on it).

Each configuration runs in a fresh worker process (`--worker`) so that its peak resident
memory (ru_maxrss) is its own; device memory is CuPy's pool (used / total bytes, the pool
keeps freed blocks, so total is the high-water mark). Timings are the median of repeats
after one untimed warm-up. Results go to
``benchmarks/results/scenario_throughput_<backend-or-device>[_quick].json``, or `--out`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MONTHS = 144
RESULTS = ROOT / "benchmarks" / "results"

# (scenarios, hours_per_month) per backend; --quick takes the first entries only
NUMPY_CONFIGS = [(1_000, 730), (10_000, 96), (100_000, 24)]
NUMPY_QUICK = [(1_000, 96), (10_000, 24)]
CUPY_CONFIGS = [(1_000, 730), (10_000, 730), (100_000, 730)]
CUPY_QUICK = [(1_000, 730), (10_000, 730)]

TARGET_NUMPY_PER_CORE = 5e6
TARGET_CUPY = 1e11
TARGET_RATIO = 1000.0


# ---------------------------------------------------------------------------------------
# the instance


def bench_instance(scenarios: int, hours: int):
    from wattfolio.planning.catalog import Action
    from wattfolio.instance.types import (Bitcoin, Hpc, HpcMarket, Instance, Lease, Market, Mining,
                                    Plan, Risk, Site, TerminalMultiple, parse_month)

    start = parse_month("2026-01")
    plan = Plan(name="bench", start=start, horizon_years=MONTHS // 12, decision_step_months=6,
                discount_rate=0.10, scenarios=scenarios, seed=2026, hours_per_month=hours,
                terminal_multiple=TerminalMultiple(hpc=10.0, mining=2.0))
    btc = Bitcoin(price_usd=100_000.0, drift=0.1, volatility=0.55, network_hashrate_ehs=800.0,
                  hashrate_growth=0.2, fees_btc_per_block=0.05, subsidy_btc=3.125,
                  halvings=(parse_month("2028-04"), parse_month("2032-04"),
                            parse_month("2036-04")),
                  hashrate_price_elasticity=0.5)
    hub = Market(id="ercot", mean_price=45.0, volatility=0.5, mean_reversion=2.0,
                 seasonal_amplitude=0.2, seasonal_peak_month=8, hourly_volatility=0.45,
                 spike_probability=0.01, spike_price=800.0, price_cap=5000.0)
    site = Site(id="mine", market="ercot", status="operating", use="mining", capacity_mw=200.0,
                mining=Mining(efficiency_j_per_th=18.0, opex_usd_per_mw_month=4000.0),
                hpc=Hpc(max_mw=150.0, capex_usd_per_mw=9e6, capex_overrun_volatility=0.15,
                        build_months=12, delay_months_mean=2.0, pue=1.3))
    lease = Lease(id="L", tenant="T", sites=("mine",), max_mw=150.0, rate_kw_month=160.0,
                  escalator=0.03, tenor_years=10, noi_margin=0.85, sign_by=start + 24,
                  default_rate=0.02, renewal_probability=0.6, backstop_usd=200e6)
    inst = Instance(plan=plan, risk=Risk(), bitcoin=btc, markets=(hub,),
                    hpc_market=HpcMarket(rate_kw_month=150.0, volatility=0.15, drift=0.01),
                    sites=(site,), leases=(lease,))
    actions = [Action(index=j, site="mine", kind="convert", start=start + 6 * j, lease="L",
                      max_units=150.0) for j in range(4)]
    return inst, actions


# ---------------------------------------------------------------------------------------
# one configuration, in a worker process


def run_worker(backend: str, scenarios: int, hours: int, repeats: int, chunk: int = 0) -> dict:

    from wattfolio.gpu.backend import get_backend
    from wattfolio.gpu.device import device_inputs
    from wattfolio.gpu.factors import bitcoin_paths
    from wattfolio.gpu.valuation import default_chunk, mining_margin
    from wattfolio.planning.valuation import engine_inputs, value_actions

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    be = get_backend(backend)
    xp = be.xp
    chunk = chunk or default_chunk(xp)
    inst, actions = bench_instance(scenarios, hours)
    sh = scenarios * MONTHS * hours
    out: dict = {"backend": be.name, "scenarios": scenarios, "months": MONTHS,
                 "hours_per_month": hours, "scenario_hours": sh, "chunk": chunk,
                 "actions": len(actions), "repeats": repeats}

    def time_it(fn):
        fn()  # warm-up: kernel compilation, page faults, pool growth
        be.synchronize()
        walls, cpus = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            be.synchronize()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        return walls, cpus

    def whole():
        vt = value_actions(inst, actions, backend=be.name, chunk=chunk)
        float(vt.npv.sum())  # forces the device work to finish

    inputs = engine_inputs(inst, actions)
    h = inputs.horizon

    def margin_only():
        dev = device_inputs(xp, inputs)  # once per run, as the engine does
        for s0 in range(0, scenarios, chunk):
            scen = xp.arange(s0, min(scenarios, s0 + chunk), dtype=xp.int64)
            _, hashprice = bitcoin_paths(xp, h.seed, scen, h, inputs.bitcoin, subsidy=dev.subsidy)
            mining_margin(xp, inputs, scen, hashprice, dev, compiled=be.compiled)

    for name, fn in (("value_actions", whole), ("mining_margin", margin_only)):
        walls, cpus = time_it(fn)
        med = statistics.median(walls)
        cpu = statistics.median(cpus)
        out[name] = {"seconds": walls, "median_s": med, "scenario_hours_per_s": sh / med,
                     "cpu_seconds": cpus, "median_cpu_s": cpu,
                     # per core: CPU seconds, robust to other processes sharing the cores
                     "scenario_hours_per_cpu_s": sh / cpu,
                     "cpu_over_wall": statistics.median(c / w for c, w in zip(cpus, walls))}
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out["host_peak_rss_mib"] = ru / 1024.0
    out["host_rss_before_mib"] = rss_start / 1024.0
    if be.name == "cupy":
        pool = xp.get_default_memory_pool()
        out["device_pool_used_mib"] = pool.used_bytes() / 2**20
        out["device_pool_total_mib"] = pool.total_bytes() / 2**20
    return out


# ---------------------------------------------------------------------------------------
# machine info and the driver


def machine_info(backend: str) -> dict:
    import numpy as np

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_model": cpu, "cores": os.cpu_count(), "numpy": np.__version__,
            "numpy_threads_note": "the NumPy kernels are elementwise ufuncs: one thread"}
    if backend == "cupy":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        info.update(cupy=cupy.__version__,
                    device=name.decode() if isinstance(name, bytes) else str(name),
                    device_memory_gib=props["totalGlobalMem"] / 2**30,
                    cuda_runtime=cupy.cuda.runtime.runtimeGetVersion())
    return info


def spawn(backend: str, scenarios: int, hours: int, repeats: int, chunk: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--worker", backend, str(scenarios), str(hours), str(repeats),
           str(chunk)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f"worker {backend} {scenarios}x{hours} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def fmt(x: float) -> str:
    return f"{x:.3g}"


def print_table(rows: list[dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in ("backend", "scenarios", "hours/month", "scen-hours", "value_actions s",
                "scen-h/s (whole)", "mining_margin s", "scen-h/s (margin)", "per core-s (whole / margin)",
                "cpu/wall (whole / margin)", "peak host MiB", "device pool MiB"):
        t.add_column(col, justify="right")
    for r in rows:
        va, mm = r["value_actions"], r["mining_margin"]
        per_core = (f'{fmt(va["scenario_hours_per_cpu_s"])} / {fmt(mm["scenario_hours_per_cpu_s"])}'
                    if r["backend"] == "numpy" else "-")
        t.add_row(r["backend"], str(r["scenarios"]),
                  f"{r['hours_per_month']}" + ("" if r["hours_per_month"] == 730 else " (sampled)"),
                  fmt(r["scenario_hours"]), f"{va['median_s']:.3f}", fmt(va["scenario_hours_per_s"]),
                  f"{mm['median_s']:.3f}", fmt(mm["scenario_hours_per_s"]), per_core,
                  f"{va['cpu_over_wall']:.2f} / {mm['cpu_over_wall']:.2f}", f"{r['host_peak_rss_mib']:.0f}",
                  f"{r.get('device_pool_total_mib', 0):.0f}" if r["backend"] == "cupy" else "-")
    Console(width=200).print(t)


def _counts(text: str) -> list[int]:
    try:
        out = [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated counts, got {text!r}") from None
    if not out or min(out) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive counts, got {text!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller configurations, fewer repeats")
    ap.add_argument("--backend", default="all", choices=("all", "numpy", "numba", "cupy"))
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--sizes", type=_counts, metavar="S1,S2,...",
                    help="scenario counts of the CuPy runs (replaces the built-in configurations)")
    ap.add_argument("--hours", type=int, default=730, help="hours per month with --sizes (default 730)")
    ap.add_argument("--numpy-sizes", type=_counts, default=[1000], metavar="S1,...",
                    help="scenario counts of the NumPy runs with --sizes (default 1000)")
    ap.add_argument("--numpy-hours", type=int, default=730, help="hours per month of those (default 730)")
    ap.add_argument("--chunk", type=int, default=0, help="scenarios per chunk (default: per backend)")
    ap.add_argument("--out", type=Path, help="JSON file to write (default under benchmarks/results/)")
    ap.add_argument("--worker", nargs=5, metavar=("BACKEND", "S", "H", "REPEATS", "CHUNK"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        b, s, hrs, rep, chunk = args.worker
        print(json.dumps(run_worker(b, int(s), int(hrs), int(rep), int(chunk))))
        return 0

    from wattfolio.gpu.backend import cuda_available

    from wattfolio.gpu.compiled import available as numba_available

    backends = [args.backend] if args.backend != "all" else (
        ["numpy"] + (["numba"] if numba_available() else []) + (["cupy"] if cuda_available() else []))
    if "cupy" in backends and not cuda_available():
        print("cupy: no CUDA device here", file=sys.stderr)
        return 2
    repeats = args.repeats or (2 if args.quick else 3)
    np_cfg = NUMPY_QUICK if args.quick else NUMPY_CONFIGS
    cp_cfg = CUPY_QUICK if args.quick else CUPY_CONFIGS
    if args.sizes:
        np_cfg = [(s, args.numpy_hours) for s in args.numpy_sizes]
        cp_cfg = [(s, args.hours) for s in args.sizes]

    rows: list[dict] = []
    for b in backends:
        # the GPU also runs the NumPy configurations, so the ratio is measured like for like
        cfgs = np_cfg if b in ("numpy", "numba") else sorted(set(cp_cfg) | set(np_cfg))
        for s, hrs in cfgs:
            print(f"[{b}] {s} scenarios x {MONTHS} months x {hrs} hours ...", file=sys.stderr, flush=True)
            rows.append(spawn(b, s, hrs, repeats, args.chunk))
            if args.out:  # the runs so far, in case a later, larger one is cut short
                partial = args.out.with_suffix(".partial.json")
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps({"benchmark": "scenario_throughput", "partial": True,
                                               "runs": rows}, indent=2) + "\n")

    ratios = []
    for r in rows:
        if r["backend"] != "cupy":
            continue
        for q in rows:
            if q["backend"] == "numpy" and (q["scenarios"], q["hours_per_month"]) == (
                    r["scenarios"], r["hours_per_month"]):
                ratios.append({"scenarios": r["scenarios"], "hours_per_month": r["hours_per_month"],
                               **{k: r[k]["scenario_hours_per_s"] / q[k]["scenario_hours_per_s"]
                                  for k in ("value_actions", "mining_margin")}})

    # the compiled CPU kernels against the NumPy path, like for like, per CPU second and wall
    compiled_ratios = [
        {"scenarios": r["scenarios"], "hours_per_month": r["hours_per_month"],
         **{f"{k}_per_cpu_s": r[k]["scenario_hours_per_cpu_s"] / q[k]["scenario_hours_per_cpu_s"]
            for k in ("value_actions", "mining_margin")},
         **{f"{k}_wall": r[k]["scenario_hours_per_s"] / q[k]["scenario_hours_per_s"]
            for k in ("value_actions", "mining_margin")}}
        for r in rows if r["backend"] == "numba"
        for q in rows if q["backend"] == "numpy"
        and (q["scenarios"], q["hours_per_month"]) == (r["scenarios"], r["hours_per_month"])]

    # per scenario-hour between sizes: each CuPy run against the largest NumPy run
    big_np = max((r for r in rows if r["backend"] == "numpy"), key=lambda r: r["scenario_hours"], default=None)
    ratios_per_sh = [] if big_np is None else [
        {"cupy_scenarios": r["scenarios"], "cupy_hours_per_month": r["hours_per_month"],
         "numpy_scenarios": big_np["scenarios"], "numpy_hours_per_month": big_np["hours_per_month"],
         "note": "scenario-hours per second, CuPy / NumPy, at different sizes",
         **{k: r[k]["scenario_hours_per_s"] / big_np[k]["scenario_hours_per_s"]
            for k in ("value_actions", "mining_margin")}}
        for r in rows if r["backend"] == "cupy"]

    def best(backend: str, key: str) -> float:
        vals = [r[key]["scenario_hours_per_s"] for r in rows if r["backend"] == backend]
        return max(vals) if vals else float("nan")

    def best_cpu(key: str) -> float:
        vals = [r[key]["scenario_hours_per_cpu_s"] for r in rows if r["backend"] == "numpy"]
        return max(vals) if vals else float("nan")

    targets = {
        "numpy_per_core_target": TARGET_NUMPY_PER_CORE,
        "numpy_per_core_best_value_actions": best_cpu("value_actions"),
        "numpy_per_core_best_mining_margin": best_cpu("mining_margin"),
        "numpy_wall_best_value_actions": best("numpy", "value_actions"),
    }
    targets["numpy_per_core_met"] = targets["numpy_per_core_best_value_actions"] >= TARGET_NUMPY_PER_CORE
    if "cupy" in backends:
        targets.update(cupy_target=TARGET_CUPY, cupy_best_value_actions=best("cupy", "value_actions"),
                       cupy_best_mining_margin=best("cupy", "mining_margin"),
                       ratio_target=TARGET_RATIO,
                       cupy_over_numpy_best=best("cupy", "value_actions") / best("numpy", "value_actions")
                       if "numpy" in backends else None)
        targets["cupy_met"] = targets["cupy_best_value_actions"] >= TARGET_CUPY

    info = machine_info("cupy" if "cupy" in backends else "numpy")
    print_table(rows, f"wattfolio scenario throughput ({MONTHS} months, chunk {args.chunk or 'per backend'}; numpy is "
                      "single-threaded: per core = scenario-hours per CPU second)")
    for r in ratios:
        print(f"cupy / numpy at {r['scenarios']} x {r['hours_per_month']} h: "
              f"value_actions {r['value_actions']:.0f}x, mining_margin {r['mining_margin']:.0f}x")
    for r in ratios_per_sh:
        print(f"cupy at {r['cupy_scenarios']} x {r['cupy_hours_per_month']} h / numpy at "
              f"{r['numpy_scenarios']} x {r['numpy_hours_per_month']} h, per scenario-hour: "
              f"value_actions {r['value_actions']:.0f}x, mining_margin {r['mining_margin']:.0f}x")
    for r in compiled_ratios:
        print(f"numba / numpy at {r['scenarios']} x {r['hours_per_month']} h, per CPU second: "
              f"value_actions {r['value_actions_per_cpu_s']:.2f}x, mining_margin "
              f"{r['mining_margin_per_cpu_s']:.2f}x (wall {r['value_actions_wall']:.2f}x, "
              f"{r['mining_margin_wall']:.2f}x)")
    for k, v in targets.items():
        print(f"{k}: {v:.3g}" if isinstance(v, float) else f"{k}: {v}")

    if "cupy" in backends:
        tag = "cupy-" + re.sub(r"[^a-z0-9]+", "-", info["device"].lower()).strip("-")
    else:
        tag = "numba" if "numba" in backends else "numpy"
    path = args.out or RESULTS / f"scenario_throughput_{tag}{'_quick' if args.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "scenario_throughput", "quick": args.quick,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": info, "months": MONTHS, "chunk": args.chunk or "per backend (engine default)",
           "scenario_hours": "scenarios x months x hours_per_month (sampled hours when < 730)",
           "runs": rows, "ratios_same_config": ratios, "ratios_per_scenario_hour": ratios_per_sh,
           "ratios_compiled_over_numpy": compiled_ratios,
           "targets": targets}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    if args.out:
        args.out.with_suffix(".partial.json").unlink(missing_ok=True)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
