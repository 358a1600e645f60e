"""The plan as mpi-sppy sees it: one scenario's Pyomo model, in mpi-sppy's conventions.

Following mpi-sppy's ``examples/farmer/farmer.py``: `scenario_creator(scenario_name,
**kwargs)` builds scenario s from the same data and build functions as the planning model
(`mip.data.model_data`, `mip.build.create_model`), so every plan rule is the same row;
`scenario_names_creator` names the scenarios; `kw_creator` computes the kwargs once (the
ModelData and the host copy of the NPV table), and `scenario_denouement` is the no-op
hook mpi-sppy's drivers call.

First stage: the action binaries x, the convert MW q, the block counts n of converts
built in blocks and the financing draws D (there is no recourse: a plan's NPV is linear
in them, DESIGN.md). Scenario s's objective is that scenario's plan NPV,
``baseline[s] + npv[:, s] . q - financing cost``, in $M (`SCALE`) like the planning
model, maximised, with probability 1/S. With ``cvar_weight`` w > 0 the scenario gets
mpi-sppy's own Rockafellar-Uryasev transform (`mpisppy.utils.cvar.add_cvar`: a
first-stage VaR variable and an excess per scenario), so the extensive form maximises
(1 - w) E[NPV] + w CVaR_alpha, wattfolio's weight-mode objective.

mpi-sppy is an optional extra (``pip install wattfolio[mpisppy]``); it is imported only
when a scenario is built.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo

from ..gpu.value_table import ValueTable
from ..instance.types import Instance
from ..planning.catalog import Action
from .build import SCALE, block_columns, create_model, linear_expr, plan_columns
from .data import ModelData, model_data, scenario_npv

SCENARIO_PREFIX = "scen"


def scenario_names_creator(num_scens: int, start: int | None = None) -> list[str]:
    """``["scen0", "scen1", ...]``: `num_scens` names from `start` (default 0)."""
    start = 0 if start is None else int(start)
    return [f"{SCENARIO_PREFIX}{i}" for i in range(start, start + int(num_scens))]


def scenario_index(scenario_name: str) -> int:
    """The scenario number in a name from `scenario_names_creator` ("scen12" -> 12)."""
    match = re.fullmatch(rf"{SCENARIO_PREFIX}(\d+)", scenario_name)
    if match is None:
        raise ValueError(f"scenario name must look like '{SCENARIO_PREFIX}<n>', got {scenario_name!r}")
    return int(match.group(1))


def kw_creator(instance: Instance, actions: Sequence[Action], vt: ValueTable, *,
               cvar_weight: float = 0.0, cvar_alpha: float | None = None) -> dict[str, Any]:
    """The ``scenario_creator_kwargs`` for an instance, its catalog and ValueTable.

    Parameters
    ----------
    instance, actions, vt
        As for `mip.model.PlanModel`.
    cvar_weight : float
        w of (1 - w) E + w CVaR; 0 for E[NPV] alone.
    cvar_alpha : float, optional
        CVaR level (default ``instance.risk.alpha``).

    Returns
    -------
    dict
        ``data`` (ModelData), ``npv`` (A, S) and ``baseline`` (S,) in USD on the host,
        ``num_scens``, ``cvar_weight``, ``cvar_alpha``: built once, shared by every
        scenario.
    """
    npv, baseline = scenario_npv(vt)
    return {"data": model_data(instance, actions, vt), "npv": npv, "baseline": baseline,
            "num_scens": vt.n_scenarios, "cvar_weight": float(cvar_weight),
            "cvar_alpha": instance.risk.alpha if cvar_alpha is None else float(cvar_alpha)}


def scenario_creator(scenario_name: str, data: ModelData | None = None,
                     npv: np.ndarray | None = None, baseline: np.ndarray | None = None,
                     num_scens: int | None = None, cvar_weight: float = 0.0,
                     cvar_alpha: float | None = None) -> pyo.ConcreteModel:
    """One scenario's model, for mpi-sppy (`mpisppy.opt.ef.ExtensiveForm`, PH, ...).

    Parameters
    ----------
    scenario_name : str
        ``"scen<s>"`` (`scenario_names_creator`).
    data, npv, baseline, num_scens, cvar_weight, cvar_alpha
        From `kw_creator`: the ModelData, the NPV table (A, S) and baseline (S,) in USD,
        the number of scenarios (probability 1 / num_scens), and the CVaR weight and
        level (w > 0 applies mpi-sppy's CVaR transform).

    Returns
    -------
    pyomo.environ.ConcreteModel
        The plan model with scenario s's NPV as its objective ($M, maximised), the
        first stage (x, q, n, D) on mpi-sppy's root node and ``_mpisppy_probability`` set.
    """
    import mpisppy.utils.sputils as sputils

    if data is None or npv is None or baseline is None:
        raise ValueError("scenario_creator needs data, npv and baseline: pass kw_creator(...)")
    s = scenario_index(scenario_name)
    num_scens = npv.shape[1] if num_scens is None else int(num_scens)
    if not 0 <= s < npv.shape[1]:
        raise ValueError(f"{scenario_name}: the NPV table has {npv.shape[1]} scenarios")
    m = create_model(data, npv=npv[:, s], baseline=float(baseline[s]))
    _, _, dv = plan_columns(m, data)
    # the first stage's own part of the objective: what the financing costs, $M
    m.first_stage_cost = pyo.Expression(expr=linear_expr(-data.draw_cost, dv))
    # the block counts are decisions too: every scenario must build the same blocks
    sputils.attach_root_node(m, m.first_stage_cost, [m.x, m.q, m.n, m.D])
    m._mpisppy_probability = 1.0 / num_scens
    if cvar_weight > 0:
        from mpisppy.utils.cvar import add_cvar

        if cvar_alpha is None:
            raise ValueError("cvar_weight > 0 needs cvar_alpha")
        add_cvar(m, cvar_weight=cvar_weight, cvar_alpha=cvar_alpha,
                 cvar_mean_weight=1.0 - cvar_weight)
    return m


def scenario_denouement(rank: int, scenario_name: str, scenario: pyo.ConcreteModel) -> None:
    """mpi-sppy's per-scenario hook after a solve: nothing to report here."""


def root_plan(model: pyo.ConcreteModel, data: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """(quantities (A,), draws (K,) USD) of a solved scenario model's first stage, read
    the way `PlanModel.quantities` reads the planning model (binaries snapped)."""
    xv, qv, dv = plan_columns(model, data)
    x = np.array([v.value or 0.0 for v in xv], dtype=float)
    q = np.array([v.value or 0.0 for v in qv], dtype=float)
    n = np.array([v.value or 0.0 for v in block_columns(model, data)], dtype=float)
    q = data.plan_quantities(q, x, n)
    return q, np.maximum(np.array([v.value or 0.0 for v in dv], dtype=float), 0.0) * SCALE
