"""The `evaluate` and `plan` commands: run the engine and the solver, show progress,
write outputs, print the summary."""
from __future__ import annotations

import json
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from ..plan_value import value_plan
from ..errors import EXIT_INFEASIBLE
from ..formatting import usd
from ..instance.types import Instance
from ..planning.plan_file import read_plan
from ..planning.cash_fan import CashFan
from ..run import PlanResult, in_sample_cash_fan, plan_instance, write_plan_outputs
from .progress import chunk_reporter, console_err, detail, progress_bar, say


def stats_table(stats: dict, title: str) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column("statistic")
    t.add_column("value", justify="right")
    t.add_row("Expected NPV", f"{usd(stats['expected_npv_usd'], True)} (s.e. {usd(stats['expected_npv_se_usd'])})")
    t.add_row(f"CVaR {stats['alpha']:.0%} (mean of worst {1 - stats['alpha']:.0%})", f"{usd(stats['cvar_usd'])}")
    t.add_row("P(NPV < 0)", f"{stats['prob_loss']:.1%}")
    for k, v in stats["npv_quantiles_usd"].items():
        t.add_row(f"NPV {k}", f"{usd(v)}")
    liq = stats.get("liquidity")
    if liq is not None:
        t.add_row("P(cash below minimum)", f"{liq['prob_below_min']:.1%}")
        t.add_row("Peak revolver draw P50 / P95",
                  f"{usd(liq['peak_revolver_p50_usd'])} / {usd(liq['peak_revolver_p95_usd'])}")
        t.add_row("Tightest month", liq["tightest_month"])
    return t


def evaluate_command(args, instance: Instance) -> int:
    spec = read_plan(args.plan, instance)
    console = console_err()
    with progress_bar(console) as progress:
        scenarios = args.scenarios or instance.plan.scenarios
        report = chunk_reporter(progress, "valuing scenarios", scenarios)
        ev = value_plan(instance, spec, scenarios=args.scenarios, seed=args.seed,
                        backend=args.backend, chunk=args.chunk, progress=report,
                        cash_balance=bool(getattr(args, "cash", None)))
    from ..outputs import write_file
    for target, array in ((args.samples, ev.samples), (getattr(args, "cash", None), ev.cash_balance)):
        if target:
            def save(path, array=array, parquet=str(target).endswith(".parquet")):
                if parquet:   # tidy: scenario, npv_usd or scenario, month (YYYY-MM), cash_usd
                    _parquet_frame(array, instance).to_parquet(path, index=False)
                    return
                with open(path, "wb") as f:
                    np.save(f, array)
            write_file(target, save)
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
              f"{instance.plan.hours_per_month} h/month sampled; financing cost {usd(ev.financing_cost_usd)}")
    out.print(stats_table(ev.stats, "Plan NPV (baseline + actions - financing cost)"))
    return 0


def _parquet_frame(array, instance: Instance):
    """--samples / --cash as a tidy DataFrame for a .parquet target."""
    import pandas as pd

    from ..instance.types import month_str
    from ..planning.labels import npv_frame

    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 1:
        return npv_frame(a)
    s, m = a.shape
    months = [month_str(instance.plan.start + k) for k in range(m)]
    return pd.DataFrame({"scenario": np.repeat(np.arange(s, dtype=np.int64), m),
                         "month": np.tile(months, s), "cash_usd": a.reshape(-1)})


