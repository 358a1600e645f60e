"""The `evaluate` and `plan` commands: run the engine and the solver, show progress,
write outputs, print the summary."""
from __future__ import annotations

import io
import json
import sys
import time
from typing import Callable

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .evaluate import evaluate_spec
from .instance import Instance
from .plan_file import read_plan
from .results import PlanResult, plan_instance, write_plan_outputs


def _console() -> Console:
    # progress goes to stderr so that stdout stays clean for --json and pipes
    return Console(stderr=True, highlight=False)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False,
                    disable=not console.is_terminal)


def _chunk_reporter(progress: Progress, label: str, total: int) -> Callable[[int, int], None]:
    task = progress.add_task(label, total=total)
    return lambda done, _total: progress.update(task, completed=done)


def money(v: float) -> str:
    """Dollars for tables: -$54.4M, $1,234.5M, $812k."""
    sign = "-" if v < 0 else ""
    a = abs(v)
    return f"{sign}${a / 1e6:,.1f}M" if a >= 1e5 else f"{sign}${a / 1e3:,.0f}k"


def stats_table(stats: dict, title: str) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column("statistic")
    t.add_column("value", justify="right")
    t.add_row("Expected NPV", f"{money(stats['expected_npv_usd'])} (s.e. {money(stats['expected_npv_se_usd'])})")
    t.add_row(f"CVaR {stats['alpha']:.0%} (mean of worst {1 - stats['alpha']:.0%})", f"{money(stats['cvar_usd'])}")
    t.add_row("P(NPV < 0)", f"{stats['prob_loss']:.1%}")
    for k, v in stats["npv_quantiles_usd"].items():
        t.add_row(f"NPV {k}", f"{money(v)}")
    return t


def evaluate_command(args, instance: Instance) -> int:
    spec = read_plan(args.plan, instance)
    console = _console()
    with _progress(console) as progress:
        scenarios = args.scenarios or instance.plan.scenarios
        report = _chunk_reporter(progress, "valuing scenarios", scenarios)
        ev = evaluate_spec(instance, spec, scenarios=args.scenarios, seed=args.seed,
                           backend=args.backend, chunk=args.chunk, progress=report)
    if args.samples:
        from .outputs import write_file

        def save(path):
            with open(path, "wb") as f:
                np.save(f, ev.samples)
        write_file(args.samples, save)
    meta = {"scenarios": ev.scenarios, "seed": ev.seed, "backend": ev.backend,
            "hours_per_month": instance.plan.hours_per_month,
            "financing_cost_usd": ev.financing_cost_usd}
    if args.json:
        print(json.dumps({"stats": ev.stats, **meta}, indent=2))
        return 0
    out = Console(highlight=False)
    in_sample = " (the instance's in-sample seed)" if ev.seed == instance.plan.seed else " (out-of-sample)"
    out.print(f"Plan {args.plan} on {instance.plan.name}: {len(spec.actions)} decisions, "
              f"{len(spec.financing)} draws")
    out.print(f"{ev.scenarios:,} scenarios, seed {ev.seed}{in_sample}, backend {ev.backend}, "
              f"{instance.plan.hours_per_month} h/month sampled; financing cost {money(ev.financing_cost_usd)}")
    out.print(stats_table(ev.stats, "Plan NPV (baseline + actions - financing cost)"))
    return 0


def plan_command(args, instance: Instance) -> int:
    from .solve import PlanInfeasible

    console = _console()
    t0 = time.perf_counter()
    try:
        with _progress(console) as progress:
            scenarios = args.scenarios or instance.plan.scenarios
            report = _chunk_reporter(progress, "scenarios and valuation", scenarios)
            result = plan_instance(instance, scenarios=args.scenarios, seed=args.seed,
                                   backend=args.backend, chunk=args.chunk, time_limit=args.time_limit,
                                   gap=args.gap, valuation_progress=report,
                                   solver_progress=lambda msg: console.print(f"  {msg}"))
    except PlanInfeasible as err:
        console.print(f"[bold red]no feasible plan:[/] {err}")
        return 3
    result.seconds_total = time.perf_counter() - t0
    from .report import build_context, render_report

    ctx = build_context(result, backend=args.backend, chunk=args.chunk)
    write_plan_outputs(result, args.out, extra={"report.html": render_report(ctx)})
    if result.solver["status"] != "optimal":
        console.print(f"[bold yellow]warning:[/] solver stopped at {result.solver['status']} "
                      f"with gap {result.solver['gap']:.3%}: this is the best plan found, not a proven optimum")
    print_plan_summary(result, args.out)
    return 0


def print_plan_summary(result: PlanResult, out_dir: str) -> None:
    out = Console(highlight=False)
    doc = result.document
    out.print(f"[bold]{doc['name']}[/] — {doc['scenarios']:,} scenarios, seed {doc['seed']}, "
              f"backend {doc['backend']}, solver {doc['solver']['status']} "
              f"(gap {doc['solver']['gap']:.2e}, {doc['solver']['cuts']} CVaR cuts, "
              f"{doc['solver']['seconds']:.1f} s)")
    t = Table(title="Decisions", title_justify="left")
    for c in ("site", "action", "start", "MW", "lease"):
        t.add_column(c)
    for d in doc["decisions"]:
        t.add_row(d["site"], d["action"], d["start"], f"{d['mw']:g}" if "mw" in d else "", d.get("lease", ""))
    if not doc["decisions"]:
        t.add_row("(none)", "keep every site as it is", "", "", "")
    out.print(t)
    if doc["financing"]:
        f = Table(title="Financing", title_justify="left")
        for c in ("instrument", "amount", "start"):
            f.add_column(c)
        for d in doc["financing"]:
            f.add_row(d["instrument"], f"{money(d['amount_usd'])}", d["start"])
        out.print(f)
    out.print(stats_table(doc["stats"], "Plan NPV (baseline + actions - financing cost), in-sample"))
    out.print(f"wrote {out_dir}/plan.json, decisions.csv, npv_samples.npy, report.html")
