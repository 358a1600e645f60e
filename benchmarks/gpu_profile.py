"""Where a valuation's device time goes: each stage of a chunk, and transfers against compute.

    python3 benchmarks/gpu_profile.py [--instance instances/terawulf.toml] [--scenarios 100000]
        [--hours 730] [--chunk 32768] [--repeat 5] [--backend cupy|numpy] [--out FILE.json]

Times, with `cupyx.profiler.benchmark` (CPU time of the launch and GPU time between CUDA
events, per call), one chunk's stages as the engine runs them: bitcoin paths, the power
level of each market, the fused hourly-margin kernel, mothballing, market rent, the
event draws, the action cash flows, and the whole chunk (`gpu.valuation._value_chunk`);
then the transfers of a valuation: the inputs to the device once (`device_inputs`), the
NPV table (actions x scenarios) and a plan's (S, M) cash paths back to the host, the
plan summary (one transfer); and the whole `simulate_value_table`. The JSON gives each
stage's share of the chunk, and compute (chunks x chunk time) against transfers.
Per-launch kernel names need Nsight Systems (`nsys profile --stats=true`), which
`benchmarks/gpu_run.sh` runs on this script when `nsys` is installed.

`--backend numpy` runs the same stages with a wall-clock timer (for checking the script
on a CPU: no GPU times then).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timer(be, repeat: int):
    """fn -> {"cpu_ms", "gpu_ms"} (medians over `repeat` calls after one warm-up)."""
    if be.is_cupy:
        from cupyx.profiler import benchmark  # noqa: PLC0415

        def run(fn):
            res = benchmark(fn, n_repeat=repeat, n_warmup=1)
            return {"cpu_ms": 1e3 * float(statistics.median(res.cpu_times)),
                    "gpu_ms": 1e3 * float(statistics.median(res.gpu_times[0]))}
        return run

    def run(fn):
        fn()
        walls = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            walls.append(time.perf_counter() - t0)
        return {"cpu_ms": 1e3 * statistics.median(walls), "gpu_ms": None}
    return run


def profile(args: argparse.Namespace) -> dict:
    import numpy as np

    from wattfolio.gpu import valuation as V
    from wattfolio.gpu.backend import get_backend, to_host
    from wattfolio.gpu.device import device_inputs
    from wattfolio.gpu.factors import (bitcoin_paths, hourly_margin_sums, lease_events, power_levels,
                                       rent_path, site_events, stress_onset)
    from wattfolio.gpu.recursions import mothball_rows
    from wattfolio.gpu.risk import summary
    from wattfolio.instance.load import load_instance
    from wattfolio.planning.catalog import build_catalog
    from wattfolio.planning.valuation import engine_inputs

    be = get_backend(args.backend)
    xp = be.xp
    inst = load_instance(ROOT / args.instance)
    inst = inst.with_plan(scenarios=args.scenarios, **({"hours_per_month": args.hours} if args.hours else {}))
    cat = build_catalog(inst)
    inputs = engine_inputs(inst, cat)
    h = inputs.horizon
    S, A, M = args.scenarios, len(cat), h.months
    chunk = min(S, args.chunk or V.default_chunk(xp))
    timed = _timer(be, args.repeat)

    dev = device_inputs(xp, inputs)
    window = V.valuation_months(inputs)
    disc, _ = V.discount_factors(xp, window, h.discount_rate)
    disc_end = (1.0 + h.discount_rate) ** (-M / 12.0)
    scen = xp.arange(0, chunk, dtype=xp.int64)
    _, hashprice = bitcoin_paths(xp, h.seed, scen, h, inputs.bitcoin, subsidy=dev.subsidy)
    margin = V.mining_margin(xp, inputs, scen, hashprice, dev)
    onset = stress_onset(xp, h.seed, scen, inputs.stress)
    rent = rent_path(xp, h.seed, scen, h, inputs.rent, months=window, onset=onset,
                     rent_drop=inputs.stress.rent_drop)
    site_ev = site_events(xp, h.seed, scen, dev.sites, dev.delay_max)
    lease_ev = lease_events(xp, h.seed, scen, dev.leases, onset, inputs.stress.default_multiplier)
    levels = {mk.k: power_levels(xp, h.seed, scen, h, inputs.power, mk.k) for mk in dev.markets}
    revenue = {mk.k: mk.th_per_mw[:, None, None] * hashprice[None, :, :] / 24.0 for mk in dev.markets}
    raw_margin = xp.zeros_like(margin) + 1.0

    def flows():
        block = max(1, V.BLOCK_ELEMENTS[V._kind(xp)] // (chunk * window))
        for g in dev.groups:
            for b0 in range(0, g.index.size, block):
                col = {k: v[b0:b0 + block] for k, v in g.col.items()}
                mines = g.mines[b0:b0 + block]
                if g.kind == V.CONVERT:
                    V.convert_flows(xp, h, col, mines, margin, rent, site_ev, lease_ev, disc, disc_end)
                elif g.kind == V.SELL:
                    V.sell_flows(xp, h, col, mines, margin, site_ev, disc, disc_end)
                else:
                    V.acquire_flows(xp, h, col, chunk, disc)

    def chunk_whole():
        out = {"npv": xp.zeros((A, chunk)), "baseline_npv": xp.zeros(chunk)}
        V._value_chunk(xp, dev, 0, chunk, disc, disc_end, out)

    stages = {
        "bitcoin_paths": lambda: bitcoin_paths(xp, h.seed, scen, h, inputs.bitcoin, subsidy=dev.subsidy),
        "power_levels (all markets)": lambda: [power_levels(xp, h.seed, scen, h, inputs.power, mk.k)
                                               for mk in dev.markets],
        "hourly margin kernel (all markets)": lambda: [
            hourly_margin_sums(xp, h.seed, scen, 0, levels[mk.k], revenue[mk.k], inputs.power, mk.k,
                               h.hours_per_month) for mk in dev.markets],
        "mothball": (lambda: mothball_rows(xp, raw_margin, dev.mothball.stop_limit, dev.mothball.start_limit,
                                           dev.mothball.cost)) if dev.mothball else None,
        "rent_path + stress": lambda: rent_path(xp, h.seed, scen, h, inputs.rent, months=window,
                                                onset=stress_onset(xp, h.seed, scen, inputs.stress),
                                                rent_drop=inputs.stress.rent_drop),
        "site_events + lease_events": lambda: (site_events(xp, h.seed, scen, dev.sites, dev.delay_max),
                                               lease_events(xp, h.seed, scen, dev.leases, onset,
                                                            inputs.stress.default_multiplier)),
        "action cash flows": flows,
    }
    res: dict = {"stages": {}}
    for name, fn in stages.items():
        if fn is not None:
            res["stages"][name] = timed(fn)
            print(f"  {name}: {res['stages'][name]}", file=sys.stderr, flush=True)
    res["chunk"] = timed(chunk_whole)
    key = "gpu_ms" if be.is_cupy else "cpu_ms"
    total = res["chunk"][key]
    for v in res["stages"].values():
        v["share_of_chunk"] = v[key] / total if total else None
    res["stages_sum_over_chunk"] = sum(v[key] for v in res["stages"].values()) / total if total else None

    npv = xp.zeros((A, S))
    paths = xp.zeros((S, M))
    values = xp.asarray(np.random.default_rng(0).normal(size=S))
    transfers = {
        "device_inputs (host to device, once per valuation)": lambda: device_inputs(xp, inputs),
        f"npv table to host ({A} x {S} float64)": lambda: to_host(npv),
        f"plan cash paths to host ({S} x {M} float64, the fan)": lambda: to_host(paths),
        "risk summary (one transfer)": lambda: summary(values, 0.95),
    }
    res["transfers"] = {name: timed(fn) for name, fn in transfers.items()}
    n_chunks = -(-S // chunk)
    compute = n_chunks * total
    moved = sum(v[key] for k, v in res["transfers"].items() if "risk summary" not in k)
    res["compute_vs_transfers"] = {"chunks": n_chunks, "compute_ms": compute, "transfers_ms": moved,
                                   "transfer_share": moved / (compute + moved) if compute + moved else None,
                                   "note": "transfers: inputs once, NPV table and plan cash paths back"}
    t0 = time.perf_counter()
    V.simulate_value_table(inputs, S, be)
    be.synchronize()
    res["simulate_value_table_s"] = time.perf_counter() - t0
    res["setup"] = {"instance": args.instance, "scenarios": S, "actions": A, "months": M,
                    "valuation_months": window, "hours_per_month": h.hours_per_month, "chunk": chunk,
                    "backend": be.name, "timer": "cupyx.profiler.benchmark" if be.is_cupy else "perf_counter",
                    "mining_sites": int(dev.mining_sites.size), "markets": len(dev.markets)}
    if be.is_cupy:
        props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
        name = props["name"]
        res["setup"]["device"] = name.decode() if isinstance(name, bytes) else str(name)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instance", default="instances/terawulf.toml")
    ap.add_argument("--scenarios", type=int, default=100_000)
    ap.add_argument("--hours", type=int, default=730, help="hours per month (0: the instance's)")
    ap.add_argument("--chunk", type=int, default=0, help="scenarios per chunk (default: the engine's)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backend", default="cupy", choices=("cupy", "numpy"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu_profile.json")
    args = ap.parse_args(argv)
    res = profile(args)
    res["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    tmp.replace(args.out)
    key = "gpu_ms" if args.backend == "cupy" else "cpu_ms"
    for name, v in res["stages"].items():
        print(f"{name:40s} {v[key]:10.3f} ms  {100 * (v['share_of_chunk'] or 0):5.1f}% of the chunk")
    print(f"{'whole chunk':40s} {res['chunk'][key]:10.3f} ms")
    for name, v in res["transfers"].items():
        print(f"{name:40s} {v[key]:10.3f} ms")
    c = res["compute_vs_transfers"]
    print(f"compute {c['compute_ms']:.1f} ms over {c['chunks']} chunks, transfers {c['transfers_ms']:.1f} ms "
          f"({100 * (c['transfer_share'] or 0):.1f}%); simulate_value_table {res['simulate_value_table_s']:.2f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