def plan_command(args, instance: Instance) -> int:
    from ..report import build_context, render_report
    from ..mip.solve import PlanInfeasible
    from ..analysis.whatif import compare, parse_fixes

    fixes = parse_fixes(args.fix, args.forbid, instance)  # bad fixes: exit 2 before any work
    console = console_err()
    t0 = time.perf_counter()
    if args.time_limit is not None:
        say(f"solver time limit {args.time_limit:g} s (--time-limit)")
    try:
        with progress_bar(console) as progress:
            scenarios = args.scenarios or instance.plan.scenarios
            report = chunk_reporter(progress, "scenarios and valuation", scenarios)
            result = plan_instance(instance, scenarios=args.scenarios, seed=args.seed,
                                   backend=args.backend, chunk=args.chunk, time_limit=args.time_limit,
                                   gap=args.gap, fixes=fixes or None, valuation_progress=report,
                                   solver_progress=say)
        comparison = None
        if fixes:
            say("what-if: the same problem without the fixes, for comparison")
            free = plan_instance(result.instance, backend=args.backend, time_limit=args.time_limit,
                                 gap=args.gap, value_table=result.value_table)
            comparison = {**compare(free, result), "fixes": [str(f) for f in fixes]}
        quality = _quality(args, result, fixes, say)
        frontier_rows = sensitivity_rows = None
        if args.frontier:
            from ..analysis.frontier import frontier
            frontier_rows = frontier(result.instance, points=args.frontier, value_table=result.value_table,
                                     fixes=fixes or None, gap=args.gap, progress=say)
        if args.sensitivity:
            from ..analysis.sensitivity import sensitivity
            sensitivity_rows = sensitivity(result.instance, result, backend=args.backend, chunk=args.chunk,
                                           fixes=fixes or None, progress=say)
    except PlanInfeasible as err:
        console.print(f"[bold red]no feasible plan:[/] {err}")
        return EXIT_INFEASIBLE
    result.quality = quality
    result.whatif = comparison
    result.seconds_total = time.perf_counter() - t0
    fan = _cash_fan(args, result, quality)
    ctx = build_context(result, cash=fan, quality=quality,
                        frontier=frontier_rows, sensitivity=sensitivity_rows, comparison=comparison)
    extra = {"report.html": render_report(ctx)}
    if frontier_rows is not None:
        from ..analysis.frontier import frontier_csv
        extra["frontier.csv"] = frontier_csv(frontier_rows)
    if sensitivity_rows is not None:
        from ..analysis.sensitivity import sensitivity_csv
        extra["sensitivity.csv"] = sensitivity_csv(sensitivity_rows)
    write_plan_outputs(result, args.out, extra=extra, cash=fan)
    if result.solver["status"] != "optimal":
        console.print(f"[bold yellow]warning:[/] solver stopped at {result.solver['status']} "
                      f"with gap {result.solver['gap']:.3%}: this is the best plan found, not a proven optimum")
    if result.solver.get("liquidity_floor_met") is False:
        p = result.instance.risk.liquidity_probability
        below = result.stats["liquidity"]["prob_below_min"]
        console.print(f"[bold yellow]warning:[/] cash plus the undrawn revolver stays above finance.min_cash_usd "
                      f"in {1 - below:.1%} of the in-sample scenarios, short of risk.liquidity_probability = "
                      f"{p:g}: the liquidity cuts ended after {len(result.solver['liquidity_rounds'])} rounds "
                      f"without reaching it")
    detail("wall seconds by stage: " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
           + f"; total {result.seconds_total:.1f}")
    print_plan_summary(result, args.out, ["cash_quantiles.parquet", *sorted(extra)])
    return 0


def _cash_fan(args, result: PlanResult, quality: dict | None) -> CashFan:
    """The report's cash fan: the out-of-sample evaluation's when quality ran one (it
    valued the plan's cash already), else the plan valued once more on its own in-sample
    scenarios."""
    fan = ((quality or {}).get("out_of_sample") or {}).get("cash_balance_usd")
    if fan is not None:
        return CashFan.from_dict(fan)
    if result.cash_fan is not None:
        return result.cash_fan
    return in_sample_cash_fan(result, backend=args.backend, chunk=args.chunk)


def _quality(args, result: PlanResult, fixes, say) -> dict | None:
    """plan.json's `quality`: out-of-sample by default, everything with --quality full;
    the out-of-sample valuation (the longest step) with a bar of its own."""
    from ..analysis import quality as q

    if args.quality == "none":
        return None
    n = args.oos_scenarios or result.scenarios * q.OOS_FACTOR
    with progress_bar(console_err()) as progress:
        bar = chunk_reporter(progress, "out-of-sample valuation", n)
        if args.quality == "oos":
            say(f"quality: out-of-sample valuation on {n:,} fresh scenarios")
            return {"out_of_sample": q.out_of_sample(result.instance, result, scenarios=args.oos_scenarios,
                                                     backend=args.backend, chunk=args.chunk,
                                                     progress=bar)}
        return q.assess(result.instance, result, oos_scenarios=args.oos_scenarios, batches=args.batches,
                        evpi_scenarios=args.evpi_scenarios, backend=args.backend, chunk=args.chunk,
                        fixes=fixes or None, progress=say, oos_progress=bar)


