"""The `frontier` and `sensitivity` commands: run the analyses, show progress, write
their files (tables and charts) together, print the table. The analyses themselves
(`wattfolio.analysis`) return data and print nothing."""
from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ..analysis.frontier import _changes_text, _decisions_text, frontier, frontier_csv, frontier_document
from ..analysis.sensitivity import _setting_text, sensitivity, sensitivity_csv
from ..analysis.whatif import parse_fixes
from ..errors import EXIT_INFEASIBLE
from ..formatting import usd
from ..instance.types import Instance
from ..mip.solve import PlanInfeasible
from ..outputs import to_json, write_outputs
from ..planning.catalog import build_catalog
from ..planning.valuation import value_actions
from ..report.charts import frontier_svg, standalone, tornado_svg
from ..run import plan_instance
from .progress import chunk_reporter, console_err, progress_bar, say


def frontier_plot(rows: Sequence[dict]) -> str:
    """frontier.svg: E[NPV] against CVaR, floors where the decisions change marked."""
    good = [r for r in rows if r.get("cvar_usd") is not None and r.get("expected_npv_usd") is not None]
    return standalone(frontier_svg([r["cvar_usd"] for r in good], [r["expected_npv_usd"] for r in good],
                                   [bool(r.get("changed")) and i > 0 for i, r in enumerate(good)]))


def frontier_command(args, instance: Instance) -> int:
    """`wattfolio frontier INSTANCE --out DIR [--points N] [--scenarios N] [--seed S]
    [--backend B] [--chunk C] [--fix ..] [--forbid ..]`: writes DIR/frontier.csv and
    DIR/frontier.json together (atomically) and prints the table. Exit 3 when no plan
    exists under the fixes and cash constraints."""
    fixes = parse_fixes(getattr(args, "fix", None), getattr(args, "forbid", None), instance)
    console = console_err()
    scenarios = args.scenarios or instance.plan.scenarios
    seed = instance.plan.seed if args.seed is None else args.seed
    backend = getattr(args, "backend", "auto")
    try:
        with progress_bar(console) as progress:
            report = chunk_reporter(progress, "scenarios and valuation", scenarios)
            inst = instance.with_plan(scenarios=scenarios, seed=seed)
            vt = value_actions(inst, build_catalog(inst), backend=backend,
                               chunk=getattr(args, "chunk", None), progress=report)
        rows = frontier(instance, points=args.points, scenarios=scenarios, seed=seed,
                        value_table=vt, fixes=fixes,
                        progress=say)
    except PlanInfeasible as err:
        console.print(f"[bold red]no feasible plan:[/] {err}")
        return EXIT_INFEASIBLE
    doc = frontier_document(instance, rows, scenarios=scenarios, seed=seed, backend=vt.backend,
                            fixes=fixes)
    write_outputs(args.out, {"frontier.json": to_json(doc),
                             "frontier.csv": frontier_csv(rows),
                             "frontier.svg": frontier_plot(rows)}, kind="frontier")
    out = Console(highlight=False)
    t = Table(title=f"Efficient frontier: E[NPV] vs CVaR {instance.risk.alpha:.0%}, "
                    f"{scenarios:,} scenarios", title_justify="left")
    for c in ("floor", "E[NPV]", "CVaR", "changes vs previous point"):
        t.add_column(c, justify="left" if c.startswith("changes") else "right")
    for i, r in enumerate(rows):
        t.add_row(usd(r['floor_usd']), usd(r['expected_npv_usd']),
                  usd(r['cvar_usd']),
                  _decisions_text(r["decisions"]) if i == 0 else _changes_text(r["changed"]) or "(same plan)")
    out.print(t)
    out.print(f"wrote {args.out}/frontier.json, frontier.csv, frontier.svg")
    return 0


