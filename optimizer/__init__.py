"""wattfolio: capital allocation for companies that own power.

The Python API (`wattfolio/api.py`) runs what the CLI runs and returns objects:

    >>> import wattfolio as wf
    >>> result = wf.plan("instances/terawulf.toml", scenarios=2000)
    >>> wf.evaluate("instances/terawulf.toml", result, seed=99).stats

Layers, each importing only those below it: `cli` -> `run`, `analysis`, `report` ->
`mip` (the only one that imports Pyomo) -> `planning` -> `instance`; `gpu` (the scenario
engine, arrays in and out) is imported by `planning` and never imports back.
"""
from __future__ import annotations

from typing import Any

__all__ = ["plan", "evaluate", "frontier", "sensitivity", "quality", "write_report",
           "load_instance", "Fix", "PlanResult"]


def __getattr__(name: str) -> Any:
    # imported on first use, so that `import wattfolio` and the CLI's validate do not pull
    # in Pyomo and the engine
    if name in ("plan", "evaluate", "frontier", "sensitivity", "quality", "write_report"):
        from . import api

        return getattr(api, name)
    if name == "Fix":
        from .planning.fixes import Fix

        return Fix
    if name == "PlanResult":
        from .run import PlanResult

        return PlanResult
    if name == "load_instance":
        from .instance.load import load_instance

        return load_instance
    raise AttributeError(f"module 'wattfolio' has no attribute {name!r}")