def print_plan_summary(result: PlanResult, out_dir: str, extra: list[str] | None = None) -> None:
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
            f.add_row(d["instrument"], f"{usd(d['amount_usd'])}", d["start"])
        out.print(f)
    out.print(stats_table(doc["stats"], "Plan NPV (baseline + actions - financing cost), in-sample"))
    for line in quality_lines(doc.get("quality"), doc.get("whatif")):
        out.print(line)
    files = ["plan.json", "decisions.csv", "npv_samples.npy", "npv_samples.parquet", *(extra or [])]
    out.print(f"wrote {out_dir}/: {', '.join(files)}")


def liquidity_line(liq: dict, min_cash_usd: float | None, where: str) -> str:
    """One sentence on how liquidity holds: the share of scenarios short of the minimum,
    the revolver's peak draw and the tightest month."""
    floor = f" of {usd(min_cash_usd)}" if min_cash_usd is not None else ""
    return (f"Liquidity ({where}): cash plus the undrawn revolver falls below the minimum{floor} "
            f"in {liq['prob_below_min']:.1%} of scenarios; peak revolver draw P50 "
            f"{usd(liq['peak_revolver_p50_usd'])}, P95 {usd(liq['peak_revolver_p95_usd'])}; "
            f"tightest month {liq['tightest_month']} (P5 headroom {usd(liq['headroom_p05_usd'])})")


def quality_lines(quality: dict | None, whatif: dict | None) -> list[str]:
    """The terminal's short account of how far to trust the numbers."""
    lines: list[str] = []
    oos = (quality or {}).get("out_of_sample")
    if oos:
        o = oos["out_of_sample"]
        e, c = o["expected_npv"], o["cvar"]
        lines.append(f"Out-of-sample ({o['scenarios']:,} fresh scenarios, seed {o['seed']}): "
                     f"E[NPV] {usd(e['estimate_usd'], True)} (95% CI {usd(e['ci95_usd'][0], True)} to "
                     f"{usd(e['ci95_usd'][1], True)}), CVaR {usd(c['estimate_usd'], True)} "
                     f"(95% CI {usd(c['ci95_usd'][0], True)} to {usd(c['ci95_usd'][1], True)})")
        cash = oos.get("cash_balance_usd") or {}
        liq = o.get("liquidity")
        if liq is not None:
            lo, hi = liq["prob_below_min_ci95"]
            lines.append(liquidity_line(liq, cash.get("min_cash_usd"), "out of sample")
                         + f" (95% CI {lo:.1%} to {hi:.1%})")
        elif cash.get("prob_below_min_any_month") is not None:
            lines.append(f"Cash: the minimum of {usd(cash['min_cash_usd'])} holds on expected cash flows; "
                         f"{cash['prob_below_min_any_month']:.0%} of scenarios dip below it in some month "
                         f"(see the fan chart in report.html)")
    gap = (quality or {}).get("optimality_gap")
    if gap and gap.get("upper95_usd") is not None:
        lines.append(f"Optimality gap (Mak-Morton-Wood, {gap.get('batches')} batches): "
                     f"95% upper bound {usd(gap['upper95_usd'])}")
    vss = (quality or {}).get("vss") or {}
    if vss.get("vss_usd") is not None:
        lines.append(f"Value of the stochastic solution: {usd(vss['vss_usd'])} over the mean-value plan")
    elif vss.get("mean_value_fundable") is False:
        lines.append("Value of the stochastic solution: the mean-value plan cannot even be funded")
    evpi = (quality or {}).get("evpi") or {}
    if evpi.get("evpi_usd") is not None:
        lines.append(f"Expected value of perfect information: {usd(evpi['evpi_usd'])} "
                     f"(s.e. {usd(evpi['evpi_se_usd'])}, {evpi['scenarios']} scenarios)")
    if whatif:
        lines.append(f"What-if ({', '.join(whatif.get('fixes', []))}): gives up "
                     f"{usd(whatif['expected_npv_given_up_usd'])} of E[NPV] and "
                     f"{usd(whatif['cvar_given_up_usd'])} of CVaR against the free plan")
    return lines

