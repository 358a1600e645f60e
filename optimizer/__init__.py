"""wattfolio's planning side: instances, actions, the MIP, CVaR cuts, CLI and report.

`optimizer.plan(...)` and `wattfolio.evaluation(...)` are the Python API (optimizer/api.py).
"""
from __future__ import annotations

from typing import Any

__all__ = ["plan", "evaluate"]


def __getattr__(name: str) -> Any:
    # imported on first use, so that `python -m wattfolio.instance.load` and the CLI's validate
    # do not pull in Pyomo and the engine
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
