"""`wattfolio` command line: validate, schema, init, evaluate, plan, frontier, sensitivity, synth.

Exit codes: 0 done; 2 bad input (instance, plan or arguments), nothing written;
3 no plan meets the constraints (the message says which and by how much).
Read downward from here to find where any number comes from: the commands
(cli/commands.py) -> the run (run.py) -> load and checks (instance/) -> the catalog and
plan rules (planning/catalog.py) -> the scenario engine (planning/valuation.py ->
gpu/valuation.py) -> the MIP and its CVaR cuts (mip/solve.py) -> plan files
(planning/plan_file.py) and the report (report/).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from ..gpu.backend import BackendError
from ..gpu.valuation import WORKERS_ENV

from ..errors import (DEFAULT_TIME_LIMIT_S, EXIT_BAD_INPUT, EXIT_INTERRUPTED, InstanceError,
                      OutputError, PlanError)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; keep its message, drop the usage dump."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)




def _checked(convert, ok, what: str):
    """An argparse type: convert the text, then check it, naming the rule and the value."""
    def parse(text: str):
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return v
    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_seed = _checked(int, lambda v: 0 <= v < 2 ** 32, "an integer in [0, 2**32)")
_positive_float = _checked(float, lambda v: v > 0, "a positive number")
_at_least_two = _checked(int, lambda v: v >= 2, "an integer >= 2")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="wattfolio", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more detail on stderr: -v stage timings, -vv also the HiGHS log")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars or lines on stderr (warnings and errors only)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("validate", help="check an instance file; exit 0 or print every error and exit 2 "
                                        "(warnings either way)")
    v.add_argument("instance")

    sc = sub.add_parser("schema", help="print the instance reference (Markdown), or its JSON Schema")
    sc.add_argument("--json", action="store_true", help="print the JSON Schema (draft 2020-12) instead")

    ini = sub.add_parser("init", help="write a commented starter instance that validates as is")
    ini.add_argument("name", help="the plan's name (plan.name)")
    ini.add_argument("--out", help="file to write (default: stdout); an existing file is kept")

    def engine_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--scenarios", type=_positive_int, help="scenario count (default: the instance's)")
        q.add_argument("--seed", type=_seed, help="random seed")
        q.add_argument("--backend", choices=["auto", "numpy", "numba", "cupy"], default="auto",
                       help="auto (default): cupy where a CUDA device answers, else numba (compiled "
                            "CPU kernels), else numpy; the numbers agree to float64 rounding on the CPU, "
                            "float32 rounding of the hourly prices on the GPU")
        q.add_argument("--workers", type=_positive_int, metavar="N",
                       help="CPU threads for scenario chunks (default: every core this process may "
                            "use; results do not depend on it)")
        q.add_argument("--hours", type=_positive_int, metavar="H",
                       help="sampled hours per scenario-month, 1..730 (default: the instance's)")
        q.add_argument("--chunk", type=_positive_int,
                       help="scenarios per chunk (default 2048 on numpy, 32768 on cupy; results do not depend on it)")

    e = sub.add_parser("evaluate", help="value a plan on scenarios and print its risk statistics")
    e.add_argument("instance")
    e.add_argument("--plan", required=True, help="plan.json (decisions and financing)")
    engine_args(e)
    e.add_argument("--json", action="store_true", help="print the stats as JSON")
    e.add_argument("--samples", metavar="FILE.npy", help="write per-scenario NPVs here (.npy, or .parquet: scenario, npv_usd)")
    e.add_argument("--cash", metavar="FILE",
                   help="write month-end cash per scenario here (scenarios x months, USD, after "
                        "the revolver rule and refinancing)")

    def fix_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--fix", action="append", default=[], metavar="SITE=ACTION[@YYYY-MM]",
                       help="what-if: take this action (at this start); repeatable")
        q.add_argument("--forbid", action="append", default=[], metavar="SITE=ACTION[@YYYY-MM]",
                       help="what-if: never take this action (at this start); repeatable")

    pl = sub.add_parser("plan", help="choose actions and funding: the MIP with CVaR cuts")
    pl.add_argument("instance")
    pl.add_argument("--out", required=True, help="output folder")
    engine_args(pl)
    fix_args(pl)
    pl.add_argument("--time-limit", type=_positive_float, metavar="SEC", default=DEFAULT_TIME_LIMIT_S,
                    help=f"solver time limit (default {DEFAULT_TIME_LIMIT_S:g} s): past it the best plan "
                         "found and its gap are written, with a warning")
    pl.add_argument("--gap", type=_positive_float, default=1e-4, help="relative MIP gap (default 1e-4)")
    pl.add_argument("--quality", choices=["none", "oos", "full"], default="oos",
                    help="oos (default): in- vs out-of-sample E[NPV] and CVaR with 95%% intervals; "
                         "full: also the Mak-Morton-Wood gap, VSS and EVPI (minutes)")
    pl.add_argument("--oos-scenarios", type=_positive_int, help="out-of-sample count (default: the in-sample count)")
    pl.add_argument("--batches", type=_at_least_two, default=10, help="MMW batches (--quality full)")
    pl.add_argument("--evpi-scenarios", type=_positive_int, default=200, help="wait-and-see solves (--quality full)")
    pl.add_argument("--frontier", type=_at_least_two, metavar="K", help="also solve K CVaR floors for the report")
    pl.add_argument("--sensitivity", action="store_true", help="also run the sensitivity analysis for the report")

    fr = sub.add_parser("frontier", help="best E[NPV] at each CVaR floor, risk-neutral to most conservative")
    fr.add_argument("instance")
    fr.add_argument("--out", required=True)
    engine_args(fr)
    fix_args(fr)
    fr.add_argument("--points", type=_at_least_two, default=8)

    se = sub.add_parser("sensitivity", help="tornado of the plan's E[NPV] and where the plan flips")
    se.add_argument("instance")
    se.add_argument("--out", required=True)
    engine_args(se)
    fix_args(se)
    se.add_argument("--no-replan", action="store_true", help="re-value the plan only; do not re-solve")

    s = sub.add_parser("synth", help="write a synthetic N-site instance (for benchmarks)")
    s.add_argument("--sites", type=_positive_int, required=True)
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--scenarios", type=_positive_int, default=1000)
    s.add_argument("--out", help="file to write (default: stdout)")
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wattfolio")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _load(path: str, hours: int | None = None):
    from ..instance.load import load_instance
    from ..instance.warnings import instance_warnings

    inst = load_instance(path)
    for line in instance_warnings(inst):    # shown, never fatal; plan.json lists them too
        print(f"warning: {line}", file=sys.stderr)
    if hours is not None:
        if hours > 730:
            raise InstanceError([f"--hours: must be in 1..730, got {hours}"])
        inst = inst.with_plan(hours_per_month=hours)
    return inst


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .progress import configure_logging
    configure_logging(-1 if args.quiet else args.verbose)
    if getattr(args, "workers", None):
        # read by the engine's chunk loop (gpu.valuation.default_workers): one setting for
        # every valuation of this process, however deep in the analysis it runs
        os.environ[WORKERS_ENV] = str(args.workers)
    try:
        _check_outputs(args)   # a path we must not or cannot write: exit 2 before any work
        if args.command == "validate":
            from ..instance.load import validate_main
            return validate_main(args.instance)
        if args.command == "synth":
            return _synth(args)
        if args.command == "schema":
            from ..instance.reference import json_text, markdown
            sys.stdout.write(json_text() if args.json else markdown())
            return 0
        if args.command == "init":
            return _init(args)
        if args.command == "evaluate":
            from .commands import evaluate_command
            return evaluate_command(args, _load(args.instance, args.hours))
        if args.command == "plan":
            from .commands import plan_command
            return plan_command(args, _load(args.instance, args.hours))
        if args.command == "frontier":
            from .analysis_commands import frontier_command
            return frontier_command(args, _load(args.instance, args.hours))
        if args.command == "sensitivity":
            from .analysis_commands import sensitivity_command
            return sensitivity_command(args, _load(args.instance, args.hours))
    except (InstanceError, PlanError, OutputError) as err:
        for line in err.errors:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as err:  # --backend cupy without a CUDA device
        print(f"error: --backend: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # outputs are swapped in whole or not at all: nothing half-written
        print("interrupted: nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _check_outputs(args) -> None:
    """--out folders (plan, frontier, sensitivity) and files (--samples, --cash, init and
    synth --out), checked before any computing; the folder's lock is taken here."""
    from ..outputs import check_output_dir, check_output_file

    if args.command in ("plan", "frontier", "sensitivity"):
        check_output_dir(args.out)
    elif args.command == "evaluate":
        targets = [(o, getattr(args, a, None)) for o, a in (("--samples", "samples"), ("--cash", "cash"))]
        targets = [(o, t) for o, t in targets if t]
        for option, target in targets:
            check_output_file(target, option)
        if len(targets) == 2 and os.path.realpath(targets[0][1]) == os.path.realpath(targets[1][1]):
            raise OutputError([f"--cash: {targets[1][1]}: the same file as --samples"])
    elif args.command in ("init", "synth") and getattr(args, "out", None):
        check_output_file(args.out)


def _init(args) -> int:
    from pathlib import Path

    from ..outputs import write_file
    from ..instance.starter import starter_toml

    text = starter_toml(args.name)
    if not args.out:
        sys.stdout.write(text)
        return 0
    if Path(args.out).exists():
        print(f"error: --out: {args.out} exists; not overwritten", file=sys.stderr)
        return EXIT_BAD_INPUT
    write_file(args.out, text)
    print(f"wrote {args.out}; check it with: wattfolio validate {args.out}", file=sys.stderr)
    return 0


def _synth(args) -> int:
    from ..outputs import write_file
    from ..instance.synth import synth_toml

    text = synth_toml(args.sites, args.seed, scenarios=args.scenarios)
    if args.out:
        write_file(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
