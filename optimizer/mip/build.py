"""The plan MIP in Pyomo, built from `ModelData` by a fixed sequence of small functions.

In the style of PyPSA's ``optimization/optimize.py`` (``define_*_variables``,
``define_*_constraints``, an ``extra_functionality`` hook) and mpi-sppy's ``farmer.py``
(``_build_model`` over plain data): `create_model` calls

    define_variables -> define_logic -> define_capacity -> define_cash
    -> define_financing -> define_cut_lists -> define_objective -> extra_functionality

and each step reads only `ModelData`, whose groups are the plan rules
(`planning.rules`). The order is part of the model: HiGHS sees columns and rows in it.

Variables: binary ``x[a]`` per action; MW ``q[a]`` in [0, max_units] for converts (a sell
or acquire's quantity is its x); for a convert at a site built in blocks an integer block
count ``n[a]`` with ``q[a] = block_mw n[a]``; draws ``D[k]`` per financing option; with
CVaR in the objective an epigraph variable ``eta``. Money is in $M (`SCALE`) so that
coefficients sit near 1 and HiGHS's absolute tolerances (1e-7) mean cents, not rounding
noise on 1e9-dollar rows. The scenario dimension enters only through cuts (`m.cuts`) or,
for the extensive form and mpi-sppy, through rows an `extra_functionality` hook adds.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from .data import ModelData

SCALE = 1e6

# PyPSA's name for it: called with the built model and its data, adds rows of its own
ExtraFunctionality = Callable[[pyo.ConcreteModel, ModelData], None]


def linear_expr(coefs: np.ndarray, variables: Sequence, constant: float = 0.0) -> LinearExpression:
    """A linear expression over the nonzero coefficients only (dense rows stay sparse)."""
    nz = np.flatnonzero(coefs)
    return LinearExpression(constant=float(constant), linear_coefs=coefs[nz].tolist(),
                            linear_vars=[variables[i] for i in nz])


def block_columns(m: pyo.ConcreteModel, data: ModelData) -> list:
    """The block counts ``n[a]``, aligned with ``data.blocked`` (empty without blocks)."""
    return [m.n[a] for a in data.blocked]


def plan_columns(m: pyo.ConcreteModel, data: ModelData) -> tuple[list, list, list]:
    """(x, q, D) as lists aligned with actions and draw options: ``q[a]`` is the MW
    variable of a convert and ``x[a]`` itself for a sell or an acquire."""
    xv = [m.x[a] for a in range(data.n_actions)]
    qv = [m.q[a] if data.is_convert[a] else m.x[a] for a in range(data.n_actions)]
    return xv, qv, [m.D[k] for k in range(data.n_draws)]


def define_variables(m: pyo.ConcreteModel, data: ModelData) -> None:
    """x (binary per action), q (MW per convert, bounded by max_units), n (whole blocks
    per convert built in blocks, up to those in max_units), D (per draw option, bounded
    by its instrument's max_usd)."""
    m.A = pyo.RangeSet(0, data.n_actions - 1)
    m.x = pyo.Var(m.A, domain=pyo.Binary)
    m.C = pyo.Set(initialize=data.converts, ordered=True)
    m.q = pyo.Var(m.C, bounds=lambda _, a: (0.0, data.max_units[a]))
    top = data.max_blocks
    m.Bk = pyo.Set(initialize=data.blocked, ordered=True)
    m.n = pyo.Var(m.Bk, domain=pyo.NonNegativeIntegers, bounds=lambda _, a: (0, int(top[a])))
    m.K = pyo.RangeSet(0, data.n_draws - 1)
    cap = data.finance.draw_max_usd / SCALE
    m.D = pyo.Var(m.K, bounds=lambda _, k: (0.0, cap[k]))


def define_logic(m: pyo.ConcreteModel, data: ModelData) -> None:
    """The logic rules: q within [min_units, max_units] x, and block_mw x n where built in
    blocks; one sale per site and a sold site idle; one acquisition per site; a
    candidate convert after an energised acquire."""
    g, conv = data.groups, data.converts
    m.link = pyo.Constraint(conv, rule=lambda _, a: m.q[a] <= data.max_units[a] * m.x[a])
    # a convert that is taken builds something: without this a fixed (or free) x = 1
    # could sit at 0 MW, a decision that decides nothing (at a block site min_units is
    # one block, so a taken convert has n >= 1)
    m.tranche = pyo.Constraint(conv, rule=lambda _, a: m.q[a] >= data.min_units[a] * m.x[a])
    m.blocks = pyo.Constraint(m.Bk, rule=lambda _, a: m.q[a] == data.block_mw[a] * m.n[a])
    sells, pairs, acqs, need = g.one_sale, g.sold_idle, g.one_acquire, g.acquired
    m.one_sale = pyo.Constraint(list(sells), rule=lambda _, s: sum(m.x[a] for a in sells[s]) <= 1)
    m.sold_idle = pyo.Constraint(range(len(pairs)), rule=lambda _, i: (
        m.x[pairs[i][1]] + sum(m.x[a] for a in sells[pairs[i][0]]) <= 1))
    m.one_acquire = pyo.Constraint(list(acqs), rule=lambda _, s: sum(m.x[a] for a in acqs[s]) <= 1)
    m.acquired = pyo.Constraint(range(len(need)), rule=lambda _, i: (
        m.x[need[i][0]] <= sum(m.x[b] for b in need[i][1])))


def define_capacity(m: pyo.ConcreteModel, data: ModelData) -> None:
    """MW converted per site <= hpc.max_mw and per lease <= its max_mw."""
    sites, leases = data.groups.site_mw, data.groups.lease_mw
    m.site_mw = pyo.Constraint(range(len(sites)), rule=lambda _, i: (
        sum(m.q[a] for a in sites[i][1]) <= sites[i][2]))
    m.lease_mw = pyo.Constraint(range(len(leases)), rule=lambda _, i: (
        sum(m.q[a] for a in leases[i][1]) <= leases[i][2]))


def define_cash(m: pyo.ConcreteModel, data: ModelData, *, elastic: bool = False) -> None:
    """Cumulative expected cash >= min cash in every month; `elastic` adds a slack per
    month (the infeasibility diagnosis). Rows stay one per month so a slack names it."""
    _, qv, dv = plan_columns(m, data)
    qdv = qv + dv
    coef = np.vstack([data.cash.actions / SCALE, data.cash.draws])           # (A+K, M)
    rhs = data.cash.rhs / SCALE
    m.Mo = pyo.RangeSet(0, data.n_months - 1)
    if elastic:
        m.slack = pyo.Var(m.Mo, bounds=(0.0, None))
    m.cash = pyo.Constraint(m.Mo, rule=lambda _, j: (
        linear_expr(coef[:, j], qdv) + (m.slack[j] if elastic else 0.0) >= rhs[j]))


def define_financing(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Each instrument's draws <= max_usd; secured notes / loan_to_cost <= funded capex."""
    fin = data.finance
    groups = fin.instrument_max
    m.I = pyo.RangeSet(0, len(groups) - 1)
    m.inst_max = pyo.Constraint(m.I, rule=lambda _, i: (
        sum(m.D[k] for k in groups[i][1]) <= groups[i][2] / SCALE))
    if fin.secured:
        _, qv, dv = plan_columns(m, data)
        row = np.concatenate([-(fin.funded_usd / SCALE), np.zeros(data.n_draws)])
        row[data.n_actions + np.array(fin.secured)] = 1.0 / fin.loan_to_cost
        m.ltc = pyo.Constraint(expr=linear_expr(row, qv + dv) <= 0.0)


def define_cut_lists(m: pyo.ConcreteModel) -> None:
    """Empty lists for the CVaR cuts and the what-if fixes added while solving."""
    m.cuts = pyo.ConstraintList()
    m.fixes = pyo.ConstraintList()


def define_objective(m: pyo.ConcreteModel, data: ModelData, *, weight: float = 0.0,
                     elastic: bool = False, npv: np.ndarray | None = None,
                     baseline: float | None = None) -> None:
    """Maximise (1 - w) (baseline + npv . q - financing cost) + w eta, in $M.

    `npv` (A,) and `baseline` default to the ValueTable's means (E[NPV]); a scenario
    model passes its own column. With `weight` > 0 an epigraph variable ``eta`` (the
    CVaR term, bounded by cuts or rows added later) enters. `elastic` minimises the
    cash slacks instead.
    """
    if elastic:
        m.obj = pyo.Objective(expr=sum(m.slack[j] for j in range(data.n_months)),
                              sense=pyo.minimize)
        return
    w = float(weight)
    if w > 0:
        m.eta = pyo.Var()
    npv = data.mean_npv if npv is None else npv
    baseline = data.mean_baseline if baseline is None else baseline
    _, qv, dv = plan_columns(m, data)
    coef = (1.0 - w) * np.concatenate([npv / SCALE, -data.draw_cost])
    expr = linear_expr(coef, qv + dv, (1.0 - w) * baseline / SCALE)
    m.obj = pyo.Objective(expr=expr + w * m.eta if w > 0 else expr, sense=pyo.maximize)


def create_model(data: ModelData, *, weight: float = 0.0, elastic_cash: bool = False,
                 npv: np.ndarray | None = None, baseline: float | None = None,
                 extra_functionality: ExtraFunctionality | None = None) -> pyo.ConcreteModel:
    """The plan MIP for `data`.

    Parameters
    ----------
    data : ModelData
    weight : float
        CVaR weight w of the objective (1 - w) E + w eta; 0 for E[NPV] alone.
    elastic_cash : bool
        A slack per month on the cash rows, minimising their sum (diagnosis).
    npv, baseline : optional
        The objective's NPV per unit (A,) and baseline in USD (default: the means).
    extra_functionality : callable (model, data) -> None, optional
        Called last, to add rows and variables of its own (the extensive form's
        Rockafellar-Uryasev rows, a user's constraint).

    Returns
    -------
    pyomo.environ.ConcreteModel
    """
    m = pyo.ConcreteModel()
    define_variables(m, data)
    define_logic(m, data)
    define_capacity(m, data)
    define_cash(m, data, elastic=elastic_cash)
    define_financing(m, data)
    define_cut_lists(m)
    define_objective(m, data, weight=weight, elastic=elastic_cash, npv=npv, baseline=baseline)
    if extra_functionality is not None:
        extra_functionality(m, data)
    return m
