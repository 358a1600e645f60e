"""wattfolio's planning side: instances, actions, the MIP, CVaR cuts, CLI and report.

`optimizer.plan(...)` and `optimizer.evaluate(...)` are the Python API (optimizer/api.py).
"""
from .api import evaluate, plan

__all__ = ["plan", "evaluate"]
