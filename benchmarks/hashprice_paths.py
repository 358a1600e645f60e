"""Hashprice and mothballing on the TeraWulf instance: exogenous against economic network.

    python3 benchmarks/hashprice_paths.py [--scenarios 10000] [--backend numpy|cupy|auto]

Three variants of `instances/terawulf.toml`, all on scenarios 0..N-1 of the instance's
seed:

- ``exogenous``: the network grows 20% a year whatever mining earns and a mothballed fleet
  never restarts. This is the instance as it was before the economic network existed
  (`hashrate_growth = 0.20`, the old never-restart rule); that mode is kept bit for bit,
  so this row is what the code gave then;
- ``economic, no restart``: the shipped marginal-fleet network, fleets never restart;
- ``economic``: the instance as shipped (economic network, restart after 3 paying months).

Per variant: the median over scenarios of hashprice ($/PH/s/day) averaged over 2026, in
2028-05 (the month after the April 2028 halving) and averaged over 2031, with 10th and 90th
percentiles; and the share of scenarios in which Lake Mariner's fleet is mothballed in
December 2028 and December 2031 (its margin is exactly 0 that month, which only a stopped
fleet earns: a running one always pays opex). Prints a table and writes
``benchmarks/results/hashprice_paths.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wattfolio.gpu.backend import get_backend, to_host        # noqa: E402
from wattfolio.gpu.factors import bitcoin_paths               # noqa: E402
from wattfolio.gpu.device import device_inputs               # noqa: E402
from wattfolio.gpu.valuation import mining_margin             # noqa: E402
from wattfolio.planning.valuation import engine_inputs          # noqa: E402
from wattfolio.instance.types import Instance, parse_month  # noqa: E402
from wattfolio.instance.load import load_instance            # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
INSTANCE = ROOT / "instances" / "terawulf.toml"
SITE = "lake-mariner"
CHUNK = 2048


def variants(inst: Instance) -> dict[str, Instance]:
    """The shipped instance and its exogenous / no-restart twins."""
    def restart(i: Instance, months: int) -> Instance:
        return replace(i, sites=tuple(
            replace(s, mining=replace(s.mining, restart_after_profit_months=months)) if s.mining else s
            for s in i.sites))

    exogenous = replace(inst, bitcoin=replace(inst.bitcoin, hashrate_growth=0.20,
                                              marginal_efficiency_j_per_th=None,
                                              marginal_power_usd_per_mwh=None,
                                              hashrate_adjustment_speed=None))
    return {"exogenous": restart(exogenous, 0), "economic, no restart": restart(inst, 0),
            "economic": inst}


def paths(inst: Instance, scenarios: int, xp) -> tuple[np.ndarray, np.ndarray]:
    """Hashprice ($/PH/s/day, (S, M)) and whether the site's fleet is stopped (S, M)."""
    inputs = engine_inputs(inst, [])
    h = inputs.horizon
    site = [s.id for s in inst.sites].index(SITE)
    row = int(np.flatnonzero(np.flatnonzero(inputs.sites.mines) == site)[0])  # its margin row
    dev = device_inputs(xp, inputs)  # the inputs on the device, once
    hp, stopped = [], []
    for s0 in range(0, scenarios, CHUNK):
        scen = xp.arange(s0, min(scenarios, s0 + CHUNK), dtype=xp.int64)
        _, p = bitcoin_paths(xp, h.seed, scen, h, inputs.bitcoin, subsidy=dev.subsidy)
        margin = mining_margin(xp, inputs, scen, p, dev)
        hp.append(to_host(p) * 1000.0)
        stopped.append(to_host(margin[row] == 0.0))
    return np.concatenate(hp), np.concatenate(stopped)


def summary(inst: Instance, hp: np.ndarray, stopped: np.ndarray) -> dict:
    def at(text: str) -> int:
        return parse_month(text) - inst.plan.start

    def year(y: int) -> np.ndarray:
        return hp[:, at(f"{y}-01"):at(f"{y}-12") + 1].mean(axis=1)

    def q(x: np.ndarray) -> dict:
        p10, p50, p90 = np.quantile(x, [0.1, 0.5, 0.9])
        return {"median": float(p50), "p10": float(p10), "p90": float(p90)}

    return {"hashprice_2026": q(year(2026)), "hashprice_2028_05": q(hp[:, at("2028-05")]),
            "hashprice_2031": q(year(2031)),
            "mothballed_2028_12": float(stopped[:, at("2028-12")].mean()),
            "mothballed_2031_12": float(stopped[:, at("2031-12")].mean())}


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"TeraWulf: median hashprice ($/PH/s/day) and {SITE} mothballed (share of scenarios)")
    for c in ("network", "2026", "2028-05", "2031", "off 2028-12", "off 2031-12", "seconds"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(r["variant"], f"{r['hashprice_2026']['median']:.2f}", f"{r['hashprice_2028_05']['median']:.2f}",
                  f"{r['hashprice_2031']['median']:.2f}", f"{r['mothballed_2028_12']:.1%}",
                  f"{r['mothballed_2031_12']:.1%}", f"{r['seconds']:.1f}")
    Console().print(t)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", type=int, default=10_000)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--out", default=str(RESULTS / "hashprice_paths.json"))
    args = p.parse_args()
    be = get_backend(args.backend)
    inst = load_instance(INSTANCE)
    b = inst.bitcoin
    rows = []
    for name, variant in variants(inst).items():
        t0 = time.perf_counter()
        hp, stopped = paths(variant, args.scenarios, be.xp)
        rows.append({"variant": name, "scenarios": args.scenarios, "backend": be.name,
                     **summary(variant, hp, stopped), "seconds": time.perf_counter() - t0})
    print_table(rows)
    print(f"breakeven hashprice ${1000.0 * b.breakeven_hashprice:.2f}/PH/s/day "
          f"({b.marginal_efficiency_j_per_th:g} J/TH at ${b.marginal_power_usd_per_mwh:g}/MWh, "
          f"speed {b.hashrate_adjustment_speed:g}/y)")
    from mip_scaling import write_results  # noqa: PLC0415  (the benchmarks' JSON writer)
    write_results(args.out, args, rows)
    print(f"wrote {Path(args.out).relative_to(ROOT) if Path(args.out).is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