def tornado_plot(rows: Sequence[dict], base_npv_usd: float) -> str:
    """tornado.svg: the plan's E[NPV] with each input at its low and high setting."""
    good = [r for r in rows if r.get("npv_low_usd") is not None and r.get("npv_high_usd") is not None]
    return standalone(tornado_svg([r["label"] for r in good], [r["npv_low_usd"] for r in good],
                                  [r["npv_high_usd"] for r in good], float(base_npv_usd),
                                  [_setting_text(r["unit"], r["low"]) for r in good],
                                  [_setting_text(r["unit"], r["high"]) for r in good]))


def sensitivity_command(args, instance: Instance) -> int:
    """`wattfolio sensitivity INSTANCE --out DIR [--scenarios N] [--seed S] [--backend B]
    [--chunk C] [--fix ..] [--forbid ..] [--no-replan]`: plans at N scenarios (default
    min(instance count, 2000)), then writes DIR/sensitivity.json and DIR/sensitivity.csv
    together (atomically) and prints the tornado table. Exit 3 when no plan exists."""
    fixes = parse_fixes(getattr(args, "fix", None), getattr(args, "forbid", None), instance)
    console = console_err()
    n = args.scenarios or instance.plan.scenarios   # --scenarios sets it; never lowered silently
    replan = not getattr(args, "no_replan", False)
    try:
        with progress_bar(console) as progress:
            report = chunk_reporter(progress, "scenarios and valuation", n)
            result = plan_instance(instance, scenarios=n, seed=args.seed, backend=args.backend,
                                   chunk=getattr(args, "chunk", None), fixes=fixes,
                                   valuation_progress=report)
        rows = sensitivity(instance, result, scenarios=n, backend=args.backend,
                           chunk=getattr(args, "chunk", None), replan=replan, fixes=fixes,
                           progress=say)
    except PlanInfeasible as err:
        console.print(f"[bold red]no feasible plan:[/] {err}")
        return EXIT_INFEASIBLE
    doc = {"schema": 1, "name": instance.plan.name, "instance_sha256": instance.sha256,
           "scenarios": n, "seed": result.seed, "backend": result.backend, "replan": replan,
           "fixes": [str(f) for f in fixes], "plan": result.document["decisions"],
           "base_npv_usd": rows[0]["base_npv_usd"] if rows else result.stats["expected_npv_usd"],
           "inputs": rows}
    write_outputs(args.out, {"sensitivity.json": to_json(doc), "sensitivity.csv": sensitivity_csv(rows),
                             "tornado.svg": tornado_plot(rows, doc["base_npv_usd"])},
                  kind="sensitivity")
    out = Console(highlight=False)
    t = Table(title=f"Sensitivity of the plan's E[NPV] (base {usd(doc['base_npv_usd'])}), "
                    f"{n:,} scenarios", title_justify="left")
    for c in ("input", "low", "high", "E[NPV] low (s.e.)", "E[NPV] high (s.e.)", "plan flips at"):
        t.add_column(c, justify="left" if c in ("input", "plan flips at") else "right")

    def cell(r, side):
        text = f"{usd(r[f'npv_{side}_usd'])} ({usd(r.get(f'npv_{side}_se_usd'))})"
        if r.get(f"noise_{side}"):
            text += " noise"
        if r.get(f"cash_short_{side}_material"):
            text += f" (cash short {usd(r[f'cash_short_{side}_usd'])})"
        return text

    for r in rows:
        flip = _setting_text(r["unit"], r["threshold"]) if r["threshold"] is not None else (
            "no flip in range" if replan else "not re-planned")
        t.add_row(r["label"], _setting_text(r["unit"], r["low"]), _setting_text(r["unit"], r["high"]),
                  cell(r, "low"), cell(r, "high"), flip)
    out.print(t)
    material = rows[0]["cash_material_usd"] if rows else None
    out.print(f"{n:,} scenarios per setting (seed {result.seed}); \"noise\": within 2 s.e. of the base "
              f"E[NPV]; cash flagged only when short by more than {usd(material)}")
    out.print(f"wrote {args.out}/sensitivity.json, sensitivity.csv, tornado.svg")
    return 0
